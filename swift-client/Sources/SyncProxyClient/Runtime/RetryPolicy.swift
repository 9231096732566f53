import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// When and how long to wait before repeating a request, as the error table
/// of docs/contract.md ("Errors") says: 5xx, 429, timeouts and connection
/// errors are retried with exponential backoff and jitter, and a server's
/// `Retry-After` is honoured; other 4xx never are. (401 is not a retry: the client refreshes the token once.)
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts per call, the first included; 1 never retries.
    public var maxAttempts: Int
    /// Wait before the first retry; it doubles with every further retry.
    public var initialBackoff: TimeInterval
    /// Upper bound of the exponential backoff.
    public var maxBackoff: TimeInterval
    /// Upper bound of a server's `Retry-After`, so a bad header cannot park the app.
    public var maxRetryAfter: TimeInterval

    public init(maxAttempts: Int = 5, initialBackoff: TimeInterval = 0.5, maxBackoff: TimeInterval = 30, maxRetryAfter: TimeInterval = 60) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxRetryAfter = maxRetryAfter
    }

    public static let `default` = RetryPolicy()
    public static let never = RetryPolicy(maxAttempts: 1)

    /// 429 and every 5xx; never another 4xx (the request itself is wrong).
    public static func isRetryable(status: Int) -> Bool {
        status == 429 || (500...599).contains(status)
    }

    /// Timeouts and failures to reach the server; not TLS or malformed URLs,
    /// and not "the device has no network at all" (`notConnectedToInternet`):
    /// retrying within the call cannot help there, and the call would keep
    /// the app waiting for seconds before it says it is offline. Sync again
    /// when the network path is back (NWPathMonitor).
    public static func isRetryable(error: any Error) -> Bool {
        let code: Int
        if let urlError = error as? URLError {
            code = urlError.code.rawValue
        } else {
            let nsError = error as NSError
            guard nsError.domain == NSURLErrorDomain else { return false }
            code = nsError.code
        }
        return transientURLErrorCodes.contains(code)
    }

    /// Any failure to talk to the server (URLError / NSURLErrorDomain):
    /// offline, DNS, TLS, timeouts. Used to keep "offline" apart from "signed out".
    public static func isNetworkError(_ error: any Error) -> Bool {
        if error is URLError { return true }
        return (error as NSError).domain == NSURLErrorDomain
    }

    private static let transientURLErrorCodes: Set<Int> = [
        URLError.timedOut.rawValue,
        URLError.cannotFindHost.rawValue,
        URLError.cannotConnectToHost.rawValue,
        URLError.networkConnectionLost.rawValue,
        URLError.dnsLookupFailed.rawValue,
    ]

    /// The wait before retry number `retry` (1 for the first retry): the
    /// server's Retry-After when it sent one (capped), else exponential
    /// backoff with equal jitter (half fixed, half random, so clients that
    /// failed together do not retry together). `random` is in 0...1.
    public func delay(beforeRetry retry: Int, retryAfter: TimeInterval?, random: Double = .random(in: 0...1)) -> TimeInterval {
        if let retryAfter {
            return min(max(retryAfter, 0), maxRetryAfter)
        }
        let exponential = min(maxBackoff, initialBackoff * pow(2, Double(max(retry, 1) - 1)))
        return exponential / 2 + exponential / 2 * min(max(random, 0), 1)
    }

    /// Parses `Retry-After`: delta seconds, or an HTTP date relative to `now`.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> TimeInterval? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite {
            return max(0, seconds)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
