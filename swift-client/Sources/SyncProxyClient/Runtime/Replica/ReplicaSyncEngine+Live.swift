import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Network)
import Network
#endif

extension ReplicaSyncEngine {
    /// How live mode behaves (`runLive(_:)`).
    public struct LiveOptions: Sendable {
        /// Edits made within this time of the first one go out in one push
        /// (debounced and coalesced).
        public var pushDelay: TimeInterval
        /// Seconds the server holds a pull while nothing is new (contract
        /// 1.2 `wait`); kept under the session's request timeout and the
        /// server's `SYNC_MAX_PULL_WAIT` (a 400 naming `wait` halves it).
        public var wait: Int
        /// Backoff after a failure: from `minBackoff`, doubling, up to `maxBackoff` (with jitter).
        public var minBackoff: TimeInterval
        public var maxBackoff: TimeInterval
        /// Against a server that does not hold pulls (before contract 1.2),
        /// how often to pull instead.
        public var pollInterval: TimeInterval

        public init(pushDelay: TimeInterval = 0.05, wait: Int = 25, minBackoff: TimeInterval = 0.5,
                    maxBackoff: TimeInterval = 30, pollInterval: TimeInterval = 15) {
            self.pushDelay = max(0, pushDelay)
            self.wait = max(1, wait)
            self.minBackoff = max(0.01, minBackoff)
            self.maxBackoff = max(self.minBackoff, maxBackoff)
            self.pollInterval = max(1, pollInterval)
        }
    }

    /// Keeps the replica live until the calling task is cancelled: local
    /// edits are pushed within `pushDelay` (about 50 ms), and other devices'
    /// changes arrive through held pulls (`changes()` and `observe` fire as
    /// they are applied). Errors back off and retry; while the device is
    /// offline it waits for the network (NWPathMonitor on Apple platforms;
    /// elsewhere it retries with backoff). `status.isLive` says it runs.
    ///
    /// Tie it to the scene phase: in SwiftUI,
    /// `.task(id: scenePhase) { if scenePhase == .active { await engine.runLive() } }`.
    public func runLive(_ options: LiveOptions = LiveOptions()) async {
        broadcaster.update { $0.isLive = true }
        let edits = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let subscription = replica.hub.subscribe(tables: [ChangeHub.outbox], closed: { edits.continuation.finish() }) { _ in
            edits.continuation.yield()
        }
        let network = NetworkPath()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.livePushes(edits.stream, options, network) }
            group.addTask { await self.livePulls(options, network) }
        }
        subscription.cancel()
        edits.continuation.finish()
        network.stop()
        broadcaster.update { $0.isLive = false }
    }

    /// Pushes what is pending, then again after every edit (once `pushDelay`
    /// has gathered the edits that follow it).
    private func livePushes(_ edits: AsyncStream<Void>, _ options: LiveOptions, _ network: NetworkPath) async {
        var signals = edits.makeAsyncIterator()
        var failures = 0
        var due = (try? replica.pendingChangeCount()) ?? 0 > 0
        while !Task.isCancelled {
            if !due {
                guard await signals.next() != nil else { return }
            }
            due = false
            if options.pushDelay > 0 {
                guard (try? await Task.sleep(nanoseconds: UInt64(options.pushDelay * 1_000_000_000))) != nil else { return }
            }
            guard (try? replica.pendingChangeCount()) ?? 0 > 0 else { continue } // an acknowledgement, not an edit
            do {
                _ = try await flight(pull: false)
                failures = 0
            } catch {
                if Task.isCancelled { return }
                failures += 1
                due = true
                await backOff(failures, after: error, options, network)
            }
        }
    }

    /// Pulls with `wait`, applying what each held pull brings, until cancelled.
    private func livePulls(_ options: LiveOptions, _ network: NetworkPath) async {
        var failures = 0
        // The session gives up on a request after its timeout without data.
        var wait = min(options.wait, max(1, Int(client.requestTimeout) - 5))
        // A sync first, and again after a failure: what piled up meanwhile
        // comes in ordinary (compressed, paged) pulls; held pulls bring the
        // few rows of each push after it.
        var caughtUp = false
        while !Task.isCancelled {
            do {
                if !caughtUp {
                    _ = try await flight(pull: true)
                    caughtUp = true
                    continue
                }
                let started = Date()
                let outcome = try await heldPull(wait: wait)
                failures = 0
                if outcome == .nothing && Date().timeIntervalSince(started) < 1 {
                    // Answered at once with nothing: a server that does not
                    // hold pulls (before 1.2), or one shutting down.
                    guard (try? await Task.sleep(nanoseconds: UInt64(options.pollInterval * 1_000_000_000))) != nil else { return }
                }
            } catch {
                if Task.isCancelled { return }
                if case let .api(status, envelope)? = error as? SyncClientError, status == 400,
                   envelope.details.contains(where: { $0.field == "wait" }), wait > 1 {
                    wait = max(1, wait / 2) // the server's SYNC_MAX_PULL_WAIT is lower
                    continue
                }
                failures += 1
                caughtUp = false
                await backOff(failures, after: error, options, network)
            }
        }
    }

    enum HeldPullOutcome { case nothing, applied }

    /// One held pull from the replica's cursor (a full sync when it has
    /// none); its page is applied only if no other pull moved the cursor
    /// meanwhile, and the pages after it come by an ordinary pull.
    func heldPull(wait: Int) async throws -> HeldPullOutcome {
        guard let cursor = try replica.cursor(), !(try replica.isFullPull()) else {
            _ = try await flight(pull: true)
            return .applied
        }
        var request = APIRequest(method: "GET", path: "/api/sync/pull", requiresAuth: true)
        request.addQuery("cursor", cursor)
        request.addQuery("limit", configuration.pullPageSize)
        request.addQuery("tables", replica.schema.tables.map(\.name), explode: false)
        request.addQuery("wait", wait)
        let (status, body) = try await client.sendRaw(request, passing: [410])
        if status == 410 {
            _ = try await flight(pull: true) // the ordinary pull resyncs
            return .applied
        }
        guard try replica.cursor() == cursor else { return .applied } // a sync pulled meanwhile: go on from its cursor
        let json: JSONValue
        do {
            json = try JSONValue(json: body)
        } catch {
            throw SyncClientError.decoding(error, bodyPreview: "")
        }
        let page = try PulledPage(json: json, tables: replica.schema.tables)
        let applied = try replica.apply(page)
        var report = ReplicaSyncReport()
        quarantine(applied.quarantined, &report)
        broadcaster.update {
            $0.pulledRows += page.rowCount
            $0.isOffline = false
            $0.lastError = nil
            $0.lastSyncedAt = Date()
        }
        if page.hasMore { _ = try await flight(pull: true) }
        return page.rowCount == 0 && !page.hasMore ? .nothing : .applied
    }

    /// Waits before the next attempt: exponential backoff with jitter; while
    /// the network is down, until it is back (at most the backoff on
    /// platforms that cannot tell).
    private func backOff(_ failures: Int, after error: any Error, _ options: LiveOptions, _ network: NetworkPath) async {
        let offline = (error as? SyncClientError)?.isNetworkError ?? RetryPolicy.isNetworkError(error)
        broadcaster.update {
            $0.isOffline = offline
            $0.lastError = (error as? LocalizedError)?.errorDescription ?? String(describing: type(of: error))
        }
        let exponential = min(options.maxBackoff, options.minBackoff * pow(2, Double(min(failures, 30) - 1)))
        let delay = exponential / 2 + Double.random(in: 0...(exponential / 2))
        if offline {
            await network.waitUntilOnline(atMost: options.maxBackoff)
        } else {
            try? await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
        }
    }
}

