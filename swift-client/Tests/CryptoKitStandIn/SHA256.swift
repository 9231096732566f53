import Foundation

/// The shape of CryptoKit's `SHA256` (absent on Linux), for
/// PublicAPITests: an app file importing CryptoKit and SyncProxyClient must
/// be able to say `SHA256`. Only the names and signatures matter here.
public struct SHA256 {
    private var bytes: [UInt8] = []

    public init() {}

    public mutating func update(data: Data) { bytes += data }

    public func finalize() -> [UInt8] { bytes }

    public static func hash(data: Data) -> [UInt8] { Array(data) }
}
