import Foundation
import XCTest
@testable import SyncProxyClient

/// A scripted API for the engine: pull pages in order, push answers in order.
actor FakeSyncAPI: SyncAPIOperations {
    var pages: [SyncPullResponse] = []
    var pushErrors: [SyncClientError?] = []
    private(set) var pulls: [String?] = []
    private(set) var pushes: [(request: SyncPushRequest, key: String?)] = []
    private(set) var canaries = 0
    /// While true, a push waits (to hold a sync in flight).
    var holdPush = false
    func setHoldPush(_ hold: Bool) { holdPush = hold }

    func setPages(_ pages: [SyncPullResponse]) { self.pages = pages }
    func setPushErrors(_ errors: [SyncClientError?]) { pushErrors = errors }

    func getCanary() async throws -> CanaryResponse {
        canaries += 1
        return try JSONDecoder().decode(CanaryResponse.self, from: Fixtures.data(Fixtures.canary))
    }

    func pullChanges(cursor: String?, since: Date?, limit: Int32?, tables: [TableName]?, wait: Int32?) async throws -> SyncPullResponse {
        pulls.append(cursor)
        guard !pages.isEmpty else { throw SyncClientError.http(status: 599, bodyPreview: "no page left") }
        return pages.removeFirst()
    }

    func pushChanges(_ body: SyncPushRequest, idempotencyKey: String?) async throws -> SyncPushResponse {
        pushes.append((body, idempotencyKey))
        while holdPush { try await Task.sleep(nanoseconds: 1_000_000) }
        if !pushErrors.isEmpty, let error = pushErrors.removeFirst() { throw error }
        return try JSONDecoder().decode(SyncPushResponse.self, from: Fixtures.data(Fixtures.pushResponse))
    }

    func getHealth() async throws -> StatusResponse { StatusResponse(ok: true) }
    func getReady() async throws -> StatusResponse { StatusResponse(ok: true) }
    func getMetrics() async throws -> String { "" }
    func getOpenAPI() async throws -> [String: JSONValue] { [:] }
}

final class SyncEngineTests: XCTestCase {
    private func page(cursor: String, hasMore: Bool, item: UUID? = nil) throws -> SyncPullResponse {
        var page = try JSONDecoder().decode(SyncPullResponse.self, from: Fixtures.data(Fixtures.emptyPage))
        page.cursor = cursor
        page.hasMore = hasMore
        if let item {
            var row = try JSONDecoder().decode(SyncPullResponse.self, from: Fixtures.data(Fixtures.pullPage)).costbookItems[0]
            row.id = item
            page.costbookItems = [row]
        }
        return page
    }

    private func envelope(_ code: String) throws -> APIError {
        try JSONDecoder().decode(APIError.self, from: Fixtures.data(Fixtures.envelope(code)))
    }

    func testSync_CanaryPushThenPullAllPages() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        let local = CostbookItemWrite(id: UUID(), name: "Local edit")
        await store.stage(local)
        let (a, b) = (UUID(), UUID())
        await api.setPages([try page(cursor: "c1", hasMore: true, item: a), try page(cursor: "c2", hasMore: false, item: b)])

        let engine = SyncEngine(api: api, store: store)
        let report = try await engine.sync()

        XCTAssertEqual(report, SyncEngine.Report(pushedBatches: 1, pulledPages: 2, cursor: "c2"))
        let canaries = await api.canaries
        XCTAssertEqual(canaries, 1)
        let identity = await engine.identity
        XCTAssertEqual(identity?.contractorId, UUID(uuidString: Fixtures.contractorID))
        let pushes = await api.pushes
        XCTAssertEqual(pushes.first?.request.costbookItems, [local])
        XCTAssertNotNil(pushes.first?.key)
        let pulls = await api.pulls
        XCTAssertEqual(pulls, [nil, "c1"])
        let (items, cursor, pending) = await (store.items, store.cursor, store.pendingCount)
        XCTAssertEqual(Set(items.keys), [a, b])
        XCTAssertEqual(cursor, "c2")
        XCTAssertEqual(pending, 0)

