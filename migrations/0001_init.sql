-- The synced schema. Every synced row is keyed by (contractor_id, key): a row can
-- only ever be reached through its own tenant, whatever ids a client sends.
-- Every synced table carries the change cursor `sync_seq` (the per-contractor
-- clock value of the push that last wrote it) and, where rows can be deleted,
-- a tombstone `deleted_at`. Money and percentages are numeric, JSON is jsonb.
-- Migrations are append-only: never edit a file once it is on main.

CREATE TABLE contractors (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    company_name text,
    email        text,
    phone        text,
    address      text,
    currency     text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    sync_seq     bigint NOT NULL DEFAULT 0
);

-- sync_clock serialises the pushes of one contractor: a push bumps `seq` with an
-- UPDATE and holds that row lock until it commits, so a contractor's pushes
-- commit in `seq` order and a pull that sees `seq` = N sees every change <= N.
-- This is what makes cursors gap-free (no late-committing transaction can slip
-- in under a cursor), unlike comparing `updated_at` timestamps.
CREATE TABLE sync_clock (
    contractor_id uuid PRIMARY KEY REFERENCES contractors (id) ON DELETE CASCADE,
    seq           bigint NOT NULL
);

-- Contractors may be provisioned with plain SQL: give each one its clock.
CREATE FUNCTION contractors_create_clock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_clock (contractor_id, seq) VALUES (NEW.id, NEW.sync_seq)
    ON CONFLICT (contractor_id) DO NOTHING;
    RETURN NEW;
END;
$$;

CREATE TRIGGER contractors_create_clock AFTER INSERT ON contractors
    FOR EACH ROW EXECUTE FUNCTION contractors_create_clock();

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    auth_user_id  uuid NOT NULL UNIQUE,
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX users_contractor ON users (contractor_id);

CREATE TABLE costbook_folders (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    parent_id     uuid,
    sort_order    integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_seq      bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX costbook_folders_sync ON costbook_folders (contractor_id, sync_seq, id);

CREATE TABLE costbook_items (
    contractor_id  uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    name           text NOT NULL,
    folder_id      uuid,
    description    text,
    unit           text,
    unit_cost      numeric,
    markup_percent numeric,
    sku            text,
    taxable        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz,
    sync_seq       bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX costbook_items_sync ON costbook_items (contractor_id, sync_seq, id);

CREATE TABLE estimates (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    number        text NOT NULL,
    title         text,
    client_name   text,
    client_email  text,
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'sent', 'accepted', 'declined', 'archived')),
    line_items    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(line_items) = 'array'),
    notes         text,
    subtotal      numeric,
    tax           numeric,
    total         numeric,
    valid_until   date,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_seq      bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX estimates_sync ON estimates (contractor_id, sync_seq, id);

CREATE TABLE estimate_events (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    estimate_id   uuid NOT NULL,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    occurred_at   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_seq      bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX estimate_events_sync ON estimate_events (contractor_id, sync_seq, id);

-- Singletons: one row per contractor, keyed by the contractor (no id).
CREATE TABLE pdf_settings (
    contractor_id uuid PRIMARY KEY REFERENCES contractors (id) ON DELETE CASCADE,
    template      text,
    accent_color  text,
    show_logo     boolean NOT NULL DEFAULT true,
    header_text   text,
    footer_text   text,
    terms         text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    sync_seq      bigint NOT NULL
);

CREATE TABLE pricing_rules (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL,
    value         numeric,
    applies_to    jsonb,
    priority      integer NOT NULL DEFAULT 0,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_seq      bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX pricing_rules_sync ON pricing_rules (contractor_id, sync_seq, id);

CREATE TABLE step_a_configs (
    contractor_id uuid PRIMARY KEY REFERENCES contractors (id) ON DELETE CASCADE,
    settings      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    sync_seq      bigint NOT NULL
);

CREATE TABLE step_a_rules (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    condition     jsonb,
    action        jsonb,
    sort_order    integer NOT NULL DEFAULT 0,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_seq      bigint NOT NULL,
    PRIMARY KEY (contractor_id, id)
);

CREATE INDEX step_a_rules_sync ON step_a_rules (contractor_id, sync_seq, id);

-- Idempotency-Key: the first response of a push, replayed for the same key and
-- body; per contractor, so one tenant's keys never collide with another's.
CREATE TABLE idempotency_keys (
    contractor_id uuid NOT NULL REFERENCES contractors (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (contractor_id, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
