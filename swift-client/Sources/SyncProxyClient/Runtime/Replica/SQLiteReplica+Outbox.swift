import Foundation

/// How pushed rows are shaped, by what the server understands.
public enum PushShape: String, Sendable {
    /// Contract 1.0: a pushed row replaces the stored row, so every writable
    /// column is sent (the local row as it is), without `base_version`.
    case fullRows
    /// Contract 1.1: only the changed columns (plus the required ones) and
    /// `base_version`, so an edit never overwrites what it did not touch and
    /// a concurrent change is a 409 instead of a silent overwrite.
    case partialRows
    /// Contract 1.2: partial rows, and deletes carry the version of the row
    /// they were decided on (`{"id": ..., "base_version": n}`), so a delete
    /// of a row edited elsewhere since is a 409 instead of a silent win.
    case versionedDeletes
}

/// One queued local change as it sits in the outbox.
struct OutboxEntry: Sendable, Equatable {
    var seq: Int64
    var table: String
    var rowID: String
    var op: String // insert, update, delete
    var columns: [String: JSONValue]
    var baseValues: [String: JSONValue]
    var baseVersion: Int64?
    /// The `write { }` transaction the entry belongs to (pushed together).
    var txn: Int64?
}

/// A push as it is (or was) sent: the same bytes under the same key until acknowledged.
struct PendingBatch: Sendable {
    var id: Int64
    var idempotencyKey: String
    var body: Data
    /// The entries in the body, by seq.
    var entries: [OutboxEntry]

    /// The entry at index of table's array in the body (what a 400 names).
    func upsert(table: String, index: Int) -> OutboxEntry? {
        let rows = entries.filter { $0.table == table && $0.op != "delete" }
        return rows.indices.contains(index) ? rows[index] : nil
    }
}

/// Why a change was set aside.
public enum QuarantineReason: String, Sendable {
    /// The server rejected the row (400): fix the data, then retry or discard.
    case rejected
    /// A conflict the resolver chose not to merge (or kept conflicting).
    case conflict
    /// The row was deleted on the server while this device edited it.
    case deletedOnServer = "deleted_on_server"
    /// A pulled row this SDK version could not store (a value out of range).
    case undecodable
}

/// A change kept aside for the app: it blocks nothing, and is never retried by itself.
public struct QuarantinedChange: Sendable, Identifiable, Equatable {
    public let id: Int64
    public let table: String
    public let rowID: String
    public let reason: QuarantineReason
    /// The server's words (field and reason for a 400).
    public let message: String
    /// The local change (insert, update, delete) and its columns; nil for a pulled row.
    public let operation: String?
    public let columns: [String: JSONValue]
    /// The server's row, when known (a conflict's current row, an undecodable pulled row).
    public let serverRow: [String: JSONValue]?
    public let createdAt: Date
}

extension SQLiteReplica {
    // MARK: - Batches

    private static func entries(_ db: SQLiteConnection, _ sql: String, _ params: [SQLiteValue]) throws -> [OutboxEntry] {
        try db.query(sql, params).map { row in
            OutboxEntry(
                seq: row[0].integerValue ?? 0,
                table: row[1].textValue ?? "",
                rowID: row[2].textValue ?? "",
                op: row[3].textValue ?? "",
                columns: try JSONValue(json: row[4].textValue ?? "{}").objectValue ?? [:],
                baseValues: try JSONValue(json: row[5].textValue ?? "{}").objectValue ?? [:],
                baseVersion: row[6].integerValue,
                txn: row[7].integerValue
            )
        }
    }

    private static let entryColumns = "seq, tbl, row_id, op, columns, base_values, base_version, txn"

