//! The domain model shared by jobs and the server. `schedule` is the deconf schedule wire model; `changes` is what
//! a schedule release changed for attendees.

pub mod changes;
pub mod schedule;
