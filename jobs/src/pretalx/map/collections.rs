//! The schedule's other collections: breaks, tracks, Pretalx tracks, speakers, themes, types, facilitators.

use std::collections::{BTreeSet, HashMap};

use super::{Mapper, public};
use crate::pretalx::limits;
use crate::pretalx::wire::{self, I18n, PretalxData};
use plaza_core::model::schedule::{
    Break, Layout, LintRule, Localised, PretalxTrack, Session, SessionType, Speaker, Theme, Track,
    hash_email, slot_id,
};

/// Icon of a session type that the config does not override.
pub const DEFAULT_ICON: [&str; 2] = ["fas", "users"];

/// Emails of the speakers of confirmed submissions, hashed, sorted, unique. Never published (it feeds sign-in's
/// facilitator role), so a confirmed speaker can sign in before the schedule places their session.
pub(super) fn facilitators(data: &PretalxData) -> Vec<String> {
    let emails: HashMap<&str, &str> = data
        .speakers
        .iter()
        .filter_map(|speaker| Some((speaker.code.as_str(), speaker.email.as_deref()?)))
        .filter(|(_, email)| !email.trim().is_empty())
        .collect();
    let hashes: BTreeSet<String> = data
        .submissions
        .iter()
        .filter(|submission| public::state_is_public(&submission.state))
        .flat_map(|submission| &submission.speakers)
        .filter_map(|code| emails.get(code.as_str()).map(|email| hash_email(email)))
        .collect();
    hashes.into_iter().collect()
}

impl<'a> Mapper<'a> {
    /// Breaks placed in the released schedule (a room is optional for a break).
    pub(super) fn breaks(&self) -> Vec<Break> {
        let mut breaks = Vec::new();
        for slot in self
            .data
            .slots
            .iter()
            .filter(|slot| slot.submission.is_none())
        {
            let Ok((start, end)) = public::placement(slot, self.released) else {
                continue; // Not in the public grid.
            };
            self.slot_times.borrow_mut().insert((start, end));
            let title = match &slot.description {
                Some(description) => self.localise(description),
                None => Localised::new(),
            };
            breaks.push(Break {
                id: format!("break-{}", slot.id),
                slot_id: slot_id(start, end),
                track: slot.room.map(|room| room.to_string()),
                title: self.with_default(title, "Break"),
            });
        }
        breaks.sort_by(|a, b| (&a.slot_id, &a.track, &a.id).cmp(&(&b.slot_id, &b.track, &b.id)));
        breaks
    }

    /// Texts of the configured locales, with the default locale always present.
    fn localise(&self, text: &I18n) -> Localised {
        let default = self.config.default_locale();
        let all = text.texts(default);
        let kept: Localised = all
            .iter()
            .filter(|(locale, _)| self.config.locales.contains(locale))
            .map(|(locale, text)| (locale.clone(), text.clone()))
            .collect();
        let fallback = kept
            .values()
            .next()
            .or_else(|| all.values().next())
            .cloned()
            .unwrap_or_default();
        let bounded = kept
            .into_iter()
            .map(|(locale, text)| (locale, self.name(&text)))
            .collect();
        self.with_default(bounded, &self.name(&fallback))
    }

    /// A name within [`limits::NAME_CHARS`] (a longer one is cut and reported).
    fn name(&self, text: &str) -> String {
        self.bounded(text, limits::NAME_CHARS, "name", None)
    }

    fn with_default(&self, mut localised: Localised, fallback: &str) -> Localised {
        localised
            .entry(self.config.default_locale().to_owned())
            .or_insert_with(|| fallback.to_owned());
        localised
    }

    /// Rooms used by a session or break, by position then id.
    pub(super) fn tracks(&self, sessions: &[Session], breaks: &[Break]) -> Vec<Track> {
        let used: BTreeSet<&str> = sessions
            .iter()
            .map(|session| session.track.as_str())
            .chain(breaks.iter().filter_map(|item| item.track.as_deref()))
            .collect();
        let mut rooms: Vec<&wire::Room> = self
            .data
            .rooms
            .iter()
            .filter(|room| used.contains(room.id.to_string().as_str()))
            .collect();
        rooms.sort_by_key(|room| (room.position.unwrap_or(i64::MAX), room.id));
        rooms
            .into_iter()
            .map(|room| Track {
                id: room.id.to_string(),
                title: self.localise(&room.name),
            })
            .collect()
    }

