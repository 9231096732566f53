import Foundation

/// A local change the server refused with 409 CONFLICT: the row changed on the
/// server since the version this edit (or delete) started from.
public struct ReplicaConflict: Sendable, Equatable {
    public let table: String
    public let id: UUID
    /// The version the local edit started from (0: the device believed the row new).
    public let baseVersion: Int64
    /// The server's version of the row now.
    public let currentVersion: Int64
    /// The row was deleted on the server (or never existed there).
    public let deleted: Bool
    /// The device created the row (rather than editing a pulled one), or
    /// created it again after it was deleted.
    public let isInsert: Bool
    /// The local change is a delete (contract 1.2: deletes carry a base
    /// version): the row was edited on the server since this device saw it.
    public let isDelete: Bool
    /// The columns this device changed, with their new values (wire form);
    /// empty for a delete.
    public let localChanges: [String: JSONValue]
    /// The same columns as they were before the first local edit; for a
    /// delete, the row as this device had it when deleting.
    public let baseValues: [String: JSONValue]
    /// The server's current row as a pull delivers it; nil when deleted.
    public let serverRow: [String: JSONValue]?
    /// Decimal columns compare as numbers (`12.50` is `12.5`).
    let decimalColumns: Set<String>

    /// Columns both sides changed to different values: the true collisions.
    /// For a delete: the columns the server changed since the row this device
    /// deleted (empty: nothing was lost by deleting it).
    public var collidingColumns: [String] {
        guard let serverRow else { return [] }
        if isDelete {
            return baseValues.keys.sorted().filter { !same($0, serverRow[$0] ?? .null, baseValues[$0] ?? .null) }
        }
        return localChanges.keys.sorted().filter { name in
            let server = serverRow[name] ?? .null
            return !same(name, server, baseValues[name] ?? .null) && !same(name, server, localChanges[name] ?? .null)
        }
    }

    private func same(_ column: String, _ a: JSONValue, _ b: JSONValue) -> Bool {
        if decimalColumns.contains(column), let x = a.stringValue.flatMap(DecimalString.parse), let y = b.stringValue.flatMap(DecimalString.parse) {
            return x == y
        }
        return a == b
    }
}

/// What to do with a conflict.
public enum ConflictResolution: Sendable, Equatable {
    /// Push these columns on top of the server's current row (the new base).
    /// For a row deleted on the server: bring it back, as this device has it
    /// with these columns on top, over the tombstone's version. For a delete
    /// (`isDelete`): delete anyway, on the server's current version.
    case push([String: JSONValue])
    /// Drop the local change; the row becomes the server's (a deleted row
    /// comes back).
    case acceptServer
    /// Keep the local change aside in the quarantine for the app, take the server's row.
    case quarantine(String)
}

/// Decides a conflict; may ask the user (it is async). Runs on the engine, one at a time.
public typealias ConflictResolver = @Sendable (ReplicaConflict) async -> ConflictResolution

public enum ConflictResolvers {
    /// The default: field by field against the base the edit started from.
    /// Columns this device changed win; every other column takes the server's
    /// value (the server row becomes the new base). A row deleted on the
    /// server is not brought back by an edit (it goes to the quarantine), but
    /// a row this device created again after its delete is. A delete of a
    /// row edited on the server since keeps the row (the delete goes to the
    /// quarantine, `retryQuarantined` deletes it anyway), unless the edit
    /// changed none of the columns this device saw.
    public static let fieldByField: ConflictResolver = { conflict in
        if conflict.isDelete {
            return conflict.collidingColumns.isEmpty ? .push([:]) : .quarantine("edited on the server since this device deleted it")
        }
        guard !conflict.deleted, conflict.serverRow != nil else {
            if conflict.isInsert { return .push(conflict.localChanges) }
            return .quarantine("deleted on the server while edited on this device")
        }
        return .push(conflict.localChanges)
    }

    /// The server always wins.
    public static let serverWins: ConflictResolver = { _ in .acceptServer }
}

/// A conflict as the 409 envelope carries it (contract 1.1).
struct WireConflict: Sendable {
    var table: String
    var id: String
    var baseVersion: Int64
    var currentVersion: Int64
    var deleted: Bool
    var row: [String: JSONValue]?
    /// Contract 1.2: the row exists but did not fit in the 409's byte bound.
    var rowOmitted: Bool = false

    static func parse(_ envelope: JSONValue) -> [WireConflict] {
        (envelope["conflicts"]?.arrayValue ?? []).compactMap { item in
            guard let table = item["table"]?.stringValue, let id = item["id"]?.stringValue,
                  let uuid = UUID(uuidString: id) else { return nil }
            return WireConflict(
                table: table, id: uuid.uuidString.lowercased(),
                baseVersion: item["baseVersion"]?.int64Value ?? 0,
                currentVersion: item["currentVersion"]?.int64Value ?? 0,
                deleted: item["deleted"]?.boolValue ?? false,
                row: item["row"]?.objectValue,
                rowOmitted: item["rowOmitted"]?.boolValue ?? false
            )
        }
    }
}
