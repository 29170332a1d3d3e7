-- What each published schedule version changed for attendees; see the Postgres migration of the same number.
CREATE TABLE schedule_changes (
    version INTEGER NOT NULL REFERENCES schedule_versions (id) ON DELETE CASCADE,
    previous INTEGER NOT NULL,
    session TEXT NOT NULL,
    change  TEXT NOT NULL CHECK (json_valid(change)),
    PRIMARY KEY (version, session)
);
CREATE INDEX schedule_changes_session_idx ON schedule_changes (session, version);
