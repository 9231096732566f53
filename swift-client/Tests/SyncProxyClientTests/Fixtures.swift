import Foundation

/// Server responses as the sync server writes them (snake_case row keys,
/// decimal strings, RFC 3339 timestamps), with the variations a client must
/// survive: timestamps with and without fractions, with offsets and
/// microseconds, nulls, JSON columns, and an enum value this client does not know.
enum Fixtures {
    static let contractorID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    static let folderID = "0b3f2a6c-1d2e-4f5a-8b9c-0d1e2f3a4b5c"
    static let itemID = "5f0c4f4e-3c1b-4a7e-9d2f-6a8b9c0d1e2f"
    static let estimateID = "a1b2c3d4-e5f6-4789-8abc-def012345678"
    static let draftEstimateID = "018f6d2e-7b3a-7c4d-9e5f-0a1b2c3d4e5f" // UUIDv7
    static let eventID = "c0ffee00-0000-4000-8000-000000000001"
    static let ruleID = "c0ffee00-0000-4000-8000-000000000002"
    static let stepRuleID = "c0ffee00-0000-4000-8000-000000000003"
    static let deletedItemID = "dead0000-0000-4000-8000-000000000000"

    static let pullPage = """
    {
      "ok": true,
      "serverTime": "2025-01-15T12:00:00.123Z",
      "cursor": "eyJ0IjoiMjAyNS0wMS0xNVQxMjowMDowMC4xMjNaIiwiaSI6NDJ9+/=",
      "hasMore": true,
      "contractors": [
        {"id": "\(contractorID)", "name": "Acme Renovations", "company_name": "Acme LLC",
         "email": "ops@acme.test", "phone": null, "address": null, "currency": "USD",
         "created_at": "2025-01-01T08:00:00Z", "updated_at": "2025-01-15T11:59:59.999Z", "sync_version": 7}
      ],
      "costbook_folders": [
        {"id": "\(folderID)", "contractor_id": "\(contractorID)", "name": "Framing",
         "parent_id": null, "sort_order": 2,
         "created_at": "2025-01-02T09:30:00.000Z", "updated_at": "2025-01-02T11:30:00+02:00", "sync_version": 7}
      ],
      "costbook_items": [
        {"id": "\(itemID)", "contractor_id": "\(contractorID)", "name": "2x4 stud 8ft",
         "folder_id": "\(folderID)", "description": "Kiln dried \\"SPF\\"", "unit": "ea",
         "unit_cost": "3.75", "markup_percent": "12.5000", "sku": null, "taxable": true,
         "created_at": "2025-01-03T10:00:00.123456Z", "updated_at": "2025-01-03T10:00:00.1Z", "sync_version": 7}
      ],
      "estimates": [
        {"id": "\(estimateID)", "contractor_id": "\(contractorID)", "number": "EST-1001",
         "title": "Kitchen remodel", "client_name": "Jane Doe", "client_email": "jane@example.com",
         "status": "sent",
         "line_items": [{"item_id": "\(itemID)", "qty": "24", "unit_cost": "3.75", "note": null, "sort": 1}],
         "notes": null, "subtotal": "12345678901234567890.1234567890", "tax": "0.0000000001", "total": "-0.5",
         "valid_until": "2025-02-28",
         "created_at": "2025-01-10T00:00:00Z", "updated_at": "2025-01-10T00:00:00.000Z", "sync_version": 7},
        {"id": "\(draftEstimateID)", "contractor_id": "\(contractorID)", "number": "EST-1002",
         "title": null, "client_name": null, "client_email": null,
         "status": "on_hold", "line_items": [], "notes": "Waiting on permit",
         "subtotal": null, "tax": null, "total": null, "valid_until": null,
         "created_at": "2025-01-11T00:00:00.000Z", "updated_at": "2025-01-11T00:00:00.000Z", "sync_version": 7}
      ],
      "estimate_events": [
        {"id": "\(eventID)", "contractor_id": "\(contractorID)", "estimate_id": "\(estimateID)",
         "kind": "sent", "payload": {"channel": "email", "attempt": 1, "opened": false, "meta": null, "cc": ["a@b.test"]},
         "occurred_at": "2025-01-15T10:00:00.5Z",
         "created_at": "2025-01-15T10:00:01.000Z", "updated_at": "2025-01-15T10:00:01.000Z", "sync_version": 7}
      ],
      "pdf_settings": [
        {"contractor_id": "\(contractorID)", "template": "modern", "accent_color": "#FF6600",
         "show_logo": true, "header_text": null, "footer_text": "Thank you for your business", "terms": null,
         "created_at": "2025-01-01T08:00:00.000Z", "updated_at": "2025-01-01T08:00:00.000Z", "sync_version": 7}
      ],
      "pricing_rules": [
        {"id": "\(ruleID)", "contractor_id": "\(contractorID)", "name": "Winter discount", "kind": "percent",
         "value": "-10.00", "applies_to": {"folders": ["\(folderID)"]}, "priority": 5, "enabled": true,
         "created_at": "2025-01-05T00:00:00.000Z", "updated_at": "2025-01-05T00:00:00.000Z", "sync_version": 7}
      ],
      "step_a_configs": [
        {"contractor_id": "\(contractorID)", "settings": {"rounding": "0.05", "steps": [1, 2.5, 3]},
         "enabled": false, "created_at": "2025-01-01T08:00:00.000Z", "updated_at": "2025-01-01T08:00:00.000Z", "sync_version": 7}
      ],
      "step_a_rules": [
        {"id": "\(stepRuleID)", "contractor_id": "\(contractorID)", "name": "Round up",
         "condition": {"gt": ["total", "1000"]}, "action": "round", "sort_order": 0, "enabled": true,
         "created_at": "2025-01-06T00:00:00.000Z", "updated_at": "2025-01-06T00:00:00.000Z", "sync_version": 7}
      ],
      "deleted": {"costbook_folders": [], "costbook_items": ["\(deletedItemID)"], "estimates": [],
                  "estimate_events": [], "pricing_rules": [], "step_a_rules": []}
    }
    """

