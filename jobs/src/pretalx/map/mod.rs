//! Pure mapping from fetched Pretalx v2 data to the deconf [`Schedule`] (deconf-api.md §8.1), with the
//! improvements plaza makes: one session per slot, breaks kept, nothing dropped silently (see [`LintReport`]),
//! session types from Pretalx, capacity imported. No I/O and no clock: same input, same output.
//!
//! Only what Pretalx shows the public is mapped; [`public`] is the one definition of it.

mod collections;
pub mod public;
mod sessions;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::pretalx::config::ImportConfig;
use crate::pretalx::limits;
use crate::pretalx::wire::{self, PretalxData};
use plaza_core::model::schedule::{LintIssue, LintReport, LintRule, Schedule, Session, Slot};

pub use collections::DEFAULT_ICON;
pub use sessions::host_languages;

/// Builds the public schedule. Sessions come from confirmed submissions: one per placed, visible slot of the
/// released schedule (`<code>-1`, `<code>-2`… in start order). Everything else is left out and reported: other
/// states are counted in `lint.skippedByState` (with an issue when the released schedule places them), confirmed
/// submissions without such a slot get an issue saying why.
pub fn map_schedule(data: &PretalxData, config: &ImportConfig) -> Schedule {
    let mapper = Mapper::new(data, config);
    let mut sessions = Vec::new();
    let mut submissions: Vec<&wire::Submission> = data.submissions.iter().collect();
    submissions.sort_by(|a, b| a.code.cmp(&b.code));
    for submission in submissions {
        sessions.extend(mapper.sessions_of(submission));
    }
    mapper.report_orphan_slots();
    let breaks = mapper.breaks();
    sessions.sort_by(|(a_time, a), (b_time, b)| {
        (a_time, &a.track, &a.id).cmp(&(b_time, &b.track, &b.id))
    });
    let sessions: Vec<Session> = sessions.into_iter().map(|(_, session)| session).collect();
    let mut slots: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Slot> = BTreeMap::new();
    for &(start, end) in mapper.slot_times.borrow().iter() {
        slots
            .entry((start, end))
            .or_insert_with(|| Slot::new(start, end));
    }
    let speakers = mapper.speakers(&sessions);
    Schedule {
        tracks: mapper.tracks(&sessions, &breaks),
        pretalx_tracks: mapper.pretalx_tracks(&sessions),
        facilitators: collections::facilitators(data),
        themes: mapper.themes(),
        types: mapper.types(),
        slots: slots.into_values().collect(),
        sessions,
        breaks,
        lint: mapper.finish_lint(speakers.len()),
        speakers,
    }
}

type SlotTimes = (DateTime<Utc>, DateTime<Utc>);

/// Lookup tables over the fetched data plus what the mapping accumulates (interior mutability, so the
/// read-only helpers can report what they cut or leave out).
struct Mapper<'a> {
    data: &'a PretalxData,
    config: &'a ImportConfig,
    released: Option<i64>,
    rooms: HashMap<i64, &'a wire::Room>,
    tags: BTreeSet<i64>,
    public_tags: BTreeSet<i64>,
    types: BTreeSet<i64>,
    speakers: BTreeSet<&'a str>,
    slots_by_submission: HashMap<&'a str, Vec<&'a wire::Slot>>,
    answers: HashMap<(i64, &'a str), Vec<&'a wire::Answer>>,
    slot_times: RefCell<BTreeSet<SlotTimes>>,
    issues: RefCell<Vec<LintIssue>>,
    skipped_by_state: RefCell<BTreeMap<String, usize>>,
}

