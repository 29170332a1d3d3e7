-- SQLite dialect of migrations/postgres/20261202000030_identity_revocation.sql (keep them in step).

CREATE TABLE tito_deliveries (
    slug       TEXT PRIMARY KEY CHECK (length(slug) <= 200),
    updated_at TEXT NOT NULL
);

CREATE TABLE sync_cursors (
    name   TEXT PRIMARY KEY CHECK (length(name) <= 100),
    cursor TEXT NOT NULL
);

CREATE TABLE admin_grants (
    email TEXT PRIMARY KEY CHECK (length(email) <= 320)
);
