import Foundation

/// The app's local database, as `SyncEngine` sees it. The app implements it
/// (Core Data, SQLite, files...); the engine decides when to call what.
public protocol LocalStore: Sendable {
    /// Local changes not yet acknowledged by the server: at most `maxRows`
    /// rows and deleted ids in total, or nil when nothing is pending.
    ///
    /// Return the same `idempotencyKey` for the same batch until it is
    /// acknowledged (persist it with the batch): if the app dies after the
    /// server committed a push but before `acknowledge`, the replay is then
    /// answered from the server's idempotency cache instead of being applied
    /// again over newer changes from other devices.
    func pendingChanges(maxRows: Int) async throws -> PendingChanges?

    /// The server committed `changes`: forget them (but keep anything changed
    /// locally since they were read).
    func acknowledge(_ changes: PendingChanges, response: SyncPushResponse) async throws

    /// Applies one pulled page: upsert its rows, delete its tombstones
    /// (`page.deleted`). Rows may arrive more than once.
    func apply(_ page: SyncPullResponse) async throws

    /// The cursor saved by `saveCursor`, nil before the first pull.
    func loadCursor() async throws -> String?

    /// Persists the cursor of a page that `apply` has completed.
    func saveCursor(_ cursor: String) async throws
}

/// A batch of local changes and the key that makes pushing it idempotent.
public struct PendingChanges: Sendable, Equatable {
    public var request: SyncPushRequest
    public var idempotencyKey: String

    public init(request: SyncPushRequest, idempotencyKey: String = UUID().uuidString.lowercased()) {
        self.request = request
        self.idempotencyKey = idempotencyKey
    }
}
