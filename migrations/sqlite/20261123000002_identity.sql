-- SQLite dialect of migrations/postgres/20261123000002_identity.sql (keep them in step).

CREATE TABLE tito_tickets (
    slug            TEXT PRIMARY KEY CHECK (length(slug) <= 200),
    email_hash      TEXT NULL CHECK (length(email_hash) <= 100),
    name            TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 1000),
    state           TEXT NOT NULL CHECK (length(state) <= 50),
    tito_updated_at TEXT NOT NULL,
    synced_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX tito_tickets_email_hash_idx ON tito_tickets (email_hash) WHERE email_hash IS NOT NULL;
CREATE INDEX tito_tickets_updated_idx ON tito_tickets (tito_updated_at);

CREATE TABLE used_login_tokens (
    jti     TEXT PRIMARY KEY CHECK (length(jti) <= 100),
    expires TEXT NOT NULL
);
CREATE INDEX used_login_tokens_expires_idx ON used_login_tokens (expires);
