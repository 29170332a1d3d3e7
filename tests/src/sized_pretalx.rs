//! A fake Pretalx of any size (benchmarks): [`dataset`] generates a plausible v2 event (confirmed submissions with one slot each,
//! shared speakers, tags, answers to a links question, breaks) and [`serve`] puts it behind a wiremock server that
//! answers like Pretalx over real HTTP — token and `Pretalx-Version` required, `page` / `page_size` pagination
//! (50 per page) with absolute `next` URLs. Deterministic: the same sizes and start give the same bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{Days, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use plaza_jobs::pretalx::memory::{MemoryDataset, MemoryTransport};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Slug of the generated event.
pub const EVENT: &str = "bench-fest-2026";
/// The API token the fake Pretalx accepts (anything else gets 404, like a token without access).
pub const TOKEN: &str = "bench-organiser-token";
/// Submission question whose answers hold session links.
pub const LINKS_QUESTION: i64 = 201;

const ROOMS: usize = 40;
const TRACKS: [&str; 10] = [
    "Open Source",
    "Privacy",
    "AI & Society",
    "Web Platform",
    "Infrastructure",
    "Security",
    "Community",
    "Education",
    "Climate",
    "Design",
];
const TAGS: [&str; 30] = [
    "rust",
    "python",
    "javascript",
    "databases",
    "networking",
    "kernel",
    "browsers",
    "accessibility",
    "i18n",
    "testing",
    "devops",
    "kubernetes",
    "embedded",
    "hardware",
    "ml",
    "llm",
    "ethics",
    "policy",
    "licensing",
    "governance",
    "funding",
    "mentoring",
    "beginners",
    "advanced",
    "case-study",
    "research",
    "tooling",
    "performance",
    "observability",
    "mobile",
];
/// Submission types 601…: (name, duration in minutes). The generator picks the type by the slot's length.
const TYPES: [(&str, u32); 4] = [
    ("Lightning talk", 15),
    ("Talk", 25),
    ("Long talk", 40),
    ("Workshop", 50),
];
/// Slot lengths in the order rooms are filled: mostly talks, some lightning talks, long talks and workshops.
const LENGTHS: [u32; 8] = [25, 25, 40, 15, 25, 50, 25, 40];
const FIRST: [&str; 20] = [
    "Ana", "Kwame", "Mei", "Lucía", "Tomás", "Aisha", "Jonas", "Priya", "Mateo", "Fatima", "Noah",
    "Ingrid", "Diego", "Amara", "Sven", "Hiroshi", "Zanele", "Leila", "Rahul", "Olga",
];
const LAST: [&str; 20] = [
    "García", "Mensah", "Chen", "Novak", "Okafor", "Berg", "Raman", "Silva", "Haddad", "Smith",
    "Larsen", "Rojas", "Diallo", "Tanaka", "Dlamini", "Karimi", "Iyer", "Petrova", "Castro",
    "Sato",
];
const VERBS: [&str; 8] = [
    "Building",
    "Scaling",
    "Debugging",
    "Securing",
    "Teaching",
    "Measuring",
    "Rethinking",
    "Maintaining",
];
const SUBJECTS: [&str; 12] = [
    "a package registry",
    "the open web",
    "community data",
    "embedded firmware",
    "distributed tracing",
    "privacy-preserving analytics",
    "a volunteer-run CI",
    "accessible web apps",
    "language servers",
    "federated social networks",
    "reproducible builds",
    "a search engine",
];
const ENDINGS: [&str; 6] = [
    "in practice",
    "for everyone",
    "on a budget",
    "without burning out",
    "ten years later",
    "the hard way",
];

