//! The in-process view of access state (issue #19): attendee id → the [`AccessRecord`] the check needs, so an
//! authenticated request does not read the database. A [`KeyedView`] on [`ACCESS_CHANNEL`]: every writer that can
//! lose or change an attendee's access (token-version bumps, the check's own revoke, deletion, a lost ticket,
//! verification, profile changes) calls [`KeyedView::changed`] (or [`publish_many`] from a process without a view,
//! such as the jobs); `AUTH_CACHE_TTL_MS` bounds staleness when a notice is lost, `AUTH_CACHE_MAX_ENTRIES` the size.

use std::time::Duration;

use super::AccessRecord;
use crate::cache::Cache;
pub use crate::cache::view::{ALL, Changed, Hit, KeyedView};

/// The cache channel carrying access invalidations: an attendee id, or [`ALL`].
pub const ACCESS_CHANNEL: &str = "notify.access";

/// The access view of one process.
pub type AccessView = KeyedView<AccessRecord>;

/// An access view keeping records for `ttl` (zero: none), at most about `max_entries` of them.
pub fn access_view(cache: Cache, ttl: Duration, max_entries: usize) -> AccessView {
    KeyedView::new(cache, ACCESS_CHANNEL, ttl, max_entries, |_| 1)
}

/// Tells every process that the access of `ids` changed (one notice each, or one [`ALL`] when there are many).
pub async fn publish_many(cache: &Cache, ids: &[i32]) {
    crate::cache::view::publish_many(cache, ACCESS_CHANNEL, ids).await;
}
