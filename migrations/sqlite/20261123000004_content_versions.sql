-- Every distinct content import; see the Postgres migration of the same number.
CREATE TABLE content_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    data         TEXT NOT NULL CHECK (json_valid(data)),
    counts       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    published_at TEXT NULL,
    CONSTRAINT content_versions_content_hash_key UNIQUE (content_hash)
);
CREATE INDEX content_versions_published_idx ON content_versions (published_at DESC);