/// A Pretalx v2 event of `sessions` confirmed submissions (each with one scheduled slot) and `speakers` speakers,
/// starting on `start`; days are added until every session has a slot in one of 40 rooms (09:00–19:00, lunch break).
pub fn dataset(start: NaiveDate, sessions: usize, speakers: usize) -> MemoryDataset {
    let speakers = speakers.max(1);
    let mut people: Vec<Value> = (0..speakers).map(speaker).collect();
    let mut submissions = Vec::with_capacity(sessions);
    let mut slots = Vec::with_capacity(sessions + sessions / 10);
    let mut answers = Vec::new();
    let mut next_slot = 100_000;
    let mut day = 0;
    let mut placed = 0;
    while placed < sessions {
        for room in 0..ROOMS {
            let mut minute = 9 * 60;
            let mut lunch = false;
            for turn in 0.. {
                if !lunch && minute >= 12 * 60 + 30 {
                    let times = local(start, day, minute, minute + 60);
                    slots.push(break_slot(next_slot, room, times));
                    next_slot += 1;
                    minute += 60;
                    lunch = true;
                }
                let length = LENGTHS[(turn + room) % LENGTHS.len()];
                if placed == sessions || minute + length > 19 * 60 {
                    break;
                }
                let code = code(placed as u64, 6);
                let chosen = speakers_of(placed, speakers);
                let mut speaker_codes = Vec::with_capacity(chosen.len());
                for index in chosen {
                    if let Some(person) = people.get_mut(index) {
                        if let Some(list) = person["submissions"].as_array_mut() {
                            list.push(json!(code));
                        }
                        speaker_codes.push(person["code"].clone());
                    }
                }
                let times = local(start, day, minute, minute + length);
                slots.push(json!({
                    "id": next_slot, "room": room_id(room), "start": times.0, "end": times.1,
                    "submission": code, "schedule": 12, "is_visible": true, "description": null, "duration": length,
                }));
                submissions.push(submission(placed, &code, speaker_codes, length, next_slot));
                if placed % 10 < 7 {
                    answers.push(json!({
                        "id": 500_000 + placed, "question": LINKS_QUESTION,
                        "answer": format!("Stream: https://stream.example.org/{EVENT}/{} — notes: \
                                           https://pad.example.org/p/{code}", code.to_lowercase()),
                        "answer_file": null, "submission": code, "review": null, "person": null, "options": [],
                    }));
                }
                next_slot += 1;
                placed += 1;
                minute += length + 5;
            }
        }
        day += 1;
    }
    MemoryDataset {
        event: json!({
            "name": {"en": "Bench Fest 2026", "de": "Bench Fest 2026"}, "slug": EVENT, "is_public": true,
            "date_from": start, "date_to": start + Days::new(day.max(1) - 1), "timezone": "Europe/Berlin",
            "locale": "en", "locales": ["en", "de"], "content_locales": ["en", "de"],
        }),
        collections: BTreeMap::from([
            ("rooms".to_owned(), rooms()),
            (
                "schedules".to_owned(),
                vec![json!({"id": 12, "version": "1.0", "published": "2026-01-01T09:00:00+00:00"})],
            ),
            ("tracks".to_owned(), tracks()),
            ("tags".to_owned(), tags()),
            ("submission-types".to_owned(), types()),
            (
                "questions".to_owned(),
                vec![json!({
                    "id": LINKS_QUESTION, "question": {"en": "Links for attendees"}, "target": "submission",
                    "variant": "text",
                })],
            ),
            ("speakers".to_owned(), people),
            ("submissions".to_owned(), submissions),
            ("slots".to_owned(), slots),
            ("answers".to_owned(), answers),
        ]),
    }
}

/// `PRETALX_IMPORT` for the generated event: the links question.
pub fn import_options() -> String {
    json!({"questions": {"links": [LINKS_QUESTION]}}).to_string()
}

/// Starts a wiremock Pretalx serving `dataset` as [`EVENT`] under `<uri>/api/` (request recording off, so a long
/// run does not keep every request). Only GETs with `Authorization: Token <TOKEN>` and `Pretalx-Version: v2` match.
pub async fn serve(dataset: MemoryDataset) -> MockServer {
    serve_editable(dataset).await.0
}

/// Replaces what a server started by [`serve_editable`] answers (a Pretalx edit: the next import sees it).
#[derive(Clone)]
pub struct Editor(Arc<RwLock<MemoryTransport>>);

impl Editor {
    /// Serves `dataset` from now on.
    pub fn set(&self, dataset: MemoryDataset) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = MemoryTransport::new(EVENT, dataset);
    }
}

