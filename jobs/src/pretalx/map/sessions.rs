//! Sessions of one submission: ids, slots, texts, links, host languages and their lint findings.

use super::public::{self, Unplaced};
use super::{Mapper, SlotTimes};
use crate::pretalx::config::ImportConfig;
use crate::pretalx::limits;
use crate::pretalx::wire;
use plaza_core::model::schedule::{
    LintRule, Localised, LocalisedLink, Session, Visibility, slot_id,
};

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

/// The parts of a session that every session of its submission shares.
struct Shared {
    title: Localised,
    content: Localised,
    cover_image: String,
    links: Vec<LocalisedLink>,
    recommendations: Vec<LocalisedLink>,
}

fn strip_mozilla(locale: &str) -> &str {
    locale.strip_suffix("-mozilla").unwrap_or(locale)
}

impl<'a> Mapper<'a> {
    /// The public sessions of one submission, each with its slot times for sorting; none (and a lint entry or a
    /// count saying why) when the submission is not public.
    pub(super) fn sessions_of(&self, submission: &wire::Submission) -> Vec<(SlotTimes, Session)> {
        let code = submission.code.as_str();
        let slots = self
            .slots_by_submission
            .get(code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut placed: Vec<(SlotTimes, i64, i64)> = Vec::new();
        let mut unplaced = Vec::new();
        for slot in slots {
            match public::placement(slot, self.released) {
                Ok(times) => placed.push((times, slot.id, slot.room.unwrap_or_default())),
                Err(why) => unplaced.push(why),
            }
        }
        if !public::state_is_public(&submission.state) {
            *self
                .skipped_by_state
                .borrow_mut()
                .entry(submission.state.clone())
                .or_default() += 1;
            if !placed.is_empty() {
                self.issue(
                    LintRule::NotConfirmed,
                    None,
                    Some(code),
                    format!(
                        "{} (not confirmed) but placed in the released schedule; left out, as Pretalx does",
                        submission.state
                    ),
                );
            }
            return Vec::new();
        }
        if placed.is_empty() {
            // The most telling reason: a released slot's problem before "only in the draft".
            let why = unplaced
                .iter()
                .copied()
                .min_by_key(|why| *why == Unplaced::NotReleased);
            let (rule, reason) = match why {
                Some(Unplaced::NoRoom) => (LintRule::NoRoom, Unplaced::NoRoom.reason()),
                Some(Unplaced::InvalidTimes) => {
                    (LintRule::InvalidSlotTimes, Unplaced::InvalidTimes.reason())
                }
                Some(why) => (LintRule::Unscheduled, why.reason()),
                None => (
                    LintRule::Unscheduled,
                    "it has no slot in the released schedule",
                ),
            };
            self.issue(
                rule,
                None,
                Some(code),
                format!("confirmed, but {reason}; left out"),
            );
            return Vec::new();
        }
        placed.sort();
        let shared = self.shared(submission);
        let mut sessions = Vec::new();
        for (index, (times, _, room)) in placed.into_iter().enumerate() {
            self.slot_times.borrow_mut().insert(times);
            let session = self.session(submission, &shared, index + 1, times, room);
            if index == 0 {
                self.lint_session(submission, &session, room);
            }
            sessions.push((times, session));
        }
        sessions
    }

    /// What every session of `submission` shares, bounded and filtered (reported once per submission).
    fn shared(&self, submission: &wire::Submission) -> Shared {
        let code = Some(submission.code.as_str());
        let (description, what) = submission
            .description
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .map(|text| (text, "description"))
            .or(submission
                .abstract_text
                .as_deref()
                .map(|text| (text, "abstract")))
            .unwrap_or_default();
        let title = self.bounded(&submission.title, limits::TITLE_CHARS, "title", code);
        let content = self.bounded(description, limits::TEXT_CHARS, what, code);
        let cover_image = submission
            .image
            .as_deref()
            .filter(|image| !image.trim().is_empty())
            .and_then(|image| self.web_url(image, "image", code))
            .unwrap_or_default();
        Shared {
            title: self.submission_text(submission, &title),
            content: self.submission_text(submission, &content),
            cover_image,
            links: self.links(submission),
            recommendations: self.recommendations(submission),
        }
    }

    fn session(
        &self,
        submission: &wire::Submission,
        shared: &Shared,
        number: usize,
        times: SlotTimes,
        room: i64,
    ) -> Session {
        Session {
            id: format!("{}-{number}", submission.code),
            session_type: submission
                .submission_type
                .map(|kind| kind.to_string())
                .unwrap_or_default(),
            slot: Some(slot_id(times.0, times.1)),
            track: room.to_string(),
            themes: submission
                .tags
                .iter()
                .filter(|tag| self.public_tags.contains(tag))
                .map(i64::to_string)
                .collect(),
            cover_image: Some(shared.cover_image.clone()),
            title: shared.title.clone(),
            content: shared.content.clone(),
            links: shared.links.clone(),
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
            recommendations: shared.recommendations.clone(),
        }
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

    /// The answers to `question` by `owner` (a submission or speaker code), each within the answer limit (a
    /// longer one is cut and reported).
    pub(super) fn answer_texts(&self, question: i64, owner: &str) -> Vec<String> {
        self.answers
            .get(&(question, owner))
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|answer| answer.answer.as_deref())
            .map(|text| {
                let what = format!("answer to question {question} of {owner}");
                self.bounded(text, limits::ANSWER_CHARS, &what, Some(owner))
            })
            .collect()
    }

    /// The web links in the answers to `questions` of `submission`; other URLs are reported and left out.
    fn answer_links(&self, questions: &[i64], submission: &wire::Submission) -> Vec<LocalisedLink> {
        let code = Some(submission.code.as_str());
        questions
            .iter()
            .flat_map(|&question| self.answer_texts(question, &submission.code))
            .flat_map(|text| {
                text.split_whitespace()
                    .filter(|token| looks_like_url(token))
                    .filter_map(|token| self.web_url(token, "link", code))
                    .collect::<Vec<_>>()
            })
            .map(any_link)
            .collect()
    }

    fn links(&self, submission: &wire::Submission) -> Vec<LocalisedLink> {
        let code = Some(submission.code.as_str());
        let mut links = self.answer_links(&self.config.questions.links, submission);
        for resource in &submission.resources {
            if !public::resource_is_public(resource) {
                self.issue(
                    LintRule::PrivateResource,
                    None,
                    code,
                    format!("resource {} is not public; left out", resource.id),
                );
                continue;
            }
            if !resource.resource.starts_with('/')
                && let Some(url) = self.web_url(&resource.resource, "resource", code)
            {
                let title = resource.description.as_deref().map(|text| {
                    self.bounded(text, limits::NAME_CHARS, "resource description", code)
                });
                links.push(LocalisedLink {
                    kind: "url".to_owned(),
                    url,
                    title,
                    language: "en".to_owned(),
                });
            }
        }
        links
    }

    fn recommendations(&self, submission: &wire::Submission) -> Vec<LocalisedLink> {
        let questions: Vec<i64> = self.config.questions.recommendations.into_iter().collect();
        self.answer_links(&questions, submission)
    }

    fn lint_session(&self, submission: &wire::Submission, session: &Session, room: i64) {
        let id = Some(session.id.as_str());
        let code = Some(submission.code.as_str());
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
        if !self.rooms.contains_key(&room) {
            self.issue(
                LintRule::UnknownRoom,
                id,
                code,
                format!("room {room} is not listed by Pretalx"),
            );
        }
        for tag in submission
            .tags
            .iter()
            .filter(|tag| !self.tags.contains(tag))
        {
            self.issue(
                LintRule::UnknownTag,
                id,
                code,
                format!("tag {tag} is not listed by Pretalx"),
            );
        }
        for speaker in submission
            .speakers
            .iter()
            .filter(|code| !self.speakers.contains(code.as_str()))
        {
            self.issue(
                LintRule::UnknownSpeaker,
                id,
                code,
                format!("speaker {speaker} is not listed by Pretalx"),
            );
        }
        if session.links.is_empty() {
            self.issue(
                LintRule::NoLinks,
                id,
                code,
                "confirmed but has no links".into(),
            );
        }
    }
}

/// A token that is meant as an absolute URL with a host (`https://…`, `javascript://…`): a candidate link.
/// Words, relative paths and host-less URIs (`mailto:`) are text, not links.
fn looks_like_url(token: &str) -> bool {
    url::Url::parse(token).is_ok_and(|url| url.host_str().is_some_and(|host| !host.is_empty()))
}

fn any_link(url: String) -> LocalisedLink {
    LocalisedLink {
        kind: "any".to_owned(),
        url,
        title: None,
        language: "en".to_owned(),
    }
}
