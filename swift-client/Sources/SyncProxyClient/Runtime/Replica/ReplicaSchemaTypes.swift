import Foundation

/// The local schema of a replica: every synced table this SDK version knows,
/// plus the replica's own bookkeeping tables. `ReplicaSchema.current` is
/// generated from openapi.yaml (Generated/ReplicaSchema.swift).
public struct ReplicaSchema: Sendable {
    /// Changes whenever a table or column is added, removed or retyped; a
    /// replica opened with another fingerprint migrates forward.
    public let fingerprint: String
    public let bookkeepingSQL: [String]
    public let tables: [ReplicaTableSchema]

    public init(fingerprint: String, bookkeepingSQL: [String], tables: [ReplicaTableSchema]) {
        self.fingerprint = fingerprint
        self.bookkeepingSQL = bookkeepingSQL
        self.tables = tables
    }

    public func table(_ name: String) -> ReplicaTableSchema? {
        tables.first { $0.name == name }
    }

    /// This schema without one column, as an older SDK version that did not
    /// know it yet would have it (for tests of forward compatibility).
    public func removing(column: String, from table: String) -> ReplicaSchema {
        ReplicaSchema(
            fingerprint: fingerprint + "-" + table + "." + column,
            bookkeepingSQL: bookkeepingSQL,
            tables: tables.map { $0.name == table ? $0.removing(column: column) : $0 }
        )
    }
}

/// One synced table in the replica.
public struct ReplicaTableSchema: Sendable {
    public enum Key: String, Sendable {
        /// Rows keyed by a client-generated `id`.
        case regular
        /// One row per contractor, keyed by `contractor_id`.
        case singleton
        /// The contractors table: one row, whose `id` is the contractor.
        case tenantRow
    }

    public let name: String
    public let key: Key
    /// Deletes leave tombstones that pulls deliver (`deleted` in a pull).
    public let deletable: Bool
    public let createSQL: String
    public let columns: [ReplicaColumn]

    public init(name: String, key: Key, deletable: Bool, createSQL: String, columns: [ReplicaColumn]) {
        self.name = name
        self.key = key
        self.deletable = deletable
        self.createSQL = createSQL
        self.columns = columns
    }

    public var keyColumn: String { key == .singleton ? "contractor_id" : "id" }

    public func column(_ name: String) -> ReplicaColumn? { columns.first { $0.name == name } }

    /// Columns a client may send (not the key, not the server-owned ones).
    public var writableColumns: [ReplicaColumn] { columns.filter { $0.role == .required || $0.role == .optional } }

    func removing(column: String) -> ReplicaTableSchema {
        let kept = columns.filter { $0.name != column }
        let defs = kept.map { c -> String in
            quoteIdentifier(c.name) + " " + c.sqlDefinition + (c.role == .key ? " NOT NULL PRIMARY KEY" : "")
        } + [quoteIdentifier("sync_version") + " INTEGER"]
        let sql = "CREATE TABLE IF NOT EXISTS " + quoteIdentifier(name) + " (" + defs.joined(separator: ", ") + ")"
        return ReplicaTableSchema(name: name, key: key, deletable: deletable, createSQL: sql, columns: kept)
    }
}

