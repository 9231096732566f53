import Foundation

/// A value that can be sent as a path, query or header parameter, in its wire spelling.
public protocol ParameterValue: Sendable {
    var parameterValue: String { get }
}

extension String: ParameterValue {
    public var parameterValue: String { self }
}

extension Int: ParameterValue {
    public var parameterValue: String { String(self) }
}

extension Int32: ParameterValue {
    public var parameterValue: String { String(self) }
}

extension Int64: ParameterValue {
    public var parameterValue: String { String(self) }
}

extension Bool: ParameterValue {
    public var parameterValue: String { self ? "true" : "false" }
}

extension Double: ParameterValue {
    public var parameterValue: String { String(self) }
}

extension Float: ParameterValue {
    public var parameterValue: String { String(self) }
}

extension Decimal: ParameterValue {
    public var parameterValue: String { DecimalString.format(self) }
}

extension Date: ParameterValue {
    /// `2025-01-15T12:00:00.000Z`
    public var parameterValue: String { RFC3339.format(self) }
}

extension UUID: ParameterValue {
    public var parameterValue: String { uuidString.lowercased() }
}
