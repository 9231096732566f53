import Foundation

/// The device's copy of one contractor's synced tables, in one SQLite file
/// per contractor and auth user, with the queue of unsent local edits
/// (the outbox) in the same file.
///
/// Reads and edits are synchronous and short, like GRDB's `DatabasePool`:
/// edits go through one writer connection, and every edit (or
/// `write { tx in … }` of several) is one SQLite transaction that writes the
/// rows and their outbox entries together, so a crash never leaves an edit
/// without its outbox entry or the reverse. Reads run on reader connections
/// of their own (WAL), so they never wait for a write, not even a sync's
/// page of a thousand rows. `changes()` and `observe` report commits,
/// including those of another process on the same file (an app extension).
/// `ReplicaSyncEngine` pushes the outbox and applies pulls.
public final class SQLiteReplica: @unchecked Sendable {
    // @unchecked: the connections and the change hub guard their own state.
    public let schema: ReplicaSchema
    public let url: URL
    public let contractorID: UUID
    public let userID: UUID

    let connections: ReplicaConnections
    let hub: ChangeHub

    /// The file of one contractor and auth user under directory: after an
    /// account switch the other account's unsent edits stay in their own file
    /// and can never reach this tenant.
    public static func fileURL(directory: URL, contractorID: UUID, userID: UUID) -> URL {
        directory.appendingPathComponent("syncproxy-\(contractorID.uuidString.lowercased())-\(userID.uuidString.lowercased()).sqlite")
    }

    /// Opens (or creates) the replica of contractorID and userID in directory.
    public static func open(directory: URL, contractorID: UUID, userID: UUID, schema: ReplicaSchema = .current,
                            options: Options = Options()) throws -> SQLiteReplica {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SQLiteReplica(url: fileURL(directory: directory, contractorID: contractorID, userID: userID),
                                 contractorID: contractorID, userID: userID, schema: schema, options: options)
    }

    /// How the replica uses its file.
    public struct Options: Sendable {
        /// Reader connections at most (reads beyond wait for one).
        public var maxReaders: Int
        /// How often, while something observes the replica, the file is
        /// checked for commits of another process (an app extension):
        /// `PRAGMA data_version`, a few microseconds. Commits of this
        /// replica are announced at once.
        public var externalChangeInterval: TimeInterval

        public init(maxReaders: Int = 4, externalChangeInterval: TimeInterval = 0.1) {
            self.maxReaders = max(1, maxReaders)
            self.externalChangeInterval = max(0.005, externalChangeInterval)
        }
    }

    /// Opens the replica file at url. It must belong to contractorID and userID
    /// (a new file is claimed for them), else `ReplicaError.wrongAccount`.
    public init(url: URL, contractorID: UUID, userID: UUID, schema: ReplicaSchema = .current, options: Options = Options()) throws {
        self.url = url
        self.contractorID = contractorID
        self.userID = userID
        self.schema = schema
        let connections = try ReplicaConnections(path: url.path, maxReaders: options.maxReaders)
        let versions = try connections.withWriter { connection in
            try connection.transaction { () -> [String: Int64] in
                for sql in schema.bookkeepingSQL { try connection.execute(sql) }
                try Self.checkAccount(connection, contractorID: contractorID, userID: userID)
                try Self.migrate(connection, schema: schema)
                for sql in ChangeHub.installSQL(tables: schema.tables.map(\.name)) { try connection.execute(sql) }
                return try ChangeHub.versions(connection)
            }
        }
        self.connections = connections
        hub = ChangeHub(path: url.path, pollInterval: options.externalChangeInterval)
        hub.prime(versions)
    }

    deinit {
        hub.close()
        connections.close()
    }