/// [`serve`], with an [`Editor`] to change the served dataset between imports.
pub async fn serve_editable(dataset: MemoryDataset) -> (MockServer, Editor) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let origin = Url::parse(&server.uri()).expect("wiremock's URI is a URL");
    let editor = Editor(Arc::new(RwLock::new(MemoryTransport::new(EVENT, dataset))));
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/events/"))
        .and(header("Authorization", format!("Token {TOKEN}").as_str()))
        .and(header("Pretalx-Version", "v2"))
        .respond_with(Pages {
            origin,
            pages: editor.0.clone(),
        })
        .mount(&server)
        .await;
    (server, editor)
}

/// `PRETALX_URL` of a server started by [`serve`].
pub fn api_url(server: &MockServer) -> String {
    format!("{}/api/", server.uri())
}

/// Answers with the in-memory transport's pages. wiremock's request URL has no port (`http://localhost/…`), so
/// the URL is rebuilt on the server's origin first: `next` / `previous` must be absolute URLs of this server.
struct Pages {
    origin: Url,
    pages: Arc<RwLock<MemoryTransport>>,
}

impl Respond for Pages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut url = self.origin.clone();
        url.set_path(request.url.path());
        url.set_query(request.url.query());
        let response = self
            .pages
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .respond(&url);
        ResponseTemplate::new(response.status).set_body_raw(response.body, "application/json")
    }
}

/// A distinct Pretalx-looking code for `index`: an affine map onto the 28^`length` codes, so no two collide.
fn code(index: u64, length: u32) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ3789";
    let base = ALPHABET.len() as u64;
    // 7919 is prime and shares no factor with 28^n (2 and 7), so the map is a bijection below 28^n.
    let mut value = (index.wrapping_mul(7919) + 104_729) % base.pow(length);
    (0..length)
        .map(|_| {
            let letter = ALPHABET[(value % base) as usize] as char;
            value /= base;
            letter
        })
        .collect()
}

fn speaker(index: usize) -> Value {
    // Speakers have 5-letter codes and submissions 6, so the two never collide.
    let code = code(index as u64, 5);
    let (first, last) = (
        FIRST[index % FIRST.len()],
        LAST[(index / FIRST.len() + index) % LAST.len()],
    );
    let subject = SUBJECTS[index % SUBJECTS.len()];
    let mut speaker = json!({
        "code": code, "name": format!("{first} {last}"),
        "biography": format!(
            "{first} has worked on {subject} for {} years, maintains several libraries and mentors new \
             contributors. Previously at a **public-interest** lab; speaks about sustainable open source and \
             [documentation that people read](https://example.org/{code}).",
            3 + index % 12
        ),
        "submissions": [], "answers": [],
        "email": format!("{}.{}.{index}@example.org", first.to_lowercase(), last.to_lowercase()),
        "timezone": "Europe/Berlin", "locale": if index.is_multiple_of(5) { "de" } else { "en" },
    });
    // Pretalx omits `avatar_url` when there is none.
    if index % 3 != 2 {
        speaker["avatar_url"] = json!(format!(
            "https://pretalx.example.org/media/avatars/{code}.webp"
        ));
    }
    speaker
}

/// 1 to 3 speakers; the first is `index % speakers`, so every speaker gets a submission once there are enough.
fn speakers_of(index: usize, speakers: usize) -> Vec<usize> {
    let mut chosen = vec![index % speakers];
    let mut add = |candidate: usize| {
        if !chosen.contains(&candidate) {
            chosen.push(candidate);
        }
    };
    if index.is_multiple_of(5) {
        add((index * 7 + 3) % speakers);
    }
    if index.is_multiple_of(20) {
        add((index * 13 + 11) % speakers);
    }
    chosen
}

