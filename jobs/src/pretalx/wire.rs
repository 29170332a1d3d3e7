//! Pretalx REST API **v2** objects, limited to the fields the schedule mapping reads (external-apis.md §1.4).
//! Required fields are required and typed so a malformed object fails at the edge; unknown fields are ignored.
//! Nothing here knows about deconf: mapping lives in `map`.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Deserialize;

/// A multi-language string: Pretalx sends a map locale → text, or a plain string (with `?lang=` or for
/// single-language fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum I18n {
    /// One text, locale unknown.
    Plain(String),
    /// Text per locale; null entries (unset translations) are kept as `None`.
    Map(BTreeMap<String, Option<String>>),
}

impl I18n {
    /// Non-empty texts per locale; a plain string is filed under `default_locale`.
    pub fn texts(&self, default_locale: &str) -> BTreeMap<String, String> {
        match self {
            Self::Plain(text) if text.trim().is_empty() => BTreeMap::new(),
            Self::Plain(text) => BTreeMap::from([(default_locale.to_owned(), text.clone())]),
            Self::Map(map) => map
                .iter()
                .filter_map(|(locale, text)| {
                    let text = text.as_deref()?;
                    (!text.trim().is_empty()).then(|| (locale.clone(), text.to_owned()))
                })
                .collect(),
        }
    }
}

/// The list envelope of every collection endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// Total number of objects over all pages.
    pub count: u64,
    /// Absolute URL of the next page, or null on the last page.
    pub next: Option<String>,
    /// Absolute URL of the previous page, or null on the first page.
    pub previous: Option<String>,
    /// The objects of this page.
    pub results: Vec<T>,
}

/// `/api/events/{event}/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// Event name.
    pub name: I18n,
    /// URL slug.
    pub slug: String,
    /// First day.
    pub date_from: NaiveDate,
    /// Last day.
    pub date_to: NaiveDate,
    /// IANA time zone name.
    pub timezone: String,
}

/// A resource of a submission (`?expand=resources`).
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    /// Resource id.
    pub id: i64,
    /// The URL (external link or uploaded file).
    pub resource: String,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the public sees it; missing counts as private.
    #[serde(default)]
    pub is_public: bool,
}

/// `/submissions/?expand=resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct Submission {
    /// Unique code, e.g. `H7KDQP`.
    pub code: String,
    /// Title (plain string in v2).
    pub title: String,
    /// Speaker codes.
    pub speakers: Vec<String>,
    /// Submission type id.
    pub submission_type: Option<i64>,
    /// Track id.
    #[serde(default)]
    pub track: Option<i64>,
    /// Tag ids.
    #[serde(default)]
    pub tags: Vec<i64>,
    /// `submitted`, `accepted`, `confirmed`, `rejected`, `canceled`, `withdrawn`, `draft`.
    pub state: String,
    /// Short abstract.
    #[serde(default, rename = "abstract")]
    pub abstract_text: Option<String>,
    /// Long description.
    #[serde(default)]
    pub description: Option<String>,
    /// Duration in minutes.
    #[serde(default)]
    pub duration: Option<u32>,
    /// Locale the session is held in, e.g. `en`, `es`, `en-mozilla`.
    pub content_locale: String,
    /// True when the speakers refuse recording.
    #[serde(default)]
    pub do_not_record: bool,
    /// Cover image URL.
    #[serde(default)]
    pub image: Option<String>,
    /// Expanded resources.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Slot ids in the current schedule.
    pub slots: Vec<i64>,
    /// Organiser-only featured flag.
    #[serde(default)]
    pub is_featured: Option<bool>,
    /// Attendee cap when sign-up is used.
    #[serde(default)]
    pub attendee_signup_capacity: Option<u32>,
}

/// `/speakers/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Speaker {
    /// Unique code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Markdown biography.
    #[serde(default)]
    pub biography: Option<String>,
    /// Avatar URL; omitted when the CfP does not collect avatars.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Organiser-only email.
    #[serde(default)]
    pub email: Option<String>,
    /// Codes of their submissions.
    #[serde(default)]
    pub submissions: Vec<String>,
}

