import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// Issue 20, failures 3 to 5 against a scripted contract 1.2 server that
/// checks base versions as syncproxy does: undoing a synced delete, a
/// resolver bringing back a row deleted on the server, and deletes that
/// carry the version they were decided on.
final class DeleteVersionTests: ReplicaTestCase {
    private func conflict(_ id: UUID, base: Int64, current: Int64, deleted: Bool, row: JSONValue = nil) -> StubServer.Reply {
        StubServer.json(409, [
            "ok": false, "error": "CONFLICT", "message": "conflict", "requestId": "r", "details": [],
            "conflicts": [["table": "costbook_items", "id": .string(id.uuidString.lowercased()), "baseVersion": .integer(base),
                           "currentVersion": .integer(current), "deleted": .bool(deleted), "row": row]],
        ])
    }

    /// The pushed row or delete of id in a push body, and its base_version.
    private func pushed(_ body: JSONValue, _ id: UUID) -> (row: JSONValue?, base: Int64?) {
        let key = id.uuidString.lowercased()
        if let row = body["costbook_items"]?.arrayValue?.first(where: { $0["id"]?.stringValue == key }) {
            return (row, row["base_version"]?.int64Value)
        }
        if let entry = body["deletes"]?["costbook_items"]?.arrayValue?.first(where: { ($0["id"]?.stringValue ?? $0.stringValue) == key }) {
            return (entry, entry["base_version"]?.int64Value)
        }
        return (nil, nil)
    }

    private func pulled(_ replica: SQLiteReplica, _ rows: JSONValue...) throws {
        _ = try replica.apply(PulledPage(cursor: "c0", hasMore: false, serverTime: nil, rows: ["costbook_items": rows], deleted: [:]))
    }

    // MARK: - Failure 3: undoing a synced delete

    func testInsertAgainAfterTheDeleteSynced_BringsTheRowBack() async throws {
        let replica = try openReplica()
        let id = UUID()
        try pulled(replica, item(id, name: "Drywall", version: 3))
        try replica.costbookItems.delete(id)
        // The server as syncproxy: the delete writes a tombstone at version 5;
        // then a row with a base is written only on its current version.
        let tombstone = Box<Int64?>(nil)
        server.route("/api/sync/push") { _, body in
            let push = (try? JSONValue(json: body)) ?? .null
            let (_, base) = self.pushed(push, id)
            if push["deletes"] != nil {
                tombstone.value = 5
                return self.pushOK(version: 5)
            }
            guard base == tombstone.value else { return self.conflict(id, base: base ?? -1, current: 5, deleted: true) }
            return self.pushOK(version: 6)
        }
        routeBasics(version: "1.2.0")
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        try await engine.sync()
        XCTAssertNil(try replica.costbookItems.find(id))

        try replica.insert(CostbookItemWrite(id: id, name: "Drywall", sku: "undone"))
        let report = try await engine.sync()
        XCTAssertEqual(report.quarantined, [], "not set aside as deleted on the server")
        XCTAssertEqual(try replica.quarantine(), [])
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        let last = try XCTUnwrap(pushBodies().last)
        XCTAssertEqual(pushed(last, id).base, 5, "pushed over the tombstone's version")
        XCTAssertEqual(pushed(last, id).row?["sku"], "undone")
        XCTAssertEqual(try replica.costbookItems.find(id)?.sku, "undone")
    }

