import Foundation
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 1: money sorted and filtered as text
/// (`orderBy: "unit_cost"` gave -1, 0.75, 10, 100, 9.5; `unit_cost > 9` counted 1).
final class DecimalOrderTests: ReplicaTestCase {
    private func items(_ replica: SQLiteReplica, _ costs: [String]) throws {
        for cost in costs {
            try replica.insert(CostbookItemWrite(id: UUID(), name: "cost \(cost)", unitCost: Decimal(string: cost)))
        }
    }

    func testDecimalColumns_OrderAndCompareAsNumbers() throws {
        let replica = try openReplica()
        try items(replica, ["-1", "0.75", "10", "100", "9.5"])
        try replica.insert(CostbookItemWrite(id: UUID(), name: "no cost"))

        let ascending = try replica.costbookItems.all(where: "unit_cost IS NOT NULL", orderBy: "unit_cost").compactMap(\.unitCost)
        XCTAssertEqual(ascending, ["-1", "0.75", "9.5", "10", "100"].map { Decimal(string: $0)! })
        let descending = try replica.costbookItems.all(where: "unit_cost IS NOT NULL", orderBy: "unit_cost DESC").compactMap(\.unitCost)
        XCTAssertEqual(descending, ascending.reversed())
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost > ?", [9]), 3)
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost > ?", [.text("9.75")]), 2)
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost BETWEEN ? AND ?", [0, 10]), 3)
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost = ?", [.text("10.000")]), 1, "10 equals 10.000")
        XCTAssertEqual(try replica.costbookItems.count(where: "? < unit_cost", [0]), 4, "the column's collation on either side")
        let extremes = try replica.read { db in try db.query("SELECT min(unit_cost), max(unit_cost) FROM costbook_items").first }
        XCTAssertEqual(extremes, [.text("-1"), .text("100")])
    }

    func testDecimalColumns_ExactBeyondWhatADoubleHolds() throws {
        let replica = try openReplica()
        // Equal as Doubles, different as decimals.
        let a = "12345678901234567890.1234567891", b = "12345678901234567890.1234567890", c = "12345678901234567890.123456789"
        _ = try replica.apply(PulledPage(cursor: "c1", hasMore: false, serverTime: nil, rows: ["costbook_items": [
            item(UUID(), name: "a", unitCost: a, version: 1), item(UUID(), name: "b", unitCost: b, version: 1),
        ]], deleted: [:]))
        XCTAssertEqual(try replica.costbookItems.all(orderBy: "unit_cost").map(\.name), ["b", "a"])
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost = ?", [.text(c)]), 1, "trailing zeros do not count")
        XCTAssertEqual(try replica.costbookItems.count(where: "unit_cost > ?", [.text(c)]), 1)
    }

    func testCollation_IsATotalOrder_TextAfterNumbers() {
        func compare(_ a: String, _ b: String) -> Int {
            Array(a.utf8).withUnsafeBytes { x in Array(b.utf8).withUnsafeBytes { y in DecimalCollation.compare(x, y) } }
        }
        let ordered = ["-100", "-9.5", "-0.75", "0", "0.0000000001", ".5", "0.75", "1", "+1.5", "9.5", "10", "100", "1e3", "abc", "abd"]
        for (i, a) in ordered.enumerated() {
            for (j, b) in ordered.enumerated() {
                XCTAssertEqual(compare(a, b), i < j ? -1 : (i > j ? 1 : 0), "\(a) vs \(b)")
            }
        }
        XCTAssertEqual(compare("-0", "0.000"), 0)
        XCTAssertEqual(compare("007.50", "7.5"), 0)
        XCTAssertEqual(compare("5.", "5"), 0)
    }

    /// A replica file of an older SDK version (decimal columns without the
    /// collation, an outbox without transaction groups) is upgraded in place:
    /// rows, unsent edits and the cursor stay.
    func testReplicaOfAnOlderVersion_GetsTheCollation_KeepsRowsAndOutbox() throws {
        let current = ReplicaSchema.current
        let older = ReplicaSchema(
            fingerprint: "older",
            bookkeepingSQL: current.bookkeepingSQL.map { $0.replacingOccurrences(of: ", \"txn\" INTEGER)", with: ")") },
            tables: current.tables.map { t in
                ReplicaTableSchema(name: t.name, key: t.key, deletable: t.deletable,
                                   createSQL: t.createSQL.replacingOccurrences(of: " COLLATE DECIMAL", with: ""), columns: t.columns)
            }
        )
        let id = UUID()
        do {
            let replica = try openReplica(schema: older)
            _ = try replica.apply(PulledPage(cursor: "kept", hasMore: false, serverTime: nil, rows: ["costbook_items": [
                item(UUID(), name: "ten", unitCost: "10", version: 1), item(id, name: "nine and a half", unitCost: "9.5", version: 1),
            ]], deleted: [:]))
            try replica.withConnection { db in
                XCTAssertEqual(try db.query("SELECT name FROM costbook_items ORDER BY unit_cost").map { $0[0] }, ["ten", "nine and a half"], "as text")
                try db.query("INSERT INTO _outbox (tbl, row_id, op, columns, base_values, base_version) VALUES ('costbook_items', ?, 'update', '{\"sku\":\"S\"}', '{\"sku\":null}', 1)",
                             [.uuid(id)])
            }
            replica.close()
        }
        let upgraded = try openReplica()
        XCTAssertEqual(try upgraded.costbookItems.all(orderBy: "unit_cost").map(\.name), ["nine and a half", "ten"])
        XCTAssertEqual(try upgraded.pendingChangeCount(), 1)
        XCTAssertEqual(try upgraded.cursor(), "kept")
        try upgraded.costbookItems.update(id) { $0.unit = "ea" } // coalesces into the old entry
        XCTAssertEqual(try upgraded.pendingChangeCount(), 1)
    }
}