/// Whether the device has a network path: NWPathMonitor where the Network
/// framework exists; elsewhere nothing can tell, and waiting is a backoff.
final class NetworkPath: @unchecked Sendable {
    // @unchecked: state behind lock.
    private let lock = NSLock()
    private var online = true
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    private var released: Set<UUID> = [] // released before they waited
    #if canImport(Network)
    private let monitor = NWPathMonitor()
    #endif

    init() {
        #if canImport(Network)
        monitor.pathUpdateHandler = { [weak self] path in self?.set(online: path.status == .satisfied) }
        monitor.start(queue: DispatchQueue(label: "syncproxy.live.network"))
        #endif
    }

    func stop() {
        #if canImport(Network)
        monitor.cancel()
        #endif
        set(online: true) // nobody waits for a monitor that stopped
    }

    private func set(online: Bool) {
        lock.lock()
        self.online = online
        let resumed = online ? Array(waiters.values) : []
        if online { waiters = [:] }
        lock.unlock()
        for waiter in resumed { waiter.resume() }
    }

    /// Returns when the path is back, or after `seconds`, or when the task is cancelled.
    func waitUntilOnline(atMost seconds: TimeInterval) async {
        #if canImport(Network)
        let id = UUID()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        self.lock.lock()
                        if self.online || self.released.remove(id) != nil {
                            self.lock.unlock()
                            continuation.resume()
                            return
                        }
                        self.waiters[id] = continuation
                        self.lock.unlock()
                    }
                }
                group.addTask { try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000)) }
                await group.next()
                group.cancelAll()
                self.release(id)
            }
            self.forget(id)
        } onCancel: {
            self.release(id)
        }
        #else
        try? await Task.sleep(nanoseconds: UInt64(min(seconds, 2) * 1_000_000_000))
        #endif
    }

    private func forget(_ id: UUID) {
        lock.lock()
        released.remove(id)
        lock.unlock()
    }

    private func release(_ id: UUID) {
        lock.lock()
        let waiter = waiters.removeValue(forKey: id)
        if waiter == nil { released.insert(id) }
        lock.unlock()
        waiter?.resume()
    }
}
