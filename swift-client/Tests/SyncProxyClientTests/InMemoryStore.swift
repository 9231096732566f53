import Foundation
@testable import SyncProxyClient

/// A device's local database for tests: costbook items, local edits waiting
/// to be pushed, and the pull cursor.
actor InMemoryStore: LocalStore {
    private(set) var items: [UUID: CostbookItem] = [:]
    private(set) var cursor: String?
    private(set) var appliedPages = 0
    private(set) var acknowledged: [PendingChanges] = []
    private var pendingItems: [UUID: CostbookItemWrite] = [:]
    private var pendingDeletes: Set<UUID> = []
    /// The batch handed out and not yet acknowledged, so a retry reuses its key.
    private var inFlight: PendingChanges?
    /// Makes the next `apply` fail, like an app killed mid-page.
    var failNextApply = false

    func stage(_ item: CostbookItemWrite) {
        pendingItems[item.id] = item
        inFlight = nil
    }

    func stageDelete(_ id: UUID) {
        pendingDeletes.insert(id)
        inFlight = nil
    }

    func setFailNextApply() { failNextApply = true }

    var pendingCount: Int { pendingItems.count + pendingDeletes.count }

    func pendingChanges(maxRows: Int) async throws -> PendingChanges? {
        if let inFlight, rowCount(inFlight.request) <= maxRows { return inFlight }
        let upserts = pendingItems.values.sorted { $0.id.uuidString < $1.id.uuidString }.prefix(maxRows)
        let deletes = pendingDeletes.sorted { $0.uuidString < $1.uuidString }.prefix(maxRows - upserts.count)
        guard !upserts.isEmpty || !deletes.isEmpty else { return nil }
        let request = SyncPushRequest(
            costbookItems: upserts.isEmpty ? nil : Array(upserts),
            deletes: deletes.isEmpty ? nil : DeleteRequest(costbookItems: deletes.map { .uuid($0) })
        )
        let changes = PendingChanges(request: request)
        inFlight = changes
        return changes
    }

    private func rowCount(_ request: SyncPushRequest) -> Int {
        (request.costbookItems?.count ?? 0) + (request.deletes?.costbookItems?.count ?? 0)
    }

    func acknowledge(_ changes: PendingChanges, response: SyncPushResponse) async throws {
        for item in changes.request.costbookItems ?? [] where pendingItems[item.id] == item {
            pendingItems[item.id] = nil
        }
        for entry in changes.request.deletes?.costbookItems ?? [] {
            pendingDeletes.remove(entry.id)
        }
        acknowledged.append(changes)
        inFlight = nil
    }

    func apply(_ page: SyncPullResponse) async throws {
        if failNextApply {
            failNextApply = false
            throw CocoaError(.fileWriteUnknown)
        }
        for item in page.costbookItems {
            items[item.id] = item
        }
        for id in page.deleted.costbookItems {
            items[id] = nil
        }
        appliedPages += 1
    }

    func loadCursor() async throws -> String? { cursor }

    func saveCursor(_ cursor: String) async throws { self.cursor = cursor }
}
