import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// What the replica tests against a scripted server share: a fresh
/// directory per test, the stub client, a 1.1 (or other) server's fixed
/// answers, pull pages and rows in the wire shape docs/contract.md fixes.
class ReplicaTestCase: XCTestCase {
    var server: StubServer { StubURLProtocol.server }
    var directory: URL!
    let contractorID = UUID(uuidString: Fixtures.contractorID)!
    let userID = UUID(uuidString: "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")!

    override func setUp() {
        super.setUp()
        server.reset()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("replica-tests-\(UUID().uuidString)")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    func openReplica(schema: ReplicaSchema = .current) throws -> SQLiteReplica {
        try SQLiteReplica.open(directory: directory, contractorID: contractorID, userID: userID, schema: schema)
    }

    func client(tokens: any TokenProvider = StaticTokenProvider("t")) -> SyncAPIClient {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        return SyncAPIClient(baseURL: URL(string: "https://sync.test")!, tokenProvider: tokens,
                             session: URLSession(configuration: configuration),
                             retryPolicy: RetryPolicy(maxAttempts: 2, initialBackoff: 0, maxBackoff: 0), logger: nil,
                             sleep: { _ in })
    }

    /// A 1.1 server's fixed answers: canary, spec version, and the given pull pages in order.
    func routeBasics(pages: [JSONValue] = [], version: String = "1.1.0") {
        server.route("/api/sync/canary") { _, _ in .response(status: 200, headers: [:], body: Data(Fixtures.canary.utf8)) }
        server.route("/api/openapi.json") { _, _ in StubServer.json(200, ["info": ["version": .string(version)]]) }
        let queue = Queue(pages)
        server.route("/api/sync/pull") { _, _ in
            if let page = queue.pop() { return StubServer.json(200, page) }
            return StubServer.json(200, Self.page(cursor: "end", rows: [:]))
        }
    }

    static func page(cursor: String, hasMore: Bool = false, rows: [String: [JSONValue]], deleted: [String: [String]] = [:]) -> JSONValue {
        var object: [String: JSONValue] = ["ok": true, "serverTime": "2025-01-15T12:00:00.000Z", "cursor": .string(cursor), "hasMore": .bool(hasMore)]
        var tombstones: [String: JSONValue] = [:]
        for table in ReplicaSchema.current.tables {
            object[table.name] = .array(rows[table.name] ?? [])
            if table.deletable { tombstones[table.name] = .array((deleted[table.name] ?? []).map { .string($0) }) }
        }
        object["deleted"] = .object(tombstones)
        return .object(object)
    }

    func item(_ id: UUID, name: String, sku: String? = nil, unitCost: String? = "1.50", version: Int64) -> JSONValue {
        [
            "id": .string(id.uuidString.lowercased()), "contractor_id": .string(Fixtures.contractorID), "name": .string(name),
            "folder_id": nil, "description": nil, "unit": "ea", "unit_cost": unitCost.map { .string($0) } ?? nil,
            "markup_percent": nil, "sku": sku.map { .string($0) } ?? nil, "taxable": false,
            "created_at": "2025-01-15T12:00:00.000Z", "updated_at": "2025-01-15T12:00:00.000Z", "sync_version": .integer(version),
        ]
    }

    func pushBodies() throws -> [JSONValue] {
        try zip(server.requests, server.requestBodies).filter { $0.0.url?.path == "/api/sync/push" }.map { try JSONValue(json: $0.1) }
    }

    func pushOK(version: Int64) -> StubServer.Reply {
        StubServer.json(200, ["ok": true, "serverTime": "2025-01-15T12:00:01.000Z", "version": .integer(version),
                              "upserted": [:], "deleted": [:], "deduped": [:]])
    }

}
