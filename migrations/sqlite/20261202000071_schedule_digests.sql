-- Schedule change emails; see the Postgres migration of the same number.
ALTER TABLE attendees ADD COLUMN schedule_emails INTEGER NOT NULL DEFAULT 1;
CREATE TABLE schedule_digests (
    version  INTEGER NOT NULL REFERENCES schedule_versions (id) ON DELETE CASCADE,
    attendee INTEGER NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (version, attendee)
);
