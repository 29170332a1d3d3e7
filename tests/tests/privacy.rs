//! Privacy: plaza publishes exactly what Pretalx shows the public, whatever an organiser token can see.
//!
//! The fake event (Pretalx v2 shapes, organiser view) holds one released schedule and a differing `wip` one, and
//! every case that must stay private: a confirmed talk with no slot, one whose slot has no time or room, one placed
//! only in `wip`, one with an invisible slot, accepted-but-unconfirmed talks (visible and invisible slots),
//! withdrawn, rejected and under-review proposals with their speakers, a speaker without any proposal, a non-public
//! tag, a private resource, `javascript:` links, and a 40 MB abstract. Every private text carries the marker
//! `SECRET`, so "nothing leaks" is a plain substring check over every public answer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use plaza_jobs::pretalx::demo;
use plaza_jobs::pretalx::memory::MemoryDataset;
use plaza_tests::app::json_body;
use plaza_tests::fake_pretalx;
use plaza_tests::{Backend, TestApp};
use serde_json::{Value, json};

const MARKER: &str = "SECRET";
const RELEASED: i64 = 901;
const WIP: i64 = 902;
/// The public sessions: each a confirmed submission with one placed, visible slot in the released schedule.
const PUBLIC: [&str; 2] = ["PUBA-1", "BIGA-1"];
/// Session ids plaza would derive from the non-public submissions, plus one that never existed.
const HIDDEN: [&str; 9] = [
    "CONL-1", "CONU-1", "CONH-1", "WIPO-1", "ACCH-1", "ACCV-1", "WDRN-1", "REJC-1", "SUBM-1",
];
const UNKNOWN: &str = "NOPE-1";
/// Size of the speaker-written abstract.
const HUGE: usize = 40 * 1024 * 1024;

