import Foundation

/// The replica's connections to its file, like GRDB's `DatabasePool`: one
/// writer behind a lock (every edit, pull page and bookkeeping step is one
/// transaction on it), and a few readers, each used by one thread at a time.
/// In WAL mode a reader sees the last committed state and never waits for
/// the writer, so a UI read does not wait for a sync's page write.
final class ReplicaConnections: @unchecked Sendable {
    // @unchecked: `writer` is only touched under `writerLock`, the reader
    // bookkeeping only under `readers`.
    let path: String
    private let maxReaders: Int

    private let writerLock = NSLock()
    private var writer: SQLiteConnection?
    /// The thread inside withWriter (behind ownerLock): a second write from
    /// it would wait for itself forever.
    private let ownerLock = NSLock()
    private var owner: ObjectIdentifier?

    private let readers = NSCondition()
    private var idleReaders: [SQLiteConnection] = []
    private var openReaders = 0
    private var closed = false

    init(path: String, maxReaders: Int = 4) throws {
        self.path = path
        self.maxReaders = max(1, maxReaders)
        writer = try SQLiteConnection(path: path, role: .writer)
    }

    /// body on the writer connection, which no other thread uses meanwhile.
    func withWriter<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let me = ObjectIdentifier(Thread.current)
        ownerLock.lock()
        let nested = owner == me
        ownerLock.unlock()
        if nested { throw ReplicaError.nestedWrite }
        writerLock.lock()
        ownerLock.lock()
        owner = me
        ownerLock.unlock()
        defer {
            ownerLock.lock()
            owner = nil
            ownerLock.unlock()
            writerLock.unlock()
        }
        guard let writer, writer.isOpen else { throw ReplicaError.closed }
        return try body(writer)
    }

    /// body on a reader connection of its own (opened on first use, at most
    /// maxReaders at once; a caller past that waits for one to come back).
    func withReader<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let reader = try borrowReader()
        defer { giveBack(reader) }
        return try body(reader)
    }

    private func borrowReader() throws -> SQLiteConnection {
        readers.lock()
        while !closed && idleReaders.isEmpty && openReaders >= maxReaders {
            readers.wait()
        }
        if closed {
            readers.unlock()
            throw ReplicaError.closed
        }
        if let reader = idleReaders.popLast() {
            readers.unlock()
            return reader
        }
        openReaders += 1
        readers.unlock()
        do {
            return try SQLiteConnection(path: path, role: .reader)
        } catch {
            readers.lock()
            openReaders -= 1
            readers.signal()
            readers.unlock()
            throw error
        }
    }

    private func giveBack(_ reader: SQLiteConnection) {
        readers.lock()
        if closed {
            openReaders -= 1
            readers.unlock()
            reader.close()
            return
        }
        idleReaders.append(reader)
        readers.signal()
        readers.unlock()
    }

    var isClosed: Bool {
        readers.lock()
        defer { readers.unlock() }
        return closed
    }

    /// Closes every connection; readers in use close when they come back.
    func close() {
        writerLock.lock()
        writer?.close()
        writer = nil
        writerLock.unlock()
        readers.lock()
        closed = true
        let idle = idleReaders
        openReaders -= idle.count
        idleReaders.removeAll()
        readers.broadcast()
        readers.unlock()
        for reader in idle { reader.close() }
    }
}
