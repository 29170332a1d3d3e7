//! The bundled demo event: a deterministic, plausible three-day festival in Pretalx v2 JSON, served through
//! [`MemoryTransport`] so that `cargo run` imports it through exactly the code path used for a real Pretalx.
//! Same start date, same bytes. It must never need the network.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use serde_json::{Value, json};
use url::Url;

use crate::pretalx::client::{ClientConfig, PretalxClient, PretalxError};
use crate::pretalx::config::{ImportConfig, QuestionIds, SessionTypeOverride};
use crate::pretalx::map::map_schedule;
use crate::pretalx::memory::{MemoryDataset, MemoryTransport};
use plaza_core::model::schedule::{Layout, Schedule};

mod fixture;

use fixture::{
    BLOCKS, BREAKS, DAYS, ENDINGS, FIRST, LAST, ORGS, ROOMS, SCHEDULED, SPEAKERS, SUBJECTS, TAGS,
    TRACKS, TYPES, VERBS,
};

/// API root the demo client is configured with (never resolved: the transport is in memory).
pub const DEMO_BASE_URL: &str = "https://demo.pretalx.invalid/api/";
/// Slug of the demo event.
pub const DEMO_EVENT: &str = "plaza-demo";
/// Id of the demo's released schedule (a `wip` draft with the next id exists too, holding nothing).
pub const DEMO_SCHEDULE: i64 = 77;
/// Question whose answers hold session links.
pub const LINKS_QUESTION: i64 = 101;
/// Question whose answers hold recommended URLs.
pub const RECOMMENDATIONS_QUESTION: i64 = 102;
/// Speaker question holding the affiliation.
pub const AFFILIATION_QUESTION: i64 = 103;
/// Tag marking sessions with sign-language interpretation.
pub const ASL_TAG: i64 = 11;
/// Tag marking captioned sessions.
pub const CC_TAG: i64 = 12;

/// The import settings matching the demo's question and tag ids.
pub fn import_config() -> ImportConfig {
    let icon = |group: &str, name: &str| Some([group.to_owned(), name.to_owned()]);
    let plenary = |group: &str, name: &str| SessionTypeOverride {
        icon: icon(group, name),
        layout: Some(Layout::Plenary),
        title: None,
    };
    ImportConfig {
        questions: QuestionIds {
            links: vec![LINKS_QUESTION],
            recommendations: Some(RECOMMENDATIONS_QUESTION),
            affiliation: Some(AFFILIATION_QUESTION),
        },
        asl_tag_id: Some(ASL_TAG),
        cc_tag_id: Some(CC_TAG),
        session_types: BTreeMap::from([
            (503, plenary("fas", "comments")),
            (504, plenary("fas", "star")),
        ]),
        locales: vec!["en".to_owned(), "es".to_owned()],
    }
}

/// A client reading the demo event that starts on `start`.
pub fn client(start: NaiveDate) -> Result<PretalxClient<MemoryTransport>, PretalxError> {
    let base =
        Url::parse(DEMO_BASE_URL).map_err(|error| PretalxError::Config(error.to_string()))?;
    let config = ClientConfig::new(base, DEMO_EVENT, "demo-token");
    PretalxClient::with_transport(config, MemoryTransport::new(DEMO_EVENT, dataset(start)))
}

/// Imports the demo event starting on `start`, exactly as a real import would.
pub async fn schedule(start: NaiveDate) -> Result<Schedule, PretalxError> {
    let config = import_config();
    let data = client(start)?.fetch_all(&config.question_ids()).await?;
    Ok(map_schedule(&data, &config))
}

/// SplitMix64: tiny, seedable, and stable across platforms and crate versions (unlike `rand`'s generators).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn code(&mut self, length: usize, taken: &mut BTreeSet<String>) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ3789";
        loop {
            let code: String = (0..length)
                .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
                .collect();
            if taken.insert(code.clone()) {
                return code;
            }
        }
    }
}

/// The demo event's data, starting on `start` (three days), in the America/Bogota offset (-05:00, no DST) so
/// datetimes carry a non-UTC offset as real Pretalx data often does.
pub fn dataset(start: NaiveDate) -> MemoryDataset {
    Generator::new(start).build()
}

struct Generator {
    start: NaiveDate,
    random: Random,
    codes: BTreeSet<String>,
    speakers: Vec<Value>,
    submissions: Vec<Value>,
    slots: Vec<Value>,
    answers: Vec<Value>,
    next_slot: i64,
    next_answer: i64,
}

impl Generator {
    fn new(start: NaiveDate) -> Self {
        Self {
            start,
            random: Random(0x0070_6C61_7A61),
            codes: BTreeSet::new(),
            speakers: Vec::new(),
            submissions: Vec::new(),
            slots: Vec::new(),
            answers: Vec::new(),
            next_slot: 9000,
            next_answer: 70_000,
        }
    }

