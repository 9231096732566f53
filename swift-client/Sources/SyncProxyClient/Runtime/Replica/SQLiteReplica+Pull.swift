import Foundation

/// One pull page read generically: rows stay JSON objects until the replica
/// stores them column by column, so one row this SDK cannot store is set
/// aside instead of failing the page (and stalling the cursor forever).
struct PulledPage: Sendable {
    var cursor: String
    var hasMore: Bool
    var serverTime: Date?
    var rows: [String: [JSONValue]]
    var deleted: [String: [String]]

    init(cursor: String, hasMore: Bool, serverTime: Date?, rows: [String: [JSONValue]], deleted: [String: [String]]) {
        self.cursor = cursor
        self.hasMore = hasMore
        self.serverTime = serverTime
        self.rows = rows
        self.deleted = deleted
    }

    init(json: JSONValue, tables: [ReplicaTableSchema]) throws {
        guard let cursor = json["cursor"]?.stringValue, let hasMore = json["hasMore"]?.boolValue else {
            throw SyncClientError.decoding(DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a pull page needs cursor and hasMore")),
                                           bodyPreview: "")
        }
        self.cursor = cursor
        self.hasMore = hasMore
        serverTime = json["serverTime"]?.stringValue.flatMap(RFC3339.parse)
        var rows: [String: [JSONValue]] = [:]
        var deleted: [String: [String]] = [:]
        for table in tables {
            rows[table.name] = json[table.name]?.arrayValue ?? []
            deleted[table.name] = json["deleted"]?[table.name]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        self.rows = rows
        self.deleted = deleted
    }

    var rowCount: Int { rows.values.reduce(0) { $0 + $1.count } + deleted.values.reduce(0) { $0 + $1.count } }
}

/// What applying one page did.
struct AppliedPage: Sendable {
    var stored = 0
    var skippedStale = 0
    var removedBySweep = 0
    var quarantined: [QuarantinedChange] = []
}

extension SQLiteReplica {
    /// Whether a full pull is under way (after a first start, a schema change
    /// or a 410): its pages record the keys they deliver, and the last page
    /// removes local rows the server no longer has.
    func isFullPull() throws -> Bool {
        try read { try Self.state($0, "full_pull") == "1" }
    }

    /// Drops the cursor and starts a full pull (410 RESYNC_REQUIRED, or no cursor yet).
    func beginFullPull() throws {
        try writeTransaction { db in
            try Self.setState(db, "cursor", nil)
            try Self.setState(db, "full_pull", "1")
            try db.query("DELETE FROM _resync_seen")
        }
    }

    /// Stores one page and its cursor in one transaction: after a crash the
    /// saved cursor never points past rows that are not stored.
    func apply(_ page: PulledPage) throws -> AppliedPage {
        var result = AppliedPage()
        try writeTransaction { db in
            let full = try Self.state(db, "full_pull") == "1"
            for table in schema.tables {
                for row in page.rows[table.name] ?? [] {
                    do {
                        guard case .object(let object) = row else {
                            throw ReplicaError.invalidValue(column: table.keyColumn, reason: "a row must be an object")
                        }
                        let key = try storeServerRow(db, table, object, overlayPending: true)
                        if let key {
                            result.stored += 1
                            if full {
                                try db.query("INSERT OR IGNORE INTO _resync_seen (tbl, row_id) VALUES (?, ?)", [.text(table.name), .text(key)])
                            }
                        } else {
                            result.skippedStale += 1
                            if full, let key = try? keyOf(table, row.objectValue ?? [:]) {
                                try db.query("INSERT OR IGNORE INTO _resync_seen (tbl, row_id) VALUES (?, ?)", [.text(table.name), .text(key)])
                            }
                        }
                    } catch let error as ReplicaError {
                        let key = (try? keyOf(table, row.objectValue ?? [:])) ?? "?"
                        let entry = OutboxEntry(seq: -1, table: table.name, rowID: key, op: "", columns: [:], baseValues: [:], baseVersion: nil, txn: nil)
                        result.quarantined.append(try quarantinePulled(db, entry, message: error.errorDescription ?? "\(error)", serverRow: row.objectValue))
                    }
                }
                for id in page.deleted[table.name] ?? [] {
                    guard let uuid = UUID(uuidString: id) else { continue }
                    let key = uuid.uuidString.lowercased()
                    var createdAgain = false
                    for entry in try Self.openEntries(db, table.name, key) {
                        switch entry.op {
                        case "insert":
                            // Created (again) here after that delete: kept, and
                            // pushed over the tombstone.
                            createdAgain = true
                        case "delete":
                            // Deleted here too: nothing left to send.
                            try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(entry.seq)])
                        default:
                            // An edit of a row someone deleted: set aside, not
                            // pushed (it would bring the row back, or conflict).
                            result.quarantined.append(try moveToQuarantine(db, entry, reason: .deletedOnServer,
                                                                           message: "deleted on the server while edited on this device", serverRow: nil))
                        }
                    }
                    if !createdAgain {
                        try db.query("DELETE FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.text(key)])
                    }
                }
            }
            try Self.setState(db, "cursor", page.cursor)
            if full && !page.hasMore {
                result.removedBySweep = try sweep(db)
                try Self.setState(db, "full_pull", nil)
            }
        }
        return result
    }

