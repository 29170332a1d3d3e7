-- What each published schedule version changed for attendees, per session, against the version served before it
-- (moved, room, title, cancelled). Written once, by the import that created and published the version; read by
-- the admin API and the change notices. `change` is the SessionChange JSON (core/src/model/changes.rs).
CREATE TABLE schedule_changes (
    version bigint NOT NULL REFERENCES schedule_versions (id) ON DELETE CASCADE,
    -- The version served before `version` (what the change is measured against).
    previous bigint NOT NULL,
    session text NOT NULL,
    change  jsonb NOT NULL,
    PRIMARY KEY (version, session)
);
-- Calendars read a session's history (SEQUENCE, LAST-MODIFIED, cancellations).
CREATE INDEX schedule_changes_session_idx ON schedule_changes (session, version);
