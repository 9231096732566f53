import Foundation
import XCTest
@testable import SyncProxyClient

final class EncodingTests: XCTestCase {
    private func json(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    func testPulledPage_RoundTrips() throws {
        let page = try JSONDecoder().decode(SyncPullResponse.self, from: Fixtures.data(Fixtures.pullPage))
        // The wire keeps milliseconds: the fixture's microseconds are rounded once, then stable.
        let once = try JSONDecoder().decode(SyncPullResponse.self, from: JSONEncoder().encode(page))
        let twice = try JSONDecoder().decode(SyncPullResponse.self, from: JSONEncoder().encode(once))
        XCTAssertEqual(twice, once)
        XCTAssertEqual(once.estimates, page.estimates)
        XCTAssertEqual(once.pricingRules, page.pricingRules)
        XCTAssertEqual(once.costbookItems[0].createdAt.timeIntervalSince(page.costbookItems[0].createdAt), 0, accuracy: 0.0005)

        let encoded = try text(page)
        XCTAssertTrue(encoded.contains(#""created_at":"2025-01-01T08:00:00.000Z""#), "timestamps get .SSSZ")
        XCTAssertTrue(encoded.contains(#""unit_cost":"3.75""#), "decimals stay strings")
        XCTAssertTrue(encoded.contains(#""subtotal":"12345678901234567890.123456789""#))
        XCTAssertTrue(encoded.contains(#""status":"on_hold""#), "unknown enum values survive")
        XCTAssertTrue(encoded.contains(#""valid_until":"2025-02-28""#))
        XCTAssertTrue(encoded.contains(#""sku":null"#), "required nullable keys are written as null")
        XCTAssertTrue(encoded.contains(#""id":"\#(Fixtures.contractorID)""#), "uuids are lowercase")
    }

    func testWriteRow_OmitsUnsetOptionalsAndKeepsWireForms() throws {
        let id = UUID()
        let row = EstimateWrite(
            id: id,
            number: "EST-7",
            status: .accepted,
            lineItems: [["sku": "A-1", "qty": 2, "price": "9.99"]],
            subtotal: Decimal(string: "1234.50"),
            validUntil: DayDate(year: 2025, month: 12, day: 31)
        )
        let object = try json(row)
        XCTAssertEqual(Set(object.keys), ["id", "number", "status", "line_items", "subtotal", "valid_until"])
        XCTAssertEqual(object["id"] as? String, id.uuidString.lowercased())
        XCTAssertEqual(object["subtotal"] as? String, "1234.5")
        XCTAssertEqual(object["status"] as? String, "accepted")
        XCTAssertEqual(object["valid_until"] as? String, "2025-12-31")

        let event = EstimateEventWrite(id: id, estimateId: id, kind: "viewed", occurredAt: Date(timeIntervalSince1970: 1_736_942_400.5))
        XCTAssertEqual(try json(event)["occurred_at"] as? String, "2025-01-15T12:00:00.500Z")
    }

    func testPushRequest_OnlySetTablesAndDeletes() throws {
        let itemID = UUID()
        let request = SyncPushRequest(
            costbookItems: [CostbookItemWrite(id: itemID, name: "Nail", unitCost: Decimal(string: "0.05"))],
            deletes: DeleteRequest(estimates: [.uuid(itemID)])
        )
        let object = try json(request)
        XCTAssertEqual(Set(object.keys), ["costbook_items", "deletes"])
        let deletes = try XCTUnwrap(object["deletes"] as? [String: Any])
        XCTAssertEqual(deletes["estimates"] as? [String], [itemID.uuidString.lowercased()])
        let item = try XCTUnwrap((object["costbook_items"] as? [[String: Any]])?.first)
        XCTAssertEqual(item["unit_cost"] as? String, "0.05")
    }

    func testDecimalStrings_AreExact() throws {
        for text in ["0", "1234.5", "-10", "0.0000000001", "12345678901234567890.123456789", "99999999999999999999.9999999999"] {
            let value = try XCTUnwrap(DecimalString.parse(text), text)
            XCTAssertEqual(DecimalString.format(value), text)
        }
        XCTAssertEqual(DecimalString.parse("1234.50").map(DecimalString.format), "1234.5")
        XCTAssertEqual(DecimalString.parse("1e3").map(DecimalString.format), "1000")
        for bad in ["", "1.", ".5", "1,5", "12abc", "NaN", "1e", "--1"] {
            XCTAssertNil(DecimalString.parse(bad), bad)
        }
        // 0.1 + 0.2 is exact in Decimal, unlike Double.
        let sum = try XCTUnwrap(DecimalString.parse("0.1")) + XCTUnwrap(DecimalString.parse("0.2"))
        XCTAssertEqual(DecimalString.format(sum), "0.3")
    }

    func testTimestampFormat_AlwaysMilliseconds() {
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 1_736_942_400.123)), "2025-01-15T12:00:00.123Z")
        XCTAssertEqual(RFC3339.format(Date(timeIntervalSince1970: 951_782_400)), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(.distantFuture), "4001-01-01T00:00:00.000Z")
    }

    func testJSONValue_RoundTrip() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil], "b": ["nested": [:]], "c": "ü\"\\"]
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        XCTAssertEqual(again, value)
        XCTAssertEqual(value["a"]?[1]?.doubleValue, 2.5)
        XCTAssertEqual(value["a"]?[4], .null)
        XCTAssertNil(value["missing"])
    }

    func testEnum_UnknownAndKnownCases() throws {
        XCTAssertEqual(EstimateStatus(rawValue: "archived"), .archived)
        XCTAssertEqual(EstimateStatus.unknown("draft"), .draft, "equality is by wire value")
        XCTAssertEqual(Set([EstimateStatus.draft, .unknown("draft")]).count, 1)
        XCTAssertEqual(EstimateStatus.knownCases.map(\.rawValue), ["draft", "sent", "accepted", "declined", "archived"])
        XCTAssertEqual(TableName.stepAConfigs.rawValue, "step_a_configs")
        XCTAssertEqual(try text([EstimateStatus.unknown("void")]), #"["void"]"#)
    }

    func testRowTypes_NameTheirTables() {
        XCTAssertEqual(CostbookItem.tableName, "costbook_items")
        XCTAssertEqual(PdfSettingsWrite.tableName, "pdf_settings")
        XCTAssertEqual(
            Set([Contractor.tableName, CostbookFolder.tableName, CostbookItem.tableName, Estimate.tableName,
                 EstimateEvent.tableName, PdfSettings.tableName, PricingRule.tableName, StepAConfig.tableName,
                 StepARule.tableName]),
            Set(TableName.knownCases.map(\.rawValue))
        )
    }
}
