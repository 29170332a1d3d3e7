//! The deconf schedule model (digitalinteraction/deconf-shared 3.6 `src/conference.ts`) as plaza serves it.
//! Field names and shapes are the wire contract with the deconf client: change nothing here without a reason that
//! outweighs wire compatibility. Additions (breaks, facilitators, lint) live beside the reference collections.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A text per locale (`{"en": "…", "es": "…"}`); ordered so serialisation is stable.
pub type Localised = BTreeMap<String, String>;

/// A link attached to a session (`links`, `recommendations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalisedLink {
    /// Link kind: `any` for URLs parsed from answers, `url` for Pretalx resources.
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL, verbatim as found.
    pub url: String,
    /// Optional human title (the resource description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Language of the linked content (`en` in every reference path).
    pub language: String,
}

/// Who may see a session; the import always writes `private`, as the reference does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed for everyone.
    Public,
    /// The reference default for imported sessions.
    Private,
}

/// One session of the schedule (deconf `Session`, plus the plaza-only `recommendations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `<submission code>-<n>`, n counting the submission's slots in start order from 1.
    pub id: String,
    /// Session type id (the Pretalx submission type id as a string; empty when Pretalx has none).
    #[serde(rename = "type")]
    pub session_type: String,
    /// Slot id (`<startMs>__<endMs>`); absent while unscheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Track id: the Pretalx room id as a string (empty when the session has no room).
    pub track: String,
    /// Theme ids (Pretalx tag ids as strings).
    pub themes: Vec<String>,
    /// Cover image URL; the reference always writes `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_image: Option<String>,
    /// Title per locale.
    pub title: Localised,
    /// Description per locale.
    pub content: Localised,
    /// Join / resource links; stripped by `GET /schedule`, served by `/schedule/:id/links`.
    pub links: Vec<LocalisedLink>,
    /// Languages the session is held in, including the `asl` / `cc` pseudo-languages.
    pub host_languages: Vec<String>,
    /// Live interpretation flag; always false from Pretalx.
    pub enable_interpretation: bool,
    /// Speaker ids (Pretalx speaker codes).
    pub speakers: Vec<String>,
    /// Host organisation per locale; `{"en": ""}` from Pretalx.
    pub host_organisation: Localised,
    /// False only when Pretalx says `do_not_record`.
    pub is_recorded: bool,
    /// Always false from Pretalx.
    pub is_official: bool,
    /// Pretalx `is_featured` (organiser tokens only).
    pub is_featured: bool,
    /// Always `private` from Pretalx.
    pub visibility: Visibility,
    /// Pretalx submission state, verbatim (`confirmed`, `accepted`, `withdrawn`…); only `confirmed` is published.
    pub state: String,
    /// Attendance cap, or null for no cap; always serialised.
    pub participant_cap: Option<u32>,
    /// Deprecated deconf field, never set by the import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Deprecated deconf field, always false.
    pub hide_from_schedule: bool,
    /// Recommended links (plaza only).
    #[serde(default)]
    pub recommendations: Vec<LocalisedLink>,
}

impl Session {
    /// Whether `/schedule` lists the session, and so whether any route answers for its id: confirmed and placed.
    /// The import produces only such sessions (`jobs/src/pretalx/map/public.rs` defines "public"); this check
    /// also keeps out what versions stored before that rule still hold.
    pub fn is_listed(&self) -> bool {
        self.state == "confirmed" && self.slot.is_some()
    }
}

/// A time slot shared by every session (and break) with the same start and end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// `<startEpochMs>__<endEpochMs>`, as the toolkit's `getSlotId`.
    pub id: String,
    /// Start, serialised like JavaScript `Date.toJSON` (`2026-11-06T14:00:00.000Z`).
    #[serde(with = "js_date")]
    pub start: DateTime<Utc>,
    /// End, same format as `start`.
    #[serde(with = "js_date")]
    pub end: DateTime<Utc>,
}

impl Slot {
    /// The slot for `start..end`, with its deterministic id.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            id: slot_id(start, end),
            start,
            end,
        }
    }
}

/// The toolkit's slot id: `<startEpochMs>__<endEpochMs>`.
pub fn slot_id(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!("{}__{}", start.timestamp_millis(), end.timestamp_millis())
}

