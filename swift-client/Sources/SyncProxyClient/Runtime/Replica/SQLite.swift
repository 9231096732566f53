import Foundation
#if canImport(SQLite3)
import SQLite3
#else
import CSQLite
#endif

/// A value in an SQLite column or a bound parameter.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    public var textValue: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }
}

/// Why an SQLite call failed: the result code and SQLite's message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

// SQLITE_TRANSIENT is a macro Swift cannot import: it tells SQLite to copy the bound bytes.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe by itself: `ReplicaConnections`
/// hands each one to one thread at a time.
final class SQLiteConnection {
    /// What a connection is for: the replica has one writer and a few readers.
    enum Role {
        /// Opens (or creates) the file and puts it in WAL mode.
        case writer
        /// Only reads (`query_only`): in WAL mode it reads the last committed
        /// state and never waits for the writer's transaction.
        case reader
    }

    private var handle: OpaquePointer?
    let path: String

    init(path: String, role: Role = .writer) throws {
        self.path = path
        var db: OpaquePointer?
        // NOMUTEX: the replica serialises access itself; SQLite's own mutex would be a second lock.
        let flags = (role == .writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        do {
            switch role {
            case .writer:
                // WAL (kept in the file): readers on their own connections never
                // wait for a write transaction, and a write never waits for them.
                try execute("PRAGMA journal_mode = WAL")
                try execute("PRAGMA synchronous = NORMAL")
            case .reader:
                try execute("PRAGMA query_only = 1")
            }
            try execute("PRAGMA foreign_keys = OFF")
            // Decimal columns are declared COLLATE DECIMAL: every connection
            // that reads them must know the collation.
            try DecimalCollation.register(on: db)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    var isOpen: Bool { handle != nil }

    func close() {
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    private func db() throws -> OpaquePointer {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database is closed") }
        return handle
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed")
    }

    /// Runs one or more statements without parameters or results.
    func execute(_ sql: String) throws {
        let db = try db()
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// Runs one statement with parameters; returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        var rows: [[SQLiteValue]] = []
        try each(sql, parameters) { rows.append($0) }
        return rows
    }

    /// Runs one statement and calls body once per result row.
    func each(_ sql: String, _ parameters: [SQLiteValue], _ body: ([SQLiteValue]) throws -> Void) throws {
        let db = try db()
        var statement: OpaquePointer?
        var rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let v): rc = sqlite3_bind_text(statement, index, v, -1, transient)
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient) }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        let columns = sqlite3_column_count(statement)
        while true {
            rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            var row: [SQLiteValue] = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    // Optional on some SDKs, implicitly unwrapped on others: never force it.
                    if let text = sqlite3_column_text(statement, column) {
                        row.append(.text(String(cString: text)))
                    } else {
                        row.append(.text(""))
                    }
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    if count == 0 {
                        row.append(.blob(Data()))
                    } else if let bytes = sqlite3_column_blob(statement, column) {
                        row.append(.blob(Data(bytes: bytes, count: count)))
                    } else {
                        row.append(.blob(Data()))
                    }
                default: row.append(.null)
                }
            }
            try body(row)
        }
    }

    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// `PRAGMA data_version`: changes whenever another connection (of this
    /// process or another) commits to the file.
    func dataVersion() throws -> Int64 {
        try query("PRAGMA data_version").first?.first?.integerValue ?? 0
    }

    /// body in one read transaction: a consistent snapshot across several statements.
    func snapshot<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        defer { try? execute("COMMIT") }
        return try body()
    }

    /// body in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        // IMMEDIATE takes the write lock at the start, so two writers never
        // deadlock upgrading from a read lock.
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// Quotes an SQL identifier (table or column name from the spec).
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
