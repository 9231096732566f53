import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

final class RetryTests: XCTestCase {
    private var server: StubServer { StubURLProtocol.server }
    private let sleeps = SleepRecorder()
    private let tokens = CountingTokenProvider()
    private let logs = LogCollector()

    override func setUp() {
        super.setUp()
        server.reset()
    }

    private func makeClient(_ policy: RetryPolicy = RetryPolicy(maxAttempts: 4, initialBackoff: 0.5, maxBackoff: 8, maxRetryAfter: 100)) throws -> SyncAPIClient {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let sleeps = self.sleeps
        let logs = self.logs
        return SyncAPIClient(
            baseURL: try XCTUnwrap(URL(string: "https://sync.test/base/")),
            tokenProvider: tokens,
            session: URLSession(configuration: configuration),
            retryPolicy: policy,
            logger: { logs.append($0) },
            sleep: { await sleeps.record($0) }
        )
    }

    private func push(_ client: SyncAPIClient, key: String? = nil) async throws -> SyncPushResponse {
        try await client.pushChanges(SyncPushRequest(costbookItems: [CostbookItemWrite(id: UUID(), name: "Nail")]), idempotencyKey: key)
    }

    /// Runs body and returns the SyncClientError it throws.
    private func clientError(_ body: () async throws -> some Any) async -> SyncClientError? {
        do {
            _ = try await body()
            XCTFail("expected an error")
        } catch let error as SyncClientError {
            return error
        } catch {
            XCTFail("expected SyncClientError, got \(error)")
        }
        return nil
    }

    func test500Then200_IsRetriedWithBackoff() async throws {
        server.enqueue(500, Fixtures.envelope("INTERNAL"))
        server.enqueue(200, Fixtures.canary)
        let canary = try await makeClient().getCanary()
        XCTAssertEqual(canary.contractorId, UUID(uuidString: Fixtures.contractorID))
        XCTAssertEqual(server.requests.count, 2)
        let delays = await sleeps.delays
        XCTAssertEqual(delays.count, 1)
        XCTAssert((0.25...0.5).contains(delays[0]), "first backoff \(delays[0]) outside 0.25...0.5")
    }

    func testBackoff_GrowsExponentiallyWithJitter_ThenGivesUp() async throws {
        for _ in 0..<4 { server.enqueue(503, Fixtures.envelope("UNAVAILABLE")) }
        let error = await clientError { try await self.makeClient().getHealth() }
        guard case .api(503, let envelope)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(envelope.error, .unavailable)
        XCTAssertEqual(server.requests.count, 4, "maxAttempts counts the first attempt")
        let delays = await sleeps.delays
        XCTAssertEqual(delays.count, 3)
        for (index, delay) in delays.enumerated() {
            let ceiling = 0.5 * pow(2, Double(index))
            XCTAssert((ceiling / 2...ceiling).contains(delay), "retry \(index + 1): \(delay) outside \(ceiling / 2)...\(ceiling)")
        }

        let policy = RetryPolicy(maxAttempts: 10, initialBackoff: 1, maxBackoff: 5, maxRetryAfter: 60)
        XCTAssertEqual(policy.delay(beforeRetry: 1, retryAfter: nil, random: 0), 0.5)
        XCTAssertEqual(policy.delay(beforeRetry: 3, retryAfter: nil, random: 1), 4)
        XCTAssertEqual(policy.delay(beforeRetry: 9, retryAfter: nil, random: 1), 5, "capped by maxBackoff")
        XCTAssertEqual(policy.delay(beforeRetry: 9, retryAfter: 120, random: 1), 60, "capped by maxRetryAfter")
    }

    func test400_IsNeverRetried() async throws {
        server.enqueue(400, Fixtures.badRequest)
        let error = await clientError { try await self.push(self.makeClient()) }
        guard case .api(400, let envelope)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(envelope.details.first?.field, "unit_cost")
        XCTAssertEqual(error?.requestId, "req-123")
        XCTAssertEqual(server.requests.count, 1)
        let delays = await sleeps.delays
        XCTAssertEqual(delays, [])
    }

    func testOther4xx_AreNeverRetried() async throws {
        for (status, code) in [(403, "FORBIDDEN"), (404, "NOT_FOUND"), (413, "PAYLOAD_TOO_LARGE"), (422, "IDEMPOTENCY_KEY_REUSED")] {
            server.reset()
            server.enqueue(status, Fixtures.envelope(code))
            let error = await clientError { try await self.push(self.makeClient()) }
            XCTAssertEqual(error?.status, status)
            XCTAssertEqual(server.requests.count, 1, "\(status) must not be retried")
        }
        let delays = await sleeps.delays
        XCTAssertEqual(delays, [])
    }