/// One column of a synced table and how the replica stores it.
public struct ReplicaColumn: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case uuid, text, decimal, integer, bool, timestamp, date, json

        var sqlType: String {
            switch self {
            case .integer, .bool: return "INTEGER"
            default: return "TEXT"
            }
        }
    }

    public enum Role: String, Sendable {
        /// The row key (`id`, or `contractor_id` of a singleton).
        case key
        /// Set by the server (`contractor_id`, `created_at`, `updated_at`): never sent.
        case serverOwned
        /// Must be present in every pushed row, partial rows included.
        case required
        case optional
    }

    public let name: String
    public let kind: Kind
    public let nullable: Bool
    public let role: Role
    /// The server's default for a new row that leaves the column out, as JSON
    /// text; the replica shows it until the server's row arrives.
    public let defaultJSON: String?
    /// What the server accepts in the column (its write schema's
    /// constraints): checked on every edit.
    public let rules: ReplicaColumnRules

    public init(name: String, kind: Kind, nullable: Bool, role: Role, defaultJSON: String?, rules: ReplicaColumnRules = ReplicaColumnRules()) {
        self.name = name
        self.kind = kind
        self.nullable = nullable
        self.role = role
        self.defaultJSON = defaultJSON
        self.rules = rules
    }

    /// The column's type in SQLite: decimals are text compared as numbers.
    var sqlDefinition: String {
        kind == .decimal ? kind.sqlType + " COLLATE " + DecimalCollation.name : kind.sqlType
    }

    /// The wire value `value` as stored in SQLite: validated, canonical where
    /// the wire allows several spellings (timestamps become UTC milliseconds).
    /// Throws for a value this column cannot hold.
    func storage(_ value: JSONValue) throws -> SQLiteValue {
        if value == .null {
            return .null
        }
        func bad(_ why: String) -> ReplicaError {
            .invalidValue(column: name, reason: why)
        }
        switch kind {
        case .uuid:
            guard let string = value.stringValue, let uuid = UUID(uuidString: string) else { throw bad("expected a uuid") }
            return .text(uuid.uuidString.lowercased())
        case .text:
            guard let string = value.stringValue else { throw bad("expected a string") }
            return .text(string)
        case .decimal:
            // Kept as the server spelled it: exact, and what a digest or a
            // later push sees is what was pulled.
            guard let string = value.stringValue else { throw bad("expected a decimal string") }
            guard DecimalString.parse(string) != nil else { throw bad("not a decimal Decimal can hold exactly") }
            return .text(string)
        case .integer:
            guard let integer = value.int64Value else { throw bad("expected an integer") }
            return .integer(integer)
        case .bool:
            guard let bool = value.boolValue else { throw bad("expected a boolean") }
            return .integer(bool ? 1 : 0)
        case .timestamp:
            guard let string = value.stringValue, let date = RFC3339.parse(string) else { throw bad("expected an RFC 3339 timestamp") }
            return .text(RFC3339.format(date))
        case .date:
            guard let string = value.stringValue, DayDate(string) != nil else { throw bad("expected a day like 2025-01-15") }
            return .text(string)
        case .json:
            return .text(try value.jsonString())
        }
    }

    /// A stored value back as its wire value.
    func wire(_ stored: SQLiteValue) throws -> JSONValue {
        switch (kind, stored) {
        case (_, .null): return .null
        case (.integer, .integer(let v)): return .integer(v)
        case (.bool, .integer(let v)): return .bool(v != 0)
        case (.json, .text(let text)): return try JSONValue(json: text)
        case (_, .text(let text)): return .string(text)
        case (_, .integer(let v)): return .integer(v)
        case (_, .real(let v)): return .number(v)
        case (_, .blob): throw ReplicaError.invalidValue(column: name, reason: "unexpected blob")
        }
    }
}

/// What the replica refuses.
public enum ReplicaError: Error, LocalizedError, Equatable {
    /// A value a column cannot hold (from the server or from an edit).
    case invalidValue(column: String, reason: String)
    /// The row type is not a table of this replica's schema.
    case unknownTable(String)
    case rowNotFound(table: String, id: UUID)
    /// An edit changed a column the server owns (`created_at`, ...), or the key.
    case readOnlyColumn(table: String, column: String)
    /// Contractors and singleton rows are never deleted through sync.
    case notDeletable(String)
    /// An edit the server would refuse: column's value breaks its rules in
    /// openapi.yaml (too long, off the enum, more fraction digits than the
    /// column's scale, a required column missing, ...). Nothing was stored.
    case invalidColumn(table: String, column: String, ColumnViolation)
    /// An edit through the replica inside `replica.write { }` (use its `tx`).
    case nestedWrite
    /// A `ReplicaTransaction` used after its `write { }` returned.
    case transactionEnded
    /// The replica file belongs to another contractor or auth user than the token.
    case wrongAccount(expected: String, got: String)
    case closed

    public var errorDescription: String? {
        switch self {
        case .invalidValue(let column, let reason): return "Column \(column): \(reason)."
        case .unknownTable(let table): return "\(table) is not a table of this replica."
        case .rowNotFound(let table, let id): return "No row \(id.uuidString.lowercased()) in \(table)."
        case .readOnlyColumn(let table, let column): return "\(table).\(column) is set by the server and cannot be edited."
        case .notDeletable(let table): return "Rows of \(table) cannot be deleted through sync."
        case .invalidColumn(let table, let column, let violation): return "\(table).\(column) \(violation)."
        case .nestedWrite: return "An edit inside replica.write { tx in … } must go through tx: the replica waits for that transaction."
        case .transactionEnded: return "This transaction has ended: use it only inside its write { } block."
        case .wrongAccount(let expected, let got):
            return "This replica belongs to \(expected), but the signed-in account is \(got); open the replica of that account."
        case .closed: return "The replica is closed."
        }
    }
}

/// A generated pulled-row type (`CostbookItem`, ...) stored in the replica.
public protocol ReplicaRow: Codable, Sendable, Identifiable where ID == UUID {
    static var replicaTable: ReplicaTableSchema { get }
}

/// A generated write-row type (`CostbookItemWrite`, ...) for new rows.
public protocol ReplicaWrite: Encodable, Sendable {
    static var replicaTable: ReplicaTableSchema { get }
}
