import Foundation

/// One token refresh at a time. Eight calls that all get a 401 for the same
/// token make one `refreshToken()` call and all retry with its result; a call
/// whose token was already replaced by another call's refresh just retries
/// with the new one. Actors are reentrant, so the refresh in flight is an
/// explicit Task that later callers await, not a flag.
actor TokenCoordinator {
    private let provider: any TokenProvider
    /// The token the last refresh produced: a call rejected with an older one retries with it.
    private var refreshed: String?
    private var refreshing: Task<String, any Error>?

    init(_ provider: any TokenProvider) { self.provider = provider }

    func current() async throws -> String {
        if let refreshing { return try await Self.classify { try await refreshing.value } }
        let provider = self.provider
        return try await Self.classify { try await provider.token() }
    }

    /// A token to retry with after the server rejected `rejected`.
    func refresh(after rejected: String) async throws -> String {
        if let refreshing { return try await Self.classify { try await refreshing.value } }
        if let refreshed, refreshed != rejected { return refreshed }
        let provider = self.provider
        let task = Task { try await provider.refreshToken() }
        refreshing = task
        defer { refreshing = nil }
        let token = try await Self.classify { try await task.value }
        refreshed = token
        return token
    }

    /// Keeps "offline" apart from "signed out": a network failure while
    /// getting a token is a transport error (retry later), not `.unauthorized`
    /// (which tells the app to show the sign-in screen).
    private static func classify(_ body: () async throws -> String) async throws -> String {
        do {
            return try await body()
        } catch let error as SyncClientError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if RetryPolicy.isNetworkError(error) { throw SyncClientError.transport(error) }
            throw SyncClientError.tokenUnavailable(error)
        }
    }
}
