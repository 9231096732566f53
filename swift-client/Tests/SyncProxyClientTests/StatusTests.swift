import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 9: `status.pendingChanges` moved only during a sync; a
/// sync with the network down said "connecting" for 5–7 s before "offline";
/// the README's "retry after fixing the row" did not work for a rejected
/// new row (it was removed locally).
final class StatusTests: ReplicaTestCase {
    /// Waits until engine's status satisfies condition (or 5 s pass).
    private func status(of engine: ReplicaSyncEngine, until condition: @escaping @Sendable (SyncStatus) -> Bool) async -> SyncStatus {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let now = engine.status
            if condition(now) { return now }
            try? await Task.sleep(nanoseconds: 2_000_000)
        }
        return engine.status
    }

    func testStatus_PendingChangesFollowEveryLocalEdit() async throws {
        let replica = try openReplica()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "before the engine"))
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        XCTAssertEqual(engine.status.pendingChanges, 1, "known from the start")
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "an unsent edit"))
        let s1 = await status(of: engine) { $0.pendingChanges == 2 }
        XCTAssertEqual(s1.pendingChanges, 2, "after an insert, without a sync")
        try replica.write { tx in
            try tx.costbookItems.update(id) { $0.sku = "coalesced" }
            try tx.insert(EstimateWrite(id: UUID(), number: "E-1"))
        }
        let s2 = await status(of: engine) { $0.pendingChanges == 3 }
        XCTAssertEqual(s2.pendingChanges, 3)
        try replica.costbookItems.delete(id) // created and deleted offline: nothing left to send for it
        let s3 = await status(of: engine) { $0.pendingChanges == 2 }
        XCTAssertEqual(s3.pendingChanges, 2)
        // An app extension's edit on the same file counts too.
        let other = try SQLiteReplica(url: replica.url, contractorID: contractorID, userID: userID)
        try other.insert(CostbookItemWrite(id: UUID(), name: "from the extension"))
        let s4 = await status(of: engine) { $0.pendingChanges == 3 }
        XCTAssertEqual(s4.pendingChanges, 3)
        other.close()
    }

    func testOffline_IsReportedAtTheFirstFailedAttempt_WhileTheClientRetries() async throws {
        let replica = try openReplica()
        server.route("/api/sync/canary") { _, _ in .failure(.cannotConnectToHost) }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let during = Box<[Bool]>([])
        let engineBox = Box<ReplicaSyncEngine?>(nil)
        // The backoff before each retry looks at what the status says meanwhile.
        let client = SyncAPIClient(baseURL: URL(string: "https://sync.test")!, tokenProvider: StaticTokenProvider("t"),
                                   session: URLSession(configuration: configuration), retryPolicy: RetryPolicy(maxAttempts: 4), logger: nil,
                                   sleep: { _ in
                                       if let engine = engineBox.value { during.value.append(engine.status.isOffline) }
                                   })
        let engine = ReplicaSyncEngine(client: client, replica: replica)
        engineBox.value = engine
        do {
            try await engine.sync()
            XCTFail("no server")
        } catch let error as SyncClientError {
            XCTAssertTrue(error.isNetworkError)
        }
        XCTAssertEqual(during.value, [true, true, true], "offline from the first failed attempt, not after the retries")
        XCTAssertTrue(engine.status.isOffline)
        XCTAssertEqual(engine.status.phase, .idle)
    }

    func testNoNetworkAtAll_FailsAtOnce_NotAfterSecondsOfRetries() async throws {
        let replica = try openReplica()
        server.route("/api/sync/canary") { _, _ in .failure(.notConnectedToInternet) }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let client = SyncAPIClient(baseURL: URL(string: "https://sync.test")!, tokenProvider: StaticTokenProvider("t"),
                                   session: URLSession(configuration: configuration), retryPolicy: .default, logger: nil,
                                   sleep: { seconds in try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000)) })
        let engine = ReplicaSyncEngine(client: client, replica: replica)
        let started = Date()
        do {
            try await engine.sync()
            XCTFail("no network")
        } catch let error as SyncClientError {
            XCTAssertTrue(error.isNetworkError)
        }
        XCTAssertEqual(server.requests.count, 1, "the device has no network: one attempt")
        XCTAssertTrue(engine.status.isOffline)
        print("offline: a sync with no network reported offline after \(Int(Date().timeIntervalSince(started) * 1000)) ms")
    }

    /// README: "fix the row, then `retryQuarantined(id)`" — a rejected new row
    /// stays in the replica, held: the fix goes into the held change.
    func testRejectedNewRow_StaysHeld_FixThenRetry_AsTheReadmeSays() async throws {
        let replica = try openReplica()
        let id = UUID()
        try replica.insert(EstimateWrite(id: id, number: "E-7", title: "refused title"))
        let rejection: JSONValue = ["ok": false, "error": "BAD_REQUEST", "message": "invalid", "requestId": "r",
                                    "details": [["table": "estimates", "index": 0, "field": "title", "reason": "refused"]]]
        let replies = Queue<StubServer.Reply>([StubServer.json(400, rejection), pushOK(version: 4)])
        server.route("/api/sync/push") { _, _ in replies.pop() ?? StubServer.json(500, nil) }
        routeBasics()
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        try await engine.sync()
        let change = try XCTUnwrap(replica.quarantine().first)
        XCTAssertEqual(change.reason, .rejected)

        // 1. Fix the row: it is still there.
        try XCTUnwrap(replica.estimates.find(id)).edit(in: replica) { $0.title = "fixed title" }
        XCTAssertEqual(try replica.pendingChangeCount(), 0, "held until retried")
        XCTAssertEqual(try replica.quarantine().first?.columns["title"], "fixed title")
        // 2. Retry it, 3. sync.
        try replica.retryQuarantined(change.id)
        try await engine.sync()
        let pushed = try XCTUnwrap(pushBodies().last?["estimates"]?[0])
        XCTAssertEqual(pushed["title"], "fixed title")
        XCTAssertEqual(pushed["number"], "E-7")
        XCTAssertEqual(pushed["base_version"], 0, "still a new row")
        XCTAssertEqual(try replica.quarantine(), [])
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        XCTAssertEqual(try replica.estimates.find(id)?.title, "fixed title")

        // Discarding a held new row removes it: the server never had it.
        let other = UUID()
        try replica.insert(EstimateWrite(id: other, number: "E-8"))
        let again = Queue<StubServer.Reply>([StubServer.json(400, rejection)])
        server.route("/api/sync/push") { _, _ in again.pop() ?? self.pushOK(version: 5) }
        try await engine.sync()
        try replica.discardQuarantined(try XCTUnwrap(replica.quarantine().first).id)
        XCTAssertNil(try replica.estimates.find(other))
    }

    /// A rejected edit is undone; the fix made before the retry wins over
    /// the retried values.
    func testRejectedEdit_FixThenRetry_TheFixWins() async throws {
        let replica = try openReplica()
        let id = UUID()
        _ = try replica.apply(PulledPage(cursor: "c0", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(id, name: "Base", sku: "S1", version: 3)]], deleted: [:]))
        try replica.costbookItems.update(id) { $0.name = "refused"; $0.unit = "box" }
        let rejection: JSONValue = ["ok": false, "error": "BAD_REQUEST", "message": "invalid", "requestId": "r",
                                    "details": [["table": "costbook_items", "index": 0, "field": "name", "reason": "refused"]]]
        let replies = Queue<StubServer.Reply>([StubServer.json(400, rejection)])
        server.route("/api/sync/push") { _, _ in replies.pop() ?? self.pushOK(version: 4) }
        routeBasics()
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        try await engine.sync()
        XCTAssertEqual(try replica.costbookItems.find(id)?.name, "Base", "a rejected edit is undone")
        try replica.costbookItems.update(id) { $0.name = "fixed" }
        try replica.retryQuarantined(try XCTUnwrap(replica.quarantine().first).id)
        try await engine.sync()
        let pushed = try XCTUnwrap(pushBodies().last?["costbook_items"]?[0])
        XCTAssertEqual(pushed["name"], "fixed")
        XCTAssertEqual(pushed["unit"], "box", "the rest of the retried edit")
        XCTAssertEqual(pushed["base_version"], 3)
        XCTAssertEqual(try replica.costbookItems.find(id)?.name, "fixed")
    }
}
