import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// The replica and its engine against a scripted server (StubURLProtocol):
/// the contract 1.1 behaviours (partial rows, base versions, 409, 410,
/// digest) are proven here on the wire shape docs/contract.md fixes, whatever
/// the server under test implements; ReplicaLiveTests runs them against syncproxy.
final class ReplicaTests: ReplicaTestCase {

    // MARK: - Exactness

    func testSHA256_KnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testRowDigest_IsTheFirst8BytesOfSHA256OfIdAndVersion() {
        let id = UUID(uuidString: "00112233-4455-6677-8899-aabbccddeeff")!
        var bytes: [UInt8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
        bytes += [0, 0, 0, 0, 0, 0, 0x01, 0x02]
        let hash = SHA256.hash(bytes)
        let expected = hash.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        XCTAssertEqual(SQLiteReplica.rowDigest(id, 0x0102), expected)
    }

    func testJSONValue_KeepsIntegersExact() throws {
        let value = try JSONValue(json: #"{"big": 9007199254740993, "neg": -9223372036854775808, "f": 1.5}"#)
        XCTAssertEqual(value["big"], .integer(9_007_199_254_740_993))
        XCTAssertEqual(value["neg"], .integer(Int64.min))
        XCTAssertEqual(value["f"], .number(1.5))
        XCTAssertTrue(try value.jsonString().contains("9007199254740993"))
        let event = try JSONDecoder().decode(EstimateEvent.self, from: Data("""
            {"id": "\(Fixtures.eventID)", "contractor_id": "\(Fixtures.contractorID)", "estimate_id": "\(Fixtures.estimateID)",
             "kind": "k", "payload": {"n": 9007199254740993}, "occurred_at": null,
             "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z", "sync_version": 1}
            """.utf8))
        XCTAssertEqual(event.payload["n"], .integer(9_007_199_254_740_993))
        XCTAssertTrue(String(decoding: try JSONEncoder().encode(event), as: UTF8.self).contains("9007199254740993"))
    }

    func testDecimal_OverflowIsAnError_NeverTruncation() throws {
        let forty = "1234567890123456789012345678901234567890.5"
        XCTAssertNil(DecimalString.parse(forty))
        XCTAssertNil(DecimalString.parse("1234567890123456789012345678901234567890"))
        XCTAssertEqual(DecimalString.parse("12345678901234567890.1234567890"), Decimal(string: "12345678901234567890.123456789"))
        XCTAssertEqual(DecimalString.parse("1.50000000000000000000000000000000000000000"), Decimal(string: "1.5"))
        XCTAssertEqual(DecimalString.parse("-0.0000000001"), Decimal(string: "-0.0000000001"))
        let json = #"{"id": "\#(Fixtures.itemID)", "name": "x", "unit_cost": "\#(forty)"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(CostbookItemWrite.self, from: Data(json.utf8)))
        let column = try XCTUnwrap(ReplicaSchema.current.table("costbook_items")?.column("unit_cost"))
        XCTAssertThrowsError(try column.storage(.string(forty)))
    }

    func testTimestamps_TruncateToMilliseconds() throws {
        let date = try XCTUnwrap(RFC3339.parse("2025-01-15T23:59:59.9996Z"))
        XCTAssertEqual(RFC3339.format(date), "2025-01-15T23:59:59.999Z", "never rounds into the next second (or day)")
        XCTAssertEqual(RFC3339.format(try XCTUnwrap(RFC3339.parse("2025-01-15T12:00:00.123Z"))), "2025-01-15T12:00:00.123Z")
        XCTAssertEqual(RFC3339.format(try XCTUnwrap(RFC3339.parse("2025-01-15T12:00:00.001Z"))), "2025-01-15T12:00:00.001Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 1.0009)), "1970-01-01T00:00:01.000Z")
    }

    // MARK: - Local edits

    func testEdit_StoresRowAndOutboxTogether_OnlyChangedColumns_Coalesced() throws {
        let replica = try openReplica()
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "Stud", unitCost: Decimal(string: "3.75")))
        let inserted = try XCTUnwrap(replica.costbookItems.find(id))
        XCTAssertEqual(inserted.name, "Stud")
        XCTAssertEqual(inserted.taxable, false, "the server's default is shown until its row arrives")
        XCTAssertEqual(inserted.contractorId, contractorID)

        // Pretend the server has it at version 7 (a pull), then edit twice.
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Stud", unitCost: "3.75", version: 7)]], deleted: [:]))
        try replica.withConnection { db in try db.query("DELETE FROM _outbox") }
        try inserted.edit(in: replica) { $0.name = "Stud 8ft" }
        try replica.costbookItems.update(id) { $0.sku = "S-8" }
        let batch = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .partialRows))
        XCTAssertEqual(batch.entries.count, 1, "edits of one row coalesce")
        let body = try JSONValue(json: batch.body)
        XCTAssertEqual(body["costbook_items"]?[0], [
            "id": .string(id.uuidString.lowercased()), "name": "Stud 8ft", "sku": "S-8", "base_version": 7,
        ], "only the changed columns, the required ones, and the base version")
        XCTAssertEqual(batch.entries[0].baseValues, ["name": "Stud", "sku": nil])