fn submission(index: usize, code: &str, speakers: Vec<Value>, length: u32, slot: i64) -> Value {
    let (verb, subject, ending) = (
        VERBS[index % VERBS.len()],
        SUBJECTS[(index / VERBS.len()) % SUBJECTS.len()],
        ENDINGS[(index / 3) % ENDINGS.len()],
    );
    let kind = TYPES
        .iter()
        .position(|&(_, minutes)| minutes == length)
        .unwrap_or(1);
    let mut tags = vec![1 + (index % TAGS.len()) as i64];
    if index.is_multiple_of(2) {
        tags.push(1 + ((index * 7 + 5) % TAGS.len()) as i64);
    }
    if index.is_multiple_of(7) {
        tags.push(1 + ((index * 11 + 2) % TAGS.len()) as i64);
    }
    tags.sort_unstable();
    tags.dedup();
    let resources = if index.is_multiple_of(6) {
        json!([{"id": 800_000 + index, "resource": format!("https://example.org/slides/{code}.pdf"),
                "description": "Slides", "is_public": true}])
    } else {
        json!([])
    };
    json!({
        "code": code, "title": format!("{verb} {subject} {ending}"), "speakers": speakers,
        "submission_type": 601 + kind as i64, "track": 701 + (index % TRACKS.len()) as i64, "tags": tags,
        "state": "confirmed", "pending_state": null,
        "abstract": format!("{verb} {subject}: what worked, what did not, and what we would do differently."),
        "description": format!(
            "In this {} we look at {subject} {ending}. We start with the constraints we had — a small team, \
             volunteers across time zones and a tight budget — and walk through the decisions that mattered: \
             what we measured, what we automated and what we deliberately left manual. You will leave with a \
             checklist you can apply to your own project, and links to everything we used.\n\n\
             No prior knowledge of {subject} is needed; questions are welcome throughout.",
            TYPES[kind].0.to_lowercase()
        ),
        "duration": length, "slot_count": 1, "content_locale": if index % 9 == 4 { "de" } else { "en" },
        "do_not_record": index % 11 == 3,
        "image": (index % 8 == 5).then(|| format!("https://pretalx.example.org/media/{EVENT}/{code}/cover.png")),
        "resources": resources, "slots": [slot], "answers": [],
        "attendee_signup_required": false, "attendee_signup_capacity": null, "signup_status": null,
        "is_featured": index.is_multiple_of(40),
    })
}

fn break_slot(id: i64, room: usize, (start, end): (String, String)) -> Value {
    json!({
        "id": id, "room": room_id(room), "start": start, "end": end, "submission": null, "schedule": 12,
        "description": {"en": "Lunch", "de": "Mittagessen"}, "duration": 60,
    })
}

fn room_id(room: usize) -> i64 {
    301 + room as i64
}

fn rooms() -> Vec<Value> {
    (0..ROOMS)
        .map(|room| {
            let building = ["H", "K", "U", "AW"][room % 4];
            json!({"id": room_id(room), "name": {"en": format!("{building}.{}", 1000 + room * 7)},
                   "description": {"en": ""}, "uuid": format!("room-{room}"), "guid": null,
                   "capacity": 80 + 40 * (room % 5), "position": room})
        })
        .collect()
}

fn tracks() -> Vec<Value> {
    TRACKS
        .iter()
        .enumerate()
        .map(|(index, name)| {
            json!({"id": 701 + index as i64, "name": {"en": name}, "description": {"en": ""},
                   "color": "#1f6feb", "position": index, "requires_access_code": false})
        })
        .collect()
}

fn tags() -> Vec<Value> {
    TAGS.iter()
        .enumerate()
        .map(|(index, tag)| {
            json!({"id": 1 + index as i64, "tag": tag, "description": {"en": ""}, "color": "#ff7b72",
                   "is_public": true})
        })
        .collect()
}

fn types() -> Vec<Value> {
    TYPES
        .iter()
        .enumerate()
        .map(|(index, (name, minutes))| {
            json!({"id": 601 + index as i64, "name": {"en": name}, "default_duration": minutes,
                   "deadline": null, "requires_access_code": false})
        })
        .collect()
}

/// (start, end) as RFC 3339 in the event's summer offset (+02:00), `minute`s after midnight on day `day`.
fn local(start: NaiveDate, day: u64, from: u32, to: u32) -> (String, String) {
    let at = |minute: u32| {
        let offset = FixedOffset::east_opt(2 * 3600);
        let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0);
        match (offset, time) {
            (Some(offset), Some(time)) => offset
                .from_local_datetime(&(start + Days::new(day)).and_time(time))
                .single()
                .map(|moment| moment.to_rfc3339())
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    (at(from), at(to))
}
