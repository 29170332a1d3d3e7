-- plaza's initial schema, SQLite dialect of migrations/postgres/20261123000001_initial.sql (keep them in step:
-- both backends pass one contract suite). Timestamps are RFC 3339 text in UTC; JSON is text checked by json_valid.
-- AUTOINCREMENT so that ids are never reused (a deleted attendee's id must not come back).

CREATE TABLE attendees (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    name          TEXT NOT NULL CHECK (length(name) <= 1000),
    email         TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    language      TEXT NOT NULL DEFAULT 'en' CHECK (length(language) <= 16),
    country       TEXT NOT NULL DEFAULT '' CHECK (length(country) <= 64),
    affiliation   TEXT NOT NULL DEFAULT '' CHECK (length(affiliation) <= 1000),
    verified      INTEGER NOT NULL DEFAULT 0,
    consented     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    "userData"    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid("userData")),
    token_version INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT attendees_email_key UNIQUE (email)
);

CREATE TABLE attendance (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    attendee INTEGER NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    session  TEXT NOT NULL CHECK (length(session) <= 200),
    CONSTRAINT attendance_attendee_session_key UNIQUE (attendee, session)
);
CREATE INDEX attendance_session_idx ON attendance (session);

CREATE TABLE logs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    attendee INTEGER NULL REFERENCES attendees (id) ON DELETE CASCADE,
    socket   TEXT NULL CHECK (length(socket) <= 200),
    event    TEXT NOT NULL CHECK (length(event) <= 200),
    data     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))
);
CREATE INDEX logs_event_created_idx ON logs (event, created);
CREATE INDEX logs_attendee_idx ON logs (attendee) WHERE attendee IS NOT NULL;

CREATE TABLE schedule_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    data         TEXT NOT NULL CHECK (json_valid(data)),
    counts       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    published_at TEXT NULL,
    CONSTRAINT schedule_versions_content_hash_key UNIQUE (content_hash)
);
CREATE INDEX schedule_versions_published_idx ON schedule_versions (published_at DESC);