    static let emptyPage = """
    {"ok": true, "serverTime": "2025-01-15T12:00:01Z", "cursor": "c2", "hasMore": false,
     "contractors": [], "costbook_folders": [], "costbook_items": [], "estimates": [],
     "estimate_events": [], "pdf_settings": [], "pricing_rules": [], "step_a_configs": [], "step_a_rules": [],
     "deleted": {"costbook_folders": [], "costbook_items": [], "estimates": [], "estimate_events": [],
                 "pricing_rules": [], "step_a_rules": []}}
    """

    static let canary = """
    {"ok": true, "userId": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "contractorId": "\(contractorID)",
     "serverTime": "2025-01-15T12:00:00.000Z"}
    """

    // Rows and push receipts carry contract 1.1's versions; a 1.0 decoder ignores them.
    static let pushResponse = """
    {"ok": true, "serverTime": "2025-01-15T12:00:02.250Z", "version": 42,
     "upserted": {"contractors": 0, "costbook_folders": 1, "costbook_items": 5, "estimates": 0, "estimate_events": 0,
                  "pdf_settings": 1, "pricing_rules": 0, "step_a_configs": 0, "step_a_rules": 0},
     "deleted": {"costbook_folders": 0, "costbook_items": 1, "estimates": 0, "estimate_events": 0,
                 "pricing_rules": 0, "step_a_rules": 0},
     "deduped": {"contractors": 0, "costbook_folders": 0, "costbook_items": 2, "estimates": 0, "estimate_events": 0,
                 "pdf_settings": 0, "pricing_rules": 0, "step_a_configs": 0, "step_a_rules": 0}}
    """

    static let badRequest = """
    {"ok": false, "error": "BAD_REQUEST", "message": "costbook_items[3].unit_cost: not a decimal",
     "requestId": "req-123", "details": [{"table": "costbook_items", "index": 3, "field": "unit_cost", "reason": "not a decimal"}]}
    """

    static func envelope(_ code: String, _ message: String = "x") -> String {
        #"{"ok": false, "error": "\#(code)", "message": "\#(message)", "requestId": "req-1", "details": []}"#
    }

    static func data(_ json: String) -> Data { Data(json.utf8) }
}