impl<'a> Mapper<'a> {
    fn new(data: &'a PretalxData, config: &'a ImportConfig) -> Self {
        let mut slots_by_submission: HashMap<&str, Vec<&wire::Slot>> = HashMap::new();
        for slot in &data.slots {
            if let Some(code) = slot.submission.as_deref() {
                slots_by_submission.entry(code).or_default().push(slot);
            }
        }
        let mut answers: HashMap<(i64, &str), Vec<&wire::Answer>> = HashMap::new();
        for answer in &data.answers {
            for owner in [answer.submission.as_deref(), answer.person.as_deref()]
                .into_iter()
                .flatten()
            {
                answers
                    .entry((answer.question, owner))
                    .or_default()
                    .push(answer);
            }
        }
        for list in answers.values_mut() {
            list.sort_by_key(|answer| answer.id);
        }
        Self {
            data,
            config,
            released: data.released.as_ref().map(|schedule| schedule.id),
            rooms: data.rooms.iter().map(|room| (room.id, room)).collect(),
            tags: data.tags.iter().map(|tag| tag.id).collect(),
            public_tags: data
                .tags
                .iter()
                .filter(|tag| public::tag_is_public(tag))
                .map(|tag| tag.id)
                .collect(),
            types: data.submission_types.iter().map(|kind| kind.id).collect(),
            speakers: data
                .speakers
                .iter()
                .map(|speaker| speaker.code.as_str())
                .collect(),
            slots_by_submission,
            answers,
            slot_times: RefCell::default(),
            issues: RefCell::default(),
            skipped_by_state: RefCell::default(),
        }
    }

    /// `text` within `limit` characters; a longer one is cut and reported as `what` of `submission`.
    fn bounded(&self, text: &str, limit: usize, what: &str, submission: Option<&str>) -> String {
        match limits::cut(text, limit) {
            None => text.to_owned(),
            Some(cut) => {
                self.issue(
                    LintRule::Truncated,
                    None,
                    submission,
                    format!(
                        "{what} cut from {} to {limit} characters",
                        text.chars().count()
                    ),
                );
                cut
            }
        }
    }

    /// `url` when it may become a link or image (http/https, within the URL limit); else reported and `None`.
    fn web_url(&self, url: &str, what: &str, submission: Option<&str>) -> Option<String> {
        let url = url.trim();
        if public::is_web_url(url) && url.chars().count() <= limits::URL_CHARS {
            return Some(url.to_owned());
        }
        let shown: String = url.chars().take(80).collect();
        self.issue(
            LintRule::UnsafeLink,
            None,
            submission,
            format!(
                "{what} {shown:?} is not an http(s) URL within {} characters; left out",
                limits::URL_CHARS
            ),
        );
        None
    }

    fn issue(
        &self,
        rule: LintRule,
        session: Option<&str>,
        submission: Option<&str>,
        message: String,
    ) {
        self.issues.borrow_mut().push(LintIssue {
            rule,
            blocks_publishing: rule.blocks_publishing(),
            session_id: session.map(str::to_owned),
            submission: submission.map(str::to_owned),
            message,
        });
    }

    /// The lint report; `public_speakers` speakers were kept.
    fn finish_lint(self, public_speakers: usize) -> LintReport {
        let mut issues = self.issues.into_inner();
        issues.sort_by(|a, b| {
            (a.rule, &a.session_id, &a.submission, &a.message).cmp(&(
                b.rule,
                &b.session_id,
                &b.submission,
                &b.message,
            ))
        });
        let listed: BTreeSet<&str> = self.data.speakers.iter().map(|s| s.code.as_str()).collect();
        LintReport {
            issues,
            skipped_by_state: self.skipped_by_state.into_inner(),
            speakers_left_out: listed.len().saturating_sub(public_speakers),
        }
    }

    fn report_orphan_slots(&self) {
        let known: BTreeSet<&str> = self
            .data
            .submissions
            .iter()
            .map(|submission| submission.code.as_str())
            .collect();
        let orphans = self
            .data
            .slots
            .iter()
            .filter(|slot| slot.schedule == self.released)
            .filter_map(|slot| Some((slot.id, slot.submission.as_deref()?)))
            .filter(|(_, code)| !known.contains(code));
        for (slot, code) in orphans {
            let message =
                format!("slot {slot} belongs to submission {code}, which Pretalx did not list");
            self.issue(LintRule::OrphanSlot, None, Some(code), message);
        }
    }
}
