import Foundation

/// The contract version this SDK speaks (openapi.yaml's `info.version`); it
/// names the SDK in every request's User-Agent.
public enum SyncProxyClientInfo {
    public static let version = "1.2.0"
}

/// Who a request comes from, as the server's device ledger records it
/// (contract 1.2, "Devices"; `GET /api/sync/devices`): an id made once per
/// install, sent as `X-Device-Id`, and a `User-Agent` naming the app's and
/// the SDK's versions. Get it from the replica, which keeps the id in its
/// file: `try replica.deviceIdentity(appName: "Estimates", appVersion: "2.3")`.
public struct DeviceIdentity: Sendable, Equatable {
    public let id: UUID
    public let userAgent: String

    public init(id: UUID, appName: String, appVersion: String) {
        self.id = id
        self.userAgent = Self.userAgent(appName: appName, appVersion: appVersion)
    }

    /// `Estimates/2.3 SyncProxyClient/1.2.0`: product tokens as HTTP wants
    /// them (no spaces, slashes or control characters inside one).
    public static func userAgent(appName: String, appVersion: String) -> String {
        "\(token(appName))/\(token(appVersion)) SyncProxyClient/\(SyncProxyClientInfo.version)"
    }

    private static func token(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let cleaned = String(String.UnicodeScalarView(s.unicodeScalars.map { allowed.contains($0) ? $0 : "-" }))
        return cleaned.isEmpty ? "unknown" : String(cleaned.prefix(64))
    }
}

extension SQLiteReplica {
    /// This install's device id: made on first use and kept in the replica
    /// file, so it stays the same across launches, resyncs and SDK updates,
    /// and a reinstall (a new file) is a new device.
    public func deviceID() throws -> UUID {
        try writeTransaction { db in
            if let stored = try Self.state(db, "device_id"), let id = UUID(uuidString: stored) {
                return id
            }
            let id = UUID()
            try Self.setState(db, "device_id", id.uuidString.lowercased())
            return id
        }
    }

    /// The identity a `SyncAPIClient` sends for this install (its `device:`).
    public func deviceIdentity(appName: String, appVersion: String) throws -> DeviceIdentity {
        DeviceIdentity(id: try deviceID(), appName: appName, appVersion: appVersion)
    }
}