    /// Closes the file; later calls throw `ReplicaError.closed`, and change
    /// streams and observations end.
    public func close() {
        hub.close()
        connections.close()
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
    /// server no longer has, keeping unsent edits). A table whose decimal
    /// columns predate their DECIMAL collation is rebuilt with it (SQLite
    /// cannot change a column's collation in place); its rows stay.
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
            try addDecimalCollation(db, table)
            for column in table.columns where !existing.contains(column.name) {
                try db.execute("ALTER TABLE \(quoteIdentifier(table.name)) ADD COLUMN \(quoteIdentifier(column.name)) \(column.sqlDefinition)")
                added = true
            }
            if !existing.contains("sync_version") {
                try db.execute("ALTER TABLE \(quoteIdentifier(table.name)) ADD COLUMN \"sync_version\" INTEGER")
            }
        }
        // The outbox of an older SDK version: entries without a transaction group.
        if !Set(try db.query("PRAGMA table_info(\"_outbox\")").compactMap { $0[1].textValue }).contains("txn") {
            try db.execute("ALTER TABLE \"_outbox\" ADD COLUMN \"txn\" INTEGER")
        }
        if stored != nil && added {
            try setState(db, "cursor", nil)
        }
        try setState(db, "schema", schema.fingerprint)
    }

    /// Rebuilds table when one of its decimal columns lacks the DECIMAL
    /// collation: every column it has (also ones this schema does not know)
    /// and every row are kept.
    private static func addDecimalCollation(_ db: SQLiteConnection, _ table: ReplicaTableSchema) throws {
        let decimals = Set(table.columns.filter { $0.kind == .decimal }.map(\.name))
        guard !decimals.isEmpty else { return }
        let existing = try db.query("PRAGMA table_info(\(quoteIdentifier(table.name)))")
        let declaration = try db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [.text(table.name)])
            .first?.first?.textValue ?? ""
        let missing = decimals.contains { name in
            existing.contains { $0[1].textValue == name }
                && !declaration.contains("\(quoteIdentifier(name)) TEXT COLLATE \(DecimalCollation.name)")
        }
        guard missing else { return }
        var definitions: [String] = []
        var names: [String] = []
        for column in existing {
            guard let name = column[1].textValue else { continue }
            let type = column[2].textValue ?? ""
            var definition = quoteIdentifier(name) + (type.isEmpty ? "" : " " + type)
            if decimals.contains(name) { definition += " COLLATE \(DecimalCollation.name)" }
            if (column[5].integerValue ?? 0) > 0 { definition += " NOT NULL PRIMARY KEY" }
            definitions.append(definition)
            names.append(quoteIdentifier(name))
        }
        let old = quoteIdentifier("_rebuild_" + table.name)
        let list = names.joined(separator: ", ")
        try db.execute("ALTER TABLE \(quoteIdentifier(table.name)) RENAME TO \(old)")
        try db.execute("CREATE TABLE \(quoteIdentifier(table.name)) (\(definitions.joined(separator: ", ")))")
        try db.execute("INSERT INTO \(quoteIdentifier(table.name)) (\(list)) SELECT \(list) FROM \(old)")
        try db.execute("DROP TABLE \(old)")
    }

    // MARK: - Connections

    /// body on the writer connection, outside any transaction (tests, and
    /// callers that manage their own).
    @discardableResult
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connections.withWriter(body)
    }

    /// body on a reader connection of its own: it never waits for a write.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connections.withReader(body)
    }

    /// body in one write transaction on the writer: committed when it
    /// returns, rolled back when it throws. After the commit, observers hear
    /// about the tables it touched (the triggers counted them).
    @discardableResult
    func writeTransaction<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let (result, versions) = try connections.withWriter { db in
            let result = try db.transaction { try body(db) }
            return (result, try ChangeHub.versions(db))
        }
        hub.publish(versions)
        return result
    }

    /// Names of the tables changed by committed writes (edits, pulls,
    /// conflict merges; also another process's, such as an app extension's),
    /// for a UI that re-reads what it shows. Each element is every table
    /// changed since the previous one: a slow reader gets fewer, larger sets,
    /// and misses no table.
    public func changes() -> AsyncStream<Set<String>> {
        let signal = ChangeSignal()
        let subscription = hub.subscribe(tables: nil, closed: { signal.finish() }) { tables in
            let visible = tables.filter { !$0.hasPrefix("_") }
            if !visible.isEmpty { signal.post(visible) }
        }
        return AsyncStream(unfolding: {
            let next = await signal.next()
            if next == nil { subscription.cancel() }
            return next
        }, onCancel: {
            subscription.cancel()
            signal.finish()
        })
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
        try read { try Self.state($0, "cursor") }
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
    /// column names (`"folder_id = ?"`, `"name COLLATE NOCASE"`). Decimal
    /// columns order and compare as numbers (`orderBy: "unit_cost"`,
    /// `"unit_cost > ?", [9]`).
    public func all<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = [],
                                     orderBy: String? = nil, limit: Int? = nil) throws -> [Row] {
        try read { db in try rows(db, type, where: condition, arguments, orderBy: orderBy, limit: limit) }
    }

    /// The row with this key (for a singleton: the contractor id), or nil.
    public func row<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws -> Row? {
        try read { db in try row(db, type, id: id) }
    }

    public func count<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = []) throws -> Int {
        try read { db in try count(db, type, where: condition, arguments) }
    }

    /// Local edits not yet acknowledged by the server (rows and deletes).
    public func pendingChangeCount() throws -> Int {
        try read { db in Int(try db.query("SELECT count(*) FROM _outbox").first?.first?.integerValue ?? 0) }
    }

    /// Unsent edits and quarantined changes, in one snapshot (for the status).
    func outboxCounts() throws -> (pending: Int, quarantined: Int) {
        try read { db in
            let row = try db.query("SELECT (SELECT count(*) FROM _outbox), (SELECT count(*) FROM _quarantine)").first
            return (Int(row?[0].integerValue ?? 0), Int(row?[1].integerValue ?? 0))
        }
    }

    func rows<Row: ReplicaRow>(_ db: SQLiteConnection, _ type: Row.Type, where condition: String?, _ arguments: [SQLiteValue],
                               orderBy: String?, limit: Int?) throws -> [Row] {
        let table = try table(of: type)
        var sql = "SELECT \(Self.selectList(table)) FROM \(quoteIdentifier(table.name))"
        if let condition { sql += " WHERE \(condition)" }
        if let orderBy { sql += " ORDER BY \(orderBy)" }
        if let limit { sql += " LIMIT \(limit)" }
        var rows: [Row] = []
        try db.each(sql, arguments) { values in
            rows.append(try JSONValue.object(self.wireObject(table, values, rowTable: Row.replicaTable)).decode(Row.self))
        }
        return rows
    }

    func row<Row: ReplicaRow>(_ db: SQLiteConnection, _ type: Row.Type, id: UUID) throws -> Row? {
        let table = try table(of: type)
        return try rows(db, type, where: "\(quoteIdentifier(table.keyColumn)) = ?", [.uuid(id)], orderBy: nil, limit: nil).first
    }

    func count<Row: ReplicaRow>(_ db: SQLiteConnection, _ type: Row.Type, where condition: String?, _ arguments: [SQLiteValue]) throws -> Int {
        let table = try table(of: type)
        var sql = "SELECT count(*) FROM \(quoteIdentifier(table.name))"
        if let condition { sql += " WHERE \(condition)" }
        return Int(try db.query(sql, arguments).first?.first?.integerValue ?? 0)
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
}
