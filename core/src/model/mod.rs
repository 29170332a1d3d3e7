//! The domain model shared by jobs and the server. `schedule` is the deconf schedule wire model.

pub mod schedule;
