import Foundation

/// The device's copy of one contractor's synced tables, in one SQLite file
/// per contractor and auth user, with the queue of unsent local edits
/// (the outbox) in the same file.
///
/// Reads and edits are synchronous and short, like GRDB's `DatabaseQueue`:
/// every call takes the replica's lock, and every edit is one SQLite
/// transaction that writes the row and its outbox entry together, so a crash
/// never leaves an edit without its outbox entry or the reverse.
/// `ReplicaSyncEngine` pushes the outbox and applies pulls.
public final class SQLiteReplica: @unchecked Sendable {
    // @unchecked: `connection` and `observers` are only touched under `lock`.
    public let schema: ReplicaSchema
    public let url: URL
    public let contractorID: UUID
    public let userID: UUID

    private let lock = NSLock()
    private var connection: SQLiteConnection?
    private var observers: [UUID: AsyncStream<Set<String>>.Continuation] = [:]

    /// The file of one contractor and auth user under directory: after an
    /// account switch the other account's unsent edits stay in their own file
    /// and can never reach this tenant.
    public static func fileURL(directory: URL, contractorID: UUID, userID: UUID) -> URL {
        directory.appendingPathComponent("syncproxy-\(contractorID.uuidString.lowercased())-\(userID.uuidString.lowercased()).sqlite")
    }

    /// Opens (or creates) the replica of contractorID and userID in directory.
    public static func open(directory: URL, contractorID: UUID, userID: UUID, schema: ReplicaSchema = .current) throws -> SQLiteReplica {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SQLiteReplica(url: fileURL(directory: directory, contractorID: contractorID, userID: userID),
                                 contractorID: contractorID, userID: userID, schema: schema)
    }

    /// Opens the replica file at url. It must belong to contractorID and userID
    /// (a new file is claimed for them), else `ReplicaError.wrongAccount`.
    public init(url: URL, contractorID: UUID, userID: UUID, schema: ReplicaSchema = .current) throws {
        self.url = url
        self.contractorID = contractorID
        self.userID = userID
        self.schema = schema
        let connection = try SQLiteConnection(path: url.path)
        try connection.transaction {
            for sql in schema.bookkeepingSQL { try connection.execute(sql) }
            try Self.checkAccount(connection, contractorID: contractorID, userID: userID)
            try Self.migrate(connection, schema: schema)
        }
        self.connection = connection
    }

    deinit {
        connection?.close()
        for continuation in observers.values { continuation.finish() }
    }

    /// Closes the file; later calls throw `ReplicaError.closed`.
    public func close() {
        lock.lock()
        connection?.close()
        connection = nil
        let finished = observers.values
        observers.removeAll()
        lock.unlock()
        for continuation in finished { continuation.finish() }
    }

    // MARK: - Opening

    private static func checkAccount(_ db: SQLiteConnection, contractorID: UUID, userID: UUID) throws {
        let want = contractorID.uuidString.lowercased() + "/" + userID.uuidString.lowercased()
        if let stored = try state(db, "account") {
            guard stored == want else { throw ReplicaError.wrongAccount(expected: stored, got: want) }
        } else {
            try setState(db, "account", want)
        }
    }

    /// Additive migration: new tables are created, new columns added. Either
    /// means rows on this device lack values the server has, so the cursor is
    /// dropped and the next pull is a full one (which also removes what the
    /// server no longer has, keeping unsent edits).
    private static func migrate(_ db: SQLiteConnection, schema: ReplicaSchema) throws {
        let stored = try state(db, "schema")
        if stored == schema.fingerprint { return }
        var added = false
        for table in schema.tables {
            let existing = Set(try db.query("PRAGMA table_info(\(quoteIdentifier(table.name)))").compactMap { $0[1].textValue })
            if existing.isEmpty {
                try db.execute(table.createSQL)
                added = true
                continue
            }
            for column in table.columns where !existing.contains(column.name) {
                try db.execute("ALTER TABLE \(quoteIdentifier(table.name)) ADD COLUMN \(quoteIdentifier(column.name)) \(column.kind.sqlType)")
                added = true
            }
            if !existing.contains("sync_version") {
                try db.execute("ALTER TABLE \(quoteIdentifier(table.name)) ADD COLUMN \"sync_version\" INTEGER")
            }
        }
        if stored != nil && added {
            try setState(db, "cursor", nil)
        }
        try setState(db, "schema", schema.fingerprint)
    }

