import Foundation

/// Supplies the bearer token (a Supabase/GoTrue access token) for sync calls.
///
/// Errors: a network failure (URLError) surfaces as `SyncClientError.transport`
/// (offline: keep the edits, retry later), never as signed out. Throw
/// `SyncClientError.unauthorized(nil)` when the session is gone for good (the
/// user must sign in again); any other error becomes
/// `SyncClientError.tokenUnavailable`. The client refreshes at most once at a
/// time, however many calls got a 401.
public protocol TokenProvider: Sendable {
    /// The current access token; it may be cached and expired.
    func token() async throws -> String
    /// A fresh access token, after the server rejected the current one with 401.
    func refreshToken() async throws -> String
}

/// A fixed token: for tests, scripts and short-lived tools.
public struct StaticTokenProvider: TokenProvider {
    private let value: String

    public init(_ token: String) { value = token }

    public func token() async throws -> String { value }
    public func refreshToken() async throws -> String { value }
}
