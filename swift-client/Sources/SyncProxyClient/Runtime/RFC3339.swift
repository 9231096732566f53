import Foundation

/// Timestamps in the contract's form. Parsing accepts RFC 3339 with and
/// without fractional seconds (Foundation's `.iso8601` strategy rejects
/// fractions, and a fractional ISO8601DateFormatter rejects their absence);
/// formatting always writes UTC milliseconds: `2025-01-15T12:00:00.000Z`.
///
/// Hand-written over the calendar arithmetic so it is Sendable, allocation
/// light and identical on every platform.
enum RFC3339 {
    static func parse(_ string: String) -> Date? {
        var scanner = ByteScanner(Array(string.utf8))
        guard let year = scanner.digits(4), scanner.take("-"),
              let month = scanner.digits(2), scanner.take("-"),
              let day = scanner.digits(2), scanner.take("T", "t", " "),
              let hour = scanner.digits(2), scanner.take(":"),
              let minute = scanner.digits(2), scanner.take(":"),
              let second = scanner.digits(2)
        else { return nil }
        guard (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }

        var fraction = 0.0
        if scanner.take(".") {
            // Up to nanoseconds count; further digits cannot change a Date.
            var numerator = 0
            var denominator = 1
            var count = 0
            while let digit = scanner.digit() {
                if count < 9 {
                    numerator = numerator * 10 + digit
                    denominator *= 10
                }
                count += 1
            }
            guard count > 0 else { return nil }
            fraction = Double(numerator) / Double(denominator)
        }

        var offset = 0
        if scanner.take("Z", "z") {
            offset = 0
        } else if let sign = scanner.sign(), let offsetHours = scanner.digits(2), scanner.take(":"),
                  let offsetMinutes = scanner.digits(2), (0...23).contains(offsetHours), (0...59).contains(offsetMinutes)
        {
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard scanner.atEnd else { return nil }

        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    // 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the range of the form.
    private static let minMilliseconds: Int64 = -62_135_596_800_000
    private static let maxMilliseconds: Int64 = 253_402_300_799_999

    /// Truncates to the millisecond, never rounds: `.9996` stays in its
    /// second (rounding moved it to the next one, and a day boundary with it).
    /// A Date is a Double: `…00.123` may be stored as `…00.12299999`, so a
    /// microsecond of slack keeps exact milliseconds from dropping by one.
    static func format(_ date: Date) -> String {
        let scaled = (date.timeIntervalSince1970 * 1000 + 0.001).rounded(.down)
        var millis: Int64
        if scaled.isNaN {
            millis = 0
        } else if scaled <= Double(minMilliseconds) {
            millis = minMilliseconds
        } else if scaled >= Double(maxMilliseconds) {
            millis = maxMilliseconds
        } else {
            millis = Int64(scaled)
        }
        let (seconds, milli) = floorDivide(millis, 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86400)
        let (year, month, day) = CivilDate.civil(days: Int(days))
        let sod = Int(secondOfDay)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
            + "T" + pad(sod / 3600, 2) + ":" + pad(sod / 60 % 60, 2) + ":" + pad(sod % 60, 2)
            + "." + pad(Int(milli), 3) + "Z"
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }
}

func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// Proleptic Gregorian day arithmetic (Howard Hinnant's days_from_civil).
enum CivilDate {
    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01.
    static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}

/// A cursor over ASCII bytes for the small fixed-form parsers.
struct ByteScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func digit() -> Int? {
        guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
        defer { index += 1 }
        return Int(bytes[index] - 48)
    }

    mutating func digits(_ count: Int) -> Int? {
        let start = index
        var value = 0
        for _ in 0..<count {
            guard let d = digit() else {
                index = start
                return nil
            }
            value = value * 10 + d
        }
        return value
    }

    /// Consumes one of `characters` (ASCII) if it is next.
    mutating func take(_ characters: Unicode.Scalar...) -> Bool {
        guard index < bytes.count, characters.contains(where: { $0.value == UInt32(bytes[index]) }) else {
            return false
        }
        index += 1
        return true
    }

    mutating func sign() -> Int? {
        if take("+") { return 1 }
        if take("-") { return -1 }
        return nil
    }
}
