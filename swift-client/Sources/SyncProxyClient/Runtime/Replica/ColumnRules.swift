import Foundation

/// What the server accepts in a column, from the column's write schema in
/// openapi.yaml (generated into `ReplicaSchema.current`, never written by
/// hand). The replica checks every edit against it, so a value the server
/// would refuse with a 400 is refused when it is made, naming the column,
/// instead of being set aside at sync.
public struct ReplicaColumnRules: Sendable, Hashable {
    /// null is not accepted (required columns).
    public var notNull: Bool
    /// Length bounds in characters, counted as the server counts them
    /// (Unicode scalars, not grapheme clusters).
    public var minLength: Int?
    public var maxLength: Int?
    /// A regular expression the whole text must match (`^[A-Z]{3}$`).
    public var pattern: String?
    /// The values an enum column accepts.
    public var allowed: [String]?
    /// Integer bounds.
    public var minimum: Int64?
    public var maximum: Int64?
    /// Decimal precision: digits before the point, and after it (the
    /// column's scale), as written.
    public var integerDigits: Int?
    public var fractionDigits: Int?

    public init(notNull: Bool = false, minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil, allowed: [String]? = nil,
                minimum: Int64? = nil, maximum: Int64? = nil, integerDigits: Int? = nil, fractionDigits: Int? = nil) {
        self.notNull = notNull
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = pattern
        self.allowed = allowed
        self.minimum = minimum
        self.maximum = maximum
        self.integerDigits = integerDigits
        self.fractionDigits = fractionDigits
    }

    /// Why the server would refuse value (the wire form), or nil.
    public func violation(of value: JSONValue) -> ColumnViolation? {
        if value == .null { return notNull ? .null : nil }
        if let text = value.stringValue {
            if integerDigits != nil || fractionDigits != nil {
                return decimalViolation(text)
            }
            let length = text.unicodeScalars.count
            if let minLength, length < minLength { return .tooShort(minimum: minLength) }
            if let maxLength, length > maxLength { return .tooLong(maximum: maxLength) }
            if let allowed, !allowed.contains(text) { return .notAllowed(allowed) }
            if let pattern, !Self.matches(text, pattern) { return .patternMismatch(pattern) }
        }
        if let integer = value.int64Value, minimum != nil || maximum != nil {
            if integer < (minimum ?? .min) || integer > (maximum ?? .max) { return .outOfRange(minimum: minimum, maximum: maximum) }
        }
        return nil
    }

    /// Digits as written (`-12.50`: 2 and 2), as the server's pattern counts them.
    private func decimalViolation(_ text: String) -> ColumnViolation? {
        var body = Substring(text)
        if body.hasPrefix("-") { body = body.dropFirst() }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        let digits = Set("0123456789")
        guard !whole.isEmpty, whole.allSatisfy(digits.contains), fraction.allSatisfy(digits.contains),
              parts.count == 1 || !fraction.isEmpty
        else { return .notADecimal }
        if let integerDigits, whole.count > integerDigits { return .tooManyIntegerDigits(maximum: integerDigits) }
        if let fractionDigits, fraction.count > fractionDigits { return .tooManyFractionDigits(maximum: fractionDigits) }
        return nil
    }

    private static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return true }
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        return regex.firstMatch(in: text, options: [.anchored], range: range).map { $0.range == range } ?? false
    }
}

/// Why an edit's value would be refused by the server.
public enum ColumnViolation: Sendable, Equatable, CustomStringConvertible {
    /// A required column a new row does not set.
    case missing
    /// null in a column that does not take it.
    case null
    case tooShort(minimum: Int)
    case tooLong(maximum: Int)
    /// Not one of the values the column takes.
    case notAllowed([String])
    case patternMismatch(String)
    case outOfRange(minimum: Int64?, maximum: Int64?)
    /// More digits before the point than the column holds.
    case tooManyIntegerDigits(maximum: Int)
    /// More digits after the point than the column's scale: round it first
    /// (`ReplicaColumn.rounded`, `Estimate.rounded(_:toScaleOf:)`).
    case tooManyFractionDigits(maximum: Int)
    case notADecimal

    public var description: String {
        switch self {
        case .missing: return "is required"
        case .null: return "must not be empty (null)"
        case .tooShort(let minimum): return minimum == 1 ? "must not be empty" : "must have at least \(minimum) characters"
        case .tooLong(let maximum): return "must have at most \(maximum) characters"
        case .notAllowed(let values): return "must be one of " + values.joined(separator: ", ")
        case .patternMismatch(let pattern): return "must match \(pattern)"
        case .outOfRange(let minimum, let maximum):
            return "must be between \(minimum.map(String.init) ?? "-∞") and \(maximum.map(String.init) ?? "∞")"
        case .tooManyIntegerDigits(let maximum): return "has more than \(maximum) digits before the decimal point"
        case .tooManyFractionDigits(let maximum): return "has more than \(maximum) digits after the decimal point (round it to the column's scale)"
        case .notADecimal: return "is not a plain decimal number"
        }
    }
}

extension ReplicaTableSchema {
    /// Checks the wire values of an edit against the columns' rules; a new
    /// row (creating) must also set every required column.
    func check(_ values: [String: JSONValue], creating: Bool) throws {
        for name in values.keys.sorted() {
            guard let column = column(name), let value = values[name] else { continue }
            if let violation = column.rules.violation(of: value) {
                throw ReplicaError.invalidColumn(table: self.name, column: name, violation)
            }
        }
        if creating {
            for column in columns where column.role == .required && (values[column.name] ?? .null) == .null {
                throw ReplicaError.invalidColumn(table: name, column: column.name, .missing)
            }
        }
    }
}

extension ReplicaColumn {
    /// value rounded to this column's scale (its fraction digits in
    /// openapi.yaml), e.g. an estimate's `total` after `Decimal(100) / 3`.
    /// A column without a scale gets value back.
    public func rounded(_ value: Decimal, _ mode: NSDecimalNumber.RoundingMode = .plain) -> Decimal {
        guard let scale = rules.fractionDigits else { return value }
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, scale, mode)
        return result
    }
}

/// `Estimate.rounded(total, toScaleOf: "total")` and the same on write rows.
private func roundedValue(_ value: Decimal, table: ReplicaTableSchema, column name: String, _ mode: NSDecimalNumber.RoundingMode) throws -> Decimal {
    guard let column = table.column(name), column.kind == .decimal else {
        throw ReplicaError.invalidValue(column: name, reason: "not a decimal column of \(table.name)")
    }
    return column.rounded(value, mode)
}

extension ReplicaRow {
    /// value rounded to the scale of this table's decimal column (throws for
    /// a name that is not one).
    public static func rounded(_ value: Decimal, toScaleOf column: String, _ mode: NSDecimalNumber.RoundingMode = .plain) throws -> Decimal {
        try roundedValue(value, table: replicaTable, column: column, mode)
    }
}

extension ReplicaWrite {
    /// value rounded to the scale of this table's decimal column (throws for
    /// a name that is not one).
    public static func rounded(_ value: Decimal, toScaleOf column: String, _ mode: NSDecimalNumber.RoundingMode = .plain) throws -> Decimal {
        try roundedValue(value, table: replicaTable, column: column, mode)
    }
}
