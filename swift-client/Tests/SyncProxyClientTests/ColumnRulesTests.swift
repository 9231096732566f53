import Foundation
import XCTest
@testable import SyncProxyClient

/// Issue 20, failure 2: `total = 100 / 3` was accepted locally, refused by
/// the server at sync (10 fraction digits), and the new estimate vanished.
/// Edits are now checked against the column's rules from openapi.yaml when
/// they are made.
final class ColumnRulesTests: ReplicaTestCase {
    func testComputedTotal_BeyondTheColumnsScale_IsRefusedAtEdit_NamingTheColumn() throws {
        let replica = try openReplica()
        let id = UUID()
        XCTAssertThrowsError(try replica.insert(EstimateWrite(id: id, number: "E-1", total: Decimal(100) / Decimal(3)))) { error in
            XCTAssertEqual(error as? ReplicaError, .invalidColumn(table: "estimates", column: "total", .tooManyFractionDigits(maximum: 10)))
            XCTAssertEqual((error as? ReplicaError)?.errorDescription,
                           "estimates.total has more than 10 digits after the decimal point (round it to the column's scale).")
        }
        XCTAssertNil(try replica.estimates.find(id), "nothing stored")
        XCTAssertEqual(try replica.pendingChangeCount(), 0)

        // Rounded to the column's scale, it is what the server stores.
        let total = try EstimateWrite.rounded(Decimal(100) / Decimal(3), toScaleOf: "total")
        XCTAssertEqual(total, Decimal(string: "33.3333333333"))
        XCTAssertEqual(try Estimate.rounded(Decimal(string: "2.00000000005")!, toScaleOf: "tax", .down), Decimal(2))
        try replica.insert(EstimateWrite(id: id, number: "E-1", total: total))
        XCTAssertEqual(try replica.estimates.find(id)?.total, total)

        // The same on an edit: refused, the row and the outbox unchanged.
        XCTAssertThrowsError(try replica.estimates.update(id) { $0.tax = Decimal(1) / Decimal(7) }) { error in
            XCTAssertEqual(error as? ReplicaError, .invalidColumn(table: "estimates", column: "tax", .tooManyFractionDigits(maximum: 10)))
        }
        XCTAssertNil(try replica.estimates.find(id)?.tax)
        XCTAssertEqual(try replica.pendingChangeCount(), 1)
        XCTAssertThrowsError(try Estimate.rounded(1, toScaleOf: "title"), "not a decimal column")
    }

    func testEveryKindOfRule_FromTheSpec() throws {
        let replica = try openReplica()
        func violation(_ edit: () throws -> Void) -> ReplicaError? {
            do {
                try edit()
                return nil
            } catch {
                return error as? ReplicaError
            }
        }
        // Lengths count Unicode scalars, as the server does: 👍🏽 is two.
        XCTAssertEqual(violation { try replica.insert(CostbookItemWrite(id: UUID(), name: String(repeating: "x", count: 501))) },
                       .invalidColumn(table: "costbook_items", column: "name", .tooLong(maximum: 500)))
        XCTAssertNil(violation { try replica.insert(CostbookItemWrite(id: UUID(), name: String(repeating: "👍🏽", count: 250))) })
        XCTAssertEqual(violation { try replica.insert(CostbookItemWrite(id: UUID(), name: String(repeating: "👍🏽", count: 251))) },
                       .invalidColumn(table: "costbook_items", column: "name", .tooLong(maximum: 500)))
        XCTAssertEqual(violation { try replica.insert(CostbookItemWrite(id: UUID(), name: "")) },
                       .invalidColumn(table: "costbook_items", column: "name", .tooShort(minimum: 1)))
        // Enums, also a value this SDK decodes but the server does not take.
        XCTAssertEqual(violation { try replica.insert(EstimateWrite(id: UUID(), number: "E-2", status: .unknown("on_hold"))) },
                       .invalidColumn(table: "estimates", column: "status", .notAllowed(["draft", "sent", "accepted", "declined", "archived"])))
        // Patterns (ISO 4217), on the contractor row.
        XCTAssertEqual(violation { try replica.insert(ContractorWrite(name: "Acme", currency: "usd")) },
                       .invalidColumn(table: "contractors", column: "currency", .patternMismatch("^[A-Z]{3}$")))
        XCTAssertNil(violation { try replica.insert(ContractorWrite(name: "Acme", currency: "EUR")) })
        // Integer digits of a decimal.
        XCTAssertEqual(violation { try replica.insert(CostbookItemWrite(id: UUID(), name: "big", unitCost: Decimal(string: "123456789012345678901"))) },
                       .invalidColumn(table: "costbook_items", column: "unit_cost", .tooManyIntegerDigits(maximum: 20)))

        // The rules are generated from openapi.yaml, per column.
        let items = try XCTUnwrap(ReplicaSchema.current.table("costbook_items"))
        XCTAssertEqual(items.column("unit_cost")?.rules, ReplicaColumnRules(integerDigits: 20, fractionDigits: 10))
        XCTAssertEqual(items.column("name")?.rules, ReplicaColumnRules(notNull: true, minLength: 1, maxLength: 500))
        let folders = try XCTUnwrap(ReplicaSchema.current.table("costbook_folders"))
        let sortOrder = try XCTUnwrap(folders.column("sort_order"))
        XCTAssertEqual(sortOrder.rules.violation(of: .integer(Int64(Int32.max) + 1)), .outOfRange(minimum: Int64(Int32.min), maximum: Int64(Int32.max)))
        XCTAssertNil(sortOrder.rules.violation(of: .integer(7)))
        // A new row must set its required columns; null is not a value for them.
        XCTAssertThrowsError(try items.check([:], creating: true)) { error in
            XCTAssertEqual(error as? ReplicaError, .invalidColumn(table: "costbook_items", column: "name", .missing))
        }
        XCTAssertThrowsError(try items.check(["name": .null], creating: false)) { error in
            XCTAssertEqual(error as? ReplicaError, .invalidColumn(table: "costbook_items", column: "name", .null))
        }
        XCTAssertEqual(try replica.pendingChangeCount(), 2, "only the two valid rows were stored")
    }
}
