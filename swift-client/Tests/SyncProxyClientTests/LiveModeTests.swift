import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// Live mode (`runLive()`) against a scripted 1.2 server: edits go out by
/// themselves, debounced and coalesced; held pulls bring rows in; failures
/// back off, offline shows, and cancelling stops it. Two replicas against
/// the live server: ReplicaLiveTests.testLive_TwoReplicasInLiveMode_EditsArriveOnTheOther.
final class LiveModeTests: ReplicaTestCase {
    private func until(_ seconds: TimeInterval = 5, _ condition: @escaping () throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return try condition()
    }

    private func pushes() -> [Data] {
        zip(server.requests, server.requestBodies).filter { $0.0.url?.path == "/api/sync/push" }.map(\.1)
    }

    private func heldPulls() -> [URLRequest] {
        server.requests.filter { $0.url?.path == "/api/sync/pull" && ($0.url?.query ?? "").contains("wait=") }
    }

    func testLiveMode_EditsPushedOnceCoalesced_HeldPullsBringRows() async throws {
        let replica = try openReplica()
        let arriving = UUID()
        let delivered = Box(false)
        routeBasics(version: "1.2.0")
        server.route("/api/sync/pull") { request, _ in
            let held = (request.url?.query ?? "").contains("wait=")
            if !held { return StubServer.json(200, Self.page(cursor: "c1", rows: [:])) }
            Thread.sleep(forTimeInterval: 0.05) // held a moment
            if !delivered.value {
                delivered.value = true
                return StubServer.json(200, Self.page(cursor: "c2", rows: ["costbook_items": [
                    ["id": .string(arriving.uuidString.lowercased()), "name": "from another device", "sync_version": 7],
                ]]))
            }
            return StubServer.json(200, Self.page(cursor: "c2", rows: [:]))
        }
        server.route("/api/sync/push") { _, _ in .response(status: 200, headers: ["Content-Type": "application/json"], body: Data(Fixtures.pushResponse.utf8)) }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let changes = replica.changes()
        let live = Task { await engine.runLive(.init(pushDelay: 0.05, wait: 20)) }

        var iterator = changes.makeAsyncIterator()
        let arrived = await iterator.next()
        XCTAssertEqual(arrived, ["costbook_items"], "changes() fired for the pulled row")
        let found = try await until { try replica.costbookItems.find(arriving) != nil }
        XCTAssertTrue(found, "a held pull brought another device's row")
        XCTAssertTrue(engine.status.isLive)
        XCTAssertTrue(heldPulls().allSatisfy { ($0.url?.query ?? "").contains("wait=20") && ($0.url?.query ?? "").contains("cursor=") })

        let before = pushes().count
        for i in 0..<3 { try replica.insert(CostbookItemWrite(id: UUID(), name: "edit \(i)")) }
        let pushed = try await until { try replica.pendingChangeCount() == 0 }
        XCTAssertTrue(pushed, "edits pushed by themselves")
        XCTAssertEqual(pushes().count - before, 1, "three quick edits, one push")
        let body = try JSONValue(json: try XCTUnwrap(pushes().last))
        XCTAssertEqual(body["costbook_items"]?.arrayValue?.count, 3)

        live.cancel()
        await live.value
        XCTAssertFalse(engine.status.isLive, "cancelled, live mode stops")
        let requests = server.requests.count
        try replica.insert(CostbookItemWrite(id: UUID(), name: "after"))
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(server.requests.count, requests, "nothing sent after it stopped")
    }

    func testLiveMode_ServerDown_ShowsOfflineBacksOffAndRecovers() async throws {
        let replica = try openReplica()
        routeBasics(version: "1.2.0")
        let down = Box(true)
        server.route("/api/sync/canary") { _, _ in
            down.value ? .failure(.cannotConnectToHost) : .response(status: 200, headers: [:], body: Data(Fixtures.canary.utf8))
        }
        let engine = ReplicaSyncEngine(client: client(), replica: replica)
        let live = Task { await engine.runLive(.init(minBackoff: 0.05, maxBackoff: 0.2)) }
        let offline = await until { engine.status.isOffline }
        XCTAssertTrue(offline, "offline shows while the server cannot be reached")
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let attempts = server.requests.filter { $0.url?.path == "/api/sync/canary" }.count
        // Two loops (push, pull), a retry each per attempt, at least 0.025 s
        // apart, backing off to 0.1-0.2 s: not a busy loop.
        XCTAssertLessThan(attempts, 80, "\(attempts) attempts in a second")
        XCTAssertGreaterThan(attempts, 2, "it keeps trying")
        down.value = false
        let recovered = await until { !engine.status.isOffline && engine.status.lastSyncedAt != nil }
        XCTAssertTrue(recovered, "back online, it syncs by itself")
        live.cancel()
        await live.value
        XCTAssertFalse(engine.status.isLive)
    }
}
