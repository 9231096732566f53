import Foundation

/// Why a call failed, after the retry policy gave up or decided not to retry.
public enum SyncClientError: Error, CustomStringConvertible, LocalizedError {
    /// The server answered with the contract's error envelope (400, 403, 404,
    /// 409, 410, 413, 422, and 429/5xx once retries are exhausted).
    case api(status: Int, APIError)
    /// The server rejected the token, again after one refresh: the user has
    /// to sign in again. Never raised for network problems (see `transport`).
    case unauthorized(APIError?)
    /// The token provider failed for a reason other than the network (its own
    /// error is attached): the app decides whether that means signing in again.
    case tokenUnavailable(any Error)
    /// No response: offline, DNS, TLS, connection lost or timed out (after
    /// retries), also while getting or refreshing a token. Retry later.
    case transport(any Error)
    /// A response whose body does not match the contract. The preview is
    /// kept for debugging but never part of `description`: bodies carry customer data.
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

    /// Offline or the server unreachable: keep the local edits and sync later.
    public var isNetworkError: Bool {
        if case .transport = self { return true }
        return false
    }

    /// The user has to sign in again.
    public var requiresSignIn: Bool {
        if case .unauthorized = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .api(let status, let envelope):
            return "HTTP \(status) \(envelope.error.rawValue): \(envelope.message) (request \(envelope.requestId))"
        case .unauthorized(let envelope):
            return "unauthorized: \(envelope?.message ?? "no valid token")"
        case .tokenUnavailable(let error):
            return "no token: \(error)"
        case .transport(let error):
            return "transport error: \(error)"
        case .decoding(let error, _):
            return "response does not match the contract: \(error)"
        case .http(let status, _):
            return "HTTP \(status) without the error envelope"
        case .invalidRequest(let reason):
            return "invalid request: \(reason)"
        }
    }

    /// A sentence for the user.
    public var errorDescription: String? {
        switch self {
        case .transport: return "The sync server cannot be reached. Your changes are kept on this device."
        case .unauthorized: return "Your session has expired. Please sign in again."
        case .tokenUnavailable: return "Signing in to the sync server failed."
        case .api(let status, let envelope) where status == 403: return "No access: \(envelope.message)"
        case .api(_, let envelope): return envelope.message
        case .decoding, .http: return "The sync server sent an unexpected answer."
        case .invalidRequest: return "The sync request could not be built."
        }
    }
}
