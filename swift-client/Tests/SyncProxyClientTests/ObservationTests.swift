import Foundation
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 7: no observed queries, `changes()` kept the newest 64
/// events (a burst delivered 191 of 300 commits), and writes of a second
/// process on the same file (an app extension) were not seen.
final class ObservationTests: ReplicaTestCase {
    /// Reads the stream until until(collected) holds or seconds pass; what
    /// it got either way.
    private func collect<T: Sendable>(_ stream: AsyncStream<T>, seconds: Double = 5, until: @escaping @Sendable ([T]) -> Bool) async -> [T] {
        await withTaskGroup(of: [T]?.self) { group in
            group.addTask {
                var got: [T] = []
                for await value in stream {
                    got.append(value)
                    if until(got) { break }
                }
                return got
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                return nil
            }
            var result: [T] = []
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                    break
                } else {
                    group.cancelAll()
                }
            }
            return result
        }
    }

    func testChanges_ABurstOf300Commits_DropsNoTable() async throws {
        let replica = try openReplica()
        let stream = replica.changes()
        // The consumer is busy: 200 commits to estimates, then 100 to costbook_items.
        for i in 0..<200 { try replica.insert(EstimateWrite(id: UUID(), number: "E-\(i)")) }
        for i in 0..<100 { try replica.insert(CostbookItemWrite(id: UUID(), name: "I-\(i)")) }
        let got = await collect(stream, seconds: 3) { sets in sets.reduce(Set<String>()) { $0.union($1) } == ["estimates", "costbook_items"] }
        XCTAssertEqual(got.reduce(Set<String>()) { $0.union($1) }, ["estimates", "costbook_items"], "every table changed is reported")
        XCTAssertLessThan(got.count, 300, "bursts coalesce")
    }

    func testObserve_EmitsTheRows_ThenAfterEachCommitTouchingTheTable() async throws {
        let replica = try openReplica()
        let stream = try replica.costbookItems.observe(where: "unit_cost > ?", [9], orderBy: "unit_cost")
        var rows = stream.makeAsyncIterator()
        let first = await rows.next()
        XCTAssertEqual(first?.count, 0)
        try replica.insert(CostbookItemWrite(id: UUID(), name: "ten", unitCost: 10))
        let second = await rows.next()
        XCTAssertEqual(second?.compactMap(\.unitCost), [10])
        // Another table's commit emits nothing: the next value is after the next item.
        try replica.insert(EstimateWrite(id: UUID(), number: "E-1"))
        try replica.insert(CostbookItemWrite(id: UUID(), name: "nine and a half", unitCost: Decimal(string: "9.5")))
        let third = await rows.next()
        XCTAssertEqual(third?.compactMap(\.unitCost), [Decimal(string: "9.5")!, 10], "sorted as numbers")
        // A pulled page is a commit too.
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil,
                                         rows: ["costbook_items": [item(UUID(), name: "pulled", unitCost: "100", version: 1)]], deleted: [:]))
        let fourth = await rows.next()
        XCTAssertEqual(fourth?.map(\.name), ["nine and a half", "ten", "pulled"])
        XCTAssertThrowsError(try replica.costbookItems.observe(where: "no_such_column = 1"), "a bad query throws at once")
    }

    func testObserve_EndsWhenTheReplicaCloses() async throws {
        let replica = try openReplica()
        let stream = try replica.estimates.observe()
        var rows = stream.makeAsyncIterator()
        _ = await rows.next()
        replica.close()
        let after = await rows.next()
        XCTAssertNil(after)
    }

    /// Another connection to the same file: what an app extension (another
    /// process) is to SQLite. Its commits reach `changes()` and observations
    /// through `PRAGMA data_version`, polled while something observes.
    func testChanges_SeesCommitsOfAnotherConnectionToTheFile() async throws {
        let replica = try openReplica()
        let changes = replica.changes()
        let other = try SQLiteReplica(url: replica.url, contractorID: contractorID, userID: userID)
        try other.insert(CostbookItemWrite(id: UUID(), name: "from the extension"))
        let tables = await collect(changes, seconds: 3) { $0.contains { $0.contains("costbook_items") } }
        XCTAssertTrue(tables.contains { $0.contains("costbook_items") }, "changes() sees the other connection's commit")
        other.close()
    }

    func testObserve_SeesCommitsOfAnotherConnectionToTheFile() async throws {
        let replica = try openReplica()
        let stream = try replica.costbookItems.observe(orderBy: "name")
        let other = try SQLiteReplica(url: replica.url, contractorID: contractorID, userID: userID)
        let committed = Date()
        try other.insert(CostbookItemWrite(id: UUID(), name: "from the extension"))
        let emitted = await collect(stream) { $0.last?.isEmpty == false }
        XCTAssertEqual(emitted.last?.map(\.name), ["from the extension"])
        let seen = Date().timeIntervalSince(committed)
        print("observation: another connection's commit seen after \(Int(seen * 1000)) ms (poll every \(Int(SQLiteReplica.Options().externalChangeInterval * 1000)) ms)")
        other.close()
    }

    #if os(Linux) || os(macOS)
    /// The same with a real second process: this test binary, started again
    /// to run only this test with SYNC_CHILD_REPLICA set, opens the file and
    /// inserts a row. (iOS cannot start processes; the test above covers the
    /// mechanism there.)
    func testObserve_SeesCommitsOfAnotherProcess() async throws {
        let env = ProcessInfo.processInfo.environment
        if let path = env["SYNC_CHILD_REPLICA"], let id = env["SYNC_CHILD_ROW"].flatMap(UUID.init(uuidString:)) {
            // The child: one insert, then exit.
            let replica = try SQLiteReplica(url: URL(fileURLWithPath: path), contractorID: contractorID, userID: userID)
            try replica.insert(CostbookItemWrite(id: id, name: "from another process"))
            print("SYNC_CHILD_COMMITTED_AT=\(Date().timeIntervalSince1970)")
            return
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        guard executable.pathExtension == "xctest", FileManager.default.isExecutableFile(atPath: executable.path) else {
            // macOS runs bundles through xctest(1): another connection (above) stands in.
            throw XCTSkip("the test binary cannot be started as a child process here")
        }
        let replica = try openReplica()
        let stream = try replica.costbookItems.observe()
        let id = UUID()
        let child = Process()
        child.executableURL = executable
        child.arguments = ["SyncProxyClientTests.ObservationTests/testObserve_SeesCommitsOfAnotherProcess"]
        child.environment = env.merging(["SYNC_CHILD_REPLICA": replica.url.path, "SYNC_CHILD_ROW": id.uuidString]) { $1 }
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let emitted = await collect(stream, seconds: 30) { $0.last?.isEmpty == false }
        let seenAt = Date().timeIntervalSince1970
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0)
        XCTAssertEqual(emitted.last?.map(\.id), [id])
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("SYNC_CHILD_COMMITTED_AT=") }),
           let committed = Double(line.dropFirst("SYNC_CHILD_COMMITTED_AT=".count)) {
            print("observation: another process's commit seen after \(Int((seenAt - committed) * 1000)) ms")
        }
    }
    #endif
}
