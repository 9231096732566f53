// swift-tools-version:5.9
import PackageDescription

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
        // Sources/SyncProxyClient/Generated is written by `go run ./cmd/swiftgen`
        // from openapi.yaml; Sources/SyncProxyClient/Runtime is hand-written.
        .target(name: "SyncProxyClient", swiftSettings: strictConcurrency),
        .testTarget(
            name: "SyncProxyClientTests",
            dependencies: ["SyncProxyClient"],
            swiftSettings: strictConcurrency
        ),
    ]
)