    /// The batch sent before and not yet acknowledged (after a crash, a lost
    /// response, a cancelled sync), else a new one of at most maxRows changes
    /// (more when a `write { }` transaction would otherwise be split: its
    /// changes always go in one push), persisted with its key before it is sent.
    func nextBatch(maxRows: Int, shape: PushShape) throws -> PendingBatch? {
        try writeTransaction { db in
            if let row = try db.query("SELECT id, idempotency_key, body FROM _batches ORDER BY id LIMIT 1").first,
               let id = row[0].integerValue
            {
                let entries = try Self.entries(db, "SELECT \(Self.entryColumns) FROM _outbox WHERE batch_id = ? ORDER BY seq", [.integer(id)])
                let body: Data
                switch row[2] {
                case .blob(let data): body = data
                case .text(let text): body = Data(text.utf8)
                default: body = Data()
                }
                return PendingBatch(id: id, idempotencyKey: row[1].textValue ?? "", body: body, entries: entries)
            }
            var entries = try Self.entries(db, "SELECT \(Self.entryColumns) FROM _outbox WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
                                           [.integer(Int64(max(1, maxRows)))])
            guard !entries.isEmpty else { return nil }
            var taken = Set(entries.map(\.seq))
            for txn in Set(entries.compactMap(\.txn)) {
                for entry in try Self.entries(db, "SELECT \(Self.entryColumns) FROM _outbox WHERE batch_id IS NULL AND txn = ? ORDER BY seq",
                                              [.integer(txn)]) where !taken.contains(entry.seq) {
                    taken.insert(entry.seq)
                    entries.append(entry)
                }
            }
            entries.sort { $0.seq < $1.seq }
            let body = try pushBody(db, entries, shape: shape)
            let key = UUID().uuidString.lowercased()
            try db.query("INSERT INTO _batches (idempotency_key, body, created_at) VALUES (?, ?, ?)",
                         [.text(key), .blob(body), .text(RFC3339.format(Date()))])
            let id = try db.query("SELECT last_insert_rowid()").first?.first?.integerValue ?? 0
            for entry in entries {
                try db.query("UPDATE _outbox SET batch_id = ? WHERE seq = ?", [.integer(id), .integer(entry.seq)])
            }
            return PendingBatch(id: id, idempotencyKey: key, body: body, entries: entries)
        }
    }

    /// The push body of entries: one array per table in outbox order, and the deletes.
    private func pushBody(_ db: SQLiteConnection, _ entries: [OutboxEntry], shape: PushShape) throws -> Data {
        var tables: [String: [JSONValue]] = [:]
        var deletes: [String: [JSONValue]] = [:]
        for entry in entries {
            let table = try table(for: entry.table)
            if entry.op == "delete" {
                if shape == .versionedDeletes, let base = entry.baseVersion {
                    deletes[entry.table, default: []].append(["id": .string(entry.rowID), "base_version": .integer(base)])
                } else {
                    deletes[entry.table, default: []].append(.string(entry.rowID))
                }
                continue
            }
            let current = try storedObject(db, table, key: entry.rowID)?.object ?? [:]
            var row: [String: JSONValue] = [:]
            if table.key != .singleton {
                row[table.keyColumn] = .string(entry.rowID)
            }
            switch shape {
            case .fullRows:
                for column in table.writableColumns {
                    if let value = current[column.name] ?? entry.columns[column.name] { row[column.name] = value }
                }
                for (name, value) in entry.columns where current[name] == nil { row[name] = value }
            case .partialRows, .versionedDeletes:
                // Required columns stay required on partial rows (contract 1.1).
                for column in table.writableColumns where column.role == .required {
                    if let value = current[column.name], value != .null { row[column.name] = value }
                }
                for (name, value) in entry.columns { row[name] = value }
                if entry.op == "insert" {
                    // 0: "new"; a row created again over a tombstone carries
                    // the tombstone's version.
                    row["base_version"] = .integer(entry.baseVersion ?? 0)
                } else if let base = entry.baseVersion {
                    row["base_version"] = .integer(base)
                }
            }
            tables[entry.table, default: []].append(.object(row))
        }
        var body: [String: JSONValue] = tables.mapValues { .array($0) }
        if !deletes.isEmpty {
            body["deletes"] = .object(deletes.mapValues { .array($0) })
        }
        return try JSONValue.object(body).jsonData()
    }

