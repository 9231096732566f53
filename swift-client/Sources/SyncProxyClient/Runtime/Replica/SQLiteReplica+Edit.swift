import Foundation

/// One open outbox entry of a row (not yet in a batch).
struct OpenEntry {
    var seq: Int64
    var op: String
    var columns: [String: JSONValue]
    var baseValues: [String: JSONValue]
    var baseVersion: Int64?
    var txn: Int64?
}

extension SQLiteReplica {
    // MARK: - Editing, one transaction per call

    /// Adds a row (or, when a row with its key exists, changes the columns
    /// it sets). Only the columns the write row sets are sent; the server
    /// fills the others with its defaults, which the replica shows meanwhile.
    /// A value the server would refuse (the column's rules in openapi.yaml)
    /// throws `ReplicaError.invalidColumn` and nothing is stored.
    @discardableResult
    public func insert<Write: ReplicaWrite>(_ row: Write) throws -> UUID {
        try writeTransaction { db in try insertRow(db, row, txn: nil) }
    }

    /// Changes one row: body edits a copy, and only the columns it changed are
    /// written and queued. A singleton (or the contractor row) that was never
    /// pulled starts from the server's defaults. A value the server would
    /// refuse throws `ReplicaError.invalidColumn` and nothing is stored.
    @discardableResult
    public func update<Row: ReplicaRow>(_ type: Row.Type, id: UUID, _ body: (inout Row) throws -> Void) throws -> Row {
        try writeTransaction { db in try updateRow(db, type, id: id, body, txn: nil) }
    }

    /// Deletes a row here and queues the delete, with the version of the row
    /// as this device last saw it: a server that has the row at another
    /// version (edited elsewhere since) refuses the delete, and it goes to
    /// the conflict resolver. A row that never reached the server just disappears.
    public func delete<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws {
        try writeTransaction { db in try deleteRow(db, type, id: id, txn: nil) }
    }

    // MARK: - The edits, inside a transaction (txn: the write { } group, if any)

