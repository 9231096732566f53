import Foundation
import XCTest
@testable import SyncProxyClient

final class DecodingTests: XCTestCase {
    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Fixtures.data(json))
    }

    private func date(_ string: String) throws -> Date {
        try XCTUnwrap(RFC3339.parse(string), string)
    }

    /// The replica decodes rows from JSONValue directly (JSONValueDecoder):
    /// the same result as JSONDecoder from the text, and the same refusals.
    func testJSONValueDecoder_AgreesWithJSONDecoder() throws {
        let fromText = try decode(SyncPullResponse.self, Fixtures.pullPage)
        let fromValue = try JSONValue(json: Fixtures.pullPage).decode(SyncPullResponse.self)
        XCTAssertEqual(fromValue, fromText)
        let row = try XCTUnwrap(JSONValue(json: Fixtures.pullPage)["costbook_items"]?[0]?.objectValue)
        for (name, bad) in [("name", JSONValue.null), ("taxable", "yes"), ("unit_cost", 3.75), ("sync_version", 1.5), ("id", "nope")] {
            var broken = row
            broken[name] = bad
            XCTAssertThrowsError(try JSONValue.object(broken).decode(CostbookItem.self), name)
            XCTAssertThrowsError(try JSONDecoder().decode(CostbookItem.self, from: JSONValue.object(broken).jsonData()), name)
        }
        var missing = row
        missing["sku"] = nil
        XCTAssertThrowsError(try JSONValue.object(missing).decode(CostbookItem.self), "a required nullable key must be present")
    }

    func testPullResponse_AllNineTables() throws {
        let page = try decode(SyncPullResponse.self, Fixtures.pullPage)
        XCTAssertTrue(page.ok)
        XCTAssertTrue(page.hasMore)
        XCTAssertEqual(page.cursor, "eyJ0IjoiMjAyNS0wMS0xNVQxMjowMDowMC4xMjNaIiwiaSI6NDJ9+/=")
        XCTAssertEqual(RFC3339.format(page.serverTime), "2025-01-15T12:00:00.123Z")

        let contractor = try XCTUnwrap(page.contractors.first)
        XCTAssertEqual(contractor.id, UUID(uuidString: Fixtures.contractorID))
        XCTAssertEqual(contractor.companyName, "Acme LLC")
        XCTAssertNil(contractor.phone)
        XCTAssertEqual(contractor.currency, "USD")
        XCTAssertEqual(contractor.createdAt, try date("2025-01-01T08:00:00.000Z")) // no fraction on the wire

        let folder = try XCTUnwrap(page.costbookFolders.first)
        XCTAssertNil(folder.parentId)
        XCTAssertEqual(folder.sortOrder, 2)
        XCTAssertEqual(RFC3339.format(folder.updatedAt), "2025-01-02T09:30:00.000Z") // +02:00 offset

        let item = try XCTUnwrap(page.costbookItems.first)
        XCTAssertEqual(item.folderId, folder.id)
        XCTAssertEqual(item.description, "Kiln dried \"SPF\"")
        XCTAssertEqual(item.unitCost, Decimal(string: "3.75"))
        XCTAssertEqual(item.markupPercent, Decimal(string: "12.5"))
        XCTAssertNil(item.sku)
        XCTAssertTrue(item.taxable)
        XCTAssertEqual(RFC3339.format(item.createdAt), "2025-01-03T10:00:00.123Z") // microseconds
        XCTAssertEqual(RFC3339.format(item.updatedAt), "2025-01-03T10:00:00.100Z")

        XCTAssertEqual(page.estimates.count, 2)
        let sent = page.estimates[0]
        XCTAssertEqual(sent.status, .sent)
        XCTAssertEqual(sent.validUntil, DayDate(year: 2025, month: 2, day: 28))
        XCTAssertEqual(sent.subtotal.map(DecimalString.format), "12345678901234567890.123456789") // 30 digits, exact
        XCTAssertEqual(sent.tax.map(DecimalString.format), "0.0000000001")
        XCTAssertEqual(sent.total, Decimal(string: "-0.5"))
        XCTAssertEqual(sent.lineItems.first?["qty"], "24")
        XCTAssertEqual(sent.lineItems.first?["note"], .null)
        XCTAssertEqual(sent.lineItems.first?["sort"], 1)
        let draft = page.estimates[1]
        XCTAssertEqual(draft.status, .unknown("on_hold"), "a status added after this client must not fail decoding")
        XCTAssertEqual(draft.status.rawValue, "on_hold")
        XCTAssertEqual(draft.lineItems, [])
        XCTAssertNil(draft.title)
        XCTAssertNil(draft.subtotal)
        XCTAssertNil(draft.validUntil)
        XCTAssertEqual(draft.id, UUID(uuidString: Fixtures.draftEstimateID))

        let event = try XCTUnwrap(page.estimateEvents.first)
        XCTAssertEqual(event.estimateId, sent.id)
        XCTAssertEqual(event.payload["channel"], "email")
        XCTAssertEqual(event.payload["attempt"], 1)
        XCTAssertEqual(event.payload["opened"], false)
        XCTAssertEqual(event.payload["meta"], .null)
        XCTAssertEqual(event.payload["cc"], ["a@b.test"])
        XCTAssertEqual(event.occurredAt.map(RFC3339.format), "2025-01-15T10:00:00.500Z")

        let pdf = try XCTUnwrap(page.pdfSettings.first)
        XCTAssertEqual(pdf.contractorId, contractor.id)
        XCTAssertEqual(pdf.accentColor, "#FF6600")
        XCTAssertNil(pdf.headerText)
        XCTAssertTrue(pdf.showLogo)

        let rule = try XCTUnwrap(page.pricingRules.first)
        XCTAssertEqual(rule.value, Decimal(string: "-10"))
        XCTAssertEqual(rule.appliesTo, ["folders": [.string(Fixtures.folderID)]])
        XCTAssertEqual(rule.priority, 5)

        let config = try XCTUnwrap(page.stepAConfigs.first)
        XCTAssertEqual(config.settings["steps"], [1, 2.5, 3])
        XCTAssertFalse(config.enabled)

        let stepRule = try XCTUnwrap(page.stepARules.first)
        XCTAssertEqual(stepRule.condition, ["gt": ["total", "1000"]])
        XCTAssertEqual(stepRule.action, "round")

        XCTAssertEqual(page.deleted.costbookItems, [try XCTUnwrap(UUID(uuidString: Fixtures.deletedItemID))])
        XCTAssertEqual(page.deleted.estimates, [])
    }

    func testPullResponse_Empty() throws {
        let page = try decode(SyncPullResponse.self, Fixtures.emptyPage)
        XCTAssertFalse(page.hasMore)
        XCTAssertTrue(page.contractors.isEmpty && page.stepARules.isEmpty && page.deleted.costbookItems.isEmpty)
    }

    func testCanaryAndPushResponses() throws {
        let canary = try decode(CanaryResponse.self, Fixtures.canary)
        XCTAssertEqual(canary.contractorId, UUID(uuidString: Fixtures.contractorID))
        let push = try decode(SyncPushResponse.self, Fixtures.pushResponse)
        XCTAssertEqual(push.upserted.costbookItems, 5)
        XCTAssertEqual(push.deduped.costbookItems, 2)
        XCTAssertEqual(push.deleted.costbookItems, 1)
        XCTAssertEqual(RFC3339.format(push.serverTime), "2025-01-15T12:00:02.250Z")
    }

    func testErrorEnvelope() throws {
        let error = try decode(APIError.self, Fixtures.badRequest)
        XCTAssertFalse(error.ok)
        XCTAssertEqual(error.error, .badRequest)
        XCTAssertEqual(error.requestId, "req-123")
        XCTAssertEqual(error.details.first?.field, "unit_cost")
        XCTAssertEqual(error.details.first?.index, 3)
        XCTAssertEqual(try decode(APIError.self, Fixtures.envelope("TEAPOT")).error, .unknown("TEAPOT"))
    }

    func testContractViolations_FailDecoding() {
        // A decimal sent as a JSON number would have gone through Double.
        let number = Fixtures.pullPage.replacingOccurrences(of: #""unit_cost": "3.75""#, with: #""unit_cost": 3.75"#)
        XCTAssertThrowsError(try decode(SyncPullResponse.self, number))
        // A required-but-nullable key must be present (null is fine, absent is not).
        let absent = Fixtures.pullPage.replacingOccurrences(of: #""sku": null, "#, with: "")
        XCTAssertThrowsError(try decode(SyncPullResponse.self, absent))
        // serverTime belongs in the body.
        let noTime = Fixtures.canary.replacingOccurrences(of: #""serverTime""#, with: #""time""#)
        XCTAssertThrowsError(try decode(CanaryResponse.self, noTime))
        // Singletons have no id, and a table key must never be missing.
        let noTable = Fixtures.emptyPage.replacingOccurrences(of: #""pdf_settings": [], "#, with: "")
        XCTAssertThrowsError(try decode(SyncPullResponse.self, noTable))
    }

    func testTimestampParser_AcceptsRFC3339Variants() throws {
        let reference = try date("2025-01-15T12:00:00Z")
        XCTAssertEqual(try date("2025-01-15T12:00:00.000Z"), reference)
        XCTAssertEqual(try date("2025-01-15t12:00:00z"), reference)
        XCTAssertEqual(try date("2025-01-15 13:30:00+01:30"), reference)
        XCTAssertEqual(try date("2025-01-15T07:00:00-05:00"), reference)
        XCTAssertEqual(RFC3339.format(try date("2025-01-15T12:00:00.999999999Z")), "2025-01-15T12:00:01.000Z")
        XCTAssertEqual(RFC3339.format(try date("1969-12-31T23:59:59.5Z")), "1969-12-31T23:59:59.500Z")
        XCTAssertEqual(RFC3339.format(try date("2024-02-29T00:00:00Z")), "2024-02-29T00:00:00.000Z")
        for bad in ["2025-01-15", "2025-01-15T12:00:00", "2025-02-30T00:00:00Z", "2025-01-15T12:00:00.Z",
                    "2025-01-15T24:00:00Z", "2025-01-15T12:00:00+0100", "2025-01-15T12:00:00Z ", ""] {
            XCTAssertNil(RFC3339.parse(bad), bad)
        }
    }

    func testDayDate() throws {
        let day = try XCTUnwrap(DayDate("2025-02-28"))
        XCTAssertEqual(day.description, "2025-02-28")
        XCTAssertNil(DayDate("2025-02-29"))
        XCTAssertNil(DayDate("2025-2-1"))
        XCTAssertNotNil(DayDate("2024-02-29"))
        XCTAssertLessThan(day, try XCTUnwrap(DayDate("2025-03-01")))
        // 23:30 UTC on the 28th is already the 1st of March in Berlin.
        let late = try date("2025-02-28T23:30:00Z")
        let berlin = try XCTUnwrap(TimeZone(identifier: "Europe/Berlin"))
        XCTAssertEqual(DayDate(late, in: berlin).description, "2025-03-01")
        XCTAssertEqual(DayDate(late, in: try XCTUnwrap(TimeZone(identifier: "UTC"))), day)
        XCTAssertEqual(RFC3339.format(day.startOfDay(in: berlin)), "2025-02-27T23:00:00.000Z")
    }
}