    fn build(mut self) -> MemoryDataset {
        self.make_speakers();
        self.make_submissions();
        self.make_breaks();
        let i18n = |(en, es): (&str, &str)| json!({"en": en, "es": es});
        let rooms = ROOMS.iter().enumerate().map(|(index, &name)| {
            json!({"id": 301 + index as i64, "name": i18n(name), "description": {"en": ""}, "uuid": format!("room-{index}"),
                   "guid": null, "capacity": 40 + 20 * index, "position": index})
        });
        let tracks = TRACKS.iter().enumerate().map(|(index, &name)| {
            json!({"id": 401 + index as i64, "name": i18n(name), "description": {"en": ""}, "color": "#1f6feb",
                   "position": index, "requires_access_code": false})
        });
        let tags = TAGS.iter().enumerate().map(|(index, &tag)| {
            json!({"id": 1 + index as i64, "tag": tag, "description": {"en": ""}, "color": "#ff7b72", "is_public": true})
        });
        let types = TYPES.iter().enumerate().map(|(index, &name)| {
            json!({"id": 501 + index as i64, "name": i18n(name), "default_duration": 60, "deadline": null,
                   "requires_access_code": false})
        });
        let questions = [
            (LINKS_QUESTION, "Links for attendees", "submission"),
            (RECOMMENDATIONS_QUESTION, "Recommended reading", "submission"),
            (AFFILIATION_QUESTION, "Affiliation", "speaker"),
        ]
        .map(|(id, text, target)| json!({"id": id, "question": {"en": text}, "target": target, "variant": "text"}));
        let end = self.start + Days::new(DAYS - 1);
        MemoryDataset {
            event: json!({
                "name": {"en": "Plaza Demo Festival", "es": "Festival de demostración Plaza"},
                "slug": DEMO_EVENT, "is_public": true, "date_from": self.start, "date_to": end,
                "timezone": "America/Bogota", "locale": "en", "locales": ["en", "es"],
                "content_locales": ["en", "es", "en-mozilla"],
            }),
            collections: BTreeMap::from([
                ("rooms".to_owned(), rooms.collect()),
                ("tracks".to_owned(), tracks.collect()),
                ("tags".to_owned(), tags.collect()),
                ("submission-types".to_owned(), types.collect()),
                ("questions".to_owned(), questions.to_vec()),
                (
                    "schedules".to_owned(),
                    vec![
                        json!({"id": DEMO_SCHEDULE, "version": "1.0", "published": format!("{}T09:00:00-05:00", self.start - Days::new(7))}),
                        json!({"id": DEMO_SCHEDULE + 1, "version": null, "published": null}),
                    ],
                ),
                ("speakers".to_owned(), self.speakers),
                ("submissions".to_owned(), self.submissions),
                ("slots".to_owned(), self.slots),
                ("answers".to_owned(), self.answers),
            ]),
        }
    }

    fn make_speakers(&mut self) {
        for index in 0..SPEAKERS {
            let code = self.random.code(5, &mut self.codes);
            let (first, last) = (FIRST[index % 30], LAST[(index + index / 30 * 7) % 30]);
            let subject = SUBJECTS[index % SUBJECTS.len()].0;
            let org = ORGS[index % ORGS.len()];
            let mut speaker = json!({
                "code": code, "name": format!("{first} {last}"),
                "biography": format!("{first} works on {subject} with {org}. They have organised community events for \
                                      over {} years and love **good documentation**.", 2 + index % 9),
                "submissions": [], "answers": [],
                // Mixed case on purpose: facilitator hashes are of the trimmed, lowercased address.
                "email": (index % 15 != 14).then(|| format!("{first}.{last}@Example.org").replace(' ', "")),
                "timezone": "America/Bogota", "locale": if index % 4 == 0 { "es" } else { "en" },
            });
            if index % 3 == 0 {
                speaker["avatar_url"] = json!(format!(
                    "https://demo.pretalx.invalid/media/avatars/{code}.png"
                ));
            }
            if index % 4 != 3 {
                self.answer(AFFILIATION_QUESTION, org, None, Some(&code));
            }
            self.speakers.push(speaker);
        }
    }

