import Foundation

/// Why a call failed, after the retry policy gave up or decided not to retry.
public enum SyncClientError: Error, CustomStringConvertible {
    /// The server answered with the contract's error envelope (400, 403, 404,
    /// 413, 422, and 429/5xx once retries are exhausted).
    case api(status: Int, APIError)
    /// 401 again after one token refresh, or no token could be obtained:
    /// the user has to sign in again.
    case unauthorized(APIError?)
    /// No response: offline, DNS, TLS, connection lost or timed out (after retries).
    case transport(any Error)
    /// A response whose body does not match the contract.
    case decoding(any Error, bodyPreview: String)
    /// A non-2xx response without the error envelope, e.g. from a proxy.
    case http(status: Int, bodyPreview: String)
    /// The request could not be built (a base URL that cannot take the path).
    case invalidRequest(String)

    /// The HTTP status, when a response arrived.
    public var status: Int? {
        switch self {
        case .api(let status, _), .http(let status, _): return status
        case .unauthorized: return 401
        default: return nil
        }
    }

    /// The server's request id, to find the request in its logs.
    public var requestId: String? {
        switch self {
        case .api(_, let envelope): return envelope.requestId
        case .unauthorized(let envelope): return envelope?.requestId
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .api(let status, let envelope):
            return "HTTP \(status) \(envelope.error.rawValue): \(envelope.message) (request \(envelope.requestId))"
        case .unauthorized(let envelope):
            return "unauthorized: \(envelope?.message ?? "no valid token")"
        case .transport(let error):
            return "transport error: \(error)"
        case .decoding(let error, let preview):
            return "response does not match the contract: \(error); body: \(preview)"
        case .http(let status, let preview):
            return "HTTP \(status): \(preview)"
        case .invalidRequest(let reason):
            return "invalid request: \(reason)"
        }
    }
}
