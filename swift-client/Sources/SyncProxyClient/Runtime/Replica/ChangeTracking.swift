import Foundation

/// Which tables each commit touched, whoever made it.
///
/// Triggers on every synced table (and on the outbox and the quarantine)
/// raise a per-table counter in `_table_versions` for each row written, in
/// the writing transaction, whichever connection or process writes. After
/// each commit of its own the replica reads the counters and tells the
/// subscribers of the tables whose counter moved; a poller on a connection
/// of its own checks `PRAGMA data_version` (which moves when another
/// connection commits) and does the same for commits of other processes on
/// the same file, such as an app extension. Each counter step is announced
/// once, by whichever of the two sees it first.
final class ChangeHub: @unchecked Sendable {
    // @unchecked: state behind `lock`; the poll connection only on `pollQueue`.
    /// The counter of the outbox (unsent edits) and of the quarantine.
    static let outbox = "_outbox"
    static let quarantine = "_quarantine"

    private let path: String
    private let pollInterval: TimeInterval
    private let lock = NSLock()
    private var seen: [String: Int64] = [:]
    private var subscribers: [UUID: Subscriber] = [:]
    private var closed = false

    private let pollQueue = DispatchQueue(label: "syncproxy.replica.changes")
    private var timer: DispatchSourceTimer?
    private var pollConnection: SQLiteConnection? // pollQueue only
    private var lastDataVersion: Int64?           // pollQueue only

    private struct Subscriber {
        let tables: Set<String>? // nil: every table
        let deliver: @Sendable (Set<String>) -> Void
        let closed: (@Sendable () -> Void)?
    }

    init(path: String, pollInterval: TimeInterval) {
        self.path = path
        self.pollInterval = pollInterval
    }

    /// The triggers and counter rows for tables (created if missing; run in
    /// the opening transaction).
    static func installSQL(tables: [String]) -> [String] {
        var sql: [String] = []
        for table in tables + [outbox, quarantine] {
            let literal = "'" + table.replacingOccurrences(of: "'", with: "''") + "'"
            sql.append("INSERT OR IGNORE INTO \"_table_versions\" (\"tbl\", \"version\") VALUES (\(literal), 0)")
            // The outbox and quarantine change in count only by INSERT and DELETE.
            let events = table.hasPrefix("_") ? ["INSERT", "DELETE"] : ["INSERT", "UPDATE", "DELETE"]
            for event in events {
                let name = quoteIdentifier("_changes_\(table)_\(event.lowercased())")
                sql.append("""
                    CREATE TRIGGER IF NOT EXISTS \(name) AFTER \(event) ON \(quoteIdentifier(table)) \
                    BEGIN UPDATE "_table_versions" SET "version" = "version" + 1 WHERE "tbl" = \(literal); END
                    """)
            }
        }
        return sql
    }

    static func versions(_ db: SQLiteConnection) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        try db.each("SELECT \"tbl\", \"version\" FROM \"_table_versions\"", []) { row in
            if let table = row[0].textValue, let version = row[1].integerValue { out[table] = version }
        }
        return out
    }

    /// The counters as of opening: changes before it are not announced.
    func prime(_ versions: [String: Int64]) {
        lock.lock()
        seen = versions
        lock.unlock()
    }

    /// Announces the tables whose counter moved past what was announced.
    func publish(_ versions: [String: Int64]) {
        lock.lock()
        var changed: Set<String> = []
        for (table, version) in versions where version > seen[table] ?? 0 {
            seen[table] = version
            changed.insert(table)
        }
        let targets = changed.isEmpty ? [] : Array(subscribers.values)
        lock.unlock()
        for subscriber in targets {
            let mine = subscriber.tables.map { changed.intersection($0) } ?? changed
            if !mine.isEmpty { subscriber.deliver(mine) }
        }
    }

    /// Calls deliver (on the committing thread, or the poller's) with the
    /// tables of interest each commit touched, until the subscription is
    /// cancelled; closed when the replica closes (at once if it is closed).
    /// deliver must not block.
    func subscribe(tables: Set<String>?, closed onClose: (@Sendable () -> Void)? = nil,
                   _ deliver: @escaping @Sendable (Set<String>) -> Void) -> ChangeSubscription {
        let id = UUID()
        lock.lock()
        if closed {
            lock.unlock()
            onClose?()
            return ChangeSubscription {}
        }
        subscribers[id] = Subscriber(tables: tables, deliver: deliver, closed: onClose)
        let start = timer == nil
        if start { startPolling() }
        lock.unlock()
        return ChangeSubscription { [weak self] in self?.unsubscribe(id) }
    }

    private func unsubscribe(_ id: UUID) {
        lock.lock()
        subscribers[id] = nil
        if subscribers.isEmpty { stopPolling() }
        lock.unlock()
    }

    /// Stops announcing; called when the replica closes.
    func close() {
        lock.lock()
        closed = true
        let ending = Array(subscribers.values)
        subscribers.removeAll()
        stopPolling()
        lock.unlock()
        for subscriber in ending { subscriber.closed?() }
    }

    // MARK: - Polling for other processes (under lock)

    private func startPolling() {
        let timer = DispatchSource.makeTimerSource(queue: pollQueue)
        timer.schedule(deadline: .now(), repeating: pollInterval, leeway: .milliseconds(Int(pollInterval * 100)))
        timer.setEventHandler { [weak self] in self?.poll() }
        self.timer = timer
        timer.resume()
    }

    private func stopPolling() {
        guard let timer else { return }
        timer.cancel()
        self.timer = nil
        pollQueue.async { [weak self] in
            self?.pollConnection?.close()
            self?.pollConnection = nil
            self?.lastDataVersion = nil
        }
    }

    private func poll() {
        do {
            if pollConnection == nil {
                pollConnection = try SQLiteConnection(path: path, role: .reader)
            }
            guard let db = pollConnection else { return }
            let version = try db.dataVersion()
            guard version != lastDataVersion else { return }
            lastDataVersion = version
            publish(try Self.versions(db))
        } catch {
            // The file is gone or closing: try again on the next tick.
            pollConnection?.close()
            pollConnection = nil
            lastDataVersion = nil
        }
    }
}

/// Ends a subscription when cancelled or released.
final class ChangeSubscription: @unchecked Sendable {
    private let lock = NSLock()
    private var onCancel: (() -> Void)?

    init(_ onCancel: @escaping () -> Void) { self.onCancel = onCancel }

    func cancel() {
        lock.lock()
        let action = onCancel
        onCancel = nil
        lock.unlock()
        action?()
    }

    deinit { cancel() }
}

/// Coalesces announcements for one consumer: every `next()` returns the
/// tables changed since the previous one, so a slow consumer misses no
/// table, however many commits came meanwhile (nil once finished).
final class ChangeSignal: @unchecked Sendable {
    // @unchecked: all state behind lock.
    private let lock = NSLock()
    private var pending: Set<String> = []
    private var waiter: CheckedContinuation<Set<String>?, Never>?
    private var finished = false

    func post(_ tables: Set<String>) {
        lock.lock()
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.resume(returning: tables)
            return
        }
        if !finished { pending.formUnion(tables) }
        lock.unlock()
    }

    func next() async -> Set<String>? {
        await withCheckedContinuation { continuation in
            lock.lock()
            if !pending.isEmpty {
                let tables = pending
                pending = []
                lock.unlock()
                continuation.resume(returning: tables)
            } else if finished {
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                lock.unlock()
            }
        }
    }

    func finish() {
        lock.lock()
        finished = true
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        waiter?.resume(returning: nil)
    }
}
