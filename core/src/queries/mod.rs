//! Queries: free functions over [`Db`](crate::Db), one module per table, each row shape defined once.
//!
//! SQL here is portable between Postgres and SQLite (`$n` placeholders work in both); where the dialects differ a
//! query says so and carries both texts.

pub mod attendance;
pub mod attendees;
pub mod changes;
pub mod login_tokens;
pub mod logs;
pub mod push;
pub mod reminders;
pub mod tickets;
pub mod versions;
