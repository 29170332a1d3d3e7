//! Pure mapping from fetched Pretalx v2 data to the deconf [`Schedule`] (deconf-api.md §8.1), with the
//! improvements plaza makes: one session per slot, breaks kept, nothing dropped silently (see [`LintReport`]),
//! session types from Pretalx, capacity imported. No I/O and no clock: same input, same output.

mod collections;
mod sessions;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::pretalx::config::ImportConfig;
use crate::pretalx::wire::{self, PretalxData};
use plaza_core::model::schedule::{LintIssue, LintReport, LintRule, Schedule, Session, Slot};

pub use collections::DEFAULT_ICON;
pub use sessions::{host_languages, parse_urls};

/// Builds the schedule. Sessions come from submissions: one per scheduled slot (`<code>-1`, `<code>-2`… in start
/// order); a submission without a scheduled slot whose state is in `config.unscheduled_states` gets one
/// slot-less `<code>-1`; other slot-less submissions are counted in `lint.skippedByState`.
pub fn map_schedule(data: &PretalxData, config: &ImportConfig) -> Schedule {
    let mut mapper = Mapper::new(data, config);
    let mut sessions = Vec::new();
    let mut submissions: Vec<&wire::Submission> = data.submissions.iter().collect();
    submissions.sort_by(|a, b| a.code.cmp(&b.code));
    for submission in submissions {
        sessions.extend(mapper.sessions_of(submission));
    }
    mapper.report_orphan_slots();
    let breaks = mapper.breaks();
    sessions.sort_by(|(a_time, a), (b_time, b)| {
        (a_time.is_none(), a_time, &a.track, &a.id).cmp(&(
            b_time.is_none(),
            b_time,
            &b.track,
            &b.id,
        ))
    });
    let sessions: Vec<Session> = sessions.into_iter().map(|(_, session)| session).collect();
    let mut slots: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Slot> = BTreeMap::new();
    for &(start, end) in mapper.slot_times.iter() {
        slots
            .entry((start, end))
            .or_insert_with(|| Slot::new(start, end));
    }
    Schedule {
        tracks: mapper.tracks(&sessions, &breaks),
        pretalx_tracks: mapper.pretalx_tracks(&sessions),
        facilitators: collections::facilitators(&sessions, data),
        speakers: mapper.speakers(),
        themes: mapper.themes(),
        types: mapper.types(),
        slots: slots.into_values().collect(),
        sessions,
        breaks,
        lint: mapper.finish_lint(),
    }
}

type SlotTimes = (DateTime<Utc>, DateTime<Utc>);

/// Lookup tables over the fetched data plus what the mapping accumulates.
struct Mapper<'a> {
    data: &'a PretalxData,
    config: &'a ImportConfig,
    rooms: HashMap<i64, &'a wire::Room>,
    tags: BTreeSet<i64>,
    types: BTreeSet<i64>,
    speakers: BTreeSet<&'a str>,
    slots_by_submission: HashMap<&'a str, Vec<&'a wire::Slot>>,
    answers: HashMap<(i64, &'a str), Vec<&'a wire::Answer>>,
    slot_times: BTreeSet<SlotTimes>,
    issues: Vec<LintIssue>,
    skipped_by_state: BTreeMap<String, usize>,
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
            rooms: data.rooms.iter().map(|room| (room.id, room)).collect(),
            tags: data.tags.iter().map(|tag| tag.id).collect(),
            types: data.submission_types.iter().map(|kind| kind.id).collect(),
            speakers: data
                .speakers
                .iter()
                .map(|speaker| speaker.code.as_str())
                .collect(),
            slots_by_submission,
            answers,
            slot_times: BTreeSet::new(),
            issues: Vec::new(),
            skipped_by_state: BTreeMap::new(),
        }
    }

    fn issue(
        &mut self,
        rule: LintRule,
        session: Option<&str>,
        submission: Option<&str>,
        message: String,
    ) {
        self.issues.push(LintIssue {
            rule,
            blocks_publishing: rule.blocks_publishing(),
            session_id: session.map(str::to_owned),
            submission: submission.map(str::to_owned),
            message,
        });
    }

    fn finish_lint(self) -> LintReport {
        let mut issues = self.issues;
        issues.sort_by(|a, b| {
            (a.rule, &a.session_id, &a.submission, &a.message).cmp(&(
                b.rule,
                &b.session_id,
                &b.submission,
                &b.message,
            ))
        });
        LintReport {
            issues,
            skipped_by_state: self.skipped_by_state,
        }
    }

    fn report_orphan_slots(&mut self) {
        let known: BTreeSet<&str> = self
            .data
            .submissions
            .iter()
            .map(|submission| submission.code.as_str())
            .collect();
        let orphans: Vec<(i64, String)> = self
            .data
            .slots
            .iter()
            .filter_map(|slot| Some((slot.id, slot.submission.clone()?)))
            .filter(|(_, code)| !known.contains(code.as_str()))
            .collect();
        for (slot, code) in orphans {
            let message =
                format!("slot {slot} belongs to submission {code}, which Pretalx did not list");
            self.issue(LintRule::OrphanSlot, None, Some(&code), message);
        }
    }
}