    // MARK: - Locking

    @discardableResult
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let connection, connection.isOpen else { throw ReplicaError.closed }
        return try body(connection)
    }

    /// body in one transaction; observers hear about `tables` after the commit.
    @discardableResult
    func write<T>(tables: Set<String>, _ body: (SQLiteConnection) throws -> T) throws -> T {
        let result: T = try withConnection { db in try db.transaction { try body(db) } }
        notify(tables)
        return result
    }

    private func notify(_ tables: Set<String>) {
        guard !tables.isEmpty else { return }
        lock.lock()
        let continuations = Array(observers.values)
        lock.unlock()
        for continuation in continuations { continuation.yield(tables) }
    }

    /// Names of the tables changed by each committed write (edits, pulls,
    /// conflict merges), for a UI that re-reads what it shows.
    public func changes() -> AsyncStream<Set<String>> {
        let (stream, continuation) = AsyncStream<Set<String>>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = UUID()
        lock.lock()
        observers[id] = continuation
        lock.unlock()
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.observers[id] = nil
            self.lock.unlock()
        }
        return stream
    }

    // MARK: - State

    static func state(_ db: SQLiteConnection, _ key: String) throws -> String? {
        try db.query("SELECT value FROM _sync_state WHERE key = ?", [.text(key)]).first?.first?.textValue
    }

    static func setState(_ db: SQLiteConnection, _ key: String, _ value: String?) throws {
        if let value {
            try db.query("INSERT INTO _sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [.text(key), .text(value)])
        } else {
            try db.query("DELETE FROM _sync_state WHERE key = ?", [.text(key)])
        }
    }

    /// The pull cursor: rows up to it are in this file. Nil before the first
    /// complete pull, and after a schema change or a resync.
    public func cursor() throws -> String? {
        try withConnection { try Self.state($0, "cursor") }
    }

    // MARK: - Reading

    func table(for name: String) throws -> ReplicaTableSchema {
        guard let table = schema.table(name) else { throw ReplicaError.unknownTable(name) }
        return table
    }

    func table<Row: ReplicaRow>(of type: Row.Type) throws -> ReplicaTableSchema {
        try table(for: Row.replicaTable.name)
    }

    static func selectList(_ table: ReplicaTableSchema) -> String {
        (table.columns.map { quoteIdentifier($0.name) } + ["\"sync_version\""]).joined(separator: ", ")
    }

    /// A stored row as its wire object, filled the way a pull would show it:
    /// a row created on this device has no server version yet (0, "new"), its
    /// contractor is this replica's.
    ///
    /// `rowTable` is the schema the row type was generated with: a replica
    /// opened with an older schema (fewer columns) gives the columns it lacks
    /// as null, so the current row type still decodes.
    func wireObject(_ table: ReplicaTableSchema, _ values: [SQLiteValue], rowTable: ReplicaTableSchema? = nil) throws -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for (index, column) in table.columns.enumerated() {
            var value = try column.wire(values[index])
            if value == .null, !column.nullable {
                value = fallback(column)
            }
            object[column.name] = value
        }
        for column in rowTable?.columns ?? [] where object[column.name] == nil {
            object[column.name] = column.nullable ? .null : fallback(column)
        }
        object["sync_version"] = values.last?.integerValue.map { .integer($0) } ?? .integer(0)
        return object
    }

    private func fallback(_ column: ReplicaColumn) -> JSONValue {
        if column.name == "contractor_id" { return .string(contractorID.uuidString.lowercased()) }
        if let text = column.defaultJSON, let value = try? JSONValue(json: text) { return value }
        switch column.kind {
        case .timestamp: return .string(RFC3339.format(Date(timeIntervalSince1970: 0)))
        case .bool: return .bool(false)
        case .integer: return .integer(0)
        case .json: return .object([:])
        default: return .string("")
        }
    }

    /// Rows of Row's table; condition and orderBy are SQL over the wire
    /// column names (`"folder_id = ?"`, `"name COLLATE NOCASE"`).
    public func all<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = [],
                                     orderBy: String? = nil, limit: Int? = nil) throws -> [Row] {
        let table = try table(of: type)
        var sql = "SELECT \(Self.selectList(table)) FROM \(quoteIdentifier(table.name))"
        if let condition { sql += " WHERE \(condition)" }
        if let orderBy { sql += " ORDER BY \(orderBy)" }
        if let limit { sql += " LIMIT \(limit)" }
        return try withConnection { db in
            var rows: [Row] = []
            try db.each(sql, arguments) { values in
                rows.append(try JSONValue.object(self.wireObject(table, values, rowTable: Row.replicaTable)).decode(Row.self))
            }
            return rows
        }
    }

    /// The row with this key (for a singleton: the contractor id), or nil.
    public func row<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws -> Row? {
        let table = try table(of: type)
        return try all(type, where: "\(quoteIdentifier(table.keyColumn)) = ?", [.uuid(id)]).first
    }

    public func count<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = []) throws -> Int {
        let table = try table(of: type)
        var sql = "SELECT count(*) FROM \(quoteIdentifier(table.name))"
        if let condition { sql += " WHERE \(condition)" }
        return try withConnection { db in Int(try db.query(sql, arguments).first?.first?.integerValue ?? 0) }
    }

    /// Local edits not yet acknowledged by the server (rows and deletes).
    public func pendingChangeCount() throws -> Int {
        try withConnection { db in Int(try db.query("SELECT count(*) FROM _outbox").first?.first?.integerValue ?? 0) }
    }

    func storedObject(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String) throws -> (object: [String: JSONValue], version: Int64?)? {
        let sql = "SELECT \(Self.selectList(table)) FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?"
        guard let values = try db.query(sql, [.text(key)]).first else { return nil }
        var object: [String: JSONValue] = [:]
        for (index, column) in table.columns.enumerated() {
            object[column.name] = try column.wire(values[index])
        }
        return (object, values.last?.integerValue)
    }

    // MARK: - Editing

    /// Adds a row (or, when a row with its key exists, changes the columns
    /// it sets). Only the columns the write row sets are sent; the server
    /// fills the others with its defaults, which the replica shows meanwhile.
    @discardableResult
    public func insert<Write: ReplicaWrite>(_ row: Write) throws -> UUID {
        let table = try table(for: Write.replicaTable.name)
        guard case .object(var given) = try JSONValue(encoding: row) else {
            throw ReplicaError.invalidValue(column: table.name, reason: "a row must encode as an object")
        }
        let key: UUID
        switch table.key {
        case .regular:
            guard let id = given["id"]?.stringValue.flatMap(UUID.init(uuidString:)) else {
                throw ReplicaError.invalidValue(column: "id", reason: "expected a uuid")
            }
            key = id
        case .singleton, .tenantRow:
            key = contractorID
        }
        given = given.filter { name, _ in table.column(name).map { $0.role == .required || $0.role == .optional } ?? false }
        var changes: [String: JSONValue] = [:]
        for (name, value) in given {
            guard let column = table.column(name) else { continue }
            changes[name] = try column.wire(column.storage(value))
        }
        let keyText = key.uuidString.lowercased()
        try write(tables: [table.name]) { db in
            // Created again after an unsent delete: the delete is void.
            try db.query("DELETE FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL AND op = 'delete'", [.text(table.name), .text(keyText)])
            if let existing = try storedObject(db, table, key: keyText) {
                try recordUpdate(db, table, key: keyText, old: existing.object, version: existing.version, changes: changes)
            } else {
                try insertLocal(db, table, key: keyText, values: changes)
                try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version) VALUES (?, ?, 'insert', ?, '{}', 0)",
                             [.text(table.name), .text(keyText), .text(try JSONValue.object(changes).jsonString())])
            }
        }
        return key
    }

    /// A new local row: the server's defaults, then values.
    private func insertLocal(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String, values: [String: JSONValue]) throws {
        let now = RFC3339.format(Date())
        var names: [String] = []
        var params: [SQLiteValue] = []
        for column in table.columns {
            var value: JSONValue = .null
            switch column.name {
            case table.keyColumn: value = .string(key)
            case "contractor_id": value = .string(contractorID.uuidString.lowercased())
            case "created_at", "updated_at": value = .string(now)
            default:
                if let given = values[column.name] {
                    value = given
                } else if let text = column.defaultJSON {
                    value = try JSONValue(json: text)
                }
            }
            names.append(quoteIdentifier(column.name))
            params.append(try column.storage(value))
        }
        let marks = Array(repeating: "?", count: names.count).joined(separator: ", ")
        try db.query("INSERT INTO \(quoteIdentifier(table.name)) (\(names.joined(separator: ", "))) VALUES (\(marks))", params)
    }

    /// Changes one row: body edits a copy, and only the columns it changed are
    /// written and queued. A singleton (or the contractor row) that was never
    /// pulled starts from the server's defaults.
    @discardableResult
    public func update<Row: ReplicaRow>(_ type: Row.Type, id: UUID, _ body: (inout Row) throws -> Void) throws -> Row {
        let table = try table(of: type)
        let keyText = id.uuidString.lowercased()
        return try write(tables: [table.name]) { db in
            var stored = try storedObject(db, table, key: keyText)
            if stored == nil, table.key != .regular, id == contractorID {
                try insertLocal(db, table, key: keyText, values: [:])
                try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version) VALUES (?, ?, 'insert', '{}', '{}', 0)",
                             [.text(table.name), .text(keyText)])
                stored = try storedObject(db, table, key: keyText)
            }
            guard let stored else { throw ReplicaError.rowNotFound(table: table.name, id: id) }
            let sql = "SELECT \(Self.selectList(table)) FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?"
            guard let values = try db.query(sql, [.text(keyText)]).first else { throw ReplicaError.rowNotFound(table: table.name, id: id) }
            let before = try JSONValue.object(wireObject(table, values, rowTable: Row.replicaTable)).decode(Row.self)
            var after = before
            try body(&after)
            guard case .object(let oldObject) = try JSONValue(encoding: before),
                  case .object(let newObject) = try JSONValue(encoding: after)
            else { throw ReplicaError.invalidValue(column: table.name, reason: "a row must encode as an object") }
            var changes: [String: JSONValue] = [:]
            for column in table.columns {
                let old = try oldObject[column.name].map { try column.wire(column.storage($0)) } ?? .null
                let new = try newObject[column.name].map { try column.wire(column.storage($0)) } ?? .null
                guard old != new else { continue }
                guard column.role == .required || column.role == .optional else {
                    throw ReplicaError.readOnlyColumn(table: table.name, column: column.name)
                }
                changes[column.name] = new
            }
            if !changes.isEmpty {
                try recordUpdate(db, table, key: keyText, old: stored.object, version: stored.version, changes: changes)
            }
            return after
        }
    }

    /// Writes changes to the local row and coalesces them into the row's open
    /// outbox entry (the one not yet in a batch), remembering each column's
    /// value before its first edit: the base a conflict merge compares with.
    private func recordUpdate(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String,
                              old: [String: JSONValue], version: Int64?, changes: [String: JSONValue]) throws {
        guard !changes.isEmpty else { return }
        try setColumns(db, table, key: key, changes)
        let open = try db.query("SELECT seq, op, columns, base_values FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL",
                                [.text(table.name), .text(key)]).first
        if let open, let seq = open[0].integerValue, let op = open[1].textValue, op != "delete" {
            var columns = try JSONValue(json: open[2].textValue ?? "{}").objectValue ?? [:]
            var bases = try JSONValue(json: open[3].textValue ?? "{}").objectValue ?? [:]
            for (name, value) in changes {
                if op == "update", bases[name] == nil { bases[name] = old[name] ?? .null }
                columns[name] = value
                // Set back to where it started: nothing left to send for it.
                if op == "update", bases[name] == value {
                    columns[name] = nil
                    bases[name] = nil
                }
            }
            if op == "update", columns.isEmpty {
                try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(seq)])
            } else {
                try db.query("UPDATE _outbox SET columns = ?, base_values = ? WHERE seq = ?",
                             [.text(try JSONValue.object(columns).jsonString()), .text(try JSONValue.object(bases).jsonString()), .integer(seq)])
            }
            return
        }
        var bases: [String: JSONValue] = [:]
        for name in changes.keys { bases[name] = old[name] ?? .null }
        // A row with a push in flight gets its base version when that push is
        // acknowledged (the version it writes); until then it is unknown.
        let inFlight = try db.query("SELECT 1 FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NOT NULL LIMIT 1",
                                    [.text(table.name), .text(key)]).isEmpty == false
        let base: SQLiteValue = inFlight ? .null : (version.map { .integer($0) } ?? .null)
        try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version) VALUES (?, ?, 'update', ?, ?, ?)",
                     [.text(table.name), .text(key), .text(try JSONValue.object(changes).jsonString()),
                      .text(try JSONValue.object(bases).jsonString()), base])
    }

    func setColumns(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String, _ values: [String: JSONValue]) throws {
        var sets: [String] = []
        var params: [SQLiteValue] = []
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let column = table.column(name) else { continue }
            sets.append("\(quoteIdentifier(name)) = ?")
            params.append(try column.storage(value))
        }
        guard !sets.isEmpty else { return }
        params.append(.text(key))
        try db.query("UPDATE \(quoteIdentifier(table.name)) SET \(sets.joined(separator: ", ")) WHERE \(quoteIdentifier(table.keyColumn)) = ?", params)
    }

    /// Deletes a row here and queues the delete. A row that never reached the
    /// server just disappears.
    public func delete<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws {
        let table = try table(of: type)
        guard table.deletable else { throw ReplicaError.notDeletable(table.name) }
        let key = id.uuidString.lowercased()
        try write(tables: [table.name]) { db in
            try db.query("DELETE FROM \(quoteIdentifier(table.name)) WHERE id = ?", [.text(key)])
            let open = try db.query("SELECT op FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL", [.text(table.name), .text(key)])
            let sent = try db.query("SELECT 1 FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NOT NULL", [.text(table.name), .text(key)])
            try db.query("DELETE FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL", [.text(table.name), .text(key)])
            if open.first?.first?.textValue == "insert", sent.isEmpty {
                return // created and deleted offline: the server never needs to know
            }
            try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version) VALUES (?, ?, 'delete', '{}', '{}', NULL)",
                         [.text(table.name), .text(key)])
        }
    }
}