    private static func openEntries(_ db: SQLiteConnection, _ table: String, _ key: String) throws -> [OutboxEntry] {
        try db.query("SELECT seq, op, columns, base_values, base_version, txn FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL ORDER BY seq",
                     [.text(table), .text(key)]).map { row in
            OutboxEntry(seq: row[0].integerValue ?? 0, table: table, rowID: key, op: row[1].textValue ?? "",
                        columns: try JSONValue(json: row[2].textValue ?? "{}").objectValue ?? [:],
                        baseValues: try JSONValue(json: row[3].textValue ?? "{}").objectValue ?? [:], baseVersion: row[4].integerValue,
                        txn: row[5].integerValue)
        }
    }

    private func quarantinePulled(_ db: SQLiteConnection, _ entry: OutboxEntry, message: String, serverRow: [String: JSONValue]?) throws -> QuarantinedChange {
        let now = Date()
        try db.query("""
            INSERT INTO _quarantine (tbl, row_id, reason, message, op, columns, base_values, base_version, server_row, created_at)
            VALUES (?, ?, 'undecodable', ?, NULL, NULL, NULL, NULL, ?, ?)
            """, [.text(entry.table), .text(entry.rowID), .text(message),
                  try serverRow.map { .text(try JSONValue.object($0).jsonString()) } ?? .null, .text(RFC3339.format(now))])
        let id = try db.query("SELECT last_insert_rowid()").first?.first?.integerValue ?? 0
        return QuarantinedChange(id: id, table: entry.table, rowID: entry.rowID, reason: .undecodable, message: message,
                                 operation: nil, columns: [:], serverRow: serverRow, createdAt: now)
    }

    func keyOf(_ table: ReplicaTableSchema, _ object: [String: JSONValue]) throws -> String {
        guard let text = object[table.keyColumn]?.stringValue, let uuid = UUID(uuidString: text) else {
            throw ReplicaError.invalidValue(column: table.keyColumn, reason: "expected a uuid key")
        }
        return uuid.uuidString.lowercased()
    }

