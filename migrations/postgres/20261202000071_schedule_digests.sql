-- Schedule change emails (#20): an attendee's opt-out (PATCH /auth/me `scheduleEmails`), and one row per digest
-- sent, so each attendee gets at most one digest per release however many api pods hear of it.
ALTER TABLE attendees ADD COLUMN schedule_emails boolean NOT NULL DEFAULT true;
CREATE TABLE schedule_digests (
    version  bigint NOT NULL REFERENCES schedule_versions (id) ON DELETE CASCADE,
    attendee integer NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    created  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, attendee)
);
