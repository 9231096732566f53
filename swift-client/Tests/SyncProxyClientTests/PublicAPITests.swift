import Foundation
import XCTest
import SyncProxyClient // as an app imports it: the public API only
#if canImport(CryptoKit)
import CryptoKit
#else
import CryptoKitStandIn
#endif

/// The SDK's public names next to the ones app code already uses.
final class PublicAPITests: XCTestCase {
    /// Issue 20: the SDK's SHA-256 (for the replica digest) was a public
    /// `SHA256`, so an app file that imported CryptoKit and the SDK could no
    /// longer name CryptoKit's type ("'SHA256' is ambiguous for type lookup").
    /// This file is such a file: it compiles only while the SDK exports no
    /// `SHA256`.
    func testAppCode_ImportingCryptoKitAndTheSDK_CanNameSHA256() {
        var hasher: SHA256 = SHA256()
        hasher.update(data: Data("abc".utf8))
        XCTAssertFalse(Array(hasher.finalize()).isEmpty)
        let entry: DeleteEntry = .id(UUID(uuidString: "5f0c4f4e-3c1b-4a7e-9d2f-6a8b9c0d1e2f")!, baseVersion: 3)
        XCTAssertEqual(entry.baseVersion, 3)
    }
}