    fn make_submissions(&mut self) {
        let per_day = BLOCKS.len() * ROOMS.len();
        let mut free = vec![true; per_day * DAYS as usize];
        for index in 0..SCHEDULED {
            let Some(position) = free.iter().position(|&is_free| is_free) else {
                break;
            };
            free[position] = false;
            let mut positions = vec![position];
            // A few two-part workshops: part two in the same room, the next block with space.
            if index % 45 == 10 {
                let second = (position + ROOMS.len()..free.len())
                    .step_by(ROOMS.len())
                    .find(|&p| free[p]);
                if let Some(second) = second {
                    free[second] = false;
                    positions.push(second);
                }
            }
            let state = if index % 40 == 7 {
                "accepted"
            } else {
                "confirmed"
            };
            self.submission(index, state, &positions, false);
        }
        // Accepted and confirmed but not in the grid yet (Pretalx lists them as slots without times), and
        // withdrawn ones with no slot at all.
        for (offset, state) in ["accepted", "accepted", "accepted", "accepted", "confirmed"]
            .iter()
            .enumerate()
        {
            self.submission(SCHEDULED + offset, state, &[], true);
        }
        for offset in 0..3 {
            self.submission(SCHEDULED + 5 + offset, "withdrawn", &[], false);
        }
    }

    /// Adds one submission with its slots and answers; `positions` index the (day, block, room) grid.
    fn submission(
        &mut self,
        index: usize,
        state: &str,
        positions: &[usize],
        unscheduled_slot: bool,
    ) {
        let code = self.random.code(6, &mut self.codes);
        let room_index = positions
            .first()
            .map_or(index % ROOMS.len(), |p| p % ROOMS.len());
        let block = positions
            .first()
            .map_or(1, |p| (p / ROOMS.len()) % BLOCKS.len());
        let kind = match (room_index, block) {
            (0, 0) => 3,
            (0, _) => 2,
            (1 | 2, _) => 1,
            (7, _) => 4,
            _ => 0,
        };
        let (verb, subject, ending) = (
            VERBS[self.random.below(VERBS.len())],
            SUBJECTS[self.random.below(SUBJECTS.len())],
            ENDINGS[self.random.below(ENDINGS.len())],
        );
        let locale = match index {
            i if i % 5 == 2 => "es",
            i if i % 11 == 0 => "en-mozilla",
            _ => "en",
        };
        let (title, description) = if locale == "es" {
            let title = format!("{} {} {}", verb.1, subject.1, ending.1);
            let text = format!(
                "En este {} exploramos {}. Trae tus preguntas; no hace falta experiencia previa.",
                TYPES[kind].1.to_lowercase(),
                subject.1
            );
            (title, text)
        } else {
            let title = format!("{} {} {}", verb.0, subject.0, ending.0);
            let text = format!(
                "In this {} we explore {}. Bring your questions — no experience needed.",
                TYPES[kind].0.to_lowercase(),
                subject.0
            );
            (title, text)
        };
        let mut tags = vec![1 + (index % 10) as i64];
        if index.is_multiple_of(3) {
            tags.push(1 + ((index / 3 + 4) % 10) as i64);
        }
        if index % 9 == 4 {
            tags.push(ASL_TAG);
        }
        if index % 6 == 1 {
            tags.push(CC_TAG);
        }
        tags.sort_unstable();
        tags.dedup();
        let speakers = self.speakers_for(index, &code);
        let slot_ids = self.slots_for(&code, positions, unscheduled_slot, room_index);
        let capacity = (kind == 1).then_some(20 + (index % 4) * 5);
        let (start_h, start_m, end_h, end_m) = BLOCKS[block];
        let duration = (end_h * 60 + end_m) - (start_h * 60 + start_m);
        self.submissions.push(json!({
            "code": code, "title": title, "speakers": speakers, "submission_type": 501 + kind as i64,
            "track": 401 + (index % TRACKS.len()) as i64, "tags": tags, "state": state, "pending_state": null,
            "abstract": format!("{} {}.", verb.0, subject.0), "description": description, "duration": duration,
            "slot_count": positions.len().max(1), "content_locale": locale, "do_not_record": index % 7 == 3,
            "image": (index % 8 == 5).then(|| format!("https://demo.pretalx.invalid/media/{DEMO_EVENT}/{code}/cover.png")),
            "resources": self.resources_for(index, &code), "slots": slot_ids, "answers": [],
            "attendee_signup_required": capacity.is_some(), "attendee_signup_capacity": capacity,
            "signup_status": null, "is_featured": index.is_multiple_of(13),
        }));
        if index.is_multiple_of(3) {
            let text = format!(
                "Join: https://meet.example.org/plaza-{} notes at https://pad.example.org/p/{code}",
                code.to_lowercase()
            );
            self.answer(LINKS_QUESTION, &text, Some(&code), None);
        } else if index % 10 == 1 {
            self.answer(
                LINKS_QUESTION,
                "We will share the link on the day (see our website)",
                Some(&code),
                None,
            );
        }
        if index % 4 == 1 {
            let text = format!(
                "https://foundation.mozilla.org/en/ and\nhttps://example.org/reading/{code}"
            );
            self.answer(RECOMMENDATIONS_QUESTION, &text, Some(&code), None);
        }
    }