        // An edit while the batch is in flight goes to a new entry; the batch keeps its bytes and key.
        try replica.costbookItems.update(id) { $0.unit = "box" }
        let again = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .partialRows))
        XCTAssertEqual(again.idempotencyKey, batch.idempotencyKey)
        XCTAssertEqual(again.body, batch.body)
        try replica.acknowledge(again, version: 9)
        XCTAssertEqual(try replica.costbookItems.find(id)?.unit, "box")
        let next = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .partialRows))
        XCTAssertEqual(try JSONValue(json: next.body)["costbook_items"]?[0]?["base_version"], 9, "builds on the acknowledged version")
        XCTAssertNotEqual(next.idempotencyKey, batch.idempotencyKey)

        // Full rows (contract 1.0) carry every writable column.
        try replica.unbatch(next.id)
        let full = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .fullRows))
        let row = try XCTUnwrap(try JSONValue(json: full.body)["costbook_items"]?[0]?.objectValue)
        XCTAssertEqual(Set(row.keys), ["id", "name", "folder_id", "description", "unit", "unit_cost", "markup_percent", "sku", "taxable"])
        XCTAssertNil(row["base_version"])
    }

    func testEdit_RevertedChangeAndOfflineCreateDelete_LeaveNothingToSend() throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "A", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(id) { $0.name = "B" }
        try replica.costbookItems.update(id) { $0.name = "A" }
        XCTAssertEqual(try replica.pendingChangeCount(), 0)

        let local = UUID()
        try replica.insert(CostbookItemWrite(id: local, name: "temp"))
        try replica.costbookItems.delete(local)
        XCTAssertEqual(try replica.pendingChangeCount(), 0, "created and deleted offline: nothing for the server")
        XCTAssertNil(try replica.costbookItems.find(local))

        XCTAssertThrowsError(try replica.costbookItems.update(id) { $0.createdAt = Date() }) { error in
            XCTAssertEqual(error as? ReplicaError, .readOnlyColumn(table: "costbook_items", column: "created_at"))
        }
        XCTAssertThrowsError(try replica.pdfSettings.delete(contractorID))
    }

    func testSingletonEdit_StartsFromTheServersDefaults() throws {
        let replica = try openReplica()
        try replica.pdfSettings.update(contractorID) { $0.headerText = "Hello" }
        let pdf = try XCTUnwrap(replica.pdfSettings.find(contractorID))
        XCTAssertEqual(pdf.showLogo, true)
        XCTAssertEqual(pdf.headerText, "Hello")
        let batch = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .partialRows))
        XCTAssertEqual(try JSONValue(json: batch.body)["pdf_settings"], [["header_text": "Hello", "base_version": 0]])
    }

    func testPull_RebasesUnsentEdits_AndNeverGoesBackInVersion() throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "A", sku: "S1", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(id) { $0.name = "Mine" }
        _ = try replica.apply(PulledPage(cursor: "c2", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Theirs", sku: "S2", version: 5)]], deleted: [:]))
        var row = try XCTUnwrap(replica.costbookItems.find(id))
        XCTAssertEqual(row.name, "Mine", "an unsent edit stays on top")
        XCTAssertEqual(row.sku, "S2", "other columns take the server's value")
        _ = try replica.apply(PulledPage(cursor: "c3", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Old", sku: "S0", version: 4)]], deleted: [:]))
        row = try XCTUnwrap(replica.costbookItems.find(id))
        XCTAssertEqual(row.sku, "S2", "a stale delivery never replaces a newer version")
        XCTAssertEqual(try replica.cursor(), "c3")
    }

    func testUndecodablePulledRow_IsQuarantined_PageStillApplies() throws {
        let replica = try openReplica()
        let good = UUID()
        let bad = UUID()
        let result = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil, rows: ["costbook_items": [
            item(bad, name: "Too precise", unitCost: "1234567890123456789012345678901234567890.5", version: 2),
            item(good, name: "Fine", version: 2),
        ]], deleted: [:]))
        XCTAssertEqual(result.quarantined.map(\.reason), [.undecodable])
        XCTAssertNotNil(try replica.costbookItems.find(good))
        XCTAssertNil(try replica.costbookItems.find(bad))
        XCTAssertEqual(try replica.cursor(), "c1", "the cursor moves on")
    }

    func testSchemaMigration_AddsColumnAndPullsInFull() throws {
        let old = ReplicaSchema.current.removing(column: "sku", from: "costbook_items")
        var replica: SQLiteReplica? = try openReplica(schema: old)
        let id = UUID()
        _ = try replica?.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                          rows: ["costbook_items": [item(id, name: "A", sku: "S1", version: 3)]], deleted: [:]))
        XCTAssertEqual(try replica?.cursor(), "c1")
        replica?.close()
        replica = nil
        let upgraded = try openReplica()
        XCTAssertNil(try upgraded.cursor(), "a new column means rows here lack its values: pull in full")
        XCTAssertEqual(try upgraded.costbookItems.find(id)?.name, "A")
        _ = try upgraded.apply(PulledPage(cursor: "c9", hasMore: false, serverTime: nil,
                                          rows: ["costbook_items": [item(id, name: "A", sku: "S1", version: 3)]], deleted: [:]))
        XCTAssertEqual(try upgraded.costbookItems.find(id)?.sku, "S1")
    }

    func testOlderSchema_EditsWithoutTheColumnItDoesNotKnow() throws {
        let older = try openReplica(schema: ReplicaSchema.current.removing(column: "sku", from: "costbook_items"))
        let id = UUID()
        _ = try older.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                       rows: ["costbook_items": [item(id, name: "A", sku: "KEEP", version: 3)]], deleted: [:]))
        XCTAssertNil(try older.costbookItems.find(id)?.sku, "an old app does not see it")
        try older.costbookItems.update(id) { $0.name = "Renamed" }
        let partial = try XCTUnwrap(try older.nextBatch(maxRows: 10, shape: .partialRows))
        XCTAssertEqual(try JSONValue(json: partial.body)["costbook_items"]?[0], ["id": .string(id.uuidString.lowercased()), "name": "Renamed", "base_version": 3])
        try older.unbatch(partial.id)
        let full = try XCTUnwrap(try older.nextBatch(maxRows: 10, shape: .fullRows))
        XCTAssertNil(try JSONValue(json: full.body)["costbook_items"]?[0]?["sku"], "not even a full row names a column the schema lacks")
    }

    func testInsertAfterUnsentDelete_VoidsTheDelete() throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "A", version: 3)]], deleted: [:]))
        try replica.costbookItems.delete(id)
        try replica.insert(CostbookItemWrite(id: id, name: "Back"))
        let batch = try XCTUnwrap(try replica.nextBatch(maxRows: 10, shape: .partialRows))
        let body = try JSONValue(json: batch.body)
        XCTAssertNil(body["deletes"])
        XCTAssertEqual(body["costbook_items"]?[0]?["name"], "Back")
    }

    func testReplicaFile_BelongsToOneAccount() throws {
        let replica = try openReplica()
        let url = replica.url
        replica.close()
        XCTAssertThrowsError(try SQLiteReplica(url: url, contractorID: UUID(), userID: userID)) { error in
            guard case .wrongAccount? = error as? ReplicaError else { return XCTFail("got \(error)") }
        }
        XCTAssertNotEqual(SQLiteReplica.fileURL(directory: directory, contractorID: contractorID, userID: userID),
                          SQLiteReplica.fileURL(directory: directory, contractorID: contractorID, userID: UUID()))
    }

    // MARK: - Engine against a scripted server

    func testSync_PushesPartialRows_AcknowledgesVersion_RecognisesEcho() async throws {
        let replica = try openReplica()
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "New", unitCost: Decimal(string: "2.50")))
        routeBasics(pages: [Self.page(cursor: "c1", rows: ["costbook_items": [item(id, name: "New", unitCost: "2.50", version: 11)]])])
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 11) }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let report = try await engine.sync()
        XCTAssertEqual(report.pushedBatches, 1)
        let push = try XCTUnwrap(try pushBodies().first)
        XCTAssertEqual(push["costbook_items"], [["id": .string(id.uuidString.lowercased()), "name": "New", "unit_cost": "2.5", "base_version": 0]])
        let pull = try XCTUnwrap(server.requests.first { $0.url?.path == "/api/sync/pull" })
        XCTAssertTrue(pull.url?.query?.contains("tables=contractors,costbook_folders,costbook_items,estimates,estimate_events,pdf_settings,pricing_rules,step_a_configs,step_a_rules") ?? false,
                      "pulls ask only for the tables this SDK knows: \(pull.url?.query ?? "")")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        XCTAssertEqual(try replica.costbookItems.find(id)?.unitCost, Decimal(string: "2.5"))
        XCTAssertEqual(try replica.cursor(), "c1")
        XCTAssertEqual(engine.status.phase, .idle)
        XCTAssertNotNil(engine.status.lastSyncedAt)
    }

    func testConflict409_MergesFieldByField_ThenPushesWithTheNewBase() async throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c0", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Base", sku: "S1", unitCost: "1.00", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(id) { $0.name = "Mine" } // this device changed name
        // Meanwhile another device changed sku (version 4).
        let serverRow = item(id, name: "Base", sku: "Theirs", unitCost: "1.00", version: 4)
        let conflict: JSONValue = [
            "ok": false, "error": "CONFLICT", "message": "conflict", "requestId": "r", "details": [],
            "conflicts": [["table": "costbook_items", "id": .string(id.uuidString.lowercased()), "baseVersion": 3,
                           "currentVersion": 4, "deleted": false, "row": serverRow]],
        ]
        let pushes = Queue<StubServer.Reply>([StubServer.json(409, conflict), pushOK(version: 5)])
        server.route("/api/sync/push") { _, _ in pushes.pop() ?? StubServer.json(500, nil) }
        routeBasics(pages: [Self.page(cursor: "c1", rows: ["costbook_items": [item(id, name: "Mine", sku: "Theirs", unitCost: "1.00", version: 5)]])])
        let seen = Box<[ReplicaConflict]>([])
        let engine = ReplicaSyncEngine(client: client(), replica: replica, resolver: { conflict in
            seen.value.append(conflict)
            return await ConflictResolvers.fieldByField(conflict)
        })
        let report = try await engine.sync()
        XCTAssertEqual(report.conflictsResolved, 1)
        XCTAssertEqual(seen.value.count, 1)
        XCTAssertEqual(seen.value.first?.localChanges, ["name": "Mine"])
        XCTAssertEqual(seen.value.first?.baseValues, ["name": "Base"])
        XCTAssertEqual(seen.value.first?.collidingColumns, [])
        let bodies = try pushBodies()
        XCTAssertEqual(bodies.count, 2)
        XCTAssertEqual(bodies[1]["costbook_items"], [["id": .string(id.uuidString.lowercased()), "name": "Mine", "base_version": 4]])
        let keys = server.requests.filter { $0.url?.path == "/api/sync/push" }.map { $0.value(forHTTPHeaderField: "Idempotency-Key") }
        XCTAssertNotEqual(keys[0], keys[1], "a changed body gets a new key")
        let row = try XCTUnwrap(replica.costbookItems.find(id))
        XCTAssertEqual(row.name, "Mine")
        XCTAssertEqual(row.sku, "Theirs")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testConflict409_DeletedOnServer_GoesToQuarantineWithCallback() async throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c0", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Base", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(id) { $0.name = "Mine" }
        let conflict: JSONValue = [
            "ok": false, "error": "CONFLICT", "message": "conflict", "requestId": "r", "details": [],
            "conflicts": [["table": "costbook_items", "id": .string(id.uuidString), "baseVersion": 3, "currentVersion": 6, "deleted": true, "row": nil]],
        ]
        server.route("/api/sync/push") { _, _ in StubServer.json(409, conflict) }
        routeBasics()
        let called = Box<[QuarantinedChange]>([])
        let engine = ReplicaSyncEngine(client: client(), replica: replica, onQuarantine: { called.value.append($0) })
        let report = try await engine.sync()
        XCTAssertEqual(report.quarantined.map(\.reason), [.deletedOnServer])
        XCTAssertEqual(called.value.map(\.rowID), [id.uuidString.lowercased()])
        XCTAssertEqual(try replica.quarantine().first?.columns, ["name": "Mine"])
        XCTAssertNil(try replica.costbookItems.find(id))
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    /// Contract 1.2: the rows of a 409 are bounded in bytes; a conflict past
    /// the bound says rowOmitted (row null, not deleted). The engine neither
    /// merges it against nothing nor takes it for a deletion: it pushes the
    /// batch again in halves, whose 409s carry every row.
    func testConflict409_RowsOmitted_PushesAgainInSmallerBatches() async throws {
        let replica = try openReplica()
        let first = UUID(), second = UUID()
        _ = try replica.apply(PulledPage(cursor: "c0", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(first, name: "A", version: 3), item(second, name: "B", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(first) { $0.name = "A2" }
        try replica.costbookItems.update(second) { $0.name = "B2" }
        let conflict: JSONValue = [
            "ok": false, "error": "CONFLICT", "message": "conflict; 1 of the 2 conflicts carry no row", "requestId": "r", "details": [],
            "conflicts": [
                ["table": "costbook_items", "id": .string(first.uuidString.lowercased()), "baseVersion": 3, "currentVersion": 4,
                 "deleted": false, "row": item(first, name: "A", version: 4)],
                ["table": "costbook_items", "id": .string(second.uuidString.lowercased()), "baseVersion": 3, "currentVersion": 4,
                 "deleted": false, "row": nil, "rowOmitted": true],
            ],
        ]
        let pushes = Queue<StubServer.Reply>([StubServer.json(409, conflict), pushOK(version: 5), pushOK(version: 6)])
        server.route("/api/sync/push") { _, _ in pushes.pop() ?? StubServer.json(500, nil) }
        routeBasics()
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let report = try await engine.sync()
        let bodies = try pushBodies()
        XCTAssertEqual(bodies.count, 3, "the batch of two is pushed again as two batches of one")
        guard bodies.count == 3 else { return }
        XCTAssertEqual(bodies[1]["costbook_items"]?.arrayValue?.count, 1)
        XCTAssertEqual(bodies[2]["costbook_items"]?.arrayValue?.count, 1)
        XCTAssertTrue(report.quarantined.isEmpty, "an omitted row is no deletion: \(report.quarantined)")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testRejected400_IsQuarantined_OtherRowsPushed_PullContinues() async throws {
        let replica = try openReplica()
        let bad = UUID()
        let good = UUID()
        // Valid by the spec's rules (those refuse at edit time); the server
        // refuses it for a reason of its own.
        try replica.insert(CostbookItemWrite(id: bad, name: "refused by the server"))
        try replica.insert(CostbookItemWrite(id: good, name: "fine"))
        let rejection: JSONValue = ["ok": false, "error": "BAD_REQUEST", "message": "invalid", "requestId": "r",
                                    "details": [["table": "costbook_items", "index": 0, "field": "name", "reason": "too long"]]]
        let pushes = Queue<StubServer.Reply>([StubServer.json(400, rejection), pushOK(version: 2)])
        server.route("/api/sync/push") { _, _ in pushes.pop() ?? StubServer.json(500, nil) }
        let other = UUID()
        routeBasics(pages: [Self.page(cursor: "c1", rows: ["costbook_items": [item(other, name: "from another device", version: 1)]])])
        let report = try await ReplicaSyncEngine(client: client(), replica: replica).sync()
        XCTAssertEqual(report.quarantined.map(\.rowID), [bad.uuidString.lowercased()])
        XCTAssertEqual(report.quarantined.first?.message, "name: too long")
        XCTAssertEqual(report.pushedBatches, 1)
        XCTAssertEqual(try pushBodies().last?["costbook_items"]?.arrayValue?.count, 1)
        XCTAssertNotNil(try replica.costbookItems.find(other), "the pull ran")
        XCTAssertNotNil(try replica.costbookItems.find(bad), "a rejected new row stays, held for a fix")
        XCTAssertEqual(try replica.quarantine().count, 1)

        // The app fixes the row and retries it.
        let change = try XCTUnwrap(try replica.quarantine().first)
        try replica.retryQuarantined(change.id)
        XCTAssertEqual(try replica.pendingChangeCount(), 1)
        XCTAssertTrue(try replica.quarantine().isEmpty)
    }

    func testResync410_PullsInFull_RemovesWhatTheServerLacks_KeepsUnsentEdits() async throws {
        let replica = try openReplica()
        let kept = UUID()
        let gone = UUID()
        let edited = UUID()
        _ = try replica.apply(PulledPage(cursor: "old", hasMore: false, serverTime: nil, rows: ["costbook_items": [
            item(kept, name: "kept", version: 1), item(gone, name: "purged on server", version: 1), item(edited, name: "edited", version: 1),
        ]], deleted: [:]))
        let created = UUID()
        try replica.insert(CostbookItemWrite(id: created, name: "created offline"))
        try replica.costbookItems.update(edited) { $0.name = "edited here" }

        routeBasics()
        let pulls = Box(0)
        let pages = Queue([Self.page(cursor: "f1", hasMore: true, rows: ["costbook_items": [item(kept, name: "kept", version: 1)]]),
                           Self.page(cursor: "f2", rows: ["costbook_items": [item(UUID(), name: "new elsewhere", version: 9)]])])
        server.route("/api/sync/pull") { request, _ in
            pulls.value += 1
            if request.url?.query?.contains("cursor=old") ?? false {
                return StubServer.json(410, ["ok": false, "error": "RESYNC_REQUIRED", "message": "resync", "requestId": "r", "details": []])
            }
            return StubServer.json(200, pages.pop() ?? Self.page(cursor: "f3", rows: [:]))
        }
        // Offline push: the outbox is kept, the pull still runs.
        server.route("/api/sync/push") { _, _ in .failure(.notConnectedToInternet) }
        do {
            _ = try await ReplicaSyncEngine(client: client(), replica: replica).sync()
            XCTFail("the push failed offline")
        } catch let error as SyncClientError {
            XCTAssertTrue(error.isNetworkError)
        }
        XCTAssertEqual(pulls.value, 3, "410, then the full pull's two pages")
        XCTAssertNotNil(try replica.costbookItems.find(kept))
        XCTAssertNil(try replica.costbookItems.find(gone), "what the full pull did not deliver is removed")
        XCTAssertEqual(try replica.costbookItems.find(edited)?.name, "edited here", "unsent edits are kept")
        XCTAssertNotNil(try replica.costbookItems.find(created))
        XCTAssertEqual(try replica.cursor(), "f2")
        XCTAssertEqual(try replica.pendingChangeCount(), 2)
    }

    func testVerify_ComparesEveryTableWithTheDigest() async throws {
        let replica = try openReplica()
        let a = UUID()
        let b = UUID()
        routeBasics(pages: [Self.page(cursor: "c1", rows: ["costbook_items": [item(a, name: "a", version: 3), item(b, name: "b", version: 4)]])])
        let expected = SQLiteReplica.rowDigest(a, 3) &+ SQLiteReplica.rowDigest(b, 4)
        server.route("/api/sync/digest") { _, _ in
            var tables: [String: JSONValue] = [:]
            for table in ReplicaSchema.current.tables { tables[table.name] = ["count": 0, "digest": "0"] }
            tables["costbook_items"] = ["count": 2, "digest": .string(String(expected))]
            return StubServer.json(200, ["ok": true, "serverTime": "2025-01-15T12:00:00.000Z", "cursor": "c1", "tables": .object(tables)])
        }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let equal = try await engine.verify()
        XCTAssertTrue(equal.isEqual, "\(equal)")
        XCTAssertEqual(equal.tables.count, 9)
        try replica.withConnection { db in try db.query("UPDATE costbook_items SET sync_version = 99 WHERE id = ?", [.uuid(a)]) }
        let unequal = try await engine.verify()
        XCTAssertEqual(unequal.mismatched, ["costbook_items"])
    }

    func testEightConcurrent401s_MakeOneRefresh() async throws {
        let tokens = CountingTokenProvider()
        server.route("/api/sync/canary") { request, _ in
            request.value(forHTTPHeaderField: "Authorization") == "Bearer token-1"
                ? .response(status: 401, headers: [:], body: Data(Fixtures.envelope("UNAUTHORIZED").utf8))
                : .response(status: 200, headers: [:], body: Data(Fixtures.canary.utf8))
        }
        let client = client(tokens: tokens)
        try await withThrowingTaskGroup(of: CanaryResponse.self) { group in
            for _ in 0..<8 { group.addTask { try await client.getCanary() } }
            for try await canary in group { XCTAssertTrue(canary.ok) }
        }
        let refreshes = await tokens.refreshes
        XCTAssertEqual(refreshes, 1)
    }

    func testOfflineWhileGettingAToken_IsATransportError_NotSignedOut() async throws {
        struct OfflineTokens: TokenProvider {
            func token() async throws -> String { throw URLError(.notConnectedToInternet) }
            func refreshToken() async throws -> String { throw URLError(.notConnectedToInternet) }
        }
        do {
            _ = try await client(tokens: OfflineTokens()).getCanary()
            XCTFail("expected an error")
        } catch let error as SyncClientError {
            XCTAssertTrue(error.isNetworkError, "\(error)")
            XCTAssertFalse(error.requiresSignIn)
            XCTAssertNotNil(error.errorDescription)
        }
        XCTAssertTrue(server.requests.isEmpty)
    }

    func testOverlappingSyncs_OnePush_CursorNeverGoesBack() async throws {
        let replica = try openReplica()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "once"))
        let cursors = Queue<JSONValue>((1...6).map { Self.page(cursor: "c\($0)", rows: [:]) })
        routeBasics()
        server.route("/api/sync/pull") { _, _ in StubServer.json(200, cursors.pop() ?? Self.page(cursor: "c9", rows: [:])) }
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 1) }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        // Hold the first sync after its push until two more calls joined it.
        await engine.setAfterPushResponse { while await engine.joinedCalls < 2 { await Task.yield() } }
        let first = Task { try await engine.sync() }
        while await engine.joinedCalls == 0 && server.requests.filter({ $0.url?.path == "/api/sync/push" }).isEmpty { await Task.yield() }
        let others = (0..<2).map { _ in Task { try await engine.sync() } }
        let reports = [try await first.value, try await others[0].value, try await others[1].value]
        XCTAssertEqual(server.requests.filter { $0.url?.path == "/api/sync/push" }.count, 1)
        XCTAssertEqual(Set(reports.map(\.cursor)), ["c1"])
        await engine.setAfterPushResponse(nil)
        try await engine.sync()
        XCTAssertEqual(try replica.cursor(), "c2", "a later sync moves the cursor forward")
    }

    func testStatusStream_ReportsPhases() async throws {
        let replica = try openReplica()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "x"))
        routeBasics()
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 1) }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let collected = Task { () -> [SyncStatus.Phase] in
            var phases: [SyncStatus.Phase] = []
            for await status in engine.statusUpdates() {
                if phases.last != status.phase { phases.append(status.phase) }
                if status.lastSyncedAt != nil && status.phase == .idle { break }
            }
            return phases
        }
        try await Task.sleep(nanoseconds: 10_000_000)
        try await engine.sync()
        let phases = await collected.value
        XCTAssertEqual(Array(phases.suffix(4)), [.connecting, .pushing, .pulling, .idle])
    }

    func testCancellingTheSyncTask_KeepsTheBatch_NextSyncResendsItsKey() async throws {
        let replica = try openReplica()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "x"))
        routeBasics()
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 1) }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        await engine.setAfterPushResponse { while true { try await Task.sleep(nanoseconds: 1_000_000) } }
        let task = Task { try await engine.sync() }
        while server.requests.filter({ $0.url?.path == "/api/sync/push" }).isEmpty { await Task.yield() }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("cancelled")
        } catch is CancellationError {}
        XCTAssertEqual(try replica.pendingChangeCount(), 1, "not acknowledged: still queued")
        await engine.setAfterPushResponse(nil)
        try await engine.sync()
        let keys = server.requests.filter { $0.url?.path == "/api/sync/push" }.map { $0.value(forHTTPHeaderField: "Idempotency-Key") }
        XCTAssertEqual(keys.count, 2)
        XCTAssertEqual(keys[0], keys[1], "the same batch under the same key")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testChangesStream_NamesTheTablesOfEachWrite() async throws {
        let replica = try openReplica()
        var changes = replica.changes().makeAsyncIterator()
        try replica.insert(EstimateWrite(id: UUID(), number: "E-1"))
        let first = await changes.next()
        XCTAssertEqual(first, ["estimates"])
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(UUID(), name: "A", version: 1)]], deleted: [:]))
        let second = await changes.next()
        XCTAssertEqual(second, ["costbook_items"])
    }

    func testWrongAccountToken_IsRefusedBeforeAnyPush() async throws {
        let replica = try SQLiteReplica.open(directory: directory, contractorID: UUID(), userID: userID)
        try replica.insert(CostbookItemWrite(id: UUID(), name: "private"))
        routeBasics()
        do {
            try await ReplicaSyncEngine(client: client(), replica: replica).sync()
            XCTFail("expected wrongAccount")
        } catch let error as ReplicaError {
            guard case .wrongAccount = error else { return XCTFail("got \(error)") }
        }
        XCTAssertTrue(server.requests.allSatisfy { $0.url?.path != "/api/sync/push" })
    }
}

/// A thread-safe FIFO for scripted replies.
final class Queue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T]
    init(_ items: [T]) { self.items = items }
    func pop() -> T? {
        lock.lock()
        defer { lock.unlock() }
        return items.isEmpty ? nil : items.removeFirst()
    }
}

/// A thread-safe mutable value for test callbacks.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
