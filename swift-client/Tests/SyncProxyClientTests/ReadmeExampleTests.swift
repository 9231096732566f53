import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// The examples of swift-client/README.md, compiled and run against the
/// scripted server. `testReadmeShowsTheseExamples` fails when a README code
/// block and the code between its markers below differ, so the README cannot
/// drift from code that compiles.
final class ReadmeExampleTests: XCTestCase {
    private func readmeExample(tokens: any TokenProvider, appSupport: URL, session: URLSession) async throws -> (SQLiteReplica, ReplicaSyncReport) {
        // README example sync begins
        let client = SyncAPIClient(baseURL: URL(string: "https://sync.example.com")!,
                                   tokenProvider: tokens, // your TokenProvider (e.g. the Supabase session)
                                   session: session) // optional: defaults to an ephemeral session
        let me = try await client.getCanary() // who is signed in; keep the ids for offline starts

        // One replica file per contractor and auth user.
        let replica = try SQLiteReplica.open(directory: appSupport, contractorID: me.contractorId, userID: me.userId)
        // This install's id (made once, kept in the replica file) and the app's version go
        // with every request, for the server's device ledger (GET /api/sync/devices).
        let device = try replica.deviceIdentity(appName: "Estimates", appVersion: "2.3")
        let engine = ReplicaSyncEngine(client: client.with(device: device), replica: replica)

        // Edit offline: the row and its outbox entry commit in one transaction.
        let itemID = try replica.insert(CostbookItemWrite(id: UUID(), name: "Drywall sheet", unitCost: Decimal(string: "12.50")))
        if let item = try replica.costbookItems.find(itemID) {
            try item.edit(in: replica) { $0.sku = "DW-12" } // records only `sku`
        }
        let unfiled = try replica.costbookItems.all(where: "folder_id IS NULL", orderBy: "name")
        print("\(unfiled.count) unfiled items, \(try replica.pendingChangeCount()) changes to send")

        // Push the outbox, then pull every page.
        let report = try await engine.sync()

        // Or keep the replica live while the app is on screen: edits go out
        // within ~50 ms, other devices' changes arrive through held pulls
        // (`changes()` and `observe` fire). SwiftUI starts and cancels it with
        // the scene phase (see Live mode below):
        // .task(id: scenePhase) { if scenePhase == .active { await engine.runLive() } }
        let live = Task { await engine.runLive() }
        live.cancel() // the scene left .active: live mode stops
        await live.value
        // README example sync ends
        return (replica, report)
    }

    private func readmeTransactionExample(replica: SQLiteReplica, estimateID: UUID,
                                          show: @escaping @Sendable ([CostbookItem]) -> Void) throws -> (UUID, Task<Void, any Error>) {
        // README example transactions begins
        // Several edits as one: one SQLite transaction, and one push.
        let copyID = try replica.write { tx in
            let copy = try tx.insert(EstimateWrite(id: UUID(), number: "E-1002", title: "Kitchen (copy)",
                                                   total: try EstimateWrite.rounded(Decimal(1234) / 3, toScaleOf: "total")))
            for event in try tx.estimateEvents.all(where: "estimate_id = ?", [.uuid(estimateID)]) {
                try tx.insert(EstimateEventWrite(id: UUID(), estimateId: copy, kind: event.kind, payload: event.payload))
            }
            return copy
        }

        // A screen that follows a query: its rows now, then after every commit
        // that touches the table (edits, syncs, an app extension's writes).
        let screen = Task {
            for await items in try replica.costbookItems.observe(where: "unit_cost > ?", [9], orderBy: "unit_cost") {
                show(items) // decimals compare and sort as numbers: 9.5 before 10
            }
        }
        // README example transactions ends
        return (copyID, screen)
    }

    func testReadmeExample_Runs() async throws {
        let server = StubURLProtocol.server
        server.reset()
        server.route("/api/sync/canary") { _, _ in .response(status: 200, headers: [:], body: Data(Fixtures.canary.utf8)) }
        server.route("/api/openapi.json") { _, _ in StubServer.json(200, ["info": ["version": "1.1.0"]]) }
        server.route("/api/sync/push") { _, _ in
            StubServer.json(200, ["ok": true, "serverTime": "2025-01-15T12:00:01.000Z", "version": 1, "upserted": [:], "deleted": [:], "deduped": [:]])
        }
        server.route("/api/sync/pull") { _, _ in StubServer.json(200, ReplicaTests.page(cursor: "c1", rows: [:])) }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (replica, report) = try await readmeExample(tokens: StaticTokenProvider("t"), appSupport: directory,
                                                        session: URLSession(configuration: configuration))
        XCTAssertEqual(report.pushedBatches, 1)
        XCTAssertEqual(try replica.pendingChangeCount(), 0)
        let push = try JSONValue(json: try XCTUnwrap(server.requestBodies.last { !$0.isEmpty }))
        XCTAssertEqual(push["costbook_items"]?[0]?["sku"], "DW-12")
    }

    func testReadmeTransactionsExample_Runs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let replica = try SQLiteReplica.open(directory: directory, contractorID: UUID(), userID: UUID())
        let estimateID = UUID()
        try replica.write { tx in
            try tx.insert(EstimateWrite(id: estimateID, number: "E-1001", title: "Kitchen"))
            try tx.insert(EstimateEventWrite(id: UUID(), estimateId: estimateID, kind: "sent"))
            try tx.insert(EstimateEventWrite(id: UUID(), estimateId: estimateID, kind: "viewed"))
        }
        let shown = Box<[[String]]>([])
        let (copyID, screen) = try readmeTransactionExample(replica: replica, estimateID: estimateID) { items in
            shown.value.append(items.map(\.name))
        }
        defer { screen.cancel() }
        XCTAssertEqual(try replica.estimateEvents.count(where: "estimate_id = ?", [.uuid(copyID)]), 2)
        XCTAssertEqual(try replica.estimates.find(copyID)?.total, Decimal(string: "411.3333333333"))
        try replica.insert(CostbookItemWrite(id: UUID(), name: "ten", unitCost: 10))
        try replica.insert(CostbookItemWrite(id: UUID(), name: "nine and a half", unitCost: Decimal(string: "9.5")))
        let deadline = Date().addingTimeInterval(5)
        while shown.value.last != ["nine and a half", "ten"] && Date() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        XCTAssertEqual(shown.value.last, ["nine and a half", "ten"])
    }

    func testReadmeShowsTheseExamples() throws {
        let here = URL(fileURLWithPath: #filePath)
        let readme = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let markdown = try String(contentsOf: readme, encoding: .utf8)
        let source = try String(contentsOf: here, encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for name in ["sync", "transactions"] {
            guard let start = markdown.range(of: "<!-- readme-example: ReadmeExampleTests.swift \(name) -->\n```swift\n"),
                  let end = markdown.range(of: "```", range: start.upperBound..<markdown.endIndex)
            else { return XCTFail("swift-client/README.md lost its \(name) example block marker") }
            let shown = markdown[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let begin = lines.firstIndex(where: { $0.hasSuffix("// README example \(name) begins") }),
                  let finish = lines.firstIndex(where: { $0.hasSuffix("// README example \(name) ends") })
            else { return XCTFail("\(name) markers missing") }
            let compiled = lines[(begin + 1)..<finish].map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : $0 }
            XCTAssertEqual(shown.dropLast().joined(separator: "\n"), compiled.joined(separator: "\n"),
                           "the README's \(name) example differs from the code compiled in ReadmeExampleTests.swift: update one to match the other")
        }
    }
}