/// `/schedules/latest/`: the released schedule (the `wip` draft is never read).
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleVersion {
    /// Schedule id; slots name it in `schedule`.
    pub id: i64,
    /// Version name, e.g. `1.3` (null only for `wip`).
    #[serde(default)]
    pub version: Option<String>,
    /// When it was released.
    #[serde(default)]
    pub published: Option<DateTime<FixedOffset>>,
}

/// `/slots/?schedule=<released id>`. A slot with a null `submission` is a break or blocker.
#[derive(Debug, Clone, Deserialize)]
pub struct Slot {
    /// Slot id.
    pub id: i64,
    /// The schedule the slot belongs to; only slots of the released schedule are public.
    #[serde(default)]
    pub schedule: Option<i64>,
    /// Organiser-only: false for a slot Pretalx hides from the public schedule (an unconfirmed talk, a blocker).
    /// Missing (a public token) means visible: Pretalx lists only visible slots to the public.
    #[serde(default)]
    pub is_visible: Option<bool>,
    /// Room id; null while unscheduled.
    #[serde(default)]
    pub room: Option<i64>,
    /// Start, with an offset; null while unscheduled.
    #[serde(default)]
    pub start: Option<DateTime<FixedOffset>>,
    /// End, with an offset; null while unscheduled.
    #[serde(default)]
    pub end: Option<DateTime<FixedOffset>>,
    /// Submission code, null for breaks.
    #[serde(default)]
    pub submission: Option<String>,
    /// Break text.
    #[serde(default)]
    pub description: Option<I18n>,
}

/// `/rooms/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Room {
    /// Room id.
    pub id: i64,
    /// Room name.
    pub name: I18n,
    /// Sort position.
    #[serde(default)]
    pub position: Option<i64>,
}

/// `/tags/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Tag {
    /// Tag id.
    pub id: i64,
    /// Tag text (plain string).
    pub tag: String,
    /// Whether the public sees the tag; missing counts as private.
    #[serde(default)]
    pub is_public: bool,
}

/// `/tracks/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Track {
    /// Track id.
    pub id: i64,
    /// Track name.
    pub name: I18n,
    /// Sort position.
    #[serde(default)]
    pub position: Option<i64>,
}

/// `/submission-types/`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubmissionType {
    /// Type id.
    pub id: i64,
    /// Type name.
    pub name: I18n,
    /// Default duration in minutes.
    #[serde(default)]
    pub default_duration: Option<u32>,
}

/// `/questions/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    /// Question id.
    pub id: i64,
    /// Question text.
    pub question: I18n,
    /// `submission`, `speaker` or `reviewer`.
    #[serde(default)]
    pub target: Option<String>,
    /// Answer kind (`string`, `text`, `url`…).
    #[serde(default)]
    pub variant: Option<String>,
}

/// `/answers/?question=<id>`.
#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    /// Answer id.
    pub id: i64,
    /// Question id.
    pub question: i64,
    /// Answer text; may be null for file answers.
    #[serde(default)]
    pub answer: Option<String>,
    /// Submission code, for submission questions.
    #[serde(default)]
    pub submission: Option<String>,
    /// Speaker code, for speaker questions.
    #[serde(default)]
    pub person: Option<String>,
}

/// Everything one import reads from Pretalx (deserialisable too, for fixtures and saved snapshots).
#[derive(Debug, Clone, Deserialize)]
pub struct PretalxData {
    /// The event.
    pub event: Event,
    /// The released schedule (`schedules/latest`); `None` while nothing is released, so nothing is public.
    #[serde(default)]
    pub released: Option<ScheduleVersion>,
    /// All submissions the token can see.
    pub submissions: Vec<Submission>,
    /// All speakers the token can see.
    pub speakers: Vec<Speaker>,
    /// Slots of the released schedule, breaks included (the mapping checks `schedule` again).
    pub slots: Vec<Slot>,
    /// Rooms.
    pub rooms: Vec<Room>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Tracks.
    pub tracks: Vec<Track>,
    /// Submission types.
    pub submission_types: Vec<SubmissionType>,
    /// Answers to the configured questions.
    pub answers: Vec<Answer>,
}
