-- SQLite dialect of migrations/postgres/20261123000003_attendance_capacity.sql (SQLite serialises writers anyway;
-- the row keeps one code path for both engines).
CREATE TABLE session_locks (
    session TEXT PRIMARY KEY CHECK (length(session) <= 200)
);
