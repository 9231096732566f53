import Foundation

/// A calendar day without a time or time zone, as `date` columns hold it
/// (`valid_until`). On the wire it is `"2025-01-15"`. Keeping it apart from
/// `Date` avoids the classic bug of a day shifting by one across time zones.
public struct DayDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, ParameterValue {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Nil unless the day exists in the Gregorian calendar (years 1...9999).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...CivilDate.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `yyyy-MM-dd`.
    public init?(_ string: String) {
        var scanner = ByteScanner(Array(string.utf8))
        guard let year = scanner.digits(4), scanner.take("-"), let month = scanner.digits(2), scanner.take("-"),
              let day = scanner.digits(2), scanner.atEnd
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The day `date` falls on in `timeZone`.
    public init(_ date: Date, in timeZone: TimeZone = .current) {
        let local = Int((date.timeIntervalSince1970 + Double(timeZone.secondsFromGMT(for: date))).rounded(.down))
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let (year, month, day) = CivilDate.civil(days: days)
        self.year = year
        self.month = month
        self.day = day
    }

    /// Midnight at the start of this day in `timeZone`.
    public func startOfDay(in timeZone: TimeZone = .current) -> Date {
        let utcMidnight = Date(timeIntervalSince1970: Double(CivilDate.days(year: year, month: month, day: day) * 86400))
        // The offset in effect at local midnight, found from the UTC guess.
        let offset = timeZone.secondsFromGMT(for: utcMidnight.addingTimeInterval(-Double(timeZone.secondsFromGMT(for: utcMidnight))))
        return utcMidnight.addingTimeInterval(-Double(offset))
    }

    public var description: String { pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) }

    public var parameterValue: String { description }

    public static func < (lhs: DayDate, rhs: DayDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let value = DayDate(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a day like \"2025-01-15\", got \"\(string)\"")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
