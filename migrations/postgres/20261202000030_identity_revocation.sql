-- Identity hardening (issue #16): the webhook's delivery ledger, the Tito sync cursor and the admins seen at start.

-- The newest Tito webhook delivery applied per ticket (Tito's `updated_at` of its payload). A delivery not newer
-- than this is a replay or a redelivery: acknowledged and ignored, so it changes no state and sends no email. Kept
-- apart from tito_tickets so a full sync (which replaces that table) cannot forget what was delivered.
CREATE TABLE tito_deliveries (
    slug       text PRIMARY KEY CHECK (char_length(slug) <= 200),
    updated_at timestamptz NOT NULL
);

-- Cursors of differential syncs, written by the sync from the rows it fetched (never by the webhook).
CREATE TABLE sync_cursors (
    name   text PRIMARY KEY CHECK (char_length(name) <= 100),
    cursor timestamptz NOT NULL
);

-- The ADMIN_EMAILS in force at the last start: an address that left the list has its tokens revoked at the next.
CREATE TABLE admin_grants (
    email text PRIMARY KEY CHECK (char_length(email) <= 320)
);
