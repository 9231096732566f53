import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 6: no multi-row transaction ("duplicate an estimate with
/// its events" was not atomic). `replica.write { tx in … }` is one SQLite
/// transaction and one push.
final class WriteTransactionTests: ReplicaTestCase {
    private func estimateWithEvents(_ replica: SQLiteReplica, events: Int) throws -> UUID {
        let id = UUID()
        try replica.write { tx in
            try tx.insert(EstimateWrite(id: id, number: "E-\(id.uuidString.prefix(6))", title: "Kitchen"))
            for i in 0..<events {
                try tx.insert(EstimateEventWrite(id: UUID(), estimateId: id, kind: "note", payload: ["i": .integer(Int64(i))]))
            }
        }
        return id
    }

    func testWrite_DuplicatesAnEstimateWithItsEvents_OneTransaction_OnePush() async throws {
        let replica = try openReplica()
        let original = try estimateWithEvents(replica, events: 3)
        var changes = replica.changes().makeAsyncIterator()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "an unrelated edit before"))
        _ = await changes.next()

        let copy = try replica.write { tx -> UUID in
            let source = try XCTUnwrap(tx.estimates.find(original))
            let copy = try tx.insert(EstimateWrite(id: UUID(), number: source.number + "-copy", title: source.title))
            for event in try tx.estimateEvents.all(where: "estimate_id = ?", [.uuid(original)]) {
                try tx.insert(EstimateEventWrite(id: UUID(), estimateId: copy, kind: event.kind, payload: event.payload))
            }
            XCTAssertEqual(try tx.estimateEvents.count(where: "estimate_id = ?", [.uuid(copy)]), 3, "reads see the transaction's edits")
            return copy
        }
        let committed = await changes.next()
        XCTAssertEqual(committed, ["estimates", "estimate_events"], "one commit for the whole transaction")
        XCTAssertEqual(try replica.estimateEvents.count(where: "estimate_id = ?", [.uuid(copy)]), 3)

        // Two changes per push: the transactions are never split across pushes.
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 9) }
        routeBasics()
        try await ReplicaSyncEngine(client: client(), replica: replica, configuration: .init(maxPushRows: 2)).sync()
        let bodies = try pushBodies()
        let copyPush = try XCTUnwrap(bodies.first { $0["estimates"]?.arrayValue?.contains { $0["id"] == .string(copy.uuidString.lowercased()) } ?? false })
        XCTAssertEqual(copyPush["estimate_events"]?.arrayValue?.filter { $0["estimate_id"] == .string(copy.uuidString.lowercased()) }.count, 3,
                       "the copy and its three events in one push")
        let originalPush = try XCTUnwrap(bodies.first { $0["estimates"]?.arrayValue?.contains { $0["id"] == .string(original.uuidString.lowercased()) } ?? false })
        XCTAssertEqual(originalPush["estimate_events"]?.arrayValue?.count, 3)
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testWrite_ThatThrows_StoresNothing() throws {
        struct Abandoned: Error {}
        let replica = try openReplica()
        let id = UUID()
        XCTAssertThrowsError(try replica.write { tx in
            try tx.insert(EstimateWrite(id: id, number: "E-1"))
            try tx.insert(EstimateEventWrite(id: UUID(), estimateId: id, kind: "sent"))
            throw Abandoned()
        })
        XCTAssertNil(try replica.estimates.find(id))
        XCTAssertEqual(try replica.estimateEvents.count(), 0)
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        // A rule broken halfway undoes the edits before it too.
        XCTAssertThrowsError(try replica.write { tx in
            try tx.insert(EstimateWrite(id: id, number: "E-1"))
            try tx.insert(EstimateEventWrite(id: UUID(), estimateId: id, kind: String(repeating: "k", count: 101)))
        })
        XCTAssertNil(try replica.estimates.find(id))
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    func testWrite_EditThroughTheReplicaInside_IsAnError_NotADeadlock() throws {
        let replica = try openReplica()
        XCTAssertThrowsError(try replica.write { _ in
            try replica.insert(CostbookItemWrite(id: UUID(), name: "through the replica"))
        }) { error in
            XCTAssertEqual(error as? ReplicaError, .nestedWrite)
        }
        var escaped: ReplicaTransaction?
        try replica.write { escaped = $0 }
        XCTAssertThrowsError(try escaped?.insert(CostbookItemWrite(id: UUID(), name: "late"))) { error in
            XCTAssertEqual(error as? ReplicaError, .transactionEnded)
        }
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    /// A later transaction that edits a row of an earlier, unsent one joins
    /// it: both reach the server in one push.
    func testWrite_TransactionsSharingARow_PushTogether() async throws {
        let replica = try openReplica()
        let a = UUID(), b = UUID(), c = UUID()
        try replica.write { tx in
            try tx.insert(CostbookItemWrite(id: a, name: "a"))
            try tx.insert(CostbookItemWrite(id: b, name: "b"))
        }
        try replica.insert(CostbookItemWrite(id: UUID(), name: "alone"))
        try replica.write { tx in
            try tx.costbookItems.update(b) { $0.sku = "B" }
            try tx.insert(CostbookItemWrite(id: c, name: "c"))
        }
        server.route("/api/sync/push") { _, _ in self.pushOK(version: 2) }
        routeBasics()
        try await ReplicaSyncEngine(client: client(), replica: replica, configuration: .init(maxPushRows: 1)).sync()
        let ids = try pushBodies().map { Set(($0["costbook_items"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) }
        let together = Set([a, b, c].map { $0.uuidString.lowercased() })
        XCTAssertTrue(ids.contains(together), "pushes: \(ids)")
        XCTAssertEqual(ids.count, 2)
    }

    /// The server rejects one row of a transaction: the whole transaction is
    /// set aside (it reaches the server whole or not at all); other edits go.
    func testWrite_RejectedRow_SetsItsWholeTransactionAside() async throws {
        let replica = try openReplica()
        let estimate = UUID()
        try replica.write { tx in
            try tx.insert(EstimateWrite(id: estimate, number: "E-9"))
            try tx.insert(EstimateEventWrite(id: UUID(), estimateId: estimate, kind: "refused"))
        }
        let other = UUID()
        try replica.insert(CostbookItemWrite(id: other, name: "independent"))
        let rejection: JSONValue = ["ok": false, "error": "BAD_REQUEST", "message": "invalid", "requestId": "r",
                                    "details": [["table": "estimate_events", "index": 0, "field": "kind", "reason": "refused"]]]
        let replies = Queue<StubServer.Reply>([StubServer.json(400, rejection), pushOK(version: 3)])
        server.route("/api/sync/push") { _, _ in replies.pop() ?? StubServer.json(500, nil) }
        routeBasics()
        let report = try await ReplicaSyncEngine(client: client(), replica: replica).sync()
        XCTAssertEqual(Set(report.quarantined.map(\.table)), ["estimates", "estimate_events"])
        XCTAssertEqual(try pushBodies().last?["costbook_items"]?.arrayValue?.count, 1)
        XCTAssertNil(try pushBodies().last?["estimates"], "the estimate did not go without its event")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }

    /// A 413 for a transaction that cannot be split sets it aside instead of
    /// halving forever.
    func testWrite_TooLargeForOnePush_IsSetAside_NotRetriedForever() async throws {
        let replica = try openReplica()
        _ = try estimateWithEvents(replica, events: 4)
        let pushes = Box(0)
        server.route("/api/sync/push") { _, _ in
            pushes.value += 1
            return StubServer.json(413, ["ok": false, "error": "PAYLOAD_TOO_LARGE", "message": "split it", "requestId": "r", "details": []])
        }
        routeBasics()
        let report = try await ReplicaSyncEngine(client: client(), replica: replica, configuration: .init(maxPushRows: 4)).sync()
        XCTAssertEqual(report.quarantined.count, 5)
        XCTAssertLessThanOrEqual(pushes.value, 4)
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
    }
}
