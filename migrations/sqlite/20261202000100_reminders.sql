-- Session reminders; see the Postgres migration of the same number.
ALTER TABLE attendees ADD COLUMN reminder_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (reminder_minutes IN (0, 5, 10, 15));
CREATE TABLE push_subscriptions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    attendee INTEGER NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE CHECK (length(endpoint) <= 2048),
    p256dh   BLOB NOT NULL,
    auth     BLOB NOT NULL,
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX push_subscriptions_attendee_idx ON push_subscriptions (attendee, id);
CREATE TABLE session_reminders (
    attendee  INTEGER NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    session   TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    created   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (attendee, session, starts_at)
);
CREATE TABLE push_outbox (
    subscription INTEGER NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    session      TEXT NOT NULL,
    starts_at    INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   INTEGER NOT NULL,
    PRIMARY KEY (subscription, session, starts_at)
);
CREATE INDEX push_outbox_due_idx ON push_outbox (not_before);
