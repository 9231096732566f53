import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP client of the sync API. The generated `SyncAPIOperations`
/// extension gives it one method per operation (`getCanary()`,
/// `pullChanges(cursor:since:limit:tables:)`, `pushChanges(_:idempotencyKey:)`, ...);
/// this file is the part they share: authentication, retries, logging, decoding.
public final class SyncAPIClient: Sendable {
    public let baseURL: URL
    public let retryPolicy: RetryPolicy
    private let session: URLSession
    private let tokenProvider: (any TokenProvider)?
    /// One token refresh at a time for all calls of this client.
    private let tokens: TokenCoordinator?
    private let logger: HTTPLogger?
    private let logsBodies: Bool
    private let sleep: @Sendable (TimeInterval) async throws -> Void
    private let reachability = ReachabilityObservers()
    /// Sent with every request (X-Device-Id, User-Agent); nil: neither.
    public let device: DeviceIdentity?

    /// - Parameters:
    ///   - baseURL: The server, e.g. `https://sync.example.com`; operation paths are appended.
    ///   - tokenProvider: Supplies bearer tokens; nil for the unauthenticated ops endpoints only.
    ///   - session: Defaults to an ephemeral session with a 30 s request timeout.
    ///   - retryPolicy: See `RetryPolicy`.
    ///   - logger: Called once per HTTP attempt, with credentials redacted and
    ///     without bodies (`SyncAPIClient.standardLogger` prints one line each).
    ///   - logResponseBodies: Adds the first 500 characters of each response
    ///     body to the log entries. Bodies hold customer names and emails:
    ///     for local debugging only, never in a shipped app.
    ///   - device: This install's id and app version, sent with every
    ///     request for the server's device ledger
    ///     (`replica.deviceIdentity(appName:appVersion:)`).
    public convenience init(
        baseURL: URL,
        tokenProvider: (any TokenProvider)?,
        session: URLSession = SyncAPIClient.makeDefaultSession(),
        retryPolicy: RetryPolicy = .default,
        logger: HTTPLogger? = nil,
        logResponseBodies: Bool = false,
        device: DeviceIdentity? = nil
    ) {
        self.init(baseURL: baseURL, tokenProvider: tokenProvider, session: session, retryPolicy: retryPolicy, logger: logger,
                  logResponseBodies: logResponseBodies, device: device,
                  sleep: { seconds in try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000)) })
    }

    /// `sleep` is injectable so tests can observe backoff without waiting.
    init(
        baseURL: URL,
        tokenProvider: (any TokenProvider)?,
        session: URLSession,
        retryPolicy: RetryPolicy,
        logger: HTTPLogger?,
        logResponseBodies: Bool = false,
        device: DeviceIdentity? = nil,
        sleep: @escaping @Sendable (TimeInterval) async throws -> Void
    ) {
        self.device = device
        self.baseURL = baseURL
        self.tokenProvider = tokenProvider
        self.tokens = tokenProvider.map(TokenCoordinator.init)
        self.session = session
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.logsBodies = logResponseBodies
        self.sleep = sleep
    }

    /// This client as one install: the same server, session, policies and
    /// tokens (still one refresh at a time across both), with every request
    /// carrying `device`'s X-Device-Id and User-Agent. For the usual order
    /// of an app's start: canary, then the replica, which holds the id.
    public func with(device: DeviceIdentity) -> SyncAPIClient {
        SyncAPIClient(copying: self, device: device)
    }

    private init(copying other: SyncAPIClient, device: DeviceIdentity?) {
        self.device = device
        self.baseURL = other.baseURL
        self.tokenProvider = other.tokenProvider
        self.tokens = other.tokens
        self.session = other.session
        self.retryPolicy = other.retryPolicy
        self.logger = other.logger
        self.logsBodies = other.logsBodies
        self.sleep = other.sleep
    }

    public static func makeDefaultSession() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return URLSession(configuration: configuration)
    }

    // MARK: - Used by the generated operations

    /// Sends request and decodes a JSON response.
    public func send<Response: Decodable>(_ request: APIRequest, decoding type: Response.Type) async throws -> Response {
        let (data, _) = try await perform(request)
        do {
            return try JSONDecoder().decode(Response.self, from: data)
        } catch {
            throw SyncClientError.decoding(error, bodyPreview: HTTPLogEntry.preview(data))
        }
    }

    /// Sends request and returns the response body as text.
    public func sendText(_ request: APIRequest) async throws -> String {
        let (data, _) = try await perform(request)
        return String(decoding: data, as: UTF8.self)
    }

    /// Sends request and returns the raw response body.
    public func sendData(_ request: APIRequest) async throws -> Data {
        try await perform(request).0
    }

    /// Sends request (with retries, token refresh and its Idempotency-Key)
    /// and returns the status and body of a 2xx response or of one of
    /// `passing`, which the caller handles itself (409 merge, 410 resync, 400
    /// quarantine); any other failure throws as usual.
    public func sendRaw(_ request: APIRequest, passing: Set<Int>) async throws -> (status: Int, body: Data) {
        let (data, response) = try await perform(request, passing: passing)
        return (response.statusCode, data)
    }

    // MARK: - The retry loop

    /// Runs request until it succeeds or the policy gives up. All attempts of
    /// an unsafe request carry one Idempotency-Key (the caller's, or a new
    /// UUID), so a retried push is applied once even if an earlier attempt
    /// committed and only its response was lost.
    func perform(_ original: APIRequest, passing: Set<Int> = []) async throws -> (Data, HTTPURLResponse) {
        var request = original
        if request.isUnsafe && !request.headers.keys.contains(where: { $0.caseInsensitiveCompare(idempotencyHeader) == .orderedSame }) {
            request.headers[idempotencyHeader] = UUID().uuidString.lowercased()
        }
        var token = request.requiresAuth ? try await currentToken() : nil
        var refreshed = false
        var attempt = 0
        while true {
            try Task.checkCancellation()
            attempt += 1
            let urlRequest = try makeURLRequest(request, token: token)
            let started = Date()
            let data: Data
            let response: HTTPURLResponse
            do {
                (data, response) = try await transfer(urlRequest)
            } catch {
                log(urlRequest, attempt: attempt, started: started, error: error)
                if Task.isCancelled { throw CancellationError() }
                if RetryPolicy.isNetworkError(error) && (error as? URLError)?.code != .cancelled {
                    // Said at once, while retries may go on for seconds.
                    reachability.report(false)
                }
                guard RetryPolicy.isRetryable(error: error), attempt < retryPolicy.maxAttempts else {
                    throw SyncClientError.transport(error)
                }
                try await sleep(retryPolicy.delay(beforeRetry: attempt, retryAfter: nil))
                continue
            }
            log(urlRequest, attempt: attempt, started: started, response: response, data: data)
            reachability.report(true)

            let status = response.statusCode
            if (200...299).contains(status) || passing.contains(status) {
                return (data, response)
            }
            if status == 401 {
                // One refresh per call: a token that is rejected right after a
                // refresh will not get better by asking again.
                guard request.requiresAuth, !refreshed, let tokens, let rejected = token else {
                    throw SyncClientError.unauthorized(envelope(data))
                }
                refreshed = true
                token = try await tokens.refresh(after: rejected)
                attempt -= 1 // the refresh is not a retry
                continue
            }
            if RetryPolicy.isRetryable(status: status), attempt < retryPolicy.maxAttempts {
                let retryAfter = RetryPolicy.parseRetryAfter(response.value(forHTTPHeaderField: "Retry-After"))
                try await sleep(retryPolicy.delay(beforeRetry: attempt, retryAfter: retryAfter))
                continue
            }
            throw failure(status: status, data: data)
        }
    }

    private let idempotencyHeader = "Idempotency-Key"

    /// How long the session lets a request go without data: a held pull
    /// must answer before it.
    var requestTimeout: TimeInterval { session.configuration.timeoutIntervalForRequest }

    /// Calls handler with false when an attempt fails because the server
    /// cannot be reached, and with true when a response arrives (any
    /// status), until the subscription is released.
    func observeReachability(_ handler: @escaping @Sendable (Bool) -> Void) -> ChangeSubscription {
        reachability.add(handler)
    }

    private func currentToken() async throws -> String? {
        guard let tokens else { return nil }
        return try await tokens.current()
    }

    private func makeURLRequest(_ request: APIRequest, token: String?) throws -> URLRequest {
        var string = baseURL.absoluteString
        while string.hasSuffix("/") { string.removeLast() }
        string += request.path.hasPrefix("/") ? request.path : "/" + request.path
        if !request.encodedQuery.isEmpty {
            string += "?" + request.encodedQuery.joined(separator: "&")
        }
        guard let url = URL(string: string) else {
            throw SyncClientError.invalidRequest("cannot build a URL from \(string)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        urlRequest.setValue(request.accept, forHTTPHeaderField: "Accept")
        if let device {
            urlRequest.setValue(device.id.uuidString.lowercased(), forHTTPHeaderField: "X-Device-Id")
            urlRequest.setValue(device.userAgent, forHTTPHeaderField: "User-Agent")
        }
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            urlRequest.setValue(value, forHTTPHeaderField: name)
        }
        if let token {
            urlRequest.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        return urlRequest
    }

    /// The error for a final non-2xx response.
    private func failure(status: Int, data: Data) -> SyncClientError {
        if let envelope = envelope(data) {
            return .api(status: status, envelope)
        }
        return .http(status: status, bodyPreview: HTTPLogEntry.preview(data))
    }

    private func envelope(_ data: Data) -> APIError? {
        try? JSONDecoder().decode(APIError.self, from: data)
    }

    /// One HTTP exchange. Written over the completion-handler API, which
    /// behaves the same on Apple platforms and in swift-corelibs-foundation.
    private func transfer(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let handle = DataTaskHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>) in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else if let response = response as? HTTPURLResponse {
                        continuation.resume(returning: (data ?? Data(), response))
                    } else {
                        continuation.resume(throwing: URLError(.badServerResponse))
                    }
                }
                handle.start(task)
            }
        } onCancel: {
            handle.cancel()
        }
    }

    // MARK: - Logging

    private func log(_ request: URLRequest, attempt: Int, started: Date, response: HTTPURLResponse? = nil, data: Data = Data(), error: (any Error)? = nil) {
        guard let logger else { return }
        var responseHeaders: [String: String] = [:]
        for (name, value) in response?.allHeaderFields ?? [:] {
            responseHeaders[String(describing: name)] = String(describing: value)
        }
        logger(HTTPLogEntry(
            method: request.httpMethod ?? "GET",
            url: request.url?.absoluteString ?? "",
            attempt: attempt,
            requestHeaders: HTTPLogEntry.redact(request.allHTTPHeaderFields ?? [:]),
            requestBodySize: request.httpBody?.count ?? 0,
            status: response?.statusCode,
            responseHeaders: HTTPLogEntry.redact(responseHeaders),
            bodySize: data.count,
            // Bodies carry customer data (names, emails): only on request.
            bodyPreview: logsBodies ? HTTPLogEntry.preview(data) : "",
            error: error.map { String(describing: $0) },
            duration: Date().timeIntervalSince(started)
        ))
    }
}

/// Lets a cancelled Swift task cancel its URLSession task, whichever comes first.
private final class DataTaskHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var task: URLSessionDataTask?
    private var cancelled = false

    func start(_ task: URLSessionDataTask) {
        lock.lock()
        self.task = task
        let cancelled = self.cancelled
        lock.unlock()
        // Resume even when already cancelled: a cancelled, never-resumed task
        // may not call its completion handler on every platform.
        task.resume()
        if cancelled { task.cancel() }
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let task = self.task
        lock.unlock()
        task?.cancel()
    }
}

/// The observers of whether the server answered the last attempt.
private final class ReachabilityObservers: @unchecked Sendable {
    // @unchecked: behind lock.
    private let lock = NSLock()
    private var handlers: [UUID: @Sendable (Bool) -> Void] = [:]

    func add(_ handler: @escaping @Sendable (Bool) -> Void) -> ChangeSubscription {
        let id = UUID()
        lock.lock()
        handlers[id] = handler
        lock.unlock()
        return ChangeSubscription { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self.handlers[id] = nil
            self.lock.unlock()
        }
    }

    func report(_ reachable: Bool) {
        lock.lock()
        let targets = Array(handlers.values)
        lock.unlock()
        for handler in targets { handler(reachable) }
    }
}
