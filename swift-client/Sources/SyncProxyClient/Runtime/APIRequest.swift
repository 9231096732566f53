import Foundation

/// One API call as the generated operations describe it, before the client
/// adds the base URL, the token and the retry policy.
public struct APIRequest: Sendable, Equatable {
    public var method: String
    /// The path template with its parameters filled in, e.g. `/api/sync/pull`.
    public var path: String
    public var requiresAuth: Bool
    /// `name=value` pairs, already percent-encoded.
    public private(set) var encodedQuery: [String] = []
    public var headers: [String: String] = [:]
    public var body: Data?
    public var accept = "application/json"

    public init(method: String, path: String, requiresAuth: Bool) {
        self.method = method
        self.path = path
        self.requiresAuth = requiresAuth
    }

    public mutating func setPathParameter<Value: ParameterValue>(_ name: String, _ value: Value) {
        path = path.replacingOccurrences(of: "{\(name)}", with: percentEncoded(value.parameterValue))
    }

    public mutating func setPathParameter<Value: ParameterValue>(_ name: String, _ values: [Value]) {
        let joined = values.map { percentEncoded($0.parameterValue) }.joined(separator: ",")
        path = path.replacingOccurrences(of: "{\(name)}", with: joined)
    }

    /// Adds `name=value`; nil adds nothing.
    public mutating func addQuery<Value: ParameterValue>(_ name: String, _ value: Value?) {
        guard let value else { return }
        encodedQuery.append(percentEncoded(name) + "=" + percentEncoded(value.parameterValue))
    }

    /// Adds an array as `name=a&name=b` (explode) or `name=a,b`; nil or empty adds nothing.
    public mutating func addQuery<Value: ParameterValue>(_ name: String, _ values: [Value]?, explode: Bool) {
        guard let values, !values.isEmpty else { return }
        if explode {
            for value in values { addQuery(name, value) }
        } else {
            let joined = values.map { percentEncoded($0.parameterValue) }.joined(separator: ",")
            encodedQuery.append(percentEncoded(name) + "=" + joined)
        }
    }

    /// Sets a header; nil leaves it unset.
    public mutating func setHeader<Value: ParameterValue>(_ name: String, _ value: Value?) {
        guard let value else { return }
        headers[name] = value.parameterValue
    }

    public mutating func setHeader<Value: ParameterValue>(_ name: String, _ values: [Value]?) {
        guard let values else { return }
        headers[name] = values.map(\.parameterValue).joined(separator: ",")
    }

    /// Encodes body as JSON. Keys are sorted so the same value always gives
    /// the same bytes: a push replayed with its Idempotency-Key must be the
    /// same body, or the server answers 422.
    public mutating func setJSONBody<Body: Encodable>(_ value: Body?) throws {
        guard let value else {
            body = nil
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        body = try encoder.encode(value)
        headers["Content-Type"] = "application/json"
    }

    /// Whether repeating the request could apply it twice (all but GET, HEAD, OPTIONS).
    var isUnsafe: Bool { !["GET", "HEAD", "OPTIONS"].contains(method.uppercased()) }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so `+`,
/// `,`, `&` and `=` inside a value (an opaque cursor, a time offset) survive.
func percentEncoded(_ string: String) -> String {
    var out = ""
    out.reserveCapacity(string.utf8.count)
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
        }
    }
    return out
}