    /// 1 to 3 speakers; every speaker gets at least one submission (the first `SPEAKERS` indexes).
    fn speakers_for(&mut self, index: usize, code: &str) -> Vec<String> {
        let mut chosen = vec![index % SPEAKERS];
        if index.is_multiple_of(4) {
            chosen.push((index * 17 + 5) % SPEAKERS);
        }
        if index.is_multiple_of(10) {
            chosen.push((index * 29 + 11) % SPEAKERS);
        }
        chosen.dedup();
        chosen
            .into_iter()
            .filter_map(|speaker| {
                let object = self.speakers.get_mut(speaker)?;
                if let Some(list) = object["submissions"].as_array_mut() {
                    list.push(json!(code));
                }
                object["code"].as_str().map(str::to_owned)
            })
            .collect()
    }

    fn slots_for(
        &mut self,
        code: &str,
        positions: &[usize],
        unscheduled_slot: bool,
        room_index: usize,
    ) -> Vec<i64> {
        let mut ids = Vec::new();
        for &position in positions {
            let day = (position / (BLOCKS.len() * ROOMS.len())) as u64;
            let (start_h, start_m, end_h, end_m) = BLOCKS[(position / ROOMS.len()) % BLOCKS.len()];
            let room = 301 + (position % ROOMS.len()) as i64;
            ids.push(self.slot(
                Some(room),
                Some((day, start_h, start_m, end_h, end_m)),
                Some(code),
                None,
            ));
        }
        if unscheduled_slot {
            // Half of them already have a room planned.
            let room = room_index
                .is_multiple_of(2)
                .then_some(301 + room_index as i64);
            ids.push(self.slot(room, None, Some(code), None));
        }
        ids
    }

    fn resources_for(&self, index: usize, code: &str) -> Value {
        match index % 20 {
            4 => {
                json!([{"id": 6000 + index, "resource": format!("https://example.org/slides/{code}.pdf"),
                         "description": "Slides", "is_public": true}])
            }
            14 => json!([
                {"id": 6000 + index, "resource": format!("/media/{DEMO_EVENT}/resources/{code}.txt"),
                 "description": "Uploaded notes", "is_public": true},
                {"id": 6500 + index, "resource": format!("https://pad.example.org/p/{code}-resources"),
                 "description": "Shared notes", "is_public": false},
            ]),
            _ => json!([]),
        }
    }

    fn make_breaks(&mut self) {
        for day in 0..DAYS {
            for (start_h, start_m, end_h, end_m, en, es, every_room) in BREAKS {
                let rooms = if every_room { ROOMS.len() } else { 1 };
                for room in 0..rooms {
                    let description = json!({"en": en, "es": es});
                    self.slot(
                        Some(301 + room as i64),
                        Some((day, start_h, start_m, end_h, end_m)),
                        None,
                        Some(description),
                    );
                }
            }
        }
    }

    /// Adds a slot; `times` is (day, start h, m, end h, m) in local time, `None` while unscheduled.
    fn slot(
        &mut self,
        room: Option<i64>,
        times: Option<(u64, u32, u32, u32, u32)>,
        submission: Option<&str>,
        description: Option<Value>,
    ) -> i64 {
        let id = self.next_slot;
        self.next_slot += 1;
        let (start, end) = match times {
            Some((day, start_h, start_m, end_h, end_m)) => (
                Some(self.local(day, start_h, start_m)),
                Some(self.local(day, end_h, end_m)),
            ),
            None => (None, None),
        };
        let duration = times.map(|(_, start_h, start_m, end_h, end_m)| {
            (end_h * 60 + end_m) - (start_h * 60 + start_m)
        });
        self.slots.push(json!({
            "id": id, "room": room, "start": start, "end": end, "submission": submission, "schedule": DEMO_SCHEDULE,
            "is_visible": times.is_some(),
            "description": description, "duration": duration,
        }));
        id
    }

    /// `YYYY-MM-DDTHH:MM:SS-05:00` for a local time on day `day` of the event.
    fn local(&self, day: u64, hour: u32, minute: u32) -> String {
        let bogota = FixedOffset::west_opt(5 * 3600);
        let date = self.start + Days::new(day);
        let time = NaiveTime::from_hms_opt(hour, minute, 0);
        match (bogota, time) {
            (Some(offset), Some(time)) => offset
                .from_local_datetime(&date.and_time(time))
                .single()
                .map(|moment| moment.to_rfc3339())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn answer(
        &mut self,
        question: i64,
        text: &str,
        submission: Option<&str>,
        person: Option<&str>,
    ) {
        self.next_answer += 1;
        self.answers.push(json!({
            "id": self.next_answer, "question": question, "answer": text, "answer_file": null,
            "submission": submission, "review": null, "person": person, "options": [],
        }));
    }
}
