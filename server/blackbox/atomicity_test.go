package blackbox_test

// A push is one transaction: when Postgres refuses a row of a table written
// after others, the rows already written roll back. The refused value must
// pass the spec (else validation answers before Postgres is reached and the
// test proves nothing about the transaction), so the harness gives every
// synced table a constraint the spec cannot express: a text holding
// poisonText is refused with check_violation, naming the table and column.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/server/syncstore"
)

const poisonText = "postgres-rejects-this"

var poisonOnce sync.Once

// poisonTables installs the constraint on every synced table (once per run).
func poisonTables(t *testing.T) {
	t.Helper()
	poisonOnce.Do(func() {
		sqlExec(t, fmt.Sprintf(`CREATE OR REPLACE FUNCTION test_reject_poison() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE col text;
BEGIN
    SELECT key INTO col FROM jsonb_each_text(to_jsonb(NEW)) WHERE value = '%s' LIMIT 1;
    IF col IS NOT NULL THEN
        RAISE EXCEPTION 'poisoned value' USING ERRCODE = 'check_violation',
            TABLE = TG_TABLE_NAME, COLUMN = col, CONSTRAINT = 'test_poison';
    END IF;
    RETURN NEW;
END $$`, poisonText))
		for _, tb := range syncstore.Tables() {
			sqlExec(t, fmt.Sprintf(`CREATE TRIGGER test_poison BEFORE INSERT OR UPDATE ON %s
FOR EACH ROW EXECUTE FUNCTION test_reject_poison()`, tb.Name))
		}
	})
}

func TestPush_ValueOnlyPostgresRejects_400AndNothingWritten(t *testing.T) {
	t.Parallel()
	poisonTables(t)
	d := env.NewTenant(t)
	before := d.State()
	// Valid rows in tables applied before estimates, then a value only
	// Postgres refuses: the statements that already ran must roll back.
	r := d.Push(map[string]any{
		"costbook_folders": []any{map[string]any{"id": uuid.New(), "name": "Framing"}},
		"costbook_items":   []any{map[string]any{"id": uuid.New(), "name": "Stud"}},
		"estimates":        []any{map[string]any{"id": uuid.New(), "number": "E-1", "notes": poisonText}},
	})
	e := r.Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{"estimates", -1, "notes"})
	if after := d.State(); after != before {
		t.Fatalf("a rejected push changed the tenant:\nbefore %s\nafter  %s", before, after)
	}
}

func TestPush_InvalidRowInOneTable_NothingWrittenInOthers(t *testing.T) {
	t.Parallel()
	poisonTables(t)
	tables := syncstore.Tables()
	last := tables[len(tables)-1] // written after every other table's rows
	row := sampleRow(t, last, uuid.New(), 1)
	// A column that takes any string: the poison passes the contract's
	// checks (a uuid column would be refused before the database).
	s, err := testenv.Samples()
	if err != nil {
		t.Fatal(err)
	}
	free, err := s.FreeText(last.Name, len(poisonText))
	if err != nil || len(free) == 0 {
		t.Fatalf("%s has no free-text column to poison (%v)", last.Name, err)
	}
	poisoned := free[0]
	row[poisoned] = poisonText
	d := env.NewTenant(t)
	kept := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": kept, "name": "kept"}}})
	before := d.State()
	e := d.Push(map[string]any{
		"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "Valid"}},
		"pdf_settings":   []any{map[string]any{"template": "valid"}},
		"deletes":        map[string]any{"costbook_items": []uuid.UUID{kept}},
		last.Name:        []any{row},
	}).Envelope(t, http.StatusBadRequest, "BAD_REQUEST")
	assertDetails(t, e, wantDetail{last.Name, -1, poisoned})
	if after := d.State(); after != before {
		t.Fatalf("a rejected push changed the tenant:\nbefore %s\nafter  %s", before, after)
	}
}
