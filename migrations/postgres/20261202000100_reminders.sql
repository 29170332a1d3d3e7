-- Session reminders (#20): the attendee's setting (PATCH /auth/me `reminderMinutes`: 0 = off, 5, 10 or 15), their
-- Web Push subscriptions, one claim per (attendee, session, start) so nobody is reminded twice (a moved session has
-- a new start, so it re-arms), and the pushes still to deliver (retried on the next tick after a 429/5xx).
-- Times the job compares are epoch seconds, written by plaza on both engines.
ALTER TABLE attendees ADD COLUMN reminder_minutes smallint NOT NULL DEFAULT 0
    CHECK (reminder_minutes IN (0, 5, 10, 15));
CREATE TABLE push_subscriptions (
    id       bigserial PRIMARY KEY,
    attendee integer NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    endpoint text NOT NULL UNIQUE CHECK (length(endpoint) <= 2048),
    p256dh   bytea NOT NULL,
    auth     bytea NOT NULL,
    created  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_attendee_idx ON push_subscriptions (attendee, id);
CREATE TABLE session_reminders (
    attendee  integer NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    session   text NOT NULL,
    starts_at bigint NOT NULL,
    created   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attendee, session, starts_at)
);
CREATE TABLE push_outbox (
    subscription bigint NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    session      text NOT NULL,
    starts_at    bigint NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    not_before   bigint NOT NULL,
    PRIMARY KEY (subscription, session, starts_at)
);
CREATE INDEX push_outbox_due_idx ON push_outbox (not_before);
