//! The one definition of "public", following Pretalx's own public schedule. An organiser token sees far more than
//! the public (unconfirmed and rejected proposals, their speakers, draft schedules, internal tags, private
//! resources); everything the mapping publishes passes through the predicates here, and whatever they leave out
//! is reported in the lint report with its reason.
//!
//! - A **session** is public when its submission is `confirmed` and it has at least one *placed*, *visible* slot
//!   in the *released* schedule (`schedules/latest`, never `wip`): a start, an end after it, a room, and not
//!   `is_visible: false`. One session per such slot.
//! - A **speaker** is public only as a speaker of a public session.
//! - A **tag** is public when Pretalx marks it `is_public`; a **resource** likewise.
//! - Only `http`/`https` URLs become links (speaker answers, recommendations, resources, images, avatars).
//! - Texts are bounded ([`limits`](super::limits)): an over-long field is cut, with a lint entry.

use chrono::{DateTime, Utc};
use url::Url;

use crate::pretalx::wire;

/// Why a slot does not place its submission in the public schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unplaced {
    /// The slot belongs to another schedule than the released one (the `wip` draft, an older release).
    NotReleased,
    /// `is_visible: false`.
    Hidden,
    /// No start or no end.
    NoTime,
    /// The end is not after the start.
    InvalidTimes,
    /// No room.
    NoRoom,
}

impl Unplaced {
    /// Why, for the lint report.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Self::NotReleased => "its only slots are in an unreleased (wip) schedule",
            Self::Hidden => "its slot in the released schedule is hidden (is_visible: false)",
            Self::NoTime => "its slot in the released schedule has no time",
            Self::InvalidTimes => "its slot in the released schedule ends before it starts",
            Self::NoRoom => "its slot in the released schedule has no room",
        }
    }
}

/// A slot's times in UTC when it is placed and visible in the `released` schedule, else why not.
pub(super) fn placement(
    slot: &wire::Slot,
    released: Option<i64>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Unplaced> {
    if released.is_none() || slot.schedule != released {
        return Err(Unplaced::NotReleased);
    }
    if slot.is_visible == Some(false) {
        return Err(Unplaced::Hidden);
    }
    let (Some(start), Some(end)) = (slot.start, slot.end) else {
        return Err(Unplaced::NoTime);
    };
    if end <= start {
        return Err(Unplaced::InvalidTimes);
    }
    if slot.room.is_none() && slot.submission.is_some() {
        return Err(Unplaced::NoRoom);
    }
    Ok((start.with_timezone(&Utc), end.with_timezone(&Utc)))
}

/// Whether a submission in `state` may be public at all (Pretalx shows confirmed talks only).
pub(super) fn state_is_public(state: &str) -> bool {
    state == "confirmed"
}

/// Whether a tag is public.
pub(super) fn tag_is_public(tag: &wire::Tag) -> bool {
    tag.is_public
}

/// Whether a resource is public.
pub(super) fn resource_is_public(resource: &wire::Resource) -> bool {
    resource.is_public
}

/// Whether `text` is an absolute `http`/`https` URL with a host: the only URLs that become links or images.
pub fn is_web_url(text: &str) -> bool {
    Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|host| !host.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_web_urls() {
        assert!(is_web_url("https://example.org/a"));
        assert!(is_web_url("http://example.org"));
        for url in [
            "javascript://example.org/%0aalert(1)",
            "javascript:alert(1)",
            "data://example.org/x",
            "ftp://example.org/x",
            "mailto:a@example.org",
            "/media/x.pdf",
        ] {
            assert!(!is_web_url(url), "{url}");
        }
    }
}