    /// The server committed batch as `version` (nil from a 1.0 server): its
    /// rows now stand at that version here too, and later edits of them build on it.
    func acknowledge(_ batch: PendingBatch, version: Int64?) throws {
        try writeTransaction { db in
            if let version {
                for entry in batch.entries {
                    let table = try table(for: entry.table)
                    if entry.op == "delete" {
                        // Created again here while the delete was in flight: it
                        // goes over the tombstone this push wrote.
                        try db.query("UPDATE _outbox SET base_version = ? WHERE tbl = ? AND row_id = ? AND batch_id IS NULL AND op = 'insert'",
                                     [.integer(version), .text(entry.table), .text(entry.rowID)])
                        continue
                    }
                    try db.query("UPDATE \(quoteIdentifier(table.name)) SET sync_version = ? WHERE \(quoteIdentifier(table.keyColumn)) = ?",
                                 [.integer(version), .text(entry.rowID)])
                    try db.query("UPDATE _outbox SET base_version = ? WHERE tbl = ? AND row_id = ? AND batch_id IS NULL AND op IN ('update', 'delete')",
                                 [.integer(version), .text(entry.table), .text(entry.rowID)])
                }
            }
            try db.query("DELETE FROM _outbox WHERE batch_id = ?", [.integer(batch.id)])
            try db.query("DELETE FROM _batches WHERE id = ?", [.integer(batch.id)])
        }
    }

    /// Returns batch's entries to the open outbox (to be pushed again, in a
    /// new batch under a new key, since the body will differ). An entry whose
    /// row was edited again meanwhile merges with that newer entry.
    func unbatch(_ batchID: Int64) throws {
        try writeTransaction { db in try unbatch(db, batchID) }
    }