    func test429_HonoursRetryAfter() async throws {
        server.enqueue(429, Fixtures.envelope("RATE_LIMITED"), headers: ["Retry-After": "7"])
        server.enqueue(200, Fixtures.pushResponse)
        _ = try await push(makeClient())
        XCTAssertEqual(server.requests.count, 2)
        let delays = await sleeps.delays
        XCTAssertEqual(delays, [7])
    }

    func test503_RetryAfterIsCapped() async throws {
        server.enqueue(503, Fixtures.envelope("UNAVAILABLE"), headers: ["Retry-After": "3600"])
        server.enqueue(200, Fixtures.canary)
        _ = try await makeClient(RetryPolicy(maxAttempts: 2, maxRetryAfter: 2)).getCanary()
        let delays = await sleeps.delays
        XCTAssertEqual(delays, [2])
    }

    func test429_RealSleepWithTinyCap() async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let client = SyncAPIClient(
            baseURL: try XCTUnwrap(URL(string: "https://sync.test")),
            tokenProvider: StaticTokenProvider("t"),
            session: URLSession(configuration: configuration),
            retryPolicy: RetryPolicy(maxAttempts: 2, maxRetryAfter: 0.05)
        )
        server.enqueue(429, Fixtures.envelope("RATE_LIMITED"), headers: ["Retry-After": "30"])
        server.enqueue(200, Fixtures.canary)
        let started = Date()
        _ = try await client.getCanary()
        let elapsed = Date().timeIntervalSince(started)
        XCTAssert(elapsed >= 0.05 && elapsed < 5, "waited \(elapsed)s")
    }

    func testRetryAfter_Parsing() {
        let now = Date(timeIntervalSince1970: 1_736_942_400) // Wed, 15 Jan 2025 12:00:00 GMT
        XCTAssertEqual(RetryPolicy.parseRetryAfter("120", now: now), 120)
        XCTAssertEqual(RetryPolicy.parseRetryAfter(" 0 ", now: now), 0)
        XCTAssertEqual(RetryPolicy.parseRetryAfter("Wed, 15 Jan 2025 12:00:30 GMT", now: now), 30)
        XCTAssertNil(RetryPolicy.parseRetryAfter("soon", now: now))
        XCTAssertNil(RetryPolicy.parseRetryAfter(nil, now: now))
    }

    func testTimeoutAndConnectionErrors_AreRetried() async throws {
        server.enqueueFailure(.timedOut)
        server.enqueueFailure(.cannotConnectToHost)
        server.enqueueFailure(.networkConnectionLost)
        server.enqueue(200, Fixtures.canary)
        _ = try await makeClient().getCanary()
        XCTAssertEqual(server.requests.count, 4)
        let delays = await sleeps.delays
        XCTAssertEqual(delays.count, 3)
    }

    func testOtherTransportErrors_AreNotRetried() async throws {
        server.enqueueFailure(.badURL)
        let error = await clientError { try await self.makeClient().getCanary() }
        guard case .transport? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(server.requests.count, 1)
    }

    func test401_RefreshesTokenOnceThenSucceeds() async throws {
        server.enqueue(401, Fixtures.envelope("UNAUTHORIZED"))
        server.enqueue(200, Fixtures.canary)
        _ = try await makeClient().getCanary()
        let requests = server.requests
        XCTAssertEqual(requests.map { $0.value(forHTTPHeaderField: "Authorization") }, ["Bearer token-1", "Bearer token-2"])
        let refreshes = await tokens.refreshes
        XCTAssertEqual(refreshes, 1)
        let delays = await sleeps.delays
        XCTAssertEqual(delays, [], "a refresh is not a backoff")
    }

    func test401AfterRefresh_ThrowsUnauthorized() async throws {
        server.enqueue(401, Fixtures.envelope("UNAUTHORIZED", "token expired"))
        server.enqueue(401, Fixtures.envelope("UNAUTHORIZED", "still expired"))
        server.enqueue(200, Fixtures.canary) // must not be reached
        let error = await clientError { try await self.makeClient().getCanary() }
        guard case .unauthorized(let envelope)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(envelope?.message, "still expired")
        XCTAssertEqual(server.requests.count, 2)
        let refreshes = await tokens.refreshes
        XCTAssertEqual(refreshes, 1)
    }

    func testIdempotencyKey_GeneratedOnceForAllRetries() async throws {
        server.enqueue(500, Fixtures.envelope("INTERNAL"))
        server.enqueueFailure(.timedOut)
        server.enqueue(503, Fixtures.envelope("UNAVAILABLE"))
        server.enqueue(200, Fixtures.pushResponse)
        _ = try await push(makeClient())
        let keys = server.requests.map { $0.value(forHTTPHeaderField: "Idempotency-Key") }
        XCTAssertEqual(keys.count, 4)
        let key = try XCTUnwrap(keys.first ?? nil)
        XCTAssertNotNil(UUID(uuidString: key))
        XCTAssertEqual(Set(keys), [key], "every attempt of one push carries the same key")

        server.reset()
        server.enqueue(200, Fixtures.pushResponse)
        _ = try await push(makeClient())
        XCTAssertNotEqual(server.requests.first?.value(forHTTPHeaderField: "Idempotency-Key"), key, "a new push gets a new key")
    }

    func testIdempotencyKey_CallersKeyIsKeptAcrossRetries() async throws {
        server.enqueue(502, "<html>bad gateway</html>", headers: ["Content-Type": "text/html"])
        server.enqueue(200, Fixtures.pushResponse)
        _ = try await push(makeClient(), key: "batch-42")
        XCTAssertEqual(server.requests.map { $0.value(forHTTPHeaderField: "Idempotency-Key") }, ["batch-42", "batch-42"])
        XCTAssertEqual(server.requests.map { $0.value(forHTTPHeaderField: "Content-Type") }, ["application/json", "application/json"])
    }

    func testNonEnvelopeError_IsHTTPError() async throws {
        server.enqueue(502, "<html>bad gateway</html>", headers: ["Content-Type": "text/html"])
        let error = await clientError { try await self.makeClient(.never).getCanary() }
        guard case .http(502, let preview)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(preview, "<html>bad gateway</html>")
    }

    func testUndecodableSuccess_IsDecodingError() async throws {
        server.enqueue(200, #"{"ok": true}"#)
        let error = await clientError { try await self.makeClient().getCanary() }
        guard case .decoding(_, let preview)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(preview, #"{"ok": true}"#)
        XCTAssertEqual(server.requests.count, 1)
    }

    func testRequestShape_QueryEncodingAndAuth() async throws {
        server.enqueue(200, Fixtures.emptyPage)
        let since = try XCTUnwrap(RFC3339.parse("2025-01-15T12:00:00Z"))
        _ = try await makeClient().pullChanges(cursor: "a+b/c=", since: since, limit: 10, tables: [.costbookItems, .estimates])
        let request = try XCTUnwrap(server.requests.first)
        XCTAssertEqual(request.httpMethod, "GET")
        XCTAssertEqual(request.url?.path, "/base/api/sync/pull")
        XCTAssertEqual(request.url?.query, "cursor=a%2Bb%2Fc%3D&since=2025-01-15T12%3A00%3A00.000Z&limit=10&tables=costbook_items,estimates")
        XCTAssertEqual(request.value(forHTTPHeaderField: "Authorization"), "Bearer token-1")
        XCTAssertEqual(request.value(forHTTPHeaderField: "Accept"), "application/json")
        XCTAssertNil(request.value(forHTTPHeaderField: "Idempotency-Key"), "GET needs no idempotency key")

        server.reset()
        server.enqueue(200, #"{"ok": true}"#)
        _ = try await makeClient().getHealth()
        XCTAssertNil(server.requests.first?.value(forHTTPHeaderField: "Authorization"), "ops endpoints are unauthenticated")
    }

    func testLogger_RedactsAuthorizationAndNeverLogsBodies() async throws {
        let big = #"{"ok": false, "error": "BAD_REQUEST", "message": ""# + String(repeating: "x", count: 2000)
            + #"", "requestId": "r", "details": []}"#
        server.enqueue(400, big, headers: ["X-Request-Id": "r", "Set-Cookie": "session=secret"])
        _ = await clientError { try await self.push(self.makeClient()) }
        let entry = try XCTUnwrap(logs.entries.last)
        XCTAssertEqual(entry.status, 400)
        XCTAssertEqual(entry.method, "POST")
        XCTAssertEqual(entry.attempt, 1)
        XCTAssertEqual(entry.requestHeaders["Authorization"], HTTPLogEntry.redacted)
        XCTAssertFalse(entry.requestHeaders.values.contains { $0.contains("token-1") })
        XCTAssertEqual(entry.responseHeaders.first { $0.key.lowercased() == "set-cookie" }?.value, HTTPLogEntry.redacted)
        XCTAssertEqual(entry.responseHeaders.first { $0.key.lowercased() == "x-request-id" }?.value, "r")
        XCTAssertEqual(entry.bodySize, big.utf8.count)
        XCTAssertEqual(entry.bodyPreview, "", "bodies carry customer names and emails: not logged unless asked for")
        XCTAssertFalse(entry.summary.contains("xxxx"))
        XCTAssertGreaterThan(entry.requestBodySize, 0)
    }

    func testLogger_PreviewsBodiesOnlyWhenAskedFor() async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let logs = LogCollector()
        let client = SyncAPIClient(
            baseURL: try XCTUnwrap(URL(string: "https://sync.test")), tokenProvider: StaticTokenProvider("t"),
            session: URLSession(configuration: configuration), retryPolicy: .never,
            logger: { logs.append($0) }, logResponseBodies: true
        )
        server.enqueue(200, Fixtures.canary)
        _ = try await client.getCanary()
        XCTAssertEqual(logs.entries.last?.bodyPreview, String(Fixtures.canary.prefix(500)))
    }
}
