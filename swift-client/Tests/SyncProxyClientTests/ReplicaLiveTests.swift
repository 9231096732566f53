import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// The replica against a live syncproxy (`make test-swift` starts two: the
/// main one, and one with a 1 s tombstone retention for the resync test).
/// Without `SYNC_BASE_URL`/`SYNC_TOKEN` the tests skip, unless
/// `SYNC_REQUIRE_LIVE=1`, where they fail.
///
/// Tests marked "contract 1.1" need row versions, partial rows, 409, 410 and
/// the digest; against a server whose `/api/openapi.json` says 1.0.x they
/// skip with that reason (a 1.1 server runs them, and they must pass).
final class ReplicaLiveTests: XCTestCase {
    private var directories: [URL] = []

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
        directories = []
        super.tearDown()
    }

    struct Live {
        let client: SyncAPIClient
        let canary: CanaryResponse
        let version: [Int]
        let logs: LogCollector

        var hasContract11: Bool { version.count >= 2 && (version[0] > 1 || (version[0] == 1 && version[1] >= 1)) }
        var hasContract12: Bool { version.count >= 2 && (version[0] > 1 || (version[0] == 1 && version[1] >= 2)) }
    }

    private func live(urlVariable: String = "SYNC_BASE_URL", tokenVariable: String = "SYNC_TOKEN",
                      tokens: (any TokenProvider)? = nil) async throws -> Live? {
        let env = ProcessInfo.processInfo.environment
        guard let base = env[urlVariable], !base.isEmpty, let url = URL(string: base),
              let token = env[tokenVariable], !token.isEmpty
        else {
            let message = "\(urlVariable) and \(tokenVariable) are not set: no live server to test against"
            if env["SYNC_REQUIRE_LIVE"] == "1" {
                XCTFail(message + " (SYNC_REQUIRE_LIVE=1)")
                return nil
            }
            throw XCTSkip(message)
        }
        let logs = LogCollector()
        let client = SyncAPIClient(baseURL: url, tokenProvider: tokens ?? StaticTokenProvider(token),
                                   retryPolicy: RetryPolicy(maxAttempts: 5, initialBackoff: 0.2, maxBackoff: 2, maxRetryAfter: 5),
                                   logger: { logs.append($0) }, logResponseBodies: true)
        let canary = try await client.getCanary()
        let version = (try await client.getOpenAPI())["info"]?["version"]?.stringValue ?? "1.0.0"
        return Live(client: client, canary: canary, version: version.split(separator: ".").compactMap { Int($0) }, logs: logs)
    }

    /// Skips on a 1.0 server, except when the spec of this checkout is 1.1 or
    /// later (`SYNC_SPEC_VERSION`, set by scripts/test-swift.sh from
    /// openapi.yaml): then the server under test must serve 1.1 and a skip
    /// would hide a failure.
    private func requireContract11(_ live: Live) throws {
        guard !live.hasContract11 else { return }
        let spec = (ProcessInfo.processInfo.environment["SYNC_SPEC_VERSION"] ?? "").split(separator: ".").compactMap { Int($0) }
        let message = "needs contract 1.1 (row versions, partial rows, 409/410, digest); the server serves \(live.version)"
        if spec.count >= 2, spec[0] > 1 || (spec[0] == 1 && spec[1] >= 1) {
            XCTFail(message + ", but openapi.yaml says \(spec)")
            throw XCTSkip("failed above")
        }
        throw XCTSkip(message)
    }

    /// Skips on a server older than 1.2, unless this checkout's spec is 1.2
    /// or later (then the server under test must serve it).
    private func requireContract12(_ live: Live) throws {
        guard !live.hasContract12 else { return }
        let spec = (ProcessInfo.processInfo.environment["SYNC_SPEC_VERSION"] ?? "").split(separator: ".").compactMap { Int($0) }
        let message = "needs contract 1.2 (deletes with a base version); the server serves \(live.version)"
        if spec.count >= 2, spec[0] > 1 || (spec[0] == 1 && spec[1] >= 2) {
            XCTFail(message + ", but openapi.yaml says \(spec)")
            throw XCTSkip("failed above")
        }
        throw XCTSkip(message)
    }

    private func replica(_ live: Live, schema: ReplicaSchema = .current, directory: URL? = nil) throws -> SQLiteReplica {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("replica-live-\(UUID().uuidString)")
        directories.append(dir)
        return try SQLiteReplica.open(directory: dir, contractorID: live.canary.contractorId, userID: live.canary.userId, schema: schema)
    }

    private func pushes(_ live: Live) -> [HTTPLogEntry] {
        live.logs.entries.filter { $0.method == "POST" && $0.url.hasSuffix("/api/sync/push") && $0.status != nil }
    }

    // MARK: - Contract 1.0 and later

    func testLive_KillMidPush_ReopenAndSync_AppliedExactlyOnce() async throws {
        guard let live = try await live() else { return }
        var replica: SQLiteReplica? = try replica(live)
        let url = try XCTUnwrap(replica?.url)
        let id = UUID()
        try replica?.insert(CostbookItemWrite(id: id, name: "Pushed once", sku: "KILL-\(id.uuidString.prefix(8))"))
        let engine = ReplicaSyncEngine(client: live.client, replica: try XCTUnwrap(replica))
        let killed = Box(false)
        // The server has committed the push; the app dies before acknowledging it.
        await engine.setAfterPushResponse { [replica] in
            replica?.close()
            killed.value = true
            throw CancellationError()
        }
        do {
            try await engine.sync()
            XCTFail("the sync was killed")
        } catch {}
        XCTAssertTrue(killed.value)
        let first = try XCTUnwrap(pushes(live).last)
        replica = nil

        let reopened = try SQLiteReplica(url: url, contractorID: live.canary.contractorId, userID: live.canary.userId)
        XCTAssertEqual(try reopened.pendingChangeCount(), 1, "the unacknowledged batch survived")
        try await ReplicaSyncEngine(client: live.client, replica: reopened).sync()
        let second = try XCTUnwrap(pushes(live).last)
        XCTAssertEqual(second.requestHeaders["Idempotency-Key"], first.requestHeaders["Idempotency-Key"], "resumed with the same key")
        XCTAssertEqual(second.bodyPreview, first.bodyPreview, "answered from the idempotency cache: applied once, not twice")
        XCTAssertEqual(try reopened.pendingChangeCount(), 0)
        XCTAssertEqual(try reopened.costbookItems.find(id)?.name, "Pushed once")
        if live.hasContract11 {
            // The replica holds the version the server gave the row (the
            // body preview of the log is cut short, so ask the server).
            var serverVersion: Int64?
            var cursor: String?
            while serverVersion == nil {
                let page = try await live.client.pullChanges(cursor: cursor, limit: 5000, tables: [.costbookItems])
                serverVersion = page.costbookItems.first(where: { $0.id == id })?.syncVersion
                guard page.hasMore else { break }
                cursor = page.cursor
            }
            XCTAssertNotNil(serverVersion)
            XCTAssertEqual(try reopened.withConnection { db in
                try db.query("SELECT sync_version FROM costbook_items WHERE id = ?", [.uuid(id)]).first?.first?.integerValue
            }, serverVersion)
        }
    }

    func testLive_Quarantined400_DoesNotBlockOtherRowsOrThePull() async throws {
        guard let live = try await live() else { return }
        let replica = try replica(live)
        let bad = UUID()
        let good = UUID()
        // Nested 40 levels deep: the server's bound on JSON values (32), which
        // the spec does not state, so the replica accepts it at edit time.
        var deep: JSONValue = .integer(1)
        for _ in 0..<40 { deep = .array([deep]) }
        try replica.insert(StepARuleWrite(id: bad, name: "too deep", condition: deep))
        try replica.insert(CostbookItemWrite(id: good, name: "fine"))
        let elsewhere = UUID()
        _ = try await live.client.pushChanges(SyncPushRequest(costbookItems: [CostbookItemWrite(id: elsewhere, name: "from another device")]))
        let seen = Box<[QuarantinedChange]>([])
        let report = try await ReplicaSyncEngine(client: live.client, replica: replica, onQuarantine: { seen.value.append($0) }).sync()
        XCTAssertEqual(report.quarantined.map(\.rowID), [bad.uuidString.lowercased()])
        XCTAssertEqual(seen.value.map(\.reason), [.rejected])
        XCTAssertNotNil(try replica.costbookItems.find(elsewhere), "the pull ran")
        let pushed = try XCTUnwrap(replica.costbookItems.find(good))
        let onServer = try await pushed.syncedOnServer(live.client)
        XCTAssertNotNil(onServer, "the other row of the batch was pushed")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        XCTAssertEqual(try replica.quarantine().first?.reason, .rejected)
    }

    func testLive_OverlappingSyncs_OnePush_CursorNeverGoesBack() async throws {
        guard let live = try await live() else { return }
        let replica = try replica(live)
        try await ReplicaSyncEngine(client: live.client, replica: replica).sync()
        let before = try replica.cursor()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "overlap"))
        let engine = ReplicaSyncEngine(client: live.client, replica: replica)
        let pushesBefore = pushes(live).count
        await engine.setAfterPushResponse { while await engine.joinedCalls < 4 { await Task.yield() } }
        let tasks = (0..<5).map { _ in Task { try await engine.sync() } }
        var cursors: [String?] = []
        for task in tasks { cursors.append(try await task.value.cursor) }
        XCTAssertEqual(pushes(live).count - pushesBefore, 1, "five overlapping calls, one push")
        XCTAssertEqual(Set(cursors).count, 1, "all callers got the one sync's result")
        XCTAssertEqual(try replica.cursor(), cursors.first ?? nil)
        XCTAssertNotEqual(try replica.cursor(), before)
    }

    func testLive_EightConcurrent401s_OneRefresh() async throws {
        guard let good = try await live() else { return }
        let token = ProcessInfo.processInfo.environment["SYNC_TOKEN"] ?? ""
        let tokens = ExpiringTokens(valid: token)
        let client = SyncAPIClient(baseURL: good.client.baseURL, tokenProvider: tokens)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { try await client.getCanary().ok } }
            for try await ok in group { XCTAssertTrue(ok) }
        }
        let refreshes = await tokens.refreshes
        XCTAssertEqual(refreshes, 1)
    }

    func testLive_Offline_IsNotSignedOut() async throws {
        guard let live = try await live() else { return }
        let replica = try replica(live)
        try replica.insert(CostbookItemWrite(id: UUID(), name: "kept offline"))
        // Nothing listens on port 9 of the loopback.
        let offline = SyncAPIClient(baseURL: URL(string: "http://127.0.0.1:9")!, tokenProvider: StaticTokenProvider("t"), retryPolicy: .never)
        let engine = ReplicaSyncEngine(client: offline, replica: replica)
        do {
            try await engine.sync()
            XCTFail("no server there")
        } catch let error as SyncClientError {
            XCTAssertTrue(error.isNetworkError, "\(error)")
            XCTAssertFalse(error.requiresSignIn)
        }
        XCTAssertTrue(engine.status.isOffline)
        XCTAssertEqual(try replica.pendingChangeCount(), 1)
    }

    func testLive_1000RowsPerTable_RoundTrip() async throws {
        guard let live = try await live() else { return }
        let source = try replica(live)
        let run = UUID().uuidString.prefix(8).lowercased()
        let n = 1000
        var folders: [UUID] = [], items: [UUID] = [], estimates: [UUID] = [], events: [UUID] = [], rules: [UUID] = [], steps: [UUID] = []
        for i in 0..<n {
            let folder = UUID(), item = UUID(), estimate = UUID(), event = UUID(), rule = UUID(), step = UUID()
            try source.insert(CostbookFolderWrite(id: folder, name: "F\(i) \(run)", sortOrder: Int32(i)))
            try source.insert(CostbookItemWrite(id: item, name: "I\(i)", folderId: folder, unitCost: Decimal(string: "\(i).25"),
                                                markupPercent: Decimal(string: "12345678901234567890.1234567890"), taxable: i % 2 == 0))
            try source.insert(EstimateWrite(id: estimate, number: "E-\(run)-\(i)", status: .sent,
                                            lineItems: [["qty": .integer(9_007_199_254_740_993), "item": .string(item.uuidString.lowercased())]],
                                            total: Decimal(string: "-\(i).5"), validUntil: DayDate(year: 2030, month: 1, day: 1 + i % 28)))
            try source.insert(EstimateEventWrite(id: event, estimateId: estimate, kind: "sent", payload: ["i": .integer(Int64(i))],
                                                 occurredAt: Date(timeIntervalSince1970: 1_736_942_400.9996 + Double(i))))
            try source.insert(PricingRuleWrite(id: rule, name: "R\(i)", kind: "percent", value: Decimal(string: "0.0000000001"),
                                               appliesTo: ["all": true], priority: Int32(i)))
            try source.insert(StepARuleWrite(id: step, name: "S\(i)", condition: ["gt": [.string("total"), .integer(Int64(i))]], action: "round", sortOrder: 1))
            folders.append(folder); items.append(item); estimates.append(estimate); events.append(event); rules.append(rule); steps.append(step)
        }
        try source.pdfSettings.update(live.canary.contractorId) { $0.footerText = "Footer \(run)" }
        try source.stepAConfigs.update(live.canary.contractorId) { $0.settings = ["run": .string(String(run))] }
        let report = try await ReplicaSyncEngine(client: live.client, replica: source).sync()
        XCTAssertTrue(report.quarantined.isEmpty, "\(report.quarantined.prefix(3))")
        XCTAssertEqual(try source.pendingChangeCount(), 0)

        let copy = try replica(live)
        try await ReplicaSyncEngine(client: live.client, replica: copy).sync()
        func same<Row: ReplicaRow & Equatable>(_ type: Row.Type, _ ids: [UUID], file: StaticString = #filePath, line: UInt = #line) throws {
            let wanted = Set(ids)
            let a = try source.all(type).filter { wanted.contains($0.id) }.sorted { $0.id.uuidString < $1.id.uuidString }
            let b = try copy.all(type).filter { wanted.contains($0.id) }.sorted { $0.id.uuidString < $1.id.uuidString }
            XCTAssertEqual(a.count, ids.count, "\(Row.replicaTable.name) on the source", file: file, line: line)
            XCTAssertEqual(a, b, "\(Row.replicaTable.name) differs between the replicas", file: file, line: line)
        }
        try same(CostbookFolder.self, folders)
        try same(CostbookItem.self, items)
        try same(Estimate.self, estimates)
        try same(EstimateEvent.self, events)
        try same(PricingRule.self, rules)
        try same(StepARule.self, steps)
        try same(PdfSettings.self, [live.canary.contractorId])
        try same(StepAConfig.self, [live.canary.contractorId])
        let event = try XCTUnwrap(copy.estimateEvents.find(events[0]))
        XCTAssertEqual(RFC3339.format(try XCTUnwrap(event.occurredAt)), "2025-01-15T12:00:00.999Z")
        XCTAssertEqual(try copy.estimates.find(estimates[0])?.lineItems.first?["qty"], .integer(9_007_199_254_740_993))
        XCTAssertEqual(try copy.costbookItems.find(items[0])?.markupPercent, Decimal(string: "12345678901234567890.123456789"))
        XCTAssertEqual(try copy.pdfSettings.find(live.canary.contractorId)?.footerText, "Footer \(run)")
    }

    // MARK: - Contract 1.1

    func testLive_TwoReplicasEditOneRow_OneConflict_MergedFieldByField() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let a = try replica(live)
        let b = try replica(live)
        let engineA = ReplicaSyncEngine(client: live.client, replica: a)
        let conflicts = Box<[ReplicaConflict]>([])
        let engineB = ReplicaSyncEngine(client: live.client, replica: b, resolver: { conflict in
            conflicts.value.append(conflict)
            return await ConflictResolvers.fieldByField(conflict)
        })
        let id = UUID()
        try a.insert(CostbookItemWrite(id: id, name: "Base", unit: "ea", sku: "S1"))
        try await engineA.sync()
        try await engineB.sync()
        XCTAssertEqual(try b.costbookItems.find(id)?.name, "Base")

        try a.costbookItems.update(id) { $0.sku = "from A" }
        try await engineA.sync()
        try b.costbookItems.update(id) { $0.name = "from B" } // B still stands on the old version
        try await engineB.sync()
        XCTAssertEqual(conflicts.value.count, 1, "one conflict")
        XCTAssertEqual(conflicts.value.first?.localChanges, ["name": "from B"])
        let onB = try XCTUnwrap(b.costbookItems.find(id))
        XCTAssertEqual(onB.name, "from B", "the field B changed wins")
        XCTAssertEqual(onB.sku, "from A", "the others take the server's value")
        try await engineA.sync()
        let onA = try XCTUnwrap(a.costbookItems.find(id))
        XCTAssertEqual(onA.name, "from B")
        XCTAssertEqual(onA.sku, "from A")
        XCTAssertEqual(onA.unit, "ea")
        XCTAssertEqual(onA.syncVersionValue(in: a), onB.syncVersionValue(in: b))
    }

    /// Live mode (contract 1.2 held pulls): two replicas of one contractor,
    /// each in `runLive()`; an edit on one arrives on the other by itself
    /// (its `changes()` fires), both ways. Prints the latencies from the
    /// edit's commit to its arrival in the other replica.
    func testLive_TwoReplicasInLiveMode_EditsArriveOnTheOther() async throws {
        guard let live = try await live() else { return }
        try requireContract12(live)
        let a = try replica(live)
        let b = try replica(live)
        let engineA = ReplicaSyncEngine(client: live.client, replica: a)
        let engineB = ReplicaSyncEngine(client: live.client, replica: b)
        try await engineA.sync()
        try await engineB.sync()
        let runA = Task { await engineA.runLive(.init(pushDelay: 0.02)) }
        let runB = Task { await engineB.runLive(.init(pushDelay: 0.02)) }
        try await Task.sleep(nanoseconds: 300_000_000) // both hold a pull

        var millis: [Double] = []
        for i in 0..<20 {
            let (from, to) = i % 2 == 0 ? (a, b) : (b, a)
            let id = UUID()
            let changes = to.changes()
            let start = Date()
            try from.insert(CostbookItemWrite(id: id, name: "live \(i)"))
            let arrived = try await arrival(of: id, in: to, through: changes, within: 10)
            XCTAssertTrue(arrived, "edit \(i) did not arrive on the other replica within 10 s")
            millis.append(Date().timeIntervalSince(start) * 1000)
        }
        XCTAssertTrue(engineA.status.isLive)
        XCTAssertTrue(engineB.status.isLive)
        let sorted = millis.sorted()
        let p50 = sorted[sorted.count / 2], p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        print(String(format: "live mode: %d edits, replica to replica: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                     millis.count, p50, p99, sorted.last ?? 0))

        // Cancelled, live mode stops: nothing more goes out.
        runA.cancel()
        runB.cancel()
        await runA.value
        await runB.value
        XCTAssertFalse(engineA.status.isLive)
        try a.insert(CostbookItemWrite(id: UUID(), name: "after live mode"))
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertEqual(try a.pendingChangeCount(), 1, "an edit after live mode stopped stays in the outbox")
    }

    /// Whether the row arrives in replica within seconds, woken by its changes().
    private func arrival(of id: UUID, in replica: SQLiteReplica, through changes: AsyncStream<Set<String>>,
                         within seconds: Double) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                if try replica.costbookItems.find(id) != nil { return true }
                for await tables in changes where tables.contains("costbook_items") {
                    if try replica.costbookItems.find(id) != nil { return true }
                }
                return false
            }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    func testLive_OlderReplicaWithoutAColumn_CannotWipeIt() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let current = try replica(live)
        let older = try replica(live, schema: ReplicaSchema.current.removing(column: "sku", from: "costbook_items"))
        let id = UUID()
        try current.insert(CostbookItemWrite(id: id, name: "Has a sku", sku: "KEEP-ME"))
        try await ReplicaSyncEngine(client: live.client, replica: current).sync()
        let olderEngine = ReplicaSyncEngine(client: live.client, replica: older)
        try await olderEngine.sync()
        try older.costbookItems.update(id) { $0.name = "Renamed by an old app" }
        try await olderEngine.sync()
        try await ReplicaSyncEngine(client: live.client, replica: current).sync()
        let row = try XCTUnwrap(current.costbookItems.find(id))
        XCTAssertEqual(row.name, "Renamed by an old app")
        XCTAssertEqual(row.sku, "KEEP-ME", "a column the old app does not know survives its edit")
    }

    func testLive_ResyncAfterTombstonePurge_ReplacesReplica() async throws {
        guard let live = try await live(urlVariable: "SYNC_RESYNC_BASE_URL", tokenVariable: "SYNC_RESYNC_TOKEN") else { return }
        try requireContract11(live)
        let replica = try replica(live)
        let engine = ReplicaSyncEngine(client: live.client, replica: replica)
        let gone = UUID()
        let kept = UUID()
        try replica.insert(CostbookItemWrite(id: gone, name: "deleted elsewhere"))
        try replica.insert(CostbookItemWrite(id: kept, name: "kept"))
        try await engine.sync()
        let staleCursor = try XCTUnwrap(try replica.cursor())
        // Another device deletes a row; the server purges its tombstone (1 s retention).
        _ = try await live.client.pushChanges(SyncPushRequest(deletes: DeleteRequest(costbookItems: [.uuid(gone)])))
        var purged = false
        for _ in 0..<120 where !purged {
            try await Task.sleep(nanoseconds: 500_000_000)
            do {
                _ = try await live.client.pullChanges(cursor: staleCursor, limit: 1)
            } catch SyncClientError.api(410, let envelope) {
                XCTAssertEqual(envelope.error.rawValue, "RESYNC_REQUIRED")
                purged = true
            }
        }
        XCTAssertTrue(purged, "the server never answered 410 for a cursor older than its tombstones")
        try replica.costbookItems.update(kept) { $0.unit = "box" }
        let report = try await engine.sync()
        XCTAssertTrue(report.resynced)
        XCTAssertNil(try replica.costbookItems.find(gone), "removed: the full pull did not contain it")
        XCTAssertEqual(try replica.costbookItems.find(kept)?.unit, "box")
        let verification = try await engine.verify()
        XCTAssertTrue(verification.isEqual, "mismatched: \(verification.mismatched)")
    }

    func testLive_Verify_EqualAfterSync_UnequalAfterTamperingWithTheFile() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let replica = try replica(live)
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "to verify"))
        let engine = ReplicaSyncEngine(client: live.client, replica: replica)
        try await engine.sync()
        let equal = try await engine.verify()
        XCTAssertTrue(equal.isEqual, "mismatched: \(equal.mismatched)")
        // Tamper with the file behind the replica's back.
        let raw = try SQLiteConnection(path: replica.url.path)
        try raw.query("UPDATE costbook_items SET sync_version = sync_version + 1000 WHERE id = ?", [.uuid(id)])
        raw.close()
        let unequal = try await engine.verify()
        XCTAssertEqual(unequal.mismatched, ["costbook_items"])
    }

    // MARK: - Contract 1.2 and issue 20

    /// Failure 3: after the delete has synced, inserting the same id again
    /// brings the row back (it was quarantined as deleted_on_server, and
    /// quarantined again on retry).
    func testLive_InsertAgainAfterTheDeleteSynced_BringsTheRowBack() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let replica = try replica(live)
        let engine = ReplicaSyncEngine(client: live.client, replica: replica)
        let id = UUID()
        try replica.insert(CostbookItemWrite(id: id, name: "Undo me", sku: "U-1"))
        try await engine.sync()
        try replica.costbookItems.delete(id)
        try await engine.sync()
        XCTAssertNil(try replica.costbookItems.find(id))

        try replica.insert(CostbookItemWrite(id: id, name: "Undo me", sku: "U-1"))
        let report = try await engine.sync()
        XCTAssertEqual(report.quarantined, [])
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        XCTAssertEqual(try replica.costbookItems.find(id)?.sku, "U-1")
        let copy = try self.replica(live)
        try await ReplicaSyncEngine(client: live.client, replica: copy).sync()
        XCTAssertEqual(try copy.costbookItems.find(id)?.name, "Undo me", "live on the server again")
    }

    /// Failure 4: a resolver's `.push` for a row deleted on the server brings
    /// it back (it ended in "still conflicting after 5 merges").
    func testLive_ResolverPush_BringsBackARowDeletedElsewhere() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let a = try replica(live)
        let b = try replica(live)
        let id = UUID()
        try a.insert(CostbookItemWrite(id: id, name: "Kept by B", unit: "ea", sku: "B-1"))
        let engineA = ReplicaSyncEngine(client: live.client, replica: a)
        try await engineA.sync()
        let engineB = ReplicaSyncEngine(client: live.client, replica: b, resolver: { conflict in
            conflict.deleted ? .push(conflict.localChanges) : await ConflictResolvers.fieldByField(conflict)
        })
        try await engineB.sync()
        try a.costbookItems.delete(id)
        try await engineA.sync()
        try b.costbookItems.update(id) { $0.name = "Edited on B" } // B has not seen the delete
        let report = try await engineB.sync()
        XCTAssertEqual(report.quarantined, [])
        XCTAssertEqual(report.conflictsResolved, 1)
        try await engineA.sync()
        let back = try XCTUnwrap(a.costbookItems.find(id), "the row is back on the server, and on A")
        XCTAssertEqual(back.name, "Edited on B")
        XCTAssertEqual(back.sku, "B-1", "the whole row as B had it")
    }

    /// Failure 5: a delete decided on an old version of a row no longer beats
    /// a newer edit silently: it goes to the resolver, and by default the
    /// edit wins and the delete waits in the quarantine.
    func testLive_StaleDelete_GoesToTheResolver_TheEditSurvives() async throws {
        guard let live = try await live() else { return }
        try requireContract12(live)
        let a = try replica(live)
        let b = try replica(live)
        let id = UUID()
        try a.insert(CostbookItemWrite(id: id, name: "Both have it", sku: "S-1"))
        let engineA = ReplicaSyncEngine(client: live.client, replica: a)
        try await engineA.sync()
        let conflicts = Box<[ReplicaConflict]>([])
        let engineB = ReplicaSyncEngine(client: live.client, replica: b, resolver: { conflict in
            conflicts.value.append(conflict)
            return await ConflictResolvers.fieldByField(conflict)
        })
        try await engineB.sync()
        try a.costbookItems.update(id) { $0.sku = "edited on A" }
        try await engineA.sync()
        try b.costbookItems.delete(id) // B deletes the row as it saw it, before A's edit
        let report = try await engineB.sync()
        XCTAssertEqual(conflicts.value.map(\.isDelete), [true])
        XCTAssertEqual(conflicts.value.first?.collidingColumns, ["sku"])
        XCTAssertEqual(report.quarantined.map(\.operation), ["delete"])
        XCTAssertEqual(try b.costbookItems.find(id)?.sku, "edited on A", "B has the row back, with A's edit")
        try await engineA.sync()
        XCTAssertEqual(try a.costbookItems.find(id)?.sku, "edited on A", "the edit survived on the server")

        // B's user confirms the delete: it goes, on the version B now has.
        try b.retryQuarantined(try XCTUnwrap(b.quarantine().first).id)
        try await engineB.sync()
        try await engineA.sync()
        XCTAssertNil(try a.costbookItems.find(id))
    }

    /// Failure 6: several edits as one transaction and one push, even when
    /// the batch size is smaller.
    func testLive_WriteTransaction_ReachesTheServerInOnePush() async throws {
        guard let live = try await live() else { return }
        try requireContract11(live)
        let replica = try replica(live)
        let estimate = UUID()
        let events = (0..<3).map { _ in UUID() }
        try replica.write { tx in
            try tx.insert(EstimateWrite(id: estimate, number: "TX-\(estimate.uuidString.prefix(8))", title: "with events"))
            for event in events {
                try tx.insert(EstimateEventWrite(id: event, estimateId: estimate, kind: "created"))
            }
        }
        let before = pushes(live).count
        let report = try await ReplicaSyncEngine(client: live.client, replica: replica, configuration: .init(maxPushRows: 1)).sync()
        XCTAssertEqual(report.pushedBatches, 1)
        XCTAssertEqual(pushes(live).count - before, 1, "one push for the transaction")
        let copy = try self.replica(live)
        try await ReplicaSyncEngine(client: live.client, replica: copy).sync()
        XCTAssertNotNil(try copy.estimates.find(estimate))
        XCTAssertEqual(try copy.estimateEvents.count(where: "estimate_id = ?", [.uuid(estimate)]), 3)
    }

    /// Failure 8: reads waited for the sync's page writes (125–248 ms). An
    /// initial sync of 10k rows, with reads in a loop beside it; the worst
    /// read is printed (a figure, not an assertion: it depends on the machine).
    func testLive_InitialSyncOf10kRows_ReadsDoNotWait() async throws {
        guard let live = try await live() else { return }
        let run = UUID().uuidString.prefix(8).lowercased()
        let n = 10_000
        var rows: [CostbookItemWrite] = []
        for i in 0..<n {
            rows.append(CostbookItemWrite(id: UUID(), name: "bulk \(run) \(i)", unitCost: Decimal(i) / 4, sku: "B-\(run)-\(i)"))
        }
        for start in stride(from: 0, to: n, by: 2500) {
            _ = try await live.client.pushChanges(SyncPushRequest(costbookItems: Array(rows[start..<min(n, start + 2500)])))
        }
        let replica = try replica(live)
        let probe = rows[n / 2].id
        let engine = ReplicaSyncEngine(client: live.client, replica: replica)
        let started = Date()
        let done = Box(false)
        let sync = Task {
            defer { done.value = true }
            return try await engine.sync()
        }
        // What a screen does while the sync runs: a badge count, one row by
        // id, the newest 50 rows; every 2 ms (a UI reads on events, not in a
        // tight loop that would also take the CPU from the sync).
        var latencies: [String: [TimeInterval]] = ["count": [], "find": [], "page": []]
        func time(_ name: String, _ body: () throws -> Void) rethrows {
            let t0 = ProcessInfo.processInfo.systemUptime
            try body()
            latencies[name, default: []].append(ProcessInfo.processInfo.systemUptime - t0)
        }
        while !done.value {
            try time("count") { _ = try replica.costbookItems.count() }
            try time("find") { _ = try replica.costbookItems.find(probe) }
            try time("page") { _ = try replica.costbookItems.all(orderBy: "rowid DESC", limit: 50) }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        let report = try await sync.value
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(try replica.costbookItems.count(where: "name LIKE ?", [.text("bulk \(run)%")]), n)
        let all = latencies.values.flatMap { $0 }.sorted()
        XCTAssertFalse(all.isEmpty)
        func ms(_ t: TimeInterval) -> String { String(format: "%.1f ms", t * 1000) }
        func figures(_ name: String) -> String {
            let sorted = (latencies[name] ?? []).sorted()
            guard let worst = sorted.last else { return "\(name): none" }
            return "\(name) p50 \(ms(sorted[sorted.count / 2])) p99 \(ms(sorted[sorted.count * 99 / 100])) worst \(ms(worst))"
        }
        print("read latency during an initial sync of \(report.pulledRows) rows (\(report.pulledPages) pages, \(String(format: "%.1f", elapsed)) s): "
              + "\(all.count) reads, worst \(ms(all.last ?? 0)), \(all.filter { $0 > 0.010 }.count) over 10 ms; "
              + ["count", "find", "page"].map(figures).joined(separator: "; "))
    }
}

/// Hands out an expired token until refreshed; counts refreshes.
actor ExpiringTokens: TokenProvider {
    private let valid: String
    private var current = "expired-token"
    private(set) var refreshes = 0

    init(valid: String) { self.valid = valid }

    func token() async throws -> String { current }

    func refreshToken() async throws -> String {
        refreshes += 1
        try await Task.sleep(nanoseconds: 20_000_000) // a refresh takes a round trip
        current = valid
        return valid
    }
}

extension ReplicaRow {
    /// The sync_version the replica stores for this row.
    func syncVersionValue(in replica: SQLiteReplica) -> Int64? {
        let table = Self.replicaTable
        return try? replica.withConnection { db in
            try db.query("SELECT sync_version FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.uuid(id)])
                .first?.first?.integerValue
        }
    }
}

extension CostbookItem {
    /// Self when a fresh full pull from the server has this row, else nil.
    func syncedOnServer(_ client: SyncAPIClient) async throws -> CostbookItem? {
        var cursor: String?
        while true {
            let page = try await client.pullChanges(cursor: cursor, limit: 5000)
            if page.costbookItems.contains(where: { $0.id == id }) { return self }
            if !page.hasMore { return nil }
            cursor = page.cursor
        }
    }
}
