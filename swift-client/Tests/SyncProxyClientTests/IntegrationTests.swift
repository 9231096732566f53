import Foundation
import XCTest
@testable import SyncProxyClient

/// Runs against a live syncproxy: `SYNC_BASE_URL` and `SYNC_TOKEN` (a token
/// of a provisioned contractor). Without them the tests skip, unless
/// `SYNC_REQUIRE_LIVE=1` (as `make test` sets), where missing settings fail.
/// `SYNC_DEBUG=1` prints every HTTP exchange (Authorization redacted).
///
/// Every run uses fresh UUIDs, so runs against one database do not collide.
final class IntegrationTests: XCTestCase {
    private func liveClient() throws -> SyncAPIClient? {
        let env = ProcessInfo.processInfo.environment
        guard let base = env["SYNC_BASE_URL"], !base.isEmpty, let url = URL(string: base),
              let token = env["SYNC_TOKEN"], !token.isEmpty
        else {
            let message = "SYNC_BASE_URL and SYNC_TOKEN are not set: no live server to test against"
            if env["SYNC_REQUIRE_LIVE"] == "1" {
                XCTFail(message + " (SYNC_REQUIRE_LIVE=1)")
                return nil
            }
            throw XCTSkip(message)
        }
        var logger: HTTPLogger?
        if env["SYNC_DEBUG"] == "1" {
            logger = { entry in
                let outcome = entry.status.map { String($0) } ?? entry.error ?? "?"
                print("[http] \(entry.method) \(entry.url) attempt \(entry.attempt) -> \(outcome) \(entry.bodySize) B \(entry.bodyPreview.prefix(200))")
            }
        }
        return SyncAPIClient(
            baseURL: url,
            tokenProvider: StaticTokenProvider(token),
            retryPolicy: RetryPolicy(maxAttempts: 3, initialBackoff: 0.2, maxBackoff: 2, maxRetryAfter: 5),
            logger: logger
        )
    }

    /// Follows cursors until hasMore is false; returns every page and the last cursor.
    private func pullAll(_ client: SyncAPIClient, from cursor: String?) async throws -> (pages: [SyncPullResponse], cursor: String) {
        var pages: [SyncPullResponse] = []
        var cursor = cursor
        while true {
            let page = try await client.pullChanges(cursor: cursor, limit: 500)
            XCTAssertTrue(page.ok)
            pages.append(page)
            cursor = page.cursor
            if !page.hasMore || pages.count > 1000 {
                return (pages, page.cursor)
            }
        }
    }

