//! Sessions of one submission: ids, slots, texts, links, host languages and their lint findings.

use chrono::Utc;
use url::Url;

use super::{Mapper, SlotTimes};
use crate::pretalx::config::ImportConfig;
use crate::pretalx::wire;
use plaza_core::model::schedule::{
    LintRule, Localised, LocalisedLink, Session, Visibility, slot_id,
};

/// Tokens of `text` (split on whitespace) that parse as absolute URLs with a host and a path, as the reference.
pub fn parse_urls(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|token| {
            Url::parse(token).is_ok_and(|url| {
                url.host_str().is_some_and(|host| !host.is_empty()) && !url.path().is_empty()
            })
        })
        .map(str::to_owned)
        .collect()
}

/// Host languages: the content locale, `asl` / `cc` from the configured tags, `-mozilla` suffixes removed.
pub fn host_languages(content_locale: &str, tags: &[i64], config: &ImportConfig) -> Vec<String> {
    let mut languages = vec![content_locale.to_owned()];
    if config.asl_tag_id.is_some_and(|asl| tags.contains(&asl)) {
        languages.push("asl".to_owned());
    }
    if config.cc_tag_id.is_some_and(|cc| tags.contains(&cc)) {
        languages.push("cc".to_owned());
    }
    languages
        .into_iter()
        .map(|language| strip_mozilla(&language).to_owned())
        .collect()
}

fn strip_mozilla(locale: &str) -> &str {
    locale.strip_suffix("-mozilla").unwrap_or(locale)
}

impl<'a> Mapper<'a> {
    /// The sessions of one submission, each with its slot times for sorting.
    pub(super) fn sessions_of(
        &mut self,
        submission: &wire::Submission,
    ) -> Vec<(Option<SlotTimes>, Session)> {
        let slots = self
            .slots_by_submission
            .get(submission.code.as_str())
            .cloned()
            .unwrap_or_default();
        let mut scheduled: Vec<(SlotTimes, i64, Option<i64>)> = Vec::new();
        for slot in &slots {
            match (slot.start, slot.end) {
                (Some(start), Some(end)) if end > start => {
                    scheduled.push((
                        (start.with_timezone(&Utc), end.with_timezone(&Utc)),
                        slot.id,
                        slot.room,
                    ));
                }
                (Some(start), Some(end)) => self.issue(
                    LintRule::InvalidSlotTimes,
                    None,
                    Some(&submission.code),
                    format!(
                        "slot {} ends ({end}) before it starts ({start}); treated as unscheduled",
                        slot.id
                    ),
                ),
                _ => {}
            }
        }
        scheduled.sort();
        if scheduled.is_empty() {
            if !self.config.unscheduled_states.contains(&submission.state) {
                *self
                    .skipped_by_state
                    .entry(submission.state.clone())
                    .or_default() += 1;
                return Vec::new();
            }
            // An unscheduled slot may still carry the room planned for it.
            let room = slots.iter().find_map(|slot| slot.room);
            let session = self.session(submission, 1, None, room);
            return vec![(None, session)];
        }
        let mut sessions = Vec::new();
        for (index, (times, _, room)) in scheduled.into_iter().enumerate() {
            self.slot_times.insert(times);
            let session = self.session(submission, index + 1, Some(times), room);
            sessions.push((Some(times), session));
        }
        sessions
    }

    fn session(
        &mut self,
        submission: &wire::Submission,
        number: usize,
        times: Option<SlotTimes>,
        room: Option<i64>,
    ) -> Session {
        let id = format!("{}-{number}", submission.code);
        let text = |value: &str| self.submission_text(submission, value);
        let description = submission
            .description
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .or(submission.abstract_text.as_deref())
            .unwrap_or_default();
        let session = Session {
            session_type: submission
                .submission_type
                .map(|kind| kind.to_string())
                .unwrap_or_default(),
            slot: times.map(|(start, end)| slot_id(start, end)),
            track: room.map(|room| room.to_string()).unwrap_or_default(),
            themes: submission.tags.iter().map(i64::to_string).collect(),
            cover_image: Some(submission.image.clone().unwrap_or_default()),
            title: text(&submission.title),
            content: text(description),
            links: self.links(submission),
            host_languages: host_languages(
                &submission.content_locale,
                &submission.tags,
                self.config,
            ),
            enable_interpretation: false,
            speakers: submission.speakers.clone(),
            host_organisation: Localised::from([(
                self.config.default_locale().to_owned(),
                String::new(),
            )]),
            is_recorded: !submission.do_not_record,
            is_official: false,
            is_featured: submission.is_featured.unwrap_or(false),
            visibility: Visibility::Private,
            state: submission.state.clone(),
            participant_cap: submission.attendee_signup_capacity,
            proxy_url: None,
            hide_from_schedule: false,
            recommendations: self.recommendations(submission),
            id,
        };
        self.lint_session(submission, &session, room);
        session
    }

