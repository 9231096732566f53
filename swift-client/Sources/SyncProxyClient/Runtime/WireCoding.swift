import Foundation

// The wire forms the generated models decode and encode explicitly, so a model
// reads and writes the contract's JSON whatever strategies the JSONDecoder or
// JSONEncoder at hand was configured with.

/// A `date-time` field: RFC 3339 in, `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` out.
struct TimestampString: Codable, Sendable {
    let value: Date

    init(_ value: Date) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let date = RFC3339.parse(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an RFC 3339 timestamp, got \"\(string)\"")
        }
        value = date
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(RFC3339.format(value))
    }
}

/// A `decimal` field: a JSON string such as `"1234.50"`, parsed digit by digit
/// into `Decimal`. Decoding a JSON number would go through `Double`, so
/// numbers are rejected rather than silently rounded.
struct DecimalString: Codable, Sendable {
    let value: Decimal

    init(_ value: Decimal) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let decimal = DecimalString.parse(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a decimal string like \"12.50\" with at most \(DecimalString.maxSignificantDigits) significant digits, got \"\(string.prefix(60))\"")
        }
        value = decimal
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        guard !value.isNaN else {
            throw EncodingError.invalidValue(value, .init(codingPath: encoder.codingPath, debugDescription: "NaN is not a decimal"))
        }
        try container.encode(DecimalString.format(value))
    }

    private static let posix = Locale(identifier: "en_US_POSIX")

    /// Foundation's Decimal holds 38 significant digits (a 128-bit mantissa)
    /// and an exponent in -128...127; beyond that `Decimal(string:)` silently
    /// drops digits (a 40-digit value became its integer part), so such input
    /// is rejected here instead: an overflow is an error, never a truncation.
    static let maxSignificantDigits = 38

    /// Parses `[+-]digits[.digits][e[+-]digits]`; nil for anything else and
    /// for values Decimal cannot hold exactly.
    static func parse(_ string: String) -> Decimal? {
        var scanner = ByteScanner(Array(string.utf8))
        _ = scanner.sign()
        var integerDigits: [Int] = []
        var fractionDigits: [Int] = []
        guard let first = scanner.digit() else { return nil }
        integerDigits.append(first)
        while let d = scanner.digit() { integerDigits.append(d) }
        if scanner.take(".") {
            guard let d = scanner.digit() else { return nil }
            fractionDigits.append(d)
            while let d = scanner.digit() { fractionDigits.append(d) }
        }
        var exponent = 0
        if scanner.take("e", "E") {
            let sign = scanner.sign() ?? 1
            guard let d = scanner.digit() else { return nil }
            var value = d
            while let d = scanner.digit() {
                value = value * 10 + d
                if value > 100_000 { return nil }
            }
            exponent = sign * value
        }
        guard scanner.atEnd else { return nil }

        // The significant digits, without leading and trailing zeros, and the
        // power of ten of the last one.
        var digits = integerDigits + fractionDigits
        var scale = exponent - fractionDigits.count
        while let last = digits.last, last == 0, digits.count > 1 {
            digits.removeLast()
            scale += 1
        }
        while let firstDigit = digits.first, firstDigit == 0, digits.count > 1 {
            digits.removeFirst()
        }
        if digits == [0] { return Decimal(0) }
        guard digits.count <= maxSignificantDigits, (-128...127).contains(scale) else { return nil }
        guard let decimal = Decimal(string: string, locale: posix) else { return nil }
        // Belt and braces: the value must come back with the same digits.
        var check = decimal
        var rounded = Decimal()
        NSDecimalRound(&rounded, &check, max(0, -scale), .plain)
        guard rounded == decimal else { return nil }
        return decimal
    }

    /// Plain digits with a `.`, never exponent notation: `1234.5`.
    static func format(_ value: Decimal) -> String {
        value.description
    }
}

/// A `uuid` field, written in the canonical lowercase form (Foundation's
/// `uuidString` is uppercase).
struct UUIDString: Codable, Sendable {
    let value: UUID

    init(_ value: UUID) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let uuid = UUID(uuidString: string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a UUID, got \"\(string)\"")
        }
        value = uuid
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value.uuidString.lowercased())
    }
}

extension KeyedDecodingContainer {
    /// A key the schema requires but allows to be null: null is nil, a missing
    /// key is an error (the server broke the contract).
    func decodeNullable<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "required key \"\(key.stringValue)\" is missing (it may be null, not absent)"))
        }
        return try decodeNil(forKey: key) ? nil : decode(T.self, forKey: key)
    }
}

extension KeyedEncodingContainer {
    /// Writes a required, nullable key: nil becomes `null`, never an absent key.
    mutating func encodeNullable<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value {
            try encode(value, forKey: key)
        } else {
            try encodeNil(forKey: key)
        }
    }
}
