import Foundation

/// One HTTP attempt, for a debug logging hook. Credentials are redacted.
public struct HTTPLogEntry: Sendable {
    public var method: String
    public var url: String
    /// 1 for the first attempt of a call, 2 for its first retry, ...
    public var attempt: Int
    /// Request headers; Authorization (and cookies) redacted.
    public var requestHeaders: [String: String]
    public var requestBodySize: Int
    /// Nil when no response arrived.
    public var status: Int?
    public var responseHeaders: [String: String]
    /// Size of the response body in bytes.
    public var bodySize: Int
    /// The first 500 characters of the response body, only when the client
    /// was created with `logResponseBodies: true` (bodies carry customer data);
    /// else empty.
    public var bodyPreview: String
    /// The transport error, when no response arrived.
    public var error: String?
    public var duration: TimeInterval

    static let previewLength = 500
    static let redacted = "<redacted>"
    private static let secretHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie"]

    static func redact(_ headers: [String: String]) -> [String: String] {
        var out = headers
        for name in headers.keys where secretHeaders.contains(name.lowercased()) {
            out[name] = redacted
        }
        return out
    }

    static func preview(_ data: Data) -> String {
        // 4 bytes per character at most: decoding a bounded prefix is enough.
        String(String(decoding: data.prefix(previewLength * 4), as: UTF8.self).prefix(previewLength))
    }
}

/// Receives one entry per HTTP attempt. Called on an arbitrary task.
public typealias HTTPLogger = @Sendable (HTTPLogEntry) -> Void

extension HTTPLogEntry {
    /// One line without query string, headers or bodies:
    /// `POST /api/sync/push #1 -> 200 (512 B up, 1204 B down, 0.031 s)`.
    public var summary: String {
        let path = URL(string: url)?.path ?? ""
        let outcome = status.map(String.init) ?? "no response (\(error ?? "?"))"
        return "\(method) \(path) #\(attempt) -> \(outcome) (\(requestBodySize) B up, \(bodySize) B down, \(String(format: "%.3f", duration)) s)"
    }
}

extension SyncAPIClient {
    /// A logger for apps that want one: `summary` per attempt to standard
    /// output. It never logs bodies, query strings or credentials, so no
    /// customer name, email or token reaches a device log.
    public static let standardLogger: HTTPLogger = { entry in print("[syncproxy] " + entry.summary) }
}
