import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SyncProxyClient

/// Contract 1.2, "Devices": an install's id is made once and kept in its
/// replica file, and every request carries it (X-Device-Id) with a
/// User-Agent naming the app's and the SDK's versions.
final class DeviceTests: ReplicaTestCase {
    func testDeviceID_MadeOnce_KeptInTheReplicaFile() throws {
        var replica: SQLiteReplica? = try openReplica()
        let first = try XCTUnwrap(replica).deviceID()
        XCTAssertEqual(try XCTUnwrap(replica).deviceID(), first, "asked twice, one id")
        replica?.close()
        replica = nil

        let reopened = try openReplica()
        XCTAssertEqual(try reopened.deviceID(), first, "the id survives a relaunch (the same file)")
        reopened.close()

        // A reinstall: a new file, a new device.
        let firstDirectory = directory!
        defer { try? FileManager.default.removeItem(at: firstDirectory) }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("replica-tests-\(UUID().uuidString)")
        let other = try openReplica()
        XCTAssertNotEqual(try other.deviceID(), first)
        other.close()
    }

    func testClient_SendsDeviceIdAndUserAgent_OnEveryRequest() async throws {
        routeBasics()
        let replica = try openReplica()
        let identity = try replica.deviceIdentity(appName: "Estimates", appVersion: "2.3")
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubURLProtocol.self]
        let plain = SyncAPIClient(baseURL: URL(string: "https://sync.test")!, tokenProvider: StaticTokenProvider("t"),
                                  session: URLSession(configuration: configuration),
                                  retryPolicy: RetryPolicy(maxAttempts: 1, initialBackoff: 0, maxBackoff: 0))
        _ = try await plain.getCanary()
        XCTAssertNil(server.requests.last?.value(forHTTPHeaderField: "X-Device-Id"), "no identity, no header")
        server.reset()
        routeBasics()

        // As an app starts: canary first, then the replica, then the client as this install.
        let client = plain.with(device: identity)
        _ = try await client.getCanary()
        _ = try await client.pullChanges(cursor: nil, since: nil, limit: nil, tables: nil)
        XCTAssertEqual(server.requests.count, 2)
        for request in server.requests {
            XCTAssertEqual(request.value(forHTTPHeaderField: "X-Device-Id"), try replica.deviceID().uuidString.lowercased())
            XCTAssertEqual(request.value(forHTTPHeaderField: "User-Agent"), "Estimates/2.3 SyncProxyClient/\(SyncProxyClientInfo.version)")
        }
        replica.close()
    }

    func testUserAgent_AppNameAndVersionAreTokens() {
        XCTAssertEqual(DeviceIdentity.userAgent(appName: "My Estimates", appVersion: "2.3 (45)"),
                       "My-Estimates/2.3--45- SyncProxyClient/\(SyncProxyClientInfo.version)")
        XCTAssertEqual(DeviceIdentity.userAgent(appName: "", appVersion: "1\r\nX-Evil: 1"),
                       "unknown/1--X-Evil--1 SyncProxyClient/\(SyncProxyClientInfo.version)")
    }

    /// SyncProxyClientInfo.version is written by hand: it must follow the
    /// spec (scripts/test-swift.sh exports openapi.yaml's info.version).
    func testSDKVersion_IsTheSpecsVersion() throws {
        guard let spec = ProcessInfo.processInfo.environment["SYNC_SPEC_VERSION"], !spec.isEmpty else {
            throw XCTSkip("SYNC_SPEC_VERSION is not set (make test-swift sets it)")
        }
        XCTAssertEqual(SyncProxyClientInfo.version, spec)
    }

    /// Against the live server: this install shows in GET /api/sync/devices
    /// with its user agent and the version it pulled up to.
    func testLive_TheLedgerListsThisInstall() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let base = env["SYNC_BASE_URL"], !base.isEmpty, let url = URL(string: base),
              let token = env["SYNC_TOKEN"], !token.isEmpty
        else {
            let message = "SYNC_BASE_URL and SYNC_TOKEN are not set: no live server to test against"
            if env["SYNC_REQUIRE_LIVE"] == "1" { XCTFail(message + " (SYNC_REQUIRE_LIVE=1)"); return }
            throw XCTSkip(message)
        }
        let identity = DeviceIdentity(id: UUID(), appName: "DeviceTests", appVersion: "1.0")
        let client = SyncAPIClient(baseURL: url, tokenProvider: StaticTokenProvider(token),
                                   retryPolicy: RetryPolicy(maxAttempts: 3, initialBackoff: 0.2, maxBackoff: 2, maxRetryAfter: 5),
                                   device: identity)
        var cursor: String?
        var page: SyncPullResponse
        repeat {
            page = try await client.pullChanges(cursor: cursor, since: nil, limit: 1000, tables: nil)
            cursor = page.cursor
        } while page.hasMore

        // The ledger is written about once a second.
        let deadline = Date().addingTimeInterval(15)
        var mine: Device?
        while Date() < deadline {
            mine = try await client.listDevices().devices.first { $0.deviceId == identity.id }
            if mine != nil { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let device = try XCTUnwrap(mine, "this install never showed in GET /api/sync/devices")
        XCTAssertEqual(device.userAgent, identity.userAgent)
        XCTAssertGreaterThanOrEqual(device.pulls, 1)
        XCTAssertNotNil(device.pulledVersion, "a complete pull sets the version pulled up to")
        XCTAssertNotNil(device.lastPullAt)
        XCTAssertNil(device.lastPushAt)
    }
}