    func unbatch(_ db: SQLiteConnection, _ batchID: Int64) throws {
        let entries = try Self.entries(db, "SELECT \(Self.entryColumns) FROM _outbox WHERE batch_id = ? ORDER BY seq", [.integer(batchID)])
        for older in entries {
            let newer = try Self.entries(db, "SELECT \(Self.entryColumns) FROM _outbox WHERE tbl = ? AND row_id = ? AND batch_id IS NULL",
                                         [.text(older.table), .text(older.rowID)]).first
            guard let newer else {
                try db.query("UPDATE _outbox SET batch_id = NULL WHERE seq = ?", [.integer(older.seq)])
                continue
            }
            // One open entry per row: fold the newer edit into the older one,
            // which keeps its place in line, its base version and base values.
            var merged = older
            switch (older.op, newer.op) {
            case (_, "delete"):
                merged.op = older.op == "insert" && (older.baseVersion ?? 0) == 0 ? "drop" : "delete"
                merged.columns = [:]
                merged.baseValues = newer.baseValues
            case ("delete", _):
                merged = newer
                merged.seq = older.seq
                merged.txn = older.txn ?? newer.txn
            default:
                for (name, value) in newer.columns { merged.columns[name] = value }
                for (name, value) in newer.baseValues where merged.baseValues[name] == nil { merged.baseValues[name] = value }
            }
            try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(newer.seq)])
            if let a = older.txn, let b = newer.txn, a != b {
                try joinTransactions(db, b, into: a)
            }
            merged.txn = older.txn ?? newer.txn
            if merged.op == "drop" {
                try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(older.seq)])
            } else {
                try db.query("UPDATE _outbox SET op = ?, columns = ?, base_values = ?, base_version = ?, txn = ?, batch_id = NULL WHERE seq = ?",
                             [.text(merged.op), .text(try JSONValue.object(merged.columns).jsonString()),
                              .text(try JSONValue.object(merged.baseValues).jsonString()),
                              merged.baseVersion.map { .integer($0) } ?? .null, merged.txn.map { .integer($0) } ?? .null, .integer(older.seq)])
            }
        }
        try db.query("DELETE FROM _batches WHERE id = ?", [.integer(batchID)])
        // Edits made while the batch was in flight waited for its version; it
        // will not come, so they build on the version the row has here.
        for table in schema.tables {
            try db.query("""
                UPDATE _outbox SET base_version = (SELECT sync_version FROM \(quoteIdentifier(table.name)) t
                                                   WHERE t.\(quoteIdentifier(table.keyColumn)) = _outbox.row_id)
                WHERE tbl = ? AND batch_id IS NULL AND op = 'update' AND base_version IS NULL
                """, [.text(table.name)])
        }
    }

    /// A 422 (key reused with another body): the same body under a fresh key.
    func rekey(_ batch: PendingBatch) throws -> PendingBatch {
        let key = UUID().uuidString.lowercased()
        try writeTransaction { db in
            try db.query("UPDATE _batches SET idempotency_key = ? WHERE id = ?", [.text(key), .integer(batch.id)])
        }
        var copy = batch
        copy.idempotencyKey = key
        return copy
    }

    // MARK: - Conflicts

    /// The conflicting entry of batch as the resolver sees it.
    func conflict(for wire: WireConflict, in batch: PendingBatch) -> (OutboxEntry, ReplicaConflict)? {
        guard let entry = batch.entries.first(where: { $0.table == wire.table && $0.rowID == wire.id }),
              let id = UUID(uuidString: wire.id)
        else { return nil }
        let decimals = Set(schema.table(wire.table)?.columns.filter { $0.kind == .decimal }.map(\.name) ?? [])
        let conflict = ReplicaConflict(
            table: wire.table, id: id, baseVersion: wire.baseVersion, currentVersion: wire.currentVersion,
            deleted: wire.deleted, isInsert: entry.op == "insert", isDelete: entry.op == "delete",
            localChanges: entry.columns, baseValues: entry.baseValues, serverRow: wire.row, decimalColumns: decimals
        )
        return (entry, conflict)
    }

    /// Applies the resolver's decisions to a batch the server refused with
    /// 409, then returns every entry of it to the outbox (nothing was written).
    func resolve(_ batch: PendingBatch, _ decisions: [(OutboxEntry, ReplicaConflict, ConflictResolution)]) throws -> [QuarantinedChange] {
        var quarantined: [QuarantinedChange] = []
        try writeTransaction { db in
            for (entry, conflict, resolution) in decisions {
                let table = try table(for: entry.table)
                switch resolution {
                case .push where entry.op == "delete":
                    // Delete anyway, on the version the server has now.
                    try db.query("UPDATE _outbox SET base_version = ? WHERE seq = ?", [.integer(conflict.currentVersion), .integer(entry.seq)])
                case .push(let columns) where conflict.serverRow == nil:
                    // Deleted (or missing) on the server: pushing brings the row
                    // back, on the tombstone's version, as this device has it.
                    try revive(db, table, entry, columns: columns, version: conflict.currentVersion)
                case .push(let columns):
                    var kept: [String: JSONValue] = [:]
                    for (name, value) in columns where table.column(name).map({ $0.role == .required || $0.role == .optional }) ?? false {
                        kept[name] = value
                    }
                    var bases: [String: JSONValue] = [:]
                    for name in kept.keys { bases[name] = conflict.serverRow?[name] ?? .null }
                    try db.query("UPDATE _outbox SET op = 'update', columns = ?, base_values = ?, base_version = ? WHERE seq = ?",
                                 [.text(try JSONValue.object(kept).jsonString()), .text(try JSONValue.object(bases).jsonString()),
                                  .integer(conflict.currentVersion), .integer(entry.seq)])
                    if let server = conflict.serverRow {
                        try storeServerRow(db, table, server, overlayPending: true)
                    }
                case .acceptServer:
                    try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(entry.seq)])
                    try takeServerState(db, table, rowID: entry.rowID, serverRow: conflict.serverRow)
                case .quarantine(let message):
                    let reason: QuarantineReason = conflict.deleted && entry.op != "delete" ? .deletedOnServer : .conflict
                    quarantined.append(try moveToQuarantine(db, entry, reason: reason, message: message, serverRow: conflict.serverRow))
                    try takeServerState(db, table, rowID: entry.rowID, serverRow: conflict.serverRow)
                }
            }
            try unbatch(db, batch.id)
        }
        return quarantined
    }

    /// Turns entry into the insert that brings a row deleted on the server
    /// back: every column the row has here (the server gives a revived row
    /// its defaults for what a push leaves out), the resolver's on top.
    private func revive(_ db: SQLiteConnection, _ table: ReplicaTableSchema, _ entry: OutboxEntry,
                        columns: [String: JSONValue], version: Int64) throws {
        var row: [String: JSONValue] = [:]
        if let local = try storedObject(db, table, key: entry.rowID)?.object {
            for column in table.writableColumns {
                if let value = local[column.name] { row[column.name] = value }
            }
        }
        for (name, value) in columns where table.column(name).map({ $0.role == .required || $0.role == .optional }) ?? false {
            row[name] = value
        }
        if try storedObject(db, table, key: entry.rowID) == nil {
            try insertLocal(db, table, key: entry.rowID, values: row)
        } else {
            try setColumns(db, table, key: entry.rowID, row)
        }
        try db.query("UPDATE _outbox SET op = 'insert', columns = ?, base_values = '{}', base_version = ? WHERE seq = ?",
                     [.text(try JSONValue.object(row).jsonString()), .integer(version), .integer(entry.seq)])
    }

    /// The row as the server has it, with the row's other pending edits on top.
    private func takeServerState(_ db: SQLiteConnection, _ table: ReplicaTableSchema, rowID: String, serverRow: [String: JSONValue]?) throws {
        if let serverRow {
            try storeServerRow(db, table, serverRow, overlayPending: true)
        } else {
            let others = try db.query("SELECT 1 FROM _outbox WHERE tbl = ? AND row_id = ? LIMIT 1", [.text(table.name), .text(rowID)])
            if others.isEmpty {
                try db.query("DELETE FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.text(rowID)])
            }
        }
    }

    // MARK: - Quarantine

    @discardableResult
    func moveToQuarantine(_ db: SQLiteConnection, _ entry: OutboxEntry, reason: QuarantineReason, message: String,
                          serverRow: [String: JSONValue]?) throws -> QuarantinedChange {
        let now = Date()
        try db.query("""
            INSERT INTO _quarantine (tbl, row_id, reason, message, op, columns, base_values, base_version, server_row, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(entry.table), .text(entry.rowID), .text(reason.rawValue), .text(message), .text(entry.op),
                  .text(try JSONValue.object(entry.columns).jsonString()), .text(try JSONValue.object(entry.baseValues).jsonString()),
                  entry.baseVersion.map { .integer($0) } ?? .null,
                  try serverRow.map { .text(try JSONValue.object($0).jsonString()) } ?? .null, .text(RFC3339.format(now))])
        let id = try db.query("SELECT last_insert_rowid()").first?.first?.integerValue ?? 0
        try db.query("DELETE FROM _outbox WHERE seq = ?", [.integer(entry.seq)])
        return QuarantinedChange(id: id, table: entry.table, rowID: entry.rowID, reason: reason, message: message,
                                 operation: entry.op, columns: entry.columns, serverRow: serverRow, createdAt: now)
    }

    /// Sets rejected entries of batch aside (a 400 named them), and the other
    /// entries of their `write { }` transactions with them (a transaction
    /// reaches the server whole or not at all); returns the rest of the batch
    /// to the outbox. A rejected edit is undone locally; a rejected new row
    /// stays, held for the app to fix and `retryQuarantined`.
    func quarantineRejected(_ batch: PendingBatch, _ rejected: [(OutboxEntry, String)]) throws -> [QuarantinedChange] {
        var out: [QuarantinedChange] = []
        var all = rejected
        for (entry, message) in rejected {
            guard let txn = entry.txn else { continue }
            for other in batch.entries where other.txn == txn && !all.contains(where: { $0.0.seq == other.seq }) {
                all.append((other, "not sent: \(entry.table) \(entry.rowID) of the same transaction was rejected (\(message))"))
            }
        }
        try writeTransaction { db in
            for (entry, message) in all {
                let table = try table(for: entry.table)
                out.append(try moveToQuarantine(db, entry, reason: .rejected, message: message, serverRow: nil))
                if entry.op == "update" {
                    try setColumns(db, table, key: entry.rowID, entry.baseValues)
                }
            }
            try unbatch(db, batch.id)
        }
        return out
    }

    /// Everything set aside, oldest first.
    public func quarantine() throws -> [QuarantinedChange] {
        try read { db in
            try db.query("SELECT id, tbl, row_id, reason, message, op, columns, server_row, created_at FROM _quarantine ORDER BY id").map { row in
                QuarantinedChange(
                    id: row[0].integerValue ?? 0, table: row[1].textValue ?? "", rowID: row[2].textValue ?? "",
                    reason: QuarantineReason(rawValue: row[3].textValue ?? "") ?? .rejected, message: row[4].textValue ?? "",
                    operation: row[5].textValue, columns: try row[6].textValue.map { try JSONValue(json: $0).objectValue ?? [:] } ?? [:],
                    serverRow: try row[7].textValue.map { try JSONValue(json: $0).objectValue ?? [:] },
                    createdAt: row[8].textValue.flatMap(RFC3339.parse) ?? Date(timeIntervalSince1970: 0)
                )
            }
        }
    }

    /// Forgets a quarantined change. A rejected new row held here goes too
    /// (the server never had it).
    public func discardQuarantined(_ id: Int64) throws {
        try writeTransaction { db in
            guard let row = try db.query("SELECT tbl, row_id, op, reason FROM _quarantine WHERE id = ?", [.integer(id)]).first,
                  let tableName = row[0].textValue, let key = row[1].textValue
            else { return }
            try db.query("DELETE FROM _quarantine WHERE id = ?", [.integer(id)])
            guard row[2].textValue == "insert", row[3].textValue == QuarantineReason.rejected.rawValue, let table = schema.table(tableName),
                  try storedObject(db, table, key: key)?.version == nil, try openEntry(db, tableName, key) == nil,
                  try !hasEntryInFlight(db, tableName, key)
            else { return }
            try db.query("DELETE FROM \(quoteIdentifier(table.name)) WHERE \(quoteIdentifier(table.keyColumn)) = ?", [.text(key)])
        }
    }

    /// Queues a quarantined local change again, under the edits made since
    /// (they are newer): fix the row with an ordinary edit (a rejected new
    /// row is still in the replica; a rejected edit was undone), then retry.
    /// A retried delete deletes the row as it is now.
    public func retryQuarantined(_ id: Int64) throws {
        guard let change = try quarantine().first(where: { $0.id == id }), let op = change.operation else { return }
        let table = try table(for: change.table)
        try writeTransaction { db in
            try db.query("DELETE FROM _quarantine WHERE id = ?", [.integer(id)])
            if op == "delete" {
                try deleteRow(db, table, key: change.rowID, txn: nil)
                return
            }
            guard let stored = try storedObject(db, table, key: change.rowID) else {
                // Gone here meanwhile (or set aside by an older SDK version, which
                // removed rejected new rows): created again as it was.
                try insertLocal(db, table, key: change.rowID, values: change.columns)
                try enqueue(db, table.name, change.rowID, op: "insert", columns: change.columns, baseValues: [:], baseVersion: 0, txn: nil)
                return
            }
            if let open = try openEntry(db, table.name, change.rowID), open.op != "delete" {
                // Edits made since win over the retried values.
                var columns = open.columns
                var bases = open.baseValues
                var applied: [String: JSONValue] = [:]
                for (name, value) in change.columns where columns[name] == nil {
                    columns[name] = value
                    if open.op == "update", bases[name] == nil { bases[name] = stored.object[name] ?? .null }
                    applied[name] = value
                }
                try setColumns(db, table, key: change.rowID, applied)
                try db.query("UPDATE _outbox SET columns = ?, base_values = ? WHERE seq = ?",
                             [.text(try JSONValue.object(columns).jsonString()), .text(try JSONValue.object(bases).jsonString()), .integer(open.seq)])
                return
            }
            if op == "insert" && stored.version == nil {
                // The held new row, with the fixes made to it since.
                try setColumns(db, table, key: change.rowID, change.columns)
                try enqueue(db, table.name, change.rowID, op: "insert", columns: change.columns, baseValues: [:], baseVersion: 0, txn: nil)
                return
            }
            try recordUpdate(db, table, key: change.rowID, old: stored.object, version: stored.version, changes: change.columns, txn: nil)
        }
    }
}
