// swift-tools-version:5.9
import PackageDescription

// The manifest sits at the repository root so apps can add this repository by
// URL (SwiftPM only reads a root Package.swift); the package lives in swift-client/.

// Complete concurrency checking: every public type is Sendable, and Swift 6
// language mode would accept this package as is.
let strictConcurrency: [SwiftSetting] = [.enableExperimentalFeature("StrictConcurrency")]

let package = Package(
    name: "SyncProxyClient",
    platforms: [.iOS(.v15), .macOS(.v12), .macCatalyst(.v15)],
    products: [
        .library(name: "SyncProxyClient", targets: ["SyncProxyClient"]),
    ],
    targets: [
        // The system SQLite for the replica. Apple platforms have `import SQLite3`
        // in their SDK; Linux needs libsqlite3-dev (scripts/swift-toolchain.sh
        // installs it into the chroot). No third-party dependency either way.
        .systemLibrary(
            name: "CSQLite",
            path: "swift-client/Sources/CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Sources/SyncProxyClient/Generated is written by `go run ./cmd/swiftgen`
        // from openapi.yaml; Sources/SyncProxyClient/Runtime is hand-written.
        .target(
            name: "SyncProxyClient",
            dependencies: [.target(name: "CSQLite", condition: .when(platforms: [.linux]))],
            path: "swift-client/Sources/SyncProxyClient",
            swiftSettings: strictConcurrency
        ),
        // CryptoKit's SHA256 name and signature where CryptoKit does not exist
        // (Linux), for the test that app code importing both can say SHA256.
        .target(
            name: "CryptoKitStandIn",
            path: "swift-client/Tests/CryptoKitStandIn"
        ),
        .testTarget(
            name: "SyncProxyClientTests",
            dependencies: ["SyncProxyClient", .target(name: "CryptoKitStandIn", condition: .when(platforms: [.linux]))],
            path: "swift-client/Tests/SyncProxyClientTests",
            swiftSettings: strictConcurrency
        ),
    ]
)