    func testContract_CanaryPushPullDeleteDelta() async throws {
        guard let client = try liveClient() else { return }

        // Canary: who are we?
        let canary = try await client.getCanary()
        XCTAssertTrue(canary.ok)
        let contractorID = canary.contractorId

        // Full pull first, to write our own contractor row back unchanged.
        let before = try await pullAll(client, from: nil)
        let current = before.pages.flatMap(\.contractors).first { $0.id == contractorID }
        XCTAssertTrue(before.pages.allSatisfy { $0.deleted.costbookItems.isEmpty }, "a full pull has no tombstones")

        // Push a row to every table.
        let run = UUID().uuidString.lowercased()
        let folder = CostbookFolderWrite(id: UUID(), name: "IT folder \(run)", sortOrder: 3)
        let item = CostbookItemWrite(
            id: UUID(), name: "IT item", folderId: folder.id, description: "Integration \"quoted\" ü", unit: "ea",
            unitCost: Decimal(string: "12.50"), markupPercent: Decimal(string: "7.125"), sku: "SKU-\(run)", taxable: true
        )
        let estimate = EstimateWrite(
            id: UUID(), number: "IT-\(run.prefix(13))", title: "Integration", clientName: "Jane Doe",
            clientEmail: "jane@example.com", status: .sent,
            lineItems: [["item_id": .string(item.id.uuidString.lowercased()), "qty": "2", "unit_cost": "12.50"]],
            subtotal: Decimal(string: "25.00"), tax: Decimal(string: "2.06"), total: Decimal(string: "27.06"),
            validUntil: DayDate(year: 2030, month: 1, day: 31)
        )
        let occurredAt = Date(timeIntervalSince1970: 1_736_942_400.5)
        let event = EstimateEventWrite(id: UUID(), estimateId: estimate.id, kind: "sent", payload: ["channel": "email", "attempt": 1], occurredAt: occurredAt)
        let pdf = PdfSettingsWrite(template: "modern", accentColor: "#112233", showLogo: false, headerText: "IT \(run)", terms: "Net 30")
        let pricing = PricingRuleWrite(
            id: UUID(), name: "IT rule", kind: "percent", value: Decimal(string: "-5.5"),
            appliesTo: ["folders": [.string(folder.id.uuidString.lowercased())]], priority: 2, enabled: true
        )
        let config = StepAConfigWrite(settings: ["run": .string(run), "steps": [1, 2]], enabled: true)
        let stepRule = StepARuleWrite(id: UUID(), name: "IT step", condition: ["gt": ["total", "1000"]], action: "round", sortOrder: 1, enabled: true)
        let contractor = ContractorWrite(
            id: contractorID, name: current?.name ?? "Integration contractor", companyName: current?.companyName,
            email: current?.email, phone: current?.phone, address: current?.address, currency: current?.currency ?? "USD"
        )
        let push = try await client.pushChanges(SyncPushRequest(
            contractors: [contractor], costbookFolders: [folder], costbookItems: [item], estimates: [estimate],
            estimateEvents: [event], pdfSettings: [pdf], pricingRules: [pricing], stepAConfigs: [config], stepARules: [stepRule]
        ))
        XCTAssertTrue(push.ok)
        let u = push.upserted
        XCTAssertEqual([u.contractors, u.costbookFolders, u.costbookItems, u.estimates, u.estimateEvents,
                        u.pdfSettings, u.pricingRules, u.stepAConfigs, u.stepARules], Array(repeating: 1, count: 9))

        // Full pull: every row is there, in its wire forms.
        let full = try await pullAll(client, from: nil)
        let pages = full.pages
        let pulledContractor = try XCTUnwrap(pages.flatMap(\.contractors).first { $0.id == contractorID })
        XCTAssertEqual(pulledContractor.name, contractor.name)
        let pulledFolder = try XCTUnwrap(pages.flatMap(\.costbookFolders).first { $0.id == folder.id })
        XCTAssertEqual(pulledFolder.contractorId, contractorID)
        XCTAssertEqual(pulledFolder.sortOrder, 3)
        XCTAssertNil(pulledFolder.parentId)
        let pulledItem = try XCTUnwrap(pages.flatMap(\.costbookItems).first { $0.id == item.id })
        XCTAssertEqual(pulledItem.unitCost, Decimal(string: "12.5"))
        XCTAssertEqual(pulledItem.markupPercent, Decimal(string: "7.125"))
        XCTAssertEqual(pulledItem.folderId, folder.id)
        XCTAssertEqual(pulledItem.description, item.description)
        XCTAssertEqual(pulledItem.sku, item.sku)
        XCTAssertLessThanOrEqual(abs(pulledItem.updatedAt.timeIntervalSince(push.serverTime)), 120)
        let pulledEstimate = try XCTUnwrap(pages.flatMap(\.estimates).first { $0.id == estimate.id })
        XCTAssertEqual(pulledEstimate.status, .sent)
        XCTAssertEqual(pulledEstimate.lineItems, estimate.lineItems)
        XCTAssertEqual(pulledEstimate.total, Decimal(string: "27.06"))
        XCTAssertEqual(pulledEstimate.validUntil, estimate.validUntil)
        let pulledEvent = try XCTUnwrap(pages.flatMap(\.estimateEvents).first { $0.id == event.id })
        XCTAssertEqual(pulledEvent.occurredAt, occurredAt)
        XCTAssertEqual(pulledEvent.payload, ["channel": "email", "attempt": 1])
        let pulledPdf = try XCTUnwrap(pages.flatMap(\.pdfSettings).first { $0.contractorId == contractorID })
        XCTAssertEqual(pulledPdf.headerText, pdf.headerText)
        XCTAssertEqual(pulledPdf.showLogo, false)
        XCTAssertNil(pulledPdf.footerText)
        let pulledPricing = try XCTUnwrap(pages.flatMap(\.pricingRules).first { $0.id == pricing.id })
        XCTAssertEqual(pulledPricing.value, Decimal(string: "-5.5"))
        XCTAssertEqual(pulledPricing.appliesTo, pricing.appliesTo)
        let pulledConfig = try XCTUnwrap(pages.flatMap(\.stepAConfigs).first { $0.contractorId == contractorID })
        XCTAssertEqual(pulledConfig.settings["run"], .string(run))
        let pulledStepRule = try XCTUnwrap(pages.flatMap(\.stepARules).first { $0.id == stepRule.id })
        XCTAssertEqual(pulledStepRule.condition, stepRule.condition)
        XCTAssertEqual(pulledStepRule.action, "round")

        // Delete some rows, then a delta pull from the full pull's cursor shows tombstones.
        let deletion = try await client.pushChanges(SyncPushRequest(
            deletes: DeleteRequest(costbookItems: [.uuid(item.id)], estimateEvents: [.uuid(event.id)], stepARules: [.uuid(stepRule.id)])
        ))
        XCTAssertEqual(deletion.deleted.costbookItems, 1)
        XCTAssertEqual(deletion.deleted.estimateEvents, 1)
        XCTAssertEqual(deletion.deleted.stepARules, 1)
        let delta = try await pullAll(client, from: full.cursor)
        let tombstones = delta.pages.map(\.deleted)
        XCTAssertTrue(tombstones.flatMap(\.costbookItems).contains(item.id))
        XCTAssertTrue(tombstones.flatMap(\.estimateEvents).contains(event.id))
        XCTAssertTrue(tombstones.flatMap(\.stepARules).contains(stepRule.id))
        XCTAssertFalse(delta.pages.flatMap(\.costbookItems).contains { $0.id == item.id }, "a deleted row is a tombstone, not a row")

        // Nothing changed since: the next delta is empty.
        let quiet = try await pullAll(client, from: delta.cursor)
        XCTAssertFalse(quiet.pages.flatMap(\.costbookItems).contains { $0.id == item.id })
    }

