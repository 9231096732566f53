-- Contract 1.2: a tombstone keeps its key and bookkeeping only. Deletes now
-- blank every payload column (queries/*.sql, Delete<Table>); this blanks the
-- tombstones written before, which kept their payload for the whole
-- retention period: a row whose values made every read fail (a JSON number
-- of 131,072 digits) could not be got rid of by deleting it. Same values as
-- the deletes: defaults for JSON columns and columns with one, NULL for
-- nullable columns, '' for required text. sync_seq does not move: a pull
-- delivers a tombstone as its id only, which is unchanged.
UPDATE costbook_folders SET name = '', parent_id = NULL, sort_order = DEFAULT
WHERE deleted_at IS NOT NULL;

UPDATE costbook_items SET name = '', folder_id = NULL, description = NULL, unit = NULL, unit_cost = NULL,
    markup_percent = NULL, sku = NULL, taxable = DEFAULT
WHERE deleted_at IS NOT NULL;

UPDATE estimates SET number = '', title = NULL, client_name = NULL, client_email = NULL, status = DEFAULT,
    line_items = DEFAULT, notes = NULL, subtotal = NULL, tax = NULL, total = NULL, valid_until = NULL
WHERE deleted_at IS NOT NULL;

UPDATE estimate_events SET kind = '', payload = DEFAULT, occurred_at = NULL
WHERE deleted_at IS NOT NULL;

UPDATE pricing_rules SET name = '', kind = '', value = NULL, applies_to = NULL, priority = DEFAULT, enabled = DEFAULT
WHERE deleted_at IS NOT NULL;

UPDATE step_a_rules SET name = '', condition = NULL, action = NULL, sort_order = DEFAULT, enabled = DEFAULT
WHERE deleted_at IS NOT NULL;