/// A person presenting sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    /// Pretalx speaker code.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Affiliation per locale (`{"en": ""}` when unknown).
    pub role: Localised,
    /// Biography (markdown) per locale.
    pub bio: Localised,
    /// Avatar URL; the reference writes `""` when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headshot: Option<String>,
}

/// A theme (from a Pretalx tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Theme {
    /// Pretalx tag id as a string.
    pub id: String,
    /// Tag text per locale.
    pub title: Localised,
}

/// A track (from a Pretalx room, as in the reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// Pretalx room id as a string.
    pub id: String,
    /// Room name per locale.
    pub title: Localised,
}

/// How the deconf client lays a session page out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Big-stage layout (keynotes, panels).
    Plenary,
    /// Interactive layout; the default.
    Workshop,
}

/// A session type (from a Pretalx submission type, optionally overridden by config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionType {
    /// Pretalx submission type id as a string.
    pub id: String,
    /// Font Awesome icon group (`fas`).
    pub icon_group: String,
    /// Font Awesome icon name (`users`).
    pub icon_name: String,
    /// Page layout.
    pub layout: Layout,
    /// Name per locale.
    pub title: Localised,
}

/// A Pretalx track with its sessions (plaza addition). deconf's `Session::track` already holds the room, as in
/// the reference, so Pretalx tracks are listed beside the reference collections instead of inside sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PretalxTrack {
    /// Pretalx track id as a string.
    pub id: String,
    /// Track name per locale.
    pub title: Localised,
    /// Ids of the sessions in this track, sorted.
    pub sessions: Vec<String>,
}

/// A break (a Pretalx slot without a submission: lunch, coffee…).
///
/// Breaks are a plaza addition kept outside `sessions` and `slots` so that neither reference collection changes
/// shape: a break points at an ordinary [`Slot`] (which it may share with sessions) through `slotId`, and at the
/// room through `track`. Clients that do not know `breaks` simply never see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Break {
    /// `break-<pretalx slot id>`.
    pub id: String,
    /// Id of the [`Slot`] it occupies.
    pub slot_id: String,
    /// Room id as a string, like `Session::track`; absent when Pretalx gives no room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    /// Break text per locale (Pretalx slot `description`), e.g. `{"en": "Lunch", "es": "Almuerzo"}`.
    pub title: Localised,
}

/// What a lint issue is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LintRule {
    /// A confirmed submission has no placed, visible slot in the released schedule, so it is left out.
    Unscheduled,
    /// A confirmed submission's released slot has no room, so it is left out.
    NoRoom,
    /// The submission has no submission type.
    NoType,
    /// The submission type id is not among Pretalx's submission types.
    UnknownType,
    /// The room id is not among Pretalx's rooms.
    UnknownRoom,
    /// A tag id is not among Pretalx's tags (the theme is still listed).
    UnknownTag,
    /// A speaker code is not among Pretalx's speakers (the id is still listed).
    UnknownSpeaker,
    /// A confirmed session has no links (the reference lint's "no links").
    NoLinks,
    /// A slot ends before it starts; it is treated as unscheduled.
    InvalidSlotTimes,
    /// A slot points at a submission that Pretalx did not list; the slot is ignored.
    OrphanSlot,
    /// A submission placed in the released schedule is not confirmed, so it is left out (Pretalx hides it too).
    NotConfirmed,
    /// A tag is not public: left out of themes and sessions.
    PrivateTag,
    /// A resource is not public: left out of the session's links.
    PrivateResource,
    /// A URL is not `http`/`https` (or is over the URL limit): left out of links, images and avatars.
    UnsafeLink,
    /// A text was over its size limit and was cut.
    Truncated,
}

impl LintRule {
    /// Whether a session with this issue cannot be shown properly in the published schedule.
    pub fn blocks_publishing(self) -> bool {
        matches!(
            self,
            Self::Unscheduled
                | Self::NoRoom
                | Self::NoType
                | Self::UnknownType
                | Self::UnknownRoom
                | Self::InvalidSlotTimes
        )
    }
}

/// One finding of the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LintIssue {
    /// What is wrong.
    pub rule: LintRule,
    /// Whether it keeps the session out of a usable schedule (see [`LintRule::blocks_publishing`]).
    pub blocks_publishing: bool,
    /// Session id concerned, if a session was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Pretalx submission code concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<String>,
    /// Human explanation for the lint page.
    pub message: String,
}