/// `hours` after 09:00 UTC the day after tomorrow.
fn at(hours: i64) -> String {
    let day = Utc::now().date_naive() + Duration::days(2);
    let base: DateTime<Utc> = day.and_hms_opt(9, 0, 0).expect("a time").and_utc();
    (base + Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn slot(
    id: i64,
    schedule: i64,
    submission: Option<&str>,
    room: Option<i64>,
    hours: Option<i64>,
    visible: bool,
) -> Value {
    json!({
        "id": id, "room": room, "start": hours.map(at), "end": hours.map(|h| at(h + 1)),
        "submission": submission, "schedule": schedule, "description": null, "duration": 60,
        "is_visible": visible, "slot_type": if submission.is_some() { "talk" } else { "break" },
    })
}

fn submission(code: &str, state: &str, title: &str, speakers: &[&str], slots: &[i64]) -> Value {
    json!({
        "code": code, "title": title, "speakers": speakers, "submission_type": 30, "track": 20, "tags": [10],
        "state": state, "pending_state": null, "abstract": format!("{title} abstract"), "description": "",
        "duration": 60, "slot_count": 1, "content_locale": "en", "do_not_record": false, "image": null,
        "resources": [], "slots": slots, "answers": [], "attendee_signup_required": false,
        "attendee_signup_capacity": null, "signup_status": null, "is_featured": false,
    })
}

fn speaker(code: &str, name: &str, submissions: &[&str]) -> Value {
    json!({
        "code": code, "name": name, "biography": format!("{name} biography"), "submissions": submissions,
        "avatar_url": null, "answers": [], "email": format!("{}@example.org", code.to_lowercase()),
    })
}

fn answer(
    id: i64,
    question: i64,
    text: &str,
    submission: Option<&str>,
    person: Option<&str>,
) -> Value {
    json!({"id": id, "question": question, "answer": text, "answer_file": null, "submission": submission,
           "review": null, "person": person, "options": []})
}

/// The organiser's view of the event.
fn event() -> MemoryDataset {
    let mut puba = submission("PUBA", "confirmed", "Public talk", &["PUB1"], &[1]);
    puba["tags"] = json!([10, 11]);
    puba["resources"] = json!([
        {"id": 1, "resource": "https://example.org/slides.pdf", "description": "Slides", "is_public": true},
        {"id": 2, "resource": "https://example.org/SECRET-notes", "description": "SECRET notes", "is_public": false},
        {"id": 3, "resource": "javascript:alert('SECRET')//https://x", "description": "Script", "is_public": true},
    ]);
    let mut biga = submission("BIGA", "confirmed", "Long abstract", &["BIGS"], &[2]);
    let mut huge = String::from("Start of a long abstract. ");
    huge.push_str(&"x".repeat(HUGE - huge.len() - MARKER.len()));
    huge.push_str(MARKER); // Only the tail carries the marker: a bounded abstract never reaches it.
    biga["abstract"] = huge.into();
    let submissions = vec![
        puba,
        biga,
        submission(
            "CONL",
            "confirmed",
            "SECRET confirmed after the release",
            &["UNPL"],
            &[],
        ),
        submission(
            "CONU",
            "confirmed",
            "SECRET confirmed, slot without time or room",
            &["UNPL"],
            &[3],
        ),
        submission(
            "CONH",
            "confirmed",
            "SECRET confirmed, invisible slot",
            &["UNPL"],
            &[4],
        ),
        submission(
            "WIPO",
            "confirmed",
            "SECRET placed only in the draft",
            &["WIPS"],
            &[],
        ),
        submission(
            "ACCH",
            "accepted",
            "SECRET accepted, invisible slot",
            &["HIDN"],
            &[5],
        ),
        submission(
            "ACCV",
            "accepted",
            "SECRET accepted, visible slot",
            &["HIDN"],
            &[6],
        ),
        submission("WDRN", "withdrawn", "SECRET withdrawn", &["WITH"], &[]),
        submission("REJC", "rejected", "SECRET rejected", &["REJE"], &[]),
        submission("SUBM", "submitted", "SECRET under review", &["REVW"], &[]),
    ];
    let speakers = vec![
        speaker("PUB1", "Public Person", &["PUBA"]),
        speaker("BIGS", "Verbose Person", &["BIGA"]),
        speaker("UNPL", "SECRET Unplaced Person", &["CONL", "CONU", "CONH"]),
        speaker("WIPS", "SECRET Draft Person", &["WIPO"]),
        speaker("HIDN", "SECRET Unconfirmed Person", &["ACCH", "ACCV"]),
        speaker("WITH", "SECRET Withdrawn Person", &["WDRN"]),
        speaker("REJE", "SECRET Rejected Person", &["REJC"]),
        speaker("REVW", "SECRET Reviewed Person", &["SUBM"]),
        speaker("NOPR", "SECRET Person Without Proposal", &[]),
    ];
    let mut draft_break = slot(21, WIP, None, Some(1), Some(9), true);
    draft_break["description"] = json!({"en": "SECRET draft break"});
    let mut lunch = slot(20, RELEASED, None, Some(1), Some(3), true);
    lunch["description"] = json!({"en": "Lunch"});
    let slots = vec![
        slot(1, RELEASED, Some("PUBA"), Some(1), Some(0), true),
        slot(2, RELEASED, Some("BIGA"), Some(2), Some(1), true),
        slot(3, RELEASED, Some("CONU"), None, None, false),
        slot(4, RELEASED, Some("CONH"), Some(2), Some(2), false),
        slot(5, RELEASED, Some("ACCH"), Some(1), Some(4), false),
        slot(6, RELEASED, Some("ACCV"), Some(2), Some(4), true),
        lunch,
        // The draft: the public talk moved, a talk only the draft places, a break only the draft has.
        slot(11, WIP, Some("PUBA"), Some(2), Some(7), true),
        slot(12, WIP, Some("WIPO"), Some(1), Some(8), true),
        slot(13, WIP, Some("CONL"), Some(1), Some(10), true),
        draft_break,
    ];
    let links = demo::LINKS_QUESTION;
    let recommendations = demo::RECOMMENDATIONS_QUESTION;
    let affiliation = demo::AFFILIATION_QUESTION;
    let answers = vec![
        answer(
            1,
            links,
            "Join https://meet.example.org/puba or javascript://meet.example.org/%0aalert('SECRET')",
            Some("PUBA"),
            None,
        ),
        answer(
            2,
            recommendations,
            "https://example.org/read data://example.org/SECRET",
            Some("PUBA"),
            None,
        ),
        answer(
            3,
            links,
            "https://meet.example.org/SECRET-accv",
            Some("ACCV"),
            None,
        ),
        answer(4, affiliation, "Public Org", None, Some("PUB1")),
        answer(5, affiliation, "SECRET Org", None, Some("REJE")),
    ];
    let i18n = |text: &str| json!({"en": text});
    MemoryDataset {
        event: json!({
            "name": i18n("Privacy Fest"), "slug": fake_pretalx::EVENT, "is_public": true,
            "date_from": at(0)[..10], "date_to": at(48)[..10], "timezone": "UTC",
        }),
        collections: BTreeMap::from([
            (
                "schedules".to_owned(),
                vec![
                    json!({"id": RELEASED, "version": "1.0", "published": at(-72)}),
                    json!({"id": WIP, "version": null, "published": null}),
                ],
            ),
            ("submissions".to_owned(), submissions),
            ("speakers".to_owned(), speakers),
            ("slots".to_owned(), slots),
            (
                "rooms".to_owned(),
                vec![
                    json!({"id": 1, "name": i18n("Main Hall"), "description": i18n(""), "position": 0}),
                    json!({"id": 2, "name": i18n("Side Room"), "description": i18n(""), "position": 1}),
                ],
            ),
            (
                "tags".to_owned(),
                vec![
                    json!({"id": 10, "tag": "Open Web", "description": i18n(""), "color": "#000000", "is_public": true}),
                    json!({"id": 11, "tag": "SECRET reviewer shortlist", "description": i18n(""), "color": "#ff0000", "is_public": false}),
                ],
            ),
            (
                "tracks".to_owned(),
                vec![
                    json!({"id": 20, "name": i18n("Main"), "description": i18n(""), "position": 0}),
                ],
            ),
            (
                "submission-types".to_owned(),
                vec![json!({"id": 30, "name": i18n("Talk"), "default_duration": 60})],
            ),
            (
                "questions".to_owned(),
                vec![
                    json!({"id": links, "question": i18n("Links"), "target": "submission", "variant": "text"}),
                    json!({"id": recommendations, "question": i18n("Reading"), "target": "submission", "variant": "text"}),
                    json!({"id": affiliation, "question": i18n("Affiliation"), "target": "speaker", "variant": "string"}),
                ],
            ),
            ("answers".to_owned(), answers),
        ]),
    }
}

async fn imported() -> (TestApp, fake_pretalx::FakePretalx) {
    fake_pretalx::app_with_imported(Backend::Embedded, event()).await
}

fn assert_no_marker(what: &str, text: &str) {
    if let Some(at) = text.find(MARKER) {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(80)
            .map_or(0, |(i, _)| i);
        panic!(
            "{what} leaks private data: …{}…",
            &text[from..(at + MARKER.len())]
        );
    }
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn urls(links: &Value) -> Vec<String> {
    links
        .as_array()
        .expect("links")
        .iter()
        .map(|link| link["url"].as_str().expect("a url").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_schedule_holds_only_what_pretalx_shows_the_public() {
    let (app, _fake) = imported().await;
    let response = app.get("/api/schedule").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(
        text.len() < 2 * 1024 * 1024,
        "the 40 MB abstract is published whole: /schedule is {} bytes",
        text.len()
    );
    assert_no_marker("/schedule", &text);
    let schedule: Value = serde_json::from_str(&text).expect("JSON");

    assert_eq!(
        ids(&schedule["sessions"]),
        PUBLIC.iter().map(|s| s.to_string()).collect()
    );
    let speakers = ids(&schedule["speakers"]);
    assert_eq!(
        speakers,
        BTreeSet::from(["BIGS".to_owned(), "PUB1".to_owned()]),
        "speakers only through public sessions"
    );
    assert_eq!(
        ids(&schedule["themes"]),
        BTreeSet::from(["10".to_owned()]),
        "only public tags"
    );
    let public = &schedule["sessions"].as_array().expect("sessions")[0];
    assert_eq!(public["id"], "PUBA-1");
    assert_eq!(
        public["themes"],
        json!(["10"]),
        "non-public tags are not on sessions either"
    );
    // The released schedule's time and room, not the draft's.
    let slot = public["slot"].as_str().expect("a slot");
    let released_start = DateTime::parse_from_rfc3339(&at(0))
        .expect("date")
        .timestamp_millis();
    assert!(
        slot.starts_with(&released_start.to_string()),
        "slot {slot} is not the released one"
    );
    assert_eq!(public["track"], "1");
    let breaks = schedule["breaks"].as_array().expect("breaks");
    assert_eq!(
        breaks.len(),
        1,
        "only the released schedule's break: {breaks:?}"
    );

    let big = schedule["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == "BIGA-1")
        .expect("BIGA-1");
    let content = big["content"]["en"].as_str().expect("content");
    assert!(
        content.starts_with("Start of a long abstract."),
        "{}",
        &content[..40.min(content.len())]
    );
    assert!(
        content.chars().count() <= 20_000,
        "abstract bounded: {} characters",
        content.chars().count()
    );

    let whats_on = app
        .get("/api/schedule/whats-on")
        .await
        .text()
        .await
        .expect("body");
    assert_no_marker("/schedule/whats-on", &whats_on);
    let whats_on: Value = serde_json::from_str(&whats_on).expect("JSON");
    assert!(ids(&whats_on["sessions"]).is_subset(&PUBLIC.iter().map(|s| s.to_string()).collect()));

    // The lint report (admin only) says what was left out and why.
    let admin = app.token_for("admin@example.org", &["admin"]).await;
    let lint = app
        .get_as(&admin, "/api/schedule/lint")
        .await
        .text()
        .await
        .expect("lint page");
    for code in ["CONL", "CONU", "CONH", "WIPO", "ACCV", "BIGA"] {
        assert!(
            lint.contains(code),
            "the lint report does not mention {code}"
        );
    }
    for count in ["accepted: 2", "withdrawn: 1", "rejected: 1", "submitted: 1"] {
        assert!(
            lint.contains(count),
            "the lint report does not count {count}"
        );
    }
    for rule in ["PrivateTag", "PrivateResource", "UnsafeLink", "Truncated"] {
        assert!(lint.contains(rule), "the lint report has no {rule} entry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_public_http_links_only() {
    let (app, _fake) = imported().await;
    let admin = app.token_for("admin@example.org", &["admin"]).await;
    let response = app.get_as(&admin, "/api/schedule/PUBA-1/links").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert_no_marker("/schedule/PUBA-1/links", &text);
    let links = urls(&json_body_of(&text)["links"]);
    assert_eq!(
        links.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "https://meet.example.org/puba",
            "https://example.org/slides.pdf"
        ]),
    );
    // Recommendations ride along with the session in /schedule.
    let schedule: Value = json_body(app.get("/api/schedule").await).await;
    let puba = schedule["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == "PUBA-1")
        .expect("PUBA-1");
    assert_eq!(
        urls(&puba["recommendations"]),
        vec!["https://example.org/read".to_owned()]
    );
}

fn json_body_of(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// Every route that takes a session id answers a hidden id exactly as it answers an id that never existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_taking_a_session_id_hides_non_public_sessions() {
    let (app, _fake) = imported().await;
    let ada = app.token_for("ada@example.org", &[]).await;
    let admin = app.token_for("admin@example.org", &["admin"]).await;
    let routes: [(&str, &str, Option<&str>); 9] = [
        ("GET", "/api/calendar/ical/{}", None),
        ("GET", "/api/schedule/{}/ics", None),
        ("GET", "/api/calendar/google/{}", None),
        ("GET", "/api/share/session/{}", None),
        ("GET", "/api/attendance/{}", Some(&ada)),
        ("POST", "/api/attendance/{}/attend", Some(&ada)),
        ("POST", "/api/attendance/{}/unattend", Some(&ada)),
        ("GET", "/api/schedule/{}/links", Some(&ada)),
        ("GET", "/api/schedule/{}/links", Some(&admin)),
    ];
    let call = |method: &'static str, path: String, token: Option<&str>| {
        let mut request = app
            .client
            .request(method.parse().expect("method"), app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.expect("request is sent");
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().expect("ascii").to_owned());
            (status, location, response.text().await.expect("body"))
        }
    };
    for (method, pattern, token) in routes {
        // The public sessions are served, so the comparison below is not between two failures of the route.
        let (status, _, _) = call(method, pattern.replace("{}", PUBLIC[0]), token).await;
        if !pattern.contains("links") || token == Some(admin.as_str()) {
            assert!(
                matches!(status, 200 | 302),
                "{method} {pattern} fails for a public session: {status}"
            );
        }
        let unknown = call(method, pattern.replace("{}", UNKNOWN), token).await;
        for id in HIDDEN {
            let path = pattern.replace("{}", id);
            let hidden = call(method, path.clone(), token).await;
            assert_no_marker(&path, &hidden.2);
            assert_eq!(
                hidden, unknown,
                "{method} {path} answers differently from an unknown id"
            );
            if !pattern.contains("google") {
                assert_eq!(hidden.0, 404, "{method} {path}");
                assert_eq!(
                    json_body_of(&hidden.2)["codes"],
                    json!(["general.notFound"]),
                    "{method} {path}"
                );
            }
        }
    }
    // Nothing was recorded for hidden sessions.
    let mine = json_body(app.get_as(&ada, "/api/attendance/me").await).await;
    assert_eq!(mine["attendance"], json!([]));
}
