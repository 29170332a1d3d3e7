-- Capacity-checked attendance: one row per capped session, locked (INSERT … ON CONFLICT DO UPDATE) at the start of
-- an attend transaction so concurrent attends of one session take turns. The count itself always comes from
-- `attendance` (index attendance_session_idx), so nothing can drift when accounts are deleted.
CREATE TABLE session_locks (
    session text PRIMARY KEY CHECK (char_length(session) <= 200)
);