    func insertRow<Write: ReplicaWrite>(_ db: SQLiteConnection, _ row: Write, txn: Int64?) throws -> UUID {
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
        // Created again after an unsent delete: the delete is void, and the
        // row is pushed on the version that delete was decided on.
        let voided = try openEntry(db, table.name, keyText).flatMap { $0.op == "delete" ? $0 : nil }
        if let voided {
            try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(voided.seq)])
        }
        if let existing = try storedObject(db, table, key: keyText) {
            try table.check(changes, creating: false)
            try recordUpdate(db, table, key: keyText, old: existing.object, version: existing.version, changes: changes, txn: txn)
        } else {
            try table.check(changes, creating: true)
            try insertLocal(db, table, key: keyText, values: changes)
            // A row whose delete has synced has a tombstone on the server:
            // base 0 is answered with a 409 carrying the tombstone's version,
            // and the default resolver brings the row back on it.
            try enqueue(db, table.name, keyText, op: "insert", columns: changes, baseValues: [:],
                        baseVersion: voided?.baseVersion ?? 0, txn: txn ?? voided?.txn)
        }
        return key
    }

    func updateRow<Row: ReplicaRow>(_ db: SQLiteConnection, _ type: Row.Type, id: UUID, _ body: (inout Row) throws -> Void, txn: Int64?) throws -> Row {
        let table = try table(of: type)
        let keyText = id.uuidString.lowercased()
        var stored = try storedObject(db, table, key: keyText)
        if stored == nil, table.key != .regular, id == contractorID {
            try insertLocal(db, table, key: keyText, values: [:])
            try enqueue(db, table.name, keyText, op: "insert", columns: [:], baseValues: [:], baseVersion: 0, txn: txn)
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
            try table.check(changes, creating: false)
            try recordUpdate(db, table, key: keyText, old: stored.object, version: stored.version, changes: changes, txn: txn)
        }
        return after
    }

    func deleteRow<Row: ReplicaRow>(_ db: SQLiteConnection, _ type: Row.Type, id: UUID, txn: Int64?) throws {
        let table = try table(of: type)
        try deleteRow(db, table, key: id.uuidString.lowercased(), txn: txn)
    }

    func deleteRow(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String, txn: Int64?) throws {
        guard table.deletable else { throw ReplicaError.notDeletable(table.name) }
        let stored = try storedObject(db, table, key: key)
        try db.query("DELETE FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.text(key)])
        let open = try openEntry(db, table.name, key)
        let inFlight = try hasEntryInFlight(db, table.name, key)
        if let open {
            try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(open.seq)])
            if open.op == "insert", (open.baseVersion ?? 0) == 0, !inFlight {
                return // created and deleted offline: the server never needs to know
            }
        } else if stored?.version == nil, !inFlight, let held = try heldInsert(db, table.name, key) {
            // A new row the server rejected, held here for a fix: it never
            // existed there, so deleting it leaves nothing to send.
            try db.query("DELETE FROM _quarantine WHERE id = ?", [.integer(held.id)])
            return
        }
        // The base: the version of the row as this device saw it when deleting
        // (unknown while a push of it is in flight: set when that push is
        // acknowledged). The row's values are kept for the resolver.
        var bases: [String: JSONValue] = [:]
        for column in table.writableColumns {
            if let value = stored?.object[column.name] { bases[column.name] = value }
        }
        let base = inFlight ? nil : (stored?.version ?? (open?.op == "insert" ? open?.baseVersion : nil))
        try enqueue(db, table.name, key, op: "delete", columns: [:], baseValues: bases, baseVersion: base, txn: txn ?? open?.txn)
        if let txn, let other = open?.txn, other != txn {
            try joinTransactions(db, other, into: txn)
        }
    }

    /// A new local row: the server's defaults, then values.
    func insertLocal(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String, values: [String: JSONValue]) throws {
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

    /// Writes changes to the local row and coalesces them into the row's open
    /// outbox entry (the one not yet in a batch), remembering each column's
    /// value before its first edit: the base a conflict merge compares with.
    func recordUpdate(_ db: SQLiteConnection, _ table: ReplicaTableSchema, key: String,
                      old: [String: JSONValue], version: Int64?, changes: [String: JSONValue], txn: Int64?) throws {
        guard !changes.isEmpty else { return }
        try setColumns(db, table, key: key, changes)
        if let open = try openEntry(db, table.name, key), open.op != "delete" {
            var columns = open.columns
            var bases = open.baseValues
            for (name, value) in changes {
                if open.op == "update", bases[name] == nil { bases[name] = old[name] ?? .null }
                columns[name] = value
                // Set back to where it started: nothing left to send for it.
                if open.op == "update", bases[name] == value {
                    columns[name] = nil
                    bases[name] = nil
                }
            }
            if open.op == "update", columns.isEmpty {
                try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(open.seq)])
            } else {
                try db.query("UPDATE _outbox SET columns = ?, base_values = ? WHERE seq = ?",
                             [.text(try JSONValue.object(columns).jsonString()), .text(try JSONValue.object(bases).jsonString()), .integer(open.seq)])
                try join(db, open, txn: txn)
            }
            return
        }
        // A row with a push in flight gets its base version when that push is
        // acknowledged (the version it writes); until then it is unknown.
        let inFlight = try hasEntryInFlight(db, table.name, key)
        if version == nil, !inFlight, let held = try heldInsert(db, table.name, key) {
            // A new row the server rejected is held until the app retries it:
            // edits (the fix) go into the held change, not to the server.
            var columns = held.columns
            for (name, value) in changes { columns[name] = value }
            try db.query("UPDATE _quarantine SET columns = ? WHERE id = ?", [.text(try JSONValue.object(columns).jsonString()), .integer(held.id)])
            return
        }
        var bases: [String: JSONValue] = [:]
        for name in changes.keys { bases[name] = old[name] ?? .null }
        try enqueue(db, table.name, key, op: "update", columns: changes, baseValues: bases, baseVersion: inFlight ? nil : version, txn: txn)
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

    // MARK: - Outbox entries

    func enqueue(_ db: SQLiteConnection, _ table: String, _ key: String, op: String, columns: [String: JSONValue],
                 baseValues: [String: JSONValue], baseVersion: Int64?, txn: Int64?) throws {
        try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version, txn) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [.text(table), .text(key), .text(op), .text(try JSONValue.object(columns).jsonString()),
                      .text(try JSONValue.object(baseValues).jsonString()),
                      baseVersion.map { .integer($0) } ?? .null, txn.map { .integer($0) } ?? .null])
    }

    func openEntry(_ db: SQLiteConnection, _ table: String, _ key: String) throws -> OpenEntry? {
        guard let row = try db.query("""
            SELECT seq, op, columns, base_values, base_version, txn FROM _outbox
            WHERE tbl = ? AND row_id = ? AND batch_id IS NULL ORDER BY seq LIMIT 1
            """, [.text(table), .text(key)]).first
        else { return nil }
        return OpenEntry(seq: row[0].integerValue ?? 0, op: row[1].textValue ?? "",
                         columns: try JSONValue(json: row[2].textValue ?? "{}").objectValue ?? [:],
                         baseValues: try JSONValue(json: row[3].textValue ?? "{}").objectValue ?? [:],
                         baseVersion: row[4].integerValue, txn: row[5].integerValue)
    }

    func hasEntryInFlight(_ db: SQLiteConnection, _ table: String, _ key: String) throws -> Bool {
        try !db.query("SELECT 1 FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NOT NULL LIMIT 1", [.text(table), .text(key)]).isEmpty
    }

    /// The new row of table the server rejected (400) and the replica holds
    /// for the app to fix and retry, if key is one.
    func heldInsert(_ db: SQLiteConnection, _ table: String, _ key: String) throws -> (id: Int64, columns: [String: JSONValue])? {
        guard let row = try db.query("""
            SELECT id, columns FROM _quarantine WHERE tbl = ? AND row_id = ? AND op = 'insert' AND reason = 'rejected'
            ORDER BY id DESC LIMIT 1
            """, [.text(table), .text(key)]).first, let id = row[0].integerValue
        else { return nil }
        return (id, try JSONValue(json: row[1].textValue ?? "{}").objectValue ?? [:])
    }

    /// Puts entry into transaction txn (its edits now push with txn's).
    /// The other entries of a transaction the entry belonged to come along:
    /// that transaction must still reach the server in one push.
    func join(_ db: SQLiteConnection, _ entry: OpenEntry, txn: Int64?) throws {
        guard let txn, entry.txn != txn else { return }
        try db.query("UPDATE _outbox SET txn = ? WHERE seq = ?", [.integer(txn), .integer(entry.seq)])
        if let other = entry.txn {
            try joinTransactions(db, other, into: txn)
        }
    }

    func joinTransactions(_ db: SQLiteConnection, _ other: Int64, into txn: Int64) throws {
        try db.query("UPDATE _outbox SET txn = ? WHERE txn = ? AND batch_id IS NULL", [.integer(txn), .integer(other)])
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
