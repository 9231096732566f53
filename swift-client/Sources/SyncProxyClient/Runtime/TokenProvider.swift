import Foundation

/// Supplies the bearer token (a Supabase/GoTrue access token) for sync calls.
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
