import Foundation
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 8: reads waited on sync writes (one connection, one
/// lock: a UI read waited 125–248 ms while the initial sync wrote pages).
/// The figure for a 10k-row initial sync is printed by
/// ReplicaLiveTests.testLive_InitialSyncOf10kRows_ReadsDoNotWait.
final class ConcurrentReadTests: ReplicaTestCase {
    func testRead_DoesNotWaitForAnOpenWriteTransaction() throws {
        let replica = try openReplica()
        try replica.insert(CostbookItemWrite(id: UUID(), name: "committed"))
        let inside = DispatchSemaphore(value: 0)
        let readDone = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let waited = Box<DispatchTimeoutResult?>(nil)
        // A write transaction held open (a sync's page write, long).
        let writer = Thread {
            try? replica.write { tx in
                try tx.insert(CostbookItemWrite(id: UUID(), name: "not committed yet"))
                inside.signal()
                waited.value = readDone.wait(timeout: .now() + 5)
            }
            finished.signal()
        }
        writer.start()
        inside.wait()
        let names = try replica.costbookItems.all().map(\.name)
        let count = try replica.costbookItems.count()
        let pending = try replica.pendingChangeCount()
        readDone.signal()
        finished.wait()
        XCTAssertEqual(waited.value, .success, "the reads finished while the write transaction was open")
        XCTAssertEqual(names, ["committed"], "reads see the last commit")
        XCTAssertEqual(count, 1)
        XCTAssertEqual(pending, 1)
        XCTAssertEqual(try replica.costbookItems.count(), 2)
    }

    /// Ten pages of a thousand rows applied as a sync does, with a read every
    /// millisecond beside them: every read sees whole pages (a page and its
    /// cursor are one transaction), and none waits for a page's write. The
    /// same reads through the writer connection (one connection for
    /// everything, as reads were) are timed for comparison; figures printed.
    func testReadsDuringPageWrites_SeeWholePages_AndDoNotWait() throws {
        func run(throughTheWriter: Bool) throws -> (counts: [Int], latencies: [TimeInterval]) {
            let replica = try SQLiteReplica.open(directory: directory.appendingPathComponent("\(throughTheWriter)"), contractorID: contractorID, userID: userID)
            let pages: [PulledPage] = (0..<10).map { p in
                PulledPage(cursor: "c\(p)", hasMore: p < 9, serverTime: nil, rows: ["costbook_items": (0..<1000).map { i in
                    self.item(UUID(), name: "page \(p) row \(i)", unitCost: "\(i).25", version: Int64(p + 1))
                }], deleted: [:])
            }
            let done = Box(false)
            let writer = Thread {
                for page in pages { _ = try? replica.apply(page) }
                done.value = true
            }
            var counts: [Int] = []
            var latencies: [TimeInterval] = []
            writer.start()
            while !done.value {
                let t0 = ProcessInfo.processInfo.systemUptime
                if throughTheWriter {
                    counts.append(try replica.withConnection { db in try replica.count(db, CostbookItem.self, where: nil, []) })
                } else {
                    counts.append(try replica.costbookItems.count())
                }
                latencies.append(ProcessInfo.processInfo.systemUptime - t0)
                usleep(1000)
            }
            return (counts, latencies.sorted())
        }
        let readers = try run(throughTheWriter: false)
        let writer = try run(throughTheWriter: true)
        XCTAssertFalse(readers.counts.isEmpty)
        XCTAssertTrue(readers.counts.allSatisfy { $0 % 1000 == 0 }, "a read saw part of a page: \(Set(readers.counts).sorted())")
        XCTAssertEqual(readers.counts, readers.counts.sorted(), "never goes back")
        func ms(_ t: TimeInterval) -> String { String(format: "%.1f ms", t * 1000) }
        print("reads during 10 page writes of 1000 rows: \(readers.latencies.count) reads on reader connections, "
              + "p99 \(ms(readers.latencies[readers.latencies.count * 99 / 100])), worst \(ms(readers.latencies.last ?? 0)); "
              + "through the writer connection (as before): \(writer.latencies.count) reads, worst \(ms(writer.latencies.last ?? 0))")
    }
}
