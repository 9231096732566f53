import Foundation

/// Runs sync for one signed-in user: a canary on start, then push local
/// changes in batches, then pull pages until the server has nothing more.
///
/// One `sync()` runs at a time: a call while one runs awaits it and gets its
/// report. (Actors are reentrant: without the explicit in-flight Task two
/// overlapping calls pushed the same batch twice and saved cursors out of order.)
///
/// For apps that keep their own database. `SQLiteReplica` with
/// `ReplicaSyncEngine` is the complete offline store.
public actor SyncEngine {
    public struct Configuration: Sendable, Equatable {
        /// Rows (and deleted ids) per push; the server accepts up to 1000.
        public var maxPushRows: Int
        /// Rows per pulled page (the server's default is 1000, its maximum 5000).
        public var pullPageSize: Int32
        /// Stops one sync after this many push batches, so a store that never
        /// runs dry cannot keep the engine busy forever.
        public var maxPushBatches: Int

        public init(maxPushRows: Int = 1000, pullPageSize: Int32 = 1000, maxPushBatches: Int = 1000) {
            self.maxPushRows = max(1, maxPushRows)
            self.pullPageSize = max(1, pullPageSize)
            self.maxPushBatches = max(1, maxPushBatches)
        }
    }

    /// What one `sync()` did.
    public struct Report: Sendable, Equatable {
        public var pushedBatches = 0
        public var pulledPages = 0
        public var cursor: String?
    }

    private let api: any SyncAPIOperations
    private let store: any LocalStore
    private let configuration: Configuration
    private var running: Task<Report, any Error>?
    /// Calls that joined a running sync instead of starting one (for tests).
    private(set) var joinedCalls = 0
    /// Who the server says we are; set by `start()`.
    public private(set) var identity: CanaryResponse?

    public init(api: any SyncAPIOperations, store: any LocalStore, configuration: Configuration = Configuration()) {
        self.api = api
        self.store = store
        self.configuration = configuration
    }

    /// Checks the token against the server (`GET /api/sync/canary`) and
    /// records the contractor it belongs to. `sync()` calls it once by itself.
    @discardableResult
    public func start() async throws -> CanaryResponse {
        let canary = try await api.getCanary()
        identity = canary
        return canary
    }

    /// Push, then pull: the pull then also returns what this push changed,
    /// with the server's timestamps. A failed push does not stop the pull;
    /// its error is thrown after the pull ran.
    @discardableResult
    public func sync() async throws -> Report {
        if let running {
            joinedCalls += 1
            return try await withTaskCancellationHandler { try await running.value } onCancel: { running.cancel() }
        }
        let task = Task { try await self.runSync() }
        running = task
        defer { running = nil }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    private func runSync() async throws -> Report {
        if identity == nil {
            try await start()
        }
        var report = Report()
        var pushFailure: (any Error)?
        do {
            report.pushedBatches = try await push()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            pushFailure = error
        }
        let (pages, cursor) = try await pull()
        report.pulledPages = pages
        report.cursor = cursor
        if let pushFailure { throw pushFailure }
        return report
    }

    /// Pushes pending local changes until the store has none; returns the batch count.
    public func push() async throws -> Int {
        var maxRows = configuration.maxPushRows
        var batches = 0
        while batches < configuration.maxPushBatches, let changes = try await store.pendingChanges(maxRows: maxRows) {
            let response: SyncPushResponse
            do {
                response = try await api.pushChanges(changes.request, idempotencyKey: changes.idempotencyKey)
            } catch SyncClientError.api(413, _) where maxRows > 1 {
                maxRows = max(1, maxRows / 2) // PAYLOAD_TOO_LARGE: ask the store for smaller batches
                continue
            } catch SyncClientError.api(422, _) {
                // IDEMPOTENCY_KEY_REUSED: the store changed the batch under its
                // old key. Upserts are last-write-wins, so a new key is safe.
                response = try await api.pushChanges(changes.request, idempotencyKey: UUID().uuidString.lowercased())
            }
            try await store.acknowledge(changes, response: response)
            batches += 1
        }
        return batches
    }

    /// Pulls pages from the saved cursor until `hasMore` is false. The cursor
    /// is saved only after its page was applied, so a crash in between pulls
    /// that page again rather than skipping it.
    public func pull() async throws -> (pages: Int, cursor: String?) {
        var cursor = try await store.loadCursor()
        var pages = 0
        while true {
            // Only the tables this SDK knows, so a newer server's tables never
            // pass under the cursor unseen.
            let page = try await api.pullChanges(cursor: cursor, since: nil, limit: configuration.pullPageSize, tables: TableName.knownCases, wait: nil)
            try await store.apply(page)
            try await store.saveCursor(page.cursor)
            cursor = page.cursor
            pages += 1
            if !page.hasMore {
                return (pages, cursor)
            }
        }
    }
}
