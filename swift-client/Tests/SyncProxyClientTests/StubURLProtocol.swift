import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import SyncProxyClient

/// A scripted HTTP server behind URLProtocol: answers requests in order from
/// a queue and records what it received.
final class StubServer: @unchecked Sendable {
    enum Reply {
        case response(status: Int, headers: [String: String], body: Data)
        case failure(URLError.Code)
    }

    private let lock = NSLock()
    private var replies: [Reply] = []
    private var received: [URLRequest] = []
    private var bodies: [Data] = []
    /// Answers by path before the queue: `routes["/api/sync/pull"]`.
    private var routes: [String: (URLRequest, Data) -> Reply] = [:]

    /// Answers every request to path with reply (checked before the queue).
    func route(_ path: String, _ reply: @escaping (URLRequest, Data) -> Reply) {
        locked { routes[path] = reply }
    }

    /// The bodies received, in order (URLProtocol may get them as a stream).
    var requestBodies: [Data] { locked { bodies } }

    func enqueue(_ status: Int, _ body: String = "", headers: [String: String] = [:]) {
        var headers = headers
        headers["Content-Type"] = headers["Content-Type"] ?? "application/json"
        locked { replies.append(.response(status: status, headers: headers, body: Data(body.utf8))) }
    }

    func enqueueFailure(_ code: URLError.Code) {
        locked { replies.append(.failure(code)) }
    }

    var requests: [URLRequest] { locked { received } }

    func reset() {
        locked {
            replies.removeAll()
            received.removeAll()
            bodies.removeAll()
            routes.removeAll()
        }
    }

    func next(for request: URLRequest) -> Reply {
        let body = Self.body(of: request)
        let route: ((URLRequest, Data) -> Reply)? = locked {
            received.append(request)
            bodies.append(body)
            return routes[request.url?.path ?? ""]
        }
        if let route { return route(request, body) }
        return locked {
            replies.isEmpty ? .response(status: 599, headers: [:], body: Data("stub: no reply queued".utf8)) : replies.removeFirst()
        }
    }

    static func body(of request: URLRequest) -> Data {
        if let body = request.httpBody { return body }
        guard let stream = request.httpBodyStream else { return Data() }
        stream.open()
        defer { stream.close() }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while stream.hasBytesAvailable {
            let n = stream.read(&buffer, maxLength: buffer.count)
            if n <= 0 { break }
            data.append(buffer, count: n)
        }
        return data
    }

    static func json(_ status: Int, _ value: JSONValue, headers: [String: String] = [:]) -> Reply {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return .response(status: status, headers: headers, body: (try? value.jsonData()) ?? Data())
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

final class StubURLProtocol: URLProtocol {
    /// XCTest runs the tests of one process one after the other, so one shared server suffices.
    static let server = StubServer()

    override class func canInit(with request: URLRequest) -> Bool { true }
    override class func canonicalRequest(for request: URLRequest) -> URLRequest { request }

    override func startLoading() {
        switch StubURLProtocol.server.next(for: request) {
        case .failure(let code):
            client?.urlProtocol(self, didFailWithError: URLError(code))
        case .response(let status, let headers, let body):
            guard let url = request.url,
                  let response = HTTPURLResponse(url: url, statusCode: status, httpVersion: "HTTP/1.1", headerFields: headers)
            else {
                client?.urlProtocol(self, didFailWithError: URLError(.badURL))
                return
            }
            client?.urlProtocol(self, didReceive: response, cacheStoragePolicy: .notAllowed)
            client?.urlProtocol(self, didLoad: body)
            client?.urlProtocolDidFinishLoading(self)
        }
    }

    override func stopLoading() {}
}

/// Records the waits the client asks for, instead of waiting.
actor SleepRecorder {
    private(set) var delays: [TimeInterval] = []
    func record(_ delay: TimeInterval) { delays.append(delay) }
}

/// Hands out token-1, then token-2, ... on refresh; counts refreshes.
actor CountingTokenProvider: TokenProvider {
    private var current = 1
    private(set) var refreshes = 0

    func token() async throws -> String { "token-\(current)" }

    func refreshToken() async throws -> String {
        refreshes += 1
        current += 1
        return "token-\(current)"
    }
}

final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [HTTPLogEntry] = []

    var entries: [HTTPLogEntry] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func append(_ entry: HTTPLogEntry) {
        lock.lock()
        stored.append(entry)
        lock.unlock()
    }
}
