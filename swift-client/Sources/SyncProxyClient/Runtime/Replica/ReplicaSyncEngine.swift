import Foundation

/// Where sync stands, for the UI: `for await status in engine.statusUpdates() { … }`.
public struct SyncStatus: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case idle
        /// Checking the token and the account (`GET /api/sync/canary`).
        case connecting
        case pushing
        case pulling
        /// A full pull after the server dropped this device's cursor (410).
        case resyncing
        case verifying
    }

    public var phase: Phase = .idle
    /// Local edits not yet acknowledged: follows every local edit (also an
    /// app extension's on the same file), not only syncs.
    public var pendingChanges = 0
    /// Batches pushed and rows (and tombstones) pulled by the sync in progress (or the last one).
    public var pushedBatches = 0
    public var pulledRows = 0
    /// Changes set aside (400 rejected, unmerged conflicts, undecodable rows).
    public var quarantined = 0
    public var lastSyncedAt: Date?
    /// The server cannot be reached: set by the first attempt that fails for
    /// a network reason (while the client may still be retrying), cleared by
    /// the next response. The edits are safe here; sync again when the
    /// network is back.
    public var isOffline = false
    /// The last sync's error, for display (no customer data).
    public var lastError: String?
    /// Live mode is on (`runLive()`): edits go out by themselves and other
    /// devices' changes come in through held pulls.
    public var isLive = false

    public init() {}
}

/// What one `sync()` did.
public struct ReplicaSyncReport: Sendable, Equatable {
    public var pushedBatches = 0
    public var conflictsResolved = 0
    public var quarantined: [QuarantinedChange] = []
    public var pulledPages = 0
    public var pulledRows = 0
    /// The server dropped the cursor (410) and the replica was pulled in full.
    public var resynced = false
    public var cursor: String?

    public init() {}
}

/// The replica against the server's digest, per table.
public struct VerificationReport: Sendable, Equatable {
    public struct Table: Sendable, Equatable {
        public let table: String
        public let localCount: Int64
        public let localDigest: UInt64
        public let serverCount: Int64?
        public let serverDigest: UInt64?
        public var isEqual: Bool { localCount == serverCount && localDigest == serverDigest }
    }

    public let tables: [Table]
    /// Local edits still unsent when the figures were taken (they make figures differ).
    public let pendingChanges: Int
    public var isEqual: Bool { tables.allSatisfy(\.isEqual) }
    public var mismatched: [String] { tables.filter { !$0.isEqual }.map(\.table) }
}