    pub(super) fn pretalx_tracks(&self, sessions: &[Session]) -> Vec<PretalxTrack> {
        let track_of: HashMap<&str, i64> = self
            .data
            .submissions
            .iter()
            .filter_map(|submission| Some((submission.code.as_str(), submission.track?)))
            .collect();
        let mut tracks: Vec<&wire::Track> = self.data.tracks.iter().collect();
        tracks.sort_by_key(|track| (track.position.unwrap_or(i64::MAX), track.id));
        tracks
            .into_iter()
            .map(|track| {
                let mut members: Vec<String> = sessions
                    .iter()
                    .filter(|session| {
                        let code = session
                            .id
                            .rsplit_once('-')
                            .map_or(session.id.as_str(), |(code, _)| code);
                        track_of.get(code) == Some(&track.id)
                    })
                    .map(|session| session.id.clone())
                    .collect();
                members.sort();
                PretalxTrack {
                    id: track.id.to_string(),
                    title: self.localise(&track.name),
                    sessions: members,
                }
            })
            .collect()
    }

    /// The speakers of the public `sessions`, by code; nobody else is published.
    pub(super) fn speakers(&self, sessions: &[Session]) -> Vec<Speaker> {
        let default = self.config.default_locale();
        let public: BTreeSet<&str> = sessions
            .iter()
            .flat_map(|session| &session.speakers)
            .map(String::as_str)
            .collect();
        let mut speakers: Vec<Speaker> = self
            .data
            .speakers
            .iter()
            .filter(|speaker| public.contains(speaker.code.as_str()))
            .map(|speaker| {
                let code = Some(speaker.code.as_str());
                let affiliation = self
                    .config
                    .questions
                    .affiliation
                    .and_then(|question| {
                        self.answer_texts(question, &speaker.code)
                            .into_iter()
                            .next()
                    })
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                let biography = speaker.biography.as_deref().unwrap_or_default();
                let headshot = speaker
                    .avatar_url
                    .as_deref()
                    .filter(|avatar| !avatar.trim().is_empty())
                    .and_then(|avatar| self.web_url(avatar, "avatar", code))
                    .unwrap_or_default();
                Speaker {
                    id: speaker.code.clone(),
                    name: self.bounded(&speaker.name, limits::NAME_CHARS, "speaker name", code),
                    role: Localised::from([(default.to_owned(), affiliation)]),
                    bio: Localised::from([(
                        default.to_owned(),
                        self.bounded(biography, limits::BIOGRAPHY_CHARS, "biography", code),
                    )]),
                    headshot: Some(headshot),
                }
            })
            .collect();
        speakers.sort_by(|a, b| a.id.cmp(&b.id));
        speakers
    }

    /// The public tags, by id; the others are reported.
    pub(super) fn themes(&self) -> Vec<Theme> {
        let mut tags: Vec<&wire::Tag> = self.data.tags.iter().collect();
        tags.sort_by_key(|tag| tag.id);
        let mut themes = Vec::new();
        for tag in tags {
            if !public::tag_is_public(tag) {
                self.issue(
                    LintRule::PrivateTag,
                    None,
                    None,
                    format!(
                        "tag {} is not public; left out of themes and sessions",
                        tag.id
                    ),
                );
                continue;
            }
            themes.push(Theme {
                id: tag.id.to_string(),
                title: Localised::from([(
                    self.config.default_locale().to_owned(),
                    self.name(&tag.tag),
                )]),
            });
        }
        themes
    }

    pub(super) fn types(&self) -> Vec<SessionType> {
        let mut kinds: Vec<&wire::SubmissionType> = self.data.submission_types.iter().collect();
        kinds.sort_by_key(|kind| kind.id);
        kinds
            .into_iter()
            .map(|kind| {
                let custom = self
                    .config
                    .session_types
                    .get(&kind.id)
                    .cloned()
                    .unwrap_or_default();
                let [icon_group, icon_name] =
                    custom.icon.unwrap_or(DEFAULT_ICON.map(str::to_owned));
                SessionType {
                    id: kind.id.to_string(),
                    icon_group,
                    icon_name,
                    layout: custom.layout.unwrap_or(Layout::Workshop),
                    title: custom.title.unwrap_or_else(|| self.localise(&kind.name)),
                }
            })
            .collect()
    }
}
