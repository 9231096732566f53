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
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a decimal string like \"12.50\", got \"\(string)\"")
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

    /// Parses `[+-]digits[.digits][e[+-]digits]`; nil for anything else.
    static func parse(_ string: String) -> Decimal? {
        var scanner = ByteScanner(Array(string.utf8))
        _ = scanner.sign()
        guard scanner.digit() != nil else { return nil }
        while scanner.digit() != nil {}
        if scanner.take(".") {
            guard scanner.digit() != nil else { return nil }
            while scanner.digit() != nil {}
        }
        if scanner.take("e", "E") {
            _ = scanner.sign()
            guard scanner.digit() != nil else { return nil }
            while scanner.digit() != nil {}
        }
        guard scanner.atEnd else { return nil }
        return Decimal(string: string, locale: posix)
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