    func testPulledDelete_KeepsARowCreatedAgainHere() throws {
        let replica = try openReplica()
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "created again after its delete"))
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil, rows: [:],
                                         deleted: ["costbook_items": [id.uuidString.lowercased()]]))
        XCTAssertEqual(try replica.costbookItems.find(id)?.name, "created again after its delete")
        XCTAssertEqual(try replica.quarantine(), [])
        XCTAssertEqual(try replica.pendingChangeCount(), 1)
    }

    // MARK: - Failure 4: a resolver brings back a row deleted on the server

    func testResolverPush_ForARowDeletedOnTheServer_BringsItBack() async throws {
        let replica = try openReplica()
        let id = UUID()
        try pulled(replica, item(id, name: "Base", sku: "S1", unitCost: "2.50", version: 3))
        try replica.costbookItems.update(id) { $0.name = "Mine" }
        // Deleted on the server at version 6: only a push on 6 is written.
        server.route("/api/sync/push") { _, body in
            let (_, base) = self.pushed((try? JSONValue(json: body)) ?? .null, id)
            return base == 6 ? self.pushOK(version: 7) : self.conflict(id, base: base ?? -1, current: 6, deleted: true)
        }
        routeBasics(version: "1.2.0")
        let seen = Box<[ReplicaConflict]>([])
        let engine = ReplicaSyncEngine(client: client(), replica: replica, resolver: { conflict in
            seen.value.append(conflict)
            return .push(conflict.localChanges) // "keep mine": bring it back
        })
        let report = try await engine.sync()
        XCTAssertEqual(report.quarantined, [])
        XCTAssertEqual(seen.value.count, 1)
        XCTAssertEqual(seen.value.first?.deleted, true)
        let bodies = try pushBodies()
        XCTAssertEqual(bodies.count, 2)
        let revived = try XCTUnwrap(pushed(bodies[1], id).row)
        XCTAssertEqual(revived["base_version"], 6, "the tombstone's version, the 409's currentVersion")
        XCTAssertEqual(revived["name"], "Mine")
        XCTAssertEqual(revived["sku"], "S1", "the whole row as this device has it, not only the edit")
        XCTAssertEqual(revived["unit_cost"], "2.50")
        XCTAssertEqual(try replica.costbookItems.find(id)?.name, "Mine")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    // MARK: - Failure 5: deletes carry the version they were decided on

    func testDelete_CarriesTheRowsVersion_OnA12Server_PlainIdBefore() async throws {
        for (version, expectBase) in [("1.2.0", true), ("1.1.0", false)] {
            server.reset()
            let replica = try SQLiteReplica.open(directory: directory.appendingPathComponent(version), contractorID: contractorID, userID: userID)
            let id = UUID()
            try pulled(replica, item(id, name: "x", version: 3))
            try replica.costbookItems.delete(id)
            server.route("/api/sync/push") { _, _ in self.pushOK(version: 4) }
            routeBasics(version: version)
            try await ReplicaSyncEngine(client: client(), replica: replica).sync()
            let deletes = try XCTUnwrap(pushBodies().first?["deletes"]?["costbook_items"])
            if expectBase {
                XCTAssertEqual(deletes, [["id": .string(id.uuidString.lowercased()), "base_version": 3]])
            } else {
                XCTAssertEqual(deletes, [.string(id.uuidString.lowercased())], "a 1.1 server gets ids only")
            }
        }
    }

    func testStaleDelete_GoesToTheResolver_DefaultKeepsTheEditedRow_RetryDeletes() async throws {
        let replica = try openReplica()
        let id = UUID()
        try pulled(replica, item(id, name: "Base", sku: "S1", version: 3))
        try replica.costbookItems.delete(id)
        // Meanwhile another device changed sku: the server has version 4.
        let serverRow = item(id, name: "Base", sku: "Theirs", version: 4)
        server.route("/api/sync/push") { _, body in
            let (_, base) = self.pushed((try? JSONValue(json: body)) ?? .null, id)
            return base == 4 ? self.pushOK(version: 5) : self.conflict(id, base: base ?? -1, current: 4, deleted: false, row: serverRow)
        }
        routeBasics(version: "1.2.0")
        let seen = Box<[ReplicaConflict]>([])
        let engine = ReplicaSyncEngine(client: client(), replica: replica, resolver: { conflict in
            seen.value.append(conflict)
            return await ConflictResolvers.fieldByField(conflict)
        })
        let report = try await engine.sync()
        let conflict = try XCTUnwrap(seen.value.first)
        XCTAssertTrue(conflict.isDelete)
        XCTAssertEqual(conflict.collidingColumns, ["sku"], "what the delete would lose")
        XCTAssertEqual(report.quarantined.map(\.reason), [.conflict])
        XCTAssertEqual(report.quarantined.first?.operation, "delete")
        XCTAssertEqual(try replica.costbookItems.find(id)?.sku, "Theirs", "the edited row is back, not silently deleted")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)

        // The user confirms: delete it anyway, on the version they now see.
        try replica.retryQuarantined(try XCTUnwrap(replica.quarantine().first).id)
        try await engine.sync()
        XCTAssertEqual(pushed(try XCTUnwrap(pushBodies().last), id).base, 4)
        XCTAssertNil(try replica.costbookItems.find(id))
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testDeleteConflict_WithoutLostEdits_OrDeletedThereToo_NeedsNoOne() async throws {
        let replica = try openReplica()
        let same = UUID(), gone = UUID()
        try pulled(replica, item(same, name: "same", version: 3), item(gone, name: "gone", version: 3))
        try replica.costbookItems.delete(same)
        try replica.costbookItems.delete(gone)
        // same: a version later but no column this device saw changed; gone: deleted there too.
        let rounds = Box(0)
        server.route("/api/sync/push") { _, body in
            rounds.value += 1
            let push = (try? JSONValue(json: body)) ?? .null
            if rounds.value == 1 {
                return StubServer.json(409, [
                    "ok": false, "error": "CONFLICT", "message": "conflict", "requestId": "r", "details": [],
                    "conflicts": [
                        ["table": "costbook_items", "id": .string(same.uuidString.lowercased()), "baseVersion": 3, "currentVersion": 4,
                         "deleted": false, "row": self.item(same, name: "same", version: 4)],
                        ["table": "costbook_items", "id": .string(gone.uuidString.lowercased()), "baseVersion": 3, "currentVersion": 5,
                         "deleted": true, "row": nil],
                    ],
                ])
            }
            XCTAssertEqual(self.pushed(push, same).base, 4)
            XCTAssertNil(self.pushed(push, gone).row, "already deleted there: not sent again")
            return self.pushOK(version: 6)
        }
        routeBasics(version: "1.2.0")
        let report = try await ReplicaSyncEngine(client: client(), replica: replica).sync()
        XCTAssertEqual(report.quarantined, [])
        XCTAssertEqual(rounds.value, 2)
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        XCTAssertEqual(try replica.costbookItems.count(), 0)
    }
}