extension SQLiteValue {
    /// A uuid as the replica stores it (lowercase text).
    public static func uuid(_ value: UUID) -> SQLiteValue { .text(value.uuidString.lowercased()) }
}

extension SQLiteValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension ReplicaRow {
    /// Edits this row in replica: `try item.edit(in: replica) { $0.name = "Stud" }`.
    /// Only the columns the closure changes are stored and pushed.
    @discardableResult
    public func edit(in replica: SQLiteReplica, _ body: (inout Self) throws -> Void) throws -> Self {
        try replica.update(Self.self, id: id, body)
    }
}

/// Typed access to one table: `replica.costbookItems.all(orderBy: "name")`.
public struct ReplicaTable<Row: ReplicaRow>: Sendable {
    public let replica: SQLiteReplica

    public init(replica: SQLiteReplica) { self.replica = replica }

    public func all(where condition: String? = nil, _ arguments: [SQLiteValue] = [], orderBy: String? = nil, limit: Int? = nil) throws -> [Row] {
        try replica.all(Row.self, where: condition, arguments, orderBy: orderBy, limit: limit)
    }

    public func find(_ id: UUID) throws -> Row? { try replica.row(Row.self, id: id) }

    public func count(where condition: String? = nil, _ arguments: [SQLiteValue] = []) throws -> Int {
        try replica.count(Row.self, where: condition, arguments)
    }

    @discardableResult
    public func update(_ id: UUID, _ body: (inout Row) throws -> Void) throws -> Row {
        try replica.update(Row.self, id: id, body)
    }

    public func delete(_ id: UUID) throws { try replica.delete(Row.self, id: id) }
}
