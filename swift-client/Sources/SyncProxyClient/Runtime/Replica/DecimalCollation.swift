import Foundation
#if canImport(SQLite3)
import SQLite3
#else
import CSQLite
#endif

/// The `DECIMAL` collation of the replica's decimal columns: they are stored
/// as the server spells them (exact text), and compared as the numbers they
/// are, digit by digit, never through a Double. With it `ORDER BY unit_cost`
/// gives -1, 0.75, 9.5, 10, 100 (as TEXT: -1, 0.75, 10, 100, 9.5), and
/// `unit_cost > ?` with 9 holds for 9.5, 10 and 100; `12.50` equals `12.5`.
///
/// SQLite uses a column's collation for ORDER BY, min/max and comparisons
/// with the column (a bound number is compared as its text). Arithmetic
/// (`unit_cost * 2`) is SQLite's own and goes through floating point.
enum DecimalCollation {
    static let name = "DECIMAL"

    static func register(on db: OpaquePointer) throws {
        let rc = sqlite3_create_collation_v2(db, name, SQLITE_UTF8, nil, { _, lhsCount, lhs, rhsCount, rhs in
            let a = UnsafeRawBufferPointer(start: lhs, count: Int(lhsCount))
            let b = UnsafeRawBufferPointer(start: rhs, count: Int(rhsCount))
            return Int32(DecimalCollation.compare(a, b))
        }, nil)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)))
        }
    }

    /// A decimal string's parts: sign, integer digits without leading zeros,
    /// fraction digits without trailing zeros (ranges into the bytes).
    private struct Parts {
        var negative: Bool
        var integer: Range<Int>
        var fraction: Range<Int>
        var isZero: Bool { integer.isEmpty && fraction.isEmpty }
    }

    /// `[+-]digits[.digits]` (or `.5`, `5.`); nil for anything else.
    private static func parse(_ s: UnsafeRawBufferPointer) -> Parts? {
        let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
        var i = 0
        var negative = false
        if i < s.count, s[i] == UInt8(ascii: "-") || s[i] == UInt8(ascii: "+") {
            negative = s[i] == UInt8(ascii: "-")
            i += 1
        }
        var intStart = i
        while i < s.count, s[i] >= zero, s[i] <= nine { i += 1 }
        let intEnd = i
        var fracStart = i, fracEnd = i
        if i < s.count, s[i] == UInt8(ascii: ".") {
            i += 1
            fracStart = i
            while i < s.count, s[i] >= zero, s[i] <= nine { i += 1 }
            fracEnd = i
        }
        guard i == s.count, intEnd > intStart || fracEnd > fracStart else { return nil }
        while intStart < intEnd, s[intStart] == zero { intStart += 1 }
        while fracEnd > fracStart, s[fracEnd - 1] == zero { fracEnd -= 1 }
        return Parts(negative: negative, integer: intStart..<intEnd, fraction: fracStart..<fracEnd)
    }

    /// -1, 0 or 1. Numbers order by value; text that is not a decimal sorts
    /// after every number, byte by byte (a total order, as SQLite requires).
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        switch (parse(a), parse(b)) {
        case (nil, nil): return bytes(a, b)
        case (nil, _): return 1
        case (_, nil): return -1
        case let (x?, y?):
            let sx = x.isZero ? 0 : (x.negative ? -1 : 1)
            let sy = y.isZero ? 0 : (y.negative ? -1 : 1)
            if sx != sy { return sx < sy ? -1 : 1 }
            if sx == 0 { return 0 }
            let magnitude = compareMagnitude(a, x, b, y)
            return sx > 0 ? magnitude : -magnitude
        }
    }

    private static func compareMagnitude(_ a: UnsafeRawBufferPointer, _ x: Parts, _ b: UnsafeRawBufferPointer, _ y: Parts) -> Int {
        if x.integer.count != y.integer.count { return x.integer.count < y.integer.count ? -1 : 1 }
        for (i, j) in zip(x.integer, y.integer) where a[i] != b[j] {
            return a[i] < b[j] ? -1 : 1
        }
        for (i, j) in zip(x.fraction, y.fraction) where a[i] != b[j] {
            return a[i] < b[j] ? -1 : 1
        }
        // Equal so far; trailing zeros are gone, so more digits is more.
        if x.fraction.count != y.fraction.count { return x.fraction.count < y.fraction.count ? -1 : 1 }
        return 0
    }

    private static func bytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        for (p, q) in zip(a, b) where p != q {
            return p < q ? -1 : 1
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}
