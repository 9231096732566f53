import Foundation

/// Reading and building `deletes` entries (contract 1.2: an id, or an id with
/// the `base_version` the delete was decided on).
extension DeleteEntry {
    /// A delete without a conflict check (last write wins, as in contract 1.0).
    public static func id(_ id: UUID) -> DeleteEntry { .uuid(id) }

    /// A delete checked like an edit: if the row is no longer at baseVersion
    /// on the server, the push writes nothing and answers 409.
    public static func id(_ id: UUID, baseVersion: Int64) -> DeleteEntry {
        .versionedDelete(VersionedDelete(id: id, baseVersion: baseVersion))
    }

    /// The row to delete.
    public var id: UUID {
        switch self {
        case .uuid(let id): return id
        case .versionedDelete(let entry): return entry.id
        }
    }

    /// The version the delete started from, nil for a plain id.
    public var baseVersion: Int64? {
        if case .versionedDelete(let entry) = self { return entry.baseVersion }
        return nil
    }
}
