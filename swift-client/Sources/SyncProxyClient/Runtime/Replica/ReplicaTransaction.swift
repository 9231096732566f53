import Foundation

extension SQLiteReplica {
    /// Several edits as one: one SQLite transaction (all of them are stored,
    /// or, when body throws, none), and one push (their outbox entries reach
    /// the server together, which applies a push atomically). Like GRDB's
    /// `dbQueue.write { db in … }`:
    ///
    /// ```swift
    /// let copy = try replica.write { tx in
    ///     let copy = try tx.insert(EstimateWrite(id: UUID(), number: "E-1002", title: original.title))
    ///     for event in try tx.estimateEvents.all(where: "estimate_id = ?", [.uuid(original.id)]) {
    ///         try tx.insert(EstimateEventWrite(id: UUID(), estimateId: copy, kind: event.kind, payload: event.payload))
    ///     }
    ///     return copy
    /// }
    /// ```
    ///
    /// Reads through `tx` see the transaction's own edits. Use `tx` only
    /// inside body; an edit through the replica itself inside body throws
    /// `ReplicaError.nestedWrite` (it would wait for this very transaction).
    /// A conflict (409) is still resolved row by row.
    @discardableResult
    public func write<T>(_ body: (ReplicaTransaction) throws -> T) throws -> T {
        let txn = Int64.random(in: 1...Int64.max)
        return try writeTransaction { db in
            let tx = ReplicaTransaction(replica: self, db: db, txn: txn)
            defer { tx.end() }
            return try body(tx)
        }
    }
}

/// The edits and reads of one `replica.write { tx in … }`.
public final class ReplicaTransaction {
    let replica: SQLiteReplica
    private let db: SQLiteConnection
    private let txn: Int64
    private var active = true

    init(replica: SQLiteReplica, db: SQLiteConnection, txn: Int64) {
        self.replica = replica
        self.db = db
        self.txn = txn
    }

    func end() { active = false }

    private func connection() throws -> SQLiteConnection {
        guard active else { throw ReplicaError.transactionEnded }
        return db
    }

    /// Adds a row (see `SQLiteReplica.insert`).
    @discardableResult
    public func insert<Write: ReplicaWrite>(_ row: Write) throws -> UUID {
        try replica.insertRow(connection(), row, txn: txn)
    }

    /// Changes one row (see `SQLiteReplica.update`).
    @discardableResult
    public func update<Row: ReplicaRow>(_ type: Row.Type, id: UUID, _ body: (inout Row) throws -> Void) throws -> Row {
        try replica.updateRow(connection(), type, id: id, body, txn: txn)
    }

    /// Deletes one row (see `SQLiteReplica.delete`).
    public func delete<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws {
        try replica.deleteRow(connection(), type, id: id, txn: txn)
    }

    public func all<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = [],
                                     orderBy: String? = nil, limit: Int? = nil) throws -> [Row] {
        try replica.rows(connection(), type, where: condition, arguments, orderBy: orderBy, limit: limit)
    }

    public func row<Row: ReplicaRow>(_ type: Row.Type, id: UUID) throws -> Row? {
        try replica.row(connection(), type, id: id)
    }

    public func count<Row: ReplicaRow>(_ type: Row.Type, where condition: String? = nil, _ arguments: [SQLiteValue] = []) throws -> Int {
        try replica.count(connection(), type, where: condition, arguments)
    }
}

extension ReplicaRow {
    /// Edits this row in replica: `try item.edit(in: replica) { $0.name = "Stud" }`.
    /// Only the columns the closure changes are stored and pushed.
    @discardableResult
    public func edit(in replica: SQLiteReplica, _ body: (inout Self) throws -> Void) throws -> Self {
        try replica.update(Self.self, id: id, body)
    }

    /// Edits this row inside `replica.write { tx in … }`.
    @discardableResult
    public func edit(in transaction: ReplicaTransaction, _ body: (inout Self) throws -> Void) throws -> Self {
        try transaction.update(Self.self, id: id, body)
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

    /// The query's rows now, then again after every commit that touches this
    /// table (edits, pulls, merges, and another process's commits on the same
    /// file); bursts coalesce into one re-read. Like GRDB's `ValueObservation`:
    ///
    /// ```swift
    /// for await items in try replica.costbookItems.observe(orderBy: "unit_cost") { show(items) }
    /// ```
    ///
    /// The query runs once here (a bad condition throws now), then on the
    /// consumer's task, on a reader connection. The stream ends when the
    /// consuming task is cancelled or the replica closes.
    public func observe(where condition: String? = nil, _ arguments: [SQLiteValue] = [], orderBy: String? = nil,
                        limit: Int? = nil) throws -> AsyncStream<[Row]> {
        try replica.observe(Row.self, where: condition, arguments, orderBy: orderBy, limit: limit)
    }
}

/// Typed access to one table inside `replica.write { tx in … }`: `tx.estimates.find(id)`.
public struct ReplicaTransactionTable<Row: ReplicaRow> {
    public let transaction: ReplicaTransaction

    public init(transaction: ReplicaTransaction) { self.transaction = transaction }

    public func all(where condition: String? = nil, _ arguments: [SQLiteValue] = [], orderBy: String? = nil, limit: Int? = nil) throws -> [Row] {
        try transaction.all(Row.self, where: condition, arguments, orderBy: orderBy, limit: limit)
    }

    public func find(_ id: UUID) throws -> Row? { try transaction.row(Row.self, id: id) }

    public func count(where condition: String? = nil, _ arguments: [SQLiteValue] = []) throws -> Int {
        try transaction.count(Row.self, where: condition, arguments)
    }

    @discardableResult
    public func update(_ id: UUID, _ body: (inout Row) throws -> Void) throws -> Row {
        try transaction.update(Row.self, id: id, body)
    }

    public func delete(_ id: UUID) throws { try transaction.delete(Row.self, id: id) }
}

extension SQLiteReplica {
    func observe<Row: ReplicaRow>(_ type: Row.Type, where condition: String?, _ arguments: [SQLiteValue],
                                  orderBy: String?, limit: Int?) throws -> AsyncStream<[Row]> {
        let first = try all(type, where: condition, arguments, orderBy: orderBy, limit: limit)
        let signal = ChangeSignal()
        let subscription = hub.subscribe(tables: [Row.replicaTable.name], closed: { signal.finish() }) { signal.post($0) }
        let pending = FirstValue(first)
        return AsyncStream(unfolding: { [weak self] in
            if let rows = pending.take() { return rows }
            guard await signal.next() != nil, let self,
                  let rows = try? self.all(type, where: condition, arguments, orderBy: orderBy, limit: limit)
            else {
                subscription.cancel()
                return nil
            }
            return rows
        }, onCancel: {
            subscription.cancel()
            signal.finish()
        })
    }
}

/// The first element of an observation, handed out once.
private final class FirstValue<T>: @unchecked Sendable {
    // @unchecked: behind lock.
    private let lock = NSLock()
    private var value: T?

    init(_ value: T) { self.value = value }

    func take() -> T? {
        lock.lock()
        defer { lock.unlock() }
        let out = value
        value = nil
        return out
    }
}