        // A second sync starts from the saved cursor and needs no new canary.
        await api.setPages([try page(cursor: "c3", hasMore: false)])
        _ = try await engine.sync()
        let (canariesAfter, pullsAfter) = await (api.canaries, api.pulls)
        XCTAssertEqual(canariesAfter, 1)
        XCTAssertEqual(pullsAfter.last, "c2")
    }

    func testPull_CursorSavedOnlyAfterPageApplied() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        await api.setPages([try page(cursor: "c1", hasMore: true), try page(cursor: "c2", hasMore: false)])
        let engine = SyncEngine(api: api, store: store)
        _ = try await engine.pull()

        await api.setPages([try page(cursor: "c3", hasMore: false)])
        await store.setFailNextApply()
        do {
            _ = try await engine.pull()
            XCTFail("apply failed, pull must fail")
        } catch {}
        let cursor = await store.cursor
        XCTAssertEqual(cursor, "c2", "the cursor of an unapplied page must not be saved")

        await api.setPages([try page(cursor: "c3", hasMore: false)])
        _ = try await engine.pull()
        let (pulls, finalCursor) = await (api.pulls, store.cursor)
        XCTAssertEqual(pulls, [nil, "c1", "c2", "c2"], "the failed page is pulled again")
        XCTAssertEqual(finalCursor, "c3")
    }

    func testPush_BatchesWithinLimit() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        for index in 0..<5 { await store.stage(CostbookItemWrite(id: UUID(), name: "item \(index)")) }
        await store.stageDelete(UUID())
        let engine = SyncEngine(api: api, store: store, configuration: .init(maxPushRows: 2))
        let batches = try await engine.push()
        XCTAssertEqual(batches, 3)
        let pushes = await api.pushes
        for push in pushes {
            let rows = (push.request.costbookItems?.count ?? 0) + (push.request.deletes?.costbookItems?.count ?? 0)
            XCTAssertLessThanOrEqual(rows, 2)
        }
        XCTAssertEqual(Set(pushes.compactMap { $0.key }).count, 3, "one idempotency key per batch")
    }

    func testPush_PayloadTooLargeHalvesTheBatch() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        for index in 0..<4 { await store.stage(CostbookItemWrite(id: UUID(), name: "item \(index)")) }
        await api.setPushErrors([.api(status: 413, try envelope("PAYLOAD_TOO_LARGE"))])
        let engine = SyncEngine(api: api, store: store, configuration: .init(maxPushRows: 4))
        let batches = try await engine.push()
        let pushes = await api.pushes
        XCTAssertEqual(pushes.map { $0.request.costbookItems?.count ?? 0 }, [4, 2, 2])
        XCTAssertEqual(batches, 2)
    }

    func testPush_KeyReusedRetriesWithFreshKey() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        await store.stage(CostbookItemWrite(id: UUID(), name: "x"))
        await api.setPushErrors([.api(status: 422, try envelope("IDEMPOTENCY_KEY_REUSED"))])
        _ = try await SyncEngine(api: api, store: store).push()
        let keys = await api.pushes.map { $0.key }
        XCTAssertEqual(keys.count, 2)
        XCTAssertNotEqual(keys[0], keys[1])
        let pending = await store.pendingCount
        XCTAssertEqual(pending, 0)
    }

    func testPush_OtherErrorsPropagateAndKeepChanges() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        await store.stage(CostbookItemWrite(id: UUID(), name: "x"))
        await api.setPushErrors([.api(status: 400, try envelope("BAD_REQUEST"))])
        // The pull still runs after the rejected push, then the push error is thrown.
        await api.setPages([try page(cursor: "c1", hasMore: false)])
        do {
            _ = try await SyncEngine(api: api, store: store).sync()
            XCTFail("expected the 400")
        } catch SyncClientError.api(let status, _) {
            XCTAssertEqual(status, 400)
        }
        let (pending, cursor) = await (store.pendingCount, store.cursor)
        XCTAssertEqual(pending, 1)
        XCTAssertEqual(cursor, "c1", "a rejected push must not block the pull")
    }

    func testOverlappingSyncs_ShareOneRun() async throws {
        let api = FakeSyncAPI()
        let store = InMemoryStore()
        await store.stage(CostbookItemWrite(id: UUID(), name: "x"))
        await api.setPages([try page(cursor: "c1", hasMore: false)])
        let engine = SyncEngine(api: api, store: store)
        await api.setHoldPush(true)
        let first = Task { try await engine.sync() }
        while await api.pushes.isEmpty { await Task.yield() }
        let others = (0..<2).map { _ in Task { try await engine.sync() } }
        while await engine.joinedCalls < 2 { await Task.yield() }
        await api.setHoldPush(false)
        var reports = [try await first.value]
        for task in others { reports.append(try await task.value) }
        XCTAssertEqual(Set(reports.map(\.cursor)), ["c1"])
        let (pushes, pulls) = await (api.pushes.count, api.pulls.count)
        XCTAssertEqual(pushes, 1, "one push for overlapping calls")
        XCTAssertEqual(pulls, 1)
    }
}