    /// Stores a row as the server has it. Never goes back to an older
    /// version (a change may be delivered twice, in any page order); the
    /// device's own echo (the version its push wrote) just refreshes the
    /// server-owned columns. Unsent local edits stay on top: the row is rebased
    /// under them, not overwritten. Returns the key, or nil when skipped.
    @discardableResult
    func storeServerRow(_ db: SQLiteConnection, _ table: ReplicaTableSchema, _ object: [String: JSONValue], overlayPending: Bool) throws -> String? {
        let key = try keyOf(table, object)
        let version = object["sync_version"]?.int64Value
        var values: [SQLiteValue] = []
        for column in table.columns {
            values.append(try column.storage(object[column.name] ?? .null))
        }
        let existing = try db.query("SELECT sync_version FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.text(key)]).first
        if let version, let stored = existing?.first?.integerValue, version < stored {
            return nil
        }
        let pending = try db.query("SELECT op, columns FROM _outbox WHERE tbl = ? AND row_id = ? ORDER BY seq", [.text(table.name), .text(key)])
        if pending.contains(where: { $0[0].textValue == "delete" }) {
            return nil // deleted here, delete not yet acknowledged: stays deleted
        }
        let names = (table.columns.map { quoteIdentifier($0.name) } + ["\"sync_version\""]).joined(separator: ", ")
        let marks = Array(repeating: "?", count: table.columns.count + 1).joined(separator: ", ")
        try db.query("INSERT OR REPLACE INTO \(quoteIdentifier(table.name)) (\(names)) VALUES (\(marks))",
                     values + [version.map { .integer($0) } ?? .null])
        if overlayPending {
            for entry in pending {
                let columns = try JSONValue(json: entry[1].textValue ?? "{}").objectValue ?? [:]
                try setColumns(db, table, key: key, columns)
            }
        }
        return key
    }

    /// After a full pull: removes rows the pull did not deliver (deleted on
    /// the server, tombstones long purged), except rows with unsent edits.
    private func sweep(_ db: SQLiteConnection) throws -> Int {
        var removed = 0
        for table in schema.tables {
            try db.query("""
                DELETE FROM \(quoteIdentifier(table.name))
                WHERE \(quoteIdentifier(table.keyColumn)) NOT IN (SELECT row_id FROM _resync_seen WHERE tbl = ?)
                  AND \(quoteIdentifier(table.keyColumn)) NOT IN (SELECT row_id FROM _outbox WHERE tbl = ?)
                  AND \(quoteIdentifier(table.keyColumn)) NOT IN (SELECT row_id FROM _quarantine WHERE tbl = ? AND op = 'insert' AND reason = 'rejected')
                """, [.text(table.name), .text(table.name), .text(table.name)])
            removed += db.changes
        }
        try db.query("DELETE FROM _resync_seen")
        return removed
    }

    // MARK: - Digest

    /// Count and digest of the rows this device holds at a server version,
    /// per table, computed as the server computes `GET /api/sync/digest`: the
    /// sum mod 2^64 of the first 8 bytes (big-endian) of
    /// SHA-256(id's 16 bytes ‖ sync_version as 8 bytes big-endian).
    /// Rows created here and not yet pushed have no version and are left out.
    public func localDigest() throws -> [String: (count: Int64, digest: UInt64)] {
        try read { db in try db.snapshot {
            var out: [String: (count: Int64, digest: UInt64)] = [:]
            for table in schema.tables {
                var count: Int64 = 0
                var sum: UInt64 = 0
                try db.each("SELECT \(quoteIdentifier(table.keyColumn)), sync_version FROM \(quoteIdentifier(table.name)) WHERE sync_version IS NOT NULL", []) { row in
                    guard let text = row[0].textValue, let uuid = UUID(uuidString: text), let version = row[1].integerValue else { return }
                    count += 1
                    sum &+= Self.rowDigest(uuid, version)
                }
                out[table.name] = (count, sum)
            }
            return out
        } }
    }

    static func rowDigest(_ id: UUID, _ version: Int64) -> UInt64 {
        var bytes = [UInt8](repeating: 0, count: 24)
        withUnsafeBytes(of: id.uuid) { raw in
            for i in 0..<16 { bytes[i] = raw[i] }
        }
        let v = UInt64(bitPattern: version)
        for i in 0..<8 { bytes[16 + i] = UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64(i))) }
        let hash = SHA256.hash(bytes)
        var first: UInt64 = 0
        for i in 0..<8 { first = first << 8 | UInt64(hash[i]) }
        return first
    }
}