    func testIdempotencyKey_ReplayAndReuse() async throws {
        guard let client = try liveClient() else { return }
        let key = "it-\(UUID().uuidString.lowercased())"
        let body = SyncPushRequest(costbookItems: [CostbookItemWrite(id: UUID(), name: "Idempotent")])
        let first = try await client.pushChanges(body, idempotencyKey: key)
        let replay = try await client.pushChanges(body, idempotencyKey: key)
        XCTAssertEqual(replay, first, "the same key and body return the first response")

        let other = SyncPushRequest(costbookItems: [CostbookItemWrite(id: UUID(), name: "Other body")])
        do {
            _ = try await client.pushChanges(other, idempotencyKey: key)
            XCTFail("same key, different body must be 422")
        } catch SyncClientError.api(let status, let envelope) {
            XCTAssertEqual(status, 422)
            XCTAssertEqual(envelope.error, .idempotencyKeyReused)
        }
    }

    func testSyncEngine_TwoDevicesOfOneContractor() async throws {
        guard let client = try liveClient() else { return }
        let deviceA = InMemoryStore()
        let deviceB = InMemoryStore()
        let engineA = SyncEngine(api: client, store: deviceA)
        let engineB = SyncEngine(api: client, store: deviceB)

        // B catches up first, so the change below reaches it as a delta.
        try await engineB.sync()
        let identityA = try await engineA.start()
        let identityB = await engineB.identity
        XCTAssertEqual(identityA.contractorId, identityB?.contractorId)

        // A makes a change offline, then syncs: push, then pull (with its own echo).
        let shared = CostbookItemWrite(id: UUID(), name: "Made on A", unitCost: Decimal(string: "3.10"), taxable: true)
        await deviceA.stage(shared)
        let reportA = try await engineA.sync()
        XCTAssertEqual(reportA.pushedBatches, 1)
        let (pendingA, echo) = await (deviceA.pendingCount, deviceA.items[shared.id])
        XCTAssertEqual(pendingA, 0)
        XCTAssertEqual(echo?.name, "Made on A")

        // B pulls and sees it.
        let reportB = try await engineB.sync()
        XCTAssertEqual(reportB.pushedBatches, 0)
        let seenOnB = await deviceB.items[shared.id]
        XCTAssertEqual(seenOnB?.name, "Made on A")
        XCTAssertEqual(seenOnB?.unitCost, Decimal(string: "3.1"))
        XCTAssertEqual(seenOnB?.taxable, true)

        // B deletes it; A's next sync removes it too.
        await deviceB.stageDelete(shared.id)
        try await engineB.sync()
        try await engineA.sync()
        let (goneOnA, goneOnB) = await (deviceA.items[shared.id], deviceB.items[shared.id])
        XCTAssertNil(goneOnA)
        XCTAssertNil(goneOnB)
    }
}