    /// `{default: text}`, plus `{content locale: text}` when that locale is configured: the reference filed
    /// everything under `en`, which Spanish sessions keep, and Spanish readers now find it under `es` too.
    fn submission_text(&self, submission: &wire::Submission, text: &str) -> Localised {
        let mut localised =
            Localised::from([(self.config.default_locale().to_owned(), text.to_owned())]);
        let locale = strip_mozilla(&submission.content_locale);
        if self
            .config
            .locales
            .iter()
            .any(|configured| configured == locale)
        {
            localised.insert(locale.to_owned(), text.to_owned());
        }
        localised
    }

    pub(super) fn answer_texts(
        &self,
        question: i64,
        owner: &str,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        self.answers
            .get(&(question, owner))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|answer| answer.answer.as_deref())
    }

    fn links(&self, submission: &wire::Submission) -> Vec<LocalisedLink> {
        let mut links: Vec<LocalisedLink> = self
            .config
            .questions
            .links
            .iter()
            .flat_map(|&question| self.answer_texts(question, &submission.code))
            .flat_map(parse_urls)
            .map(any_link)
            .collect();
        // Private resources are kept: links are only served to signed-in attendees near the start time.
        links.extend(
            submission
                .resources
                .iter()
                .filter(|resource| {
                    resource.resource.starts_with("http://")
                        || resource.resource.starts_with("https://")
                })
                .map(|resource| LocalisedLink {
                    kind: "url".to_owned(),
                    url: resource.resource.clone(),
                    title: resource.description.clone(),
                    language: "en".to_owned(),
                }),
        );
        links
    }

    fn recommendations(&self, submission: &wire::Submission) -> Vec<LocalisedLink> {
        let Some(question) = self.config.questions.recommendations else {
            return Vec::new();
        };
        self.answer_texts(question, &submission.code)
            .flat_map(parse_urls)
            .map(any_link)
            .collect()
    }

    fn lint_session(
        &mut self,
        submission: &wire::Submission,
        session: &Session,
        room: Option<i64>,
    ) {
        let id = Some(session.id.as_str());
        let code = Some(submission.code.as_str());
        if session.slot.is_none() {
            self.issue(
                LintRule::Unscheduled,
                id,
                code,
                format!("{} has no slot in the published schedule", session.state),
            );
        } else if room.is_none() {
            self.issue(
                LintRule::NoRoom,
                id,
                code,
                "scheduled without a room, so it has no track".into(),
            );
        }
        match submission.submission_type {
            None => self.issue(
                LintRule::NoType,
                id,
                code,
                "the submission has no submission type".into(),
            ),
            Some(kind) if !self.types.contains(&kind) => {
                self.issue(
                    LintRule::UnknownType,
                    id,
                    code,
                    format!("submission type {kind} is not listed by Pretalx"),
                );
            }
            Some(_) => {}
        }
        if let Some(room) = room.filter(|room| !self.rooms.contains_key(room)) {
            self.issue(
                LintRule::UnknownRoom,
                id,
                code,
                format!("room {room} is not listed by Pretalx"),
            );
        }
        let unknown_tags: Vec<i64> = submission
            .tags
            .iter()
            .copied()
            .filter(|tag| !self.tags.contains(tag))
            .collect();
        for tag in unknown_tags {
            self.issue(
                LintRule::UnknownTag,
                id,
                code,
                format!("tag {tag} is not listed by Pretalx"),
            );
        }
        let unknown_speakers: Vec<&String> = submission
            .speakers
            .iter()
            .filter(|code| !self.speakers.contains(code.as_str()))
            .collect();
        for speaker in unknown_speakers {
            self.issue(
                LintRule::UnknownSpeaker,
                id,
                code,
                format!("speaker {speaker} is not listed by Pretalx"),
            );
        }
        if session.state == "confirmed" && session.links.is_empty() {
            self.issue(
                LintRule::NoLinks,
                id,
                code,
                "confirmed but has no links".into(),
            );
        }
    }
}

fn any_link(url: String) -> LocalisedLink {
    LocalisedLink {
        kind: "any".to_owned(),
        url,
        title: None,
        language: "en".to_owned(),
    }
}