/// What the import could not publish and why; replaces the reference's silent drops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LintReport {
    /// Findings, sorted by rule then session id.
    pub issues: Vec<LintIssue>,
    /// Submissions that made no session because of their state (anything but `confirmed`: `accepted`,
    /// `rejected`, `withdrawn`, `submitted`…), counted per state.
    pub skipped_by_state: BTreeMap<String, usize>,
    /// Speakers left out because none of their sessions is public.
    #[serde(default)]
    pub speakers_left_out: usize,
}

/// The whole imported schedule. The first six collections are the reference `ScheduleRecord` minus `settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The public sessions (see `jobs/src/pretalx/map/public.rs`), by start, end, track and id.
    pub sessions: Vec<Session>,
    /// Distinct slots of sessions and breaks, by start then end.
    pub slots: Vec<Slot>,
    /// The speakers of public sessions, by id.
    pub speakers: Vec<Speaker>,
    /// The public Pretalx tags, by numeric id.
    pub themes: Vec<Theme>,
    /// Rooms used by a slot, by room position then id.
    pub tracks: Vec<Track>,
    /// Every Pretalx submission type, by numeric id.
    pub types: Vec<SessionType>,
    /// Breaks (plaza addition), by slot then track.
    pub breaks: Vec<Break>,
    /// Pretalx tracks with their sessions (plaza addition), by position then id.
    pub pretalx_tracks: Vec<PretalxTrack>,
    /// Base64 SHA-256 of each trimmed, lowercased email of a speaker of a confirmed session; sorted, unique.
    pub facilitators: Vec<String>,
    /// What could not be published and why.
    pub lint: LintReport,
}

impl Schedule {
    /// Base64 SHA-256 of the JSON serialisation: equal schedules give equal fingerprints, so a job can skip writes.
    pub fn fingerprint(&self) -> Result<String, serde_json::Error> {
        Ok(base64_sha256(&serde_json::to_vec(self)?))
    }
}

/// The reference facilitator hash: base64 (standard, padded) SHA-256 of the trimmed, lowercased email.
pub fn hash_email(email: &str) -> String {
    base64_sha256(email.trim().to_lowercase().as_bytes())
}

/// Standard base64 of the SHA-256 of `bytes` (content hashes).
pub(crate) fn base64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Serde for dates the way JavaScript `Date.toJSON` writes them: UTC, milliseconds, `Z`.
pub mod js_date {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `2026-11-06T14:00:00.000Z`.
    pub fn serialize<S: Serializer>(
        date: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&date.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Reads any RFC 3339 date and converts it to UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|date| date.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slot_serialises_like_javascript_dates() {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 6, 14, 0, 0)
            .single()
            .expect("valid date");
        let end = Utc
            .with_ymd_and_hms(2026, 11, 6, 15, 0, 0)
            .single()
            .expect("valid date");
        let json = serde_json::to_value(Slot::new(start, end)).expect("serialisable");
        assert_eq!(
            json,
            serde_json::json!({
                "id": "1793973600000__1793977200000",
                "start": "2026-11-06T14:00:00.000Z",
                "end": "2026-11-06T15:00:00.000Z",
            })
        );
    }

    #[test]
    fn participant_cap_is_serialised_even_when_null() {
        let session = Session {
            id: "ABC-1".into(),
            session_type: "1".into(),
            slot: None,
            track: String::new(),
            themes: vec![],
            cover_image: Some(String::new()),
            title: Localised::new(),
            content: Localised::new(),
            links: vec![],
            host_languages: vec![],
            enable_interpretation: false,
            speakers: vec![],
            host_organisation: Localised::new(),
            is_recorded: true,
            is_official: false,
            is_featured: false,
            visibility: Visibility::Private,
            state: "confirmed".into(),
            participant_cap: None,
            proxy_url: None,
            hide_from_schedule: false,
            recommendations: vec![],
        };
        let json = serde_json::to_value(&session).expect("serialisable");
        assert_eq!(json["participantCap"], serde_json::Value::Null);
        assert_eq!(json["coverImage"], "");
        assert!(json.get("slot").is_none());
        assert!(json.get("proxyUrl").is_none());
    }
}