/// Syncs one `SQLiteReplica` with the server: pushes the outbox (merging
/// conflicts, quarantining rejected rows), then pulls every page, resyncing
/// in full when the server asks for it.
///
/// One `sync()` runs at a time: a call while one runs awaits that one and gets
/// its report (actors are reentrant, so the running sync is an explicit
/// Task, not a flag). Cancelling the task of any caller cancels the sync; the
/// replica stays consistent (every step is one transaction, an unacknowledged
/// batch is sent again with the same Idempotency-Key).
public actor ReplicaSyncEngine {
    public struct Configuration: Sendable {
        /// Changes per push (the server's SYNC_MAX_PUSH_ROWS bounds it; a 413 halves it).
        public var maxPushRows: Int
        /// Rows per pulled page (the server allows up to 5000).
        public var pullPageSize: Int
        /// 409 rounds within one sync before a still conflicting change is quarantined.
        public var maxConflictRounds: Int
        /// Partial rows with base versions (contract 1.1) or full rows (1.0);
        /// nil: read the server's contract version from `/api/openapi.json`.
        public var pushShape: PushShape?

        public init(maxPushRows: Int = 500, pullPageSize: Int = 1000, maxConflictRounds: Int = 5, pushShape: PushShape? = nil) {
            self.maxPushRows = max(1, maxPushRows)
            self.pullPageSize = min(5000, max(1, pullPageSize))
            self.maxConflictRounds = max(1, maxConflictRounds)
            self.pushShape = pushShape
        }
    }

    public let replica: SQLiteReplica
    let client: SyncAPIClient
    let configuration: Configuration
    private let resolver: ConflictResolver
    private let onQuarantine: (@Sendable (QuarantinedChange) -> Void)?
    let broadcaster = StatusBroadcaster()

    private var running: Task<ReplicaSyncReport, any Error>?
    /// Whether the running sync pulls (a live push does not).
    private var runningPulls = false
    /// Keep the status current between syncs (released with the engine).
    private let subscriptions: [ChangeSubscription]
    /// Calls that joined a running sync instead of starting one (for tests).
    private(set) var joinedCalls = 0
    private var accountChecked = false
    private var shape: PushShape?
    /// Test hook: runs after a push response arrived and before it is
    /// acknowledged in the replica (a crash there must not apply it twice).
    var afterPushResponse: (@Sendable () async throws -> Void)?

    /// - Parameters:
    ///   - resolver: Decides 409 conflicts; the default merges field by field.
    ///   - onQuarantine: Called for every change set aside (on the engine's task).
    public init(client: SyncAPIClient, replica: SQLiteReplica, configuration: Configuration = Configuration(),
                resolver: @escaping ConflictResolver = ConflictResolvers.fieldByField,
                onQuarantine: (@Sendable (QuarantinedChange) -> Void)? = nil) {
        self.client = client
        self.replica = replica
        self.configuration = configuration
        self.resolver = resolver
        self.onQuarantine = onQuarantine
        let broadcaster = self.broadcaster
        let counts: @Sendable () -> Void = { [weak replica] in
            guard let replica, let counts = try? replica.outboxCounts() else { return }
            broadcaster.update {
                $0.pendingChanges = counts.pending
                $0.quarantined = counts.quarantined
            }
        }
        counts()
        subscriptions = [
            // Every commit that changes the outbox or the quarantine, whoever made it.
            replica.hub.subscribe(tables: [ChangeHub.outbox, ChangeHub.quarantine]) { _ in counts() },
            client.observeReachability { reachable in
                broadcaster.update { $0.isOffline = !reachable }
            },
        ]
    }

    func setAfterPushResponse(_ hook: (@Sendable () async throws -> Void)?) { afterPushResponse = hook }

    /// Status changes, starting with the current status.
    public nonisolated func statusUpdates() -> AsyncStream<SyncStatus> { broadcaster.stream() }

    public nonisolated var status: SyncStatus { broadcaster.current }

    /// Pushes local edits, then pulls until the server has nothing more.
    /// A rejected row does not stop the pull; a push that failed for another
    /// reason is rethrown after the pull ran.
    @discardableResult
    public func sync() async throws -> ReplicaSyncReport {
        try await flight(pull: true)
    }

    /// One push (and pull) at a time: a call while one runs joins it, unless
    /// it must pull and the running one does not (a live push): then it
    /// runs after it.
    func flight(pull: Bool) async throws -> ReplicaSyncReport {
        while let running {
            if runningPulls || !pull {
                joinedCalls += 1
                return try await withTaskCancellationHandler { try await running.value } onCancel: { running.cancel() }
            }
            _ = try? await running.value
        }
        let task = Task { try await self.run(pull: pull) }
        running = task
        runningPulls = pull
        defer { if running == task { running = nil } }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    private func run(pull pulls: Bool = true) async throws -> ReplicaSyncReport {
        var report = ReplicaSyncReport()
        broadcaster.update { $0.phase = .connecting; $0.pushedBatches = 0; $0.pulledRows = 0 }
        do {
            try await checkAccount()
            let shape = try await pushShape()
            var pushFailure: (any Error)?
            do {
                try await push(shape, &report)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                pushFailure = error // the pull still runs: downloads never wait for a stuck upload
            }
            if pulls { try await pull(&report) }
            if let pushFailure { throw pushFailure }
            let pending = (try? replica.pendingChangeCount()) ?? 0
            let quarantined = (try? replica.quarantine().count) ?? 0
            broadcaster.update {
                $0.phase = .idle
                if pulls { $0.lastSyncedAt = Date() }
                $0.isOffline = false
                $0.lastError = nil
                $0.pendingChanges = pending
                $0.quarantined = quarantined
            }
            return report
        } catch {
            let pending = (try? replica.pendingChangeCount()) ?? 0
            broadcaster.update {
                $0.phase = .idle
                $0.pendingChanges = pending
                $0.isOffline = (error as? SyncClientError)?.isNetworkError ?? false
                $0.lastError = (error as? LocalizedError)?.errorDescription ?? String(describing: type(of: error))
            }
            throw error
        }
    }

    /// The token must belong to the replica's contractor and user: after an
    /// account switch, one account's edits never go to the other's tenant.
    private func checkAccount() async throws {
        guard !accountChecked else { return }
        let canary = try await client.getCanary()
        guard canary.contractorId == replica.contractorID, canary.userId == replica.userID else {
            throw ReplicaError.wrongAccount(
                expected: replica.contractorID.uuidString.lowercased() + "/" + replica.userID.uuidString.lowercased(),
                got: canary.contractorId.uuidString.lowercased() + "/" + canary.userId.uuidString.lowercased())
        }
        accountChecked = true
    }

    private func pushShape() async throws -> PushShape {
        if let shape = configuration.pushShape ?? shape { return shape }
        let spec = try await client.getOpenAPI()
        let version = spec["info"]?["version"]?.stringValue ?? "1.0.0"
        let parts = version.split(separator: ".").compactMap { Int($0) }
        let major = parts.first ?? 1, minor = parts.count > 1 ? parts[1] : 0
        let detected: PushShape
        switch (major, minor) {
        case (2..., _), (1, 2...): detected = .versionedDeletes
        case (1, 1): detected = .partialRows
        default: detected = .fullRows
        }
        shape = detected
        return detected
    }

    // MARK: - Push

    private func push(_ shape: PushShape, _ report: inout ReplicaSyncReport) async throws {
        var maxRows = configuration.maxPushRows
        var isolate = false // a 400 that names no row: push one change at a time to find it
        var conflictRounds = 0
        while let batch = try replica.nextBatch(maxRows: isolate ? 1 : maxRows, shape: shape) {
            try Task.checkCancellation()
            let pending = (try? replica.pendingChangeCount()) ?? 0
            broadcaster.update { $0.phase = .pushing; $0.pendingChanges = pending }
            var request = APIRequest(method: "POST", path: "/api/sync/push", requiresAuth: true)
            request.headers["Content-Type"] = "application/json"
            request.headers["Idempotency-Key"] = batch.idempotencyKey
            request.body = batch.body
            let (status, body) = try await client.sendRaw(request, passing: [400, 409, 413, 422])
            if let afterPushResponse { try await afterPushResponse() }
            switch status {
            case 409:
                let wire = WireConflict.parse((try? JSONValue(json: body)) ?? .null)
                if batch.entries.count > 1, wire.contains(where: { $0.rowOmitted }) {
                    // The 409's rows reached its byte bound (contract 1.2): a
                    // smaller batch gets every conflicting row (a 409 always
                    // carries at least one), so none is merged against nothing.
                    try replica.unbatch(batch.id)
                    maxRows = max(1, batch.entries.count / 2)
                    continue
                }
                conflictRounds += 1
                var decisions: [(OutboxEntry, ReplicaConflict, ConflictResolution)] = []
                for item in wire {
                    guard let (entry, conflict) = replica.conflict(for: item, in: batch) else { continue }
                    let resolution: ConflictResolution
                    if conflict.isDelete && conflict.deleted {
                        resolution = .acceptServer // deleted there too: nothing to decide
                    } else if conflictRounds > configuration.maxConflictRounds {
                        resolution = .quarantine("still conflicting after \(configuration.maxConflictRounds) merges")
                    } else {
                        resolution = await resolver(conflict)
                    }
                    decisions.append((entry, conflict, resolution))
                }
                guard !decisions.isEmpty else {
                    try replica.unbatch(batch.id)
                    throw failure(status, body)
                }
                let quarantined = try replica.resolve(batch, decisions)
                report.conflictsResolved += decisions.count - quarantined.count
                quarantine(quarantined, &report)
            case 400:
                let envelope = try? JSONDecoder().decode(APIError.self, from: body)
                var rejected: [(OutboxEntry, String)] = []
                for detail in envelope?.details ?? [] {
                    guard let table = detail.table, let index = detail.index, let entry = batch.upsert(table: table, index: index),
                          !rejected.contains(where: { $0.0.seq == entry.seq }) else { continue }
                    rejected.append((entry, [detail.field, detail.reason].compactMap { $0 }.joined(separator: ": ")))
                }
                if rejected.isEmpty, batch.entries.count == 1, let entry = batch.entries.first {
                    rejected = [(entry, envelope?.message ?? "rejected by the server")]
                }
                if rejected.isEmpty {
                    try replica.unbatch(batch.id)
                    isolate = true
                } else {
                    quarantine(try replica.quarantineRejected(batch, rejected), &report)
                }
            case 413:
                if batch.entries.count > 1 && maxRows > 1 {
                    try replica.unbatch(batch.id)
                    maxRows = max(1, min(maxRows, batch.entries.count) / 2)
                } else if let entry = batch.entries.first {
                    // One change, or one write { } transaction, which is never split.
                    quarantine(try replica.quarantineRejected(batch, [(entry, "too large for one push")]), &report)
                }
            case 422:
                _ = try replica.rekey(batch) // same body, fresh key: upserts are keyed, applying them again is harmless
            default:
                let version = (try? JSONValue(json: body))?["version"]?.int64Value
                try replica.acknowledge(batch, version: version)
                report.pushedBatches += 1
                let left = (try? replica.pendingChangeCount()) ?? 0
                broadcaster.update { $0.pushedBatches += 1; $0.pendingChanges = left }
            }
        }
    }

    func quarantine(_ changes: [QuarantinedChange], _ report: inout ReplicaSyncReport) {
        guard !changes.isEmpty else { return }
        report.quarantined += changes
        broadcaster.update { $0.quarantined += changes.count }
        if let onQuarantine {
            for change in changes { onQuarantine(change) }
        }
    }

    private func failure(_ status: Int, _ body: Data) -> SyncClientError {
        if let envelope = try? JSONDecoder().decode(APIError.self, from: body) { return .api(status: status, envelope) }
        return .http(status: status, bodyPreview: "")
    }

    // MARK: - Pull

    private func pull(_ report: inout ReplicaSyncReport) async throws {
        broadcaster.update { $0.phase = .pulling }
        var cursor = try replica.cursor()
        if cursor == nil { try replica.beginFullPull() }
        var resyncs = 0
        // Only the tables this SDK knows: a newer server's extra tables are
        // never skipped under a moving cursor; they come in full once an SDK
        // that knows them asks (a cursor covering fewer tables is accepted).
        let tables = replica.schema.tables.map(\.name)
        while true {
            try Task.checkCancellation()
            var request = APIRequest(method: "GET", path: "/api/sync/pull", requiresAuth: true)
            request.addQuery("cursor", cursor)
            request.addQuery("limit", configuration.pullPageSize)
            request.addQuery("tables", tables, explode: false)
            let (status, body) = try await client.sendRaw(request, passing: [410])
            if status == 410 {
                resyncs += 1
                guard resyncs <= 2 else { throw failure(status, body) }
                try replica.beginFullPull()
                cursor = nil
                report.resynced = true
                broadcaster.update { $0.phase = .resyncing }
                continue
            }
            let json: JSONValue
            do {
                json = try JSONValue(json: body)
            } catch {
                throw SyncClientError.decoding(error, bodyPreview: "")
            }
            let page = try PulledPage(json: json, tables: replica.schema.tables)
            let applied = try replica.apply(page)
            quarantine(applied.quarantined, &report)
            report.pulledPages += 1
            report.pulledRows += page.rowCount
            report.cursor = page.cursor
            broadcaster.update { $0.pulledRows += page.rowCount }
            cursor = page.cursor
            if !page.hasMore { return }
        }
    }

    // MARK: - Verify

    /// Syncs, then compares the replica with `GET /api/sync/digest` table by
    /// table (row count and digest of ids and versions). Changes that land on
    /// the server meanwhile make figures differ for a moment, so a mismatch
    /// is checked again after another pull, up to three times.
    public func verify() async throws -> VerificationReport {
        var report: VerificationReport?
        for _ in 0..<3 {
            try await sync()
            broadcaster.update { $0.phase = .verifying }
            defer { broadcaster.update { $0.phase = .idle } }
            var request = APIRequest(method: "GET", path: "/api/sync/digest", requiresAuth: true)
            request.addQuery("tables", replica.schema.tables.map(\.name), explode: false)
            let (_, body) = try await client.sendRaw(request, passing: [])
            let server = try JSONValue(json: body)
            let local = try replica.localDigest()
            let tables = replica.schema.tables.map { table -> VerificationReport.Table in
                let figures = server["tables"]?[table.name]
                return VerificationReport.Table(
                    table: table.name,
                    localCount: local[table.name]?.count ?? 0,
                    localDigest: local[table.name]?.digest ?? 0,
                    serverCount: figures?["count"]?.int64Value,
                    serverDigest: figures?["digest"]?.stringValue.flatMap { UInt64($0) }
                )
            }
            let current = VerificationReport(tables: tables, pendingChanges: try replica.pendingChangeCount())
            if current.isEqual { return current }
            report = current
        }
        return report ?? VerificationReport(tables: [], pendingChanges: 0)
    }
}

/// Fans status out to any number of `AsyncStream`s.
final class StatusBroadcaster: @unchecked Sendable {
    // @unchecked: all state is behind lock.
    private let lock = NSLock()
    private var status = SyncStatus()
    private var continuations: [UUID: AsyncStream<SyncStatus>.Continuation] = [:]

    var current: SyncStatus {
        lock.lock()
        defer { lock.unlock() }
        return status
    }

    func update(_ change: (inout SyncStatus) -> Void) {
        lock.lock()
        var next = status
        change(&next)
        let changed = next != status
        status = next
        let targets = changed ? Array(continuations.values) : []
        lock.unlock()
        for continuation in targets { continuation.yield(next) }
    }

    func stream() -> AsyncStream<SyncStatus> {
        let (stream, continuation) = AsyncStream<SyncStatus>.makeStream(bufferingPolicy: .bufferingNewest(32))
        let id = UUID()
        lock.lock()
        continuations[id] = continuation
        let now = status
        lock.unlock()
        continuation.yield(now)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.continuations[id] = nil
            self.lock.unlock()
        }
        return stream
    }
}
