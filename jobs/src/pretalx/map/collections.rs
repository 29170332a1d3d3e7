//! The schedule's other collections: breaks, tracks, Pretalx tracks, speakers, themes, types, facilitators.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;

use super::Mapper;
use crate::pretalx::wire::{self, I18n, PretalxData};
use plaza_core::model::schedule::{
    Break, Layout, Localised, PretalxTrack, Session, SessionType, Speaker, Theme, Track,
    hash_email, slot_id,
};

/// Icon of a session type that the config does not override.
pub const DEFAULT_ICON: [&str; 2] = ["fas", "users"];

/// Emails of the speakers of confirmed sessions, hashed, sorted, unique.
pub(super) fn facilitators(sessions: &[Session], data: &PretalxData) -> Vec<String> {
    let emails: HashMap<&str, &str> = data
        .speakers
        .iter()
        .filter_map(|speaker| Some((speaker.code.as_str(), speaker.email.as_deref()?)))
        .filter(|(_, email)| !email.trim().is_empty())
        .collect();
    let hashes: BTreeSet<String> = sessions
        .iter()
        .filter(|session| session.state == "confirmed")
        .flat_map(|session| &session.speakers)
        .filter_map(|code| emails.get(code.as_str()).map(|email| hash_email(email)))
        .collect();
    hashes.into_iter().collect()
}

impl<'a> Mapper<'a> {
    pub(super) fn breaks(&mut self) -> Vec<Break> {
        let mut breaks = Vec::new();
        for slot in self
            .data
            .slots
            .iter()
            .filter(|slot| slot.submission.is_none())
        {
            let (Some(start), Some(end)) = (slot.start, slot.end) else {
                continue; // A break without times is not in the published grid.
            };
            let (start, end) = (start.with_timezone(&Utc), end.with_timezone(&Utc));
            if end <= start {
                continue;
            }
            self.slot_times.insert((start, end));
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
        self.with_default(kept, &fallback)
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

    pub(super) fn speakers(&self) -> Vec<Speaker> {
        let default = self.config.default_locale();
        let mut speakers: Vec<Speaker> = self
            .data
            .speakers
            .iter()
            .map(|speaker| {
                let affiliation = self
                    .config
                    .questions
                    .affiliation
                    .and_then(|question| self.answer_texts(question, &speaker.code).next())
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                Speaker {
                    id: speaker.code.clone(),
                    name: speaker.name.clone(),
                    role: Localised::from([(default.to_owned(), affiliation)]),
                    bio: Localised::from([(
                        default.to_owned(),
                        speaker.biography.clone().unwrap_or_default(),
                    )]),
                    headshot: Some(speaker.avatar_url.clone().unwrap_or_default()),
                }
            })
            .collect();
        speakers.sort_by(|a, b| a.id.cmp(&b.id));
        speakers
    }

    pub(super) fn themes(&self) -> Vec<Theme> {
        let mut tags: Vec<&wire::Tag> = self.data.tags.iter().collect();
        tags.sort_by_key(|tag| tag.id);
        tags.into_iter()
            .map(|tag| Theme {
                id: tag.id.to_string(),
                title: Localised::from([(
                    self.config.default_locale().to_owned(),
                    tag.tag.clone(),
                )]),
            })
            .collect()
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
