//! Calendars: valid RFC 5545 that a real parser reads back exactly, Google redirects, private feeds that expire
//! and are revoked with the user's other tokens, and events that update: stable UIDs, `SEQUENCE` and
//! `LAST-MODIFIED` from the version history, cancelled sessions kept as `STATUS:CANCELLED` (#20).

use std::time::Duration;

use icalendar::{Calendar, CalendarComponent, Component as _};
use plaza_tests::app::json_body;
use plaza_tests::fake_pretalx::{self, FakePretalx};
use plaza_tests::{Backend, TestApp, for_each_backend};

const NASTY: &str = "Maps, mesh; “routers” & mores\\ — 🦀🎉 line\nbreak";

/// The demo event with one confirmed, scheduled session given a hostile 200-character title.
async fn app_with_nasty_title(backend: Backend) -> (TestApp, String, String, FakePretalx) {
    let mut dataset = fake_pretalx::demo_dataset(1);
    let title: String = NASTY.chars().cycle().take(200).collect();
    let session = fake_pretalx::edit_scheduled_session(&mut dataset, |sub| {
        sub["title"] = title.clone().into();
        sub["description"] = "First line,\nsecond; line\\ end 🎉".into();
    });
    let (app, fake) = fake_pretalx::app_with_imported(backend, dataset).await;
    (app, session, title, fake)
}

fn events(text: &str) -> Vec<icalendar::Event> {
    let calendar: Calendar = text.parse().expect("a real ICS parser reads it");
    calendar
        .components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn assert_rfc5545_lines(text: &str) {
    assert!(text.contains("\r\n"), "CRLF line endings");
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "line longer than 75 octets: {line:?}");
        assert!(!line.contains('\n'), "bare LF inside a line");
    }
    assert!(text.contains("DTSTAMP:"));
}

for_each_backend! {
    async fn a_session_ics_is_valid_and_round_trips_the_title(backend: Backend) {
        let (app, session, title, _fake) = app_with_nasty_title(backend).await;
        for path in [format!("/api/calendar/ical/{session}"), format!("/api/schedule/{session}/ics")] {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200);
            assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/calendar"));
            assert_eq!(response.headers()["content-disposition"], format!("attachment; filename=\"{session}.ics\"").as_str());
            let text = response.text().await.expect("body");
            assert_rfc5545_lines(&text);
            let parsed = events(&text);
            assert_eq!(parsed.len(), 1);
            assert_eq!(parsed[0].get_summary(), Some(title.as_str()));
            assert_eq!(parsed[0].get_description(), Some("First line,\nsecond; line\\ end 🎉"));
            assert_eq!(parsed[0].get_uid(), Some(format!("{session}@plaza").as_str()));
        }
        assert_eq!(app.get("/api/calendar/ical/NOPE-1").await.status(), 404);
    }

    async fn google_calendar_gets_a_prefilled_event(backend: Backend) {
        let (app, session, _title, _fake) = app_with_nasty_title(backend).await;
        let response = app.get(&format!("/api/calendar/google/{session}")).await;
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().expect("location").to_owned();
        assert!(location.starts_with("https://calendar.google.com/event?action=TEMPLATE&dates="), "{location}");
        assert!(location.contains("Z%2F") && location.contains("&text=Maps%2C+mesh"), "{location}");
    }

    async fn the_private_feed_lists_attended_sessions_until_revoked_or_expired(backend: Backend) {
        let (app, session, title, _fake) = app_with_nasty_title(backend).await;
        let ada = app.token_for("ada@example.org", &[]).await;
        assert_eq!(app.post_as(&ada, &format!("/api/attendance/{session}/attend")).await.status(), 200);
        let url = json_body(app.get_as(&ada, "/api/calendar/me").await).await["url"].as_str().expect("url").to_owned();
        let path = url.split_once("/api/").map(|(_, p)| format!("/api/{p}")).expect("an API URL");
        let feed = app.get(&path).await;
        assert_eq!(feed.status(), 200);
        assert_eq!(feed.headers()["content-disposition"], "attachment; filename=\"my-sessions.ics\"");
        let parsed = events(&feed.text().await.expect("body"));
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].get_summary(), Some(title.as_str()));

        let id = app.state.tokens.verify_auth(&ada).expect("valid").sub;
        let expired = app.state.tokens.sign_calendar(id, "en", 0, Duration::ZERO).expect("token");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(app.get(&format!("/api/calendar/me/{expired}")).await.status(), 401);

        plaza_core::queries::attendees::revoke_tokens(&app.state.db, id).await.expect("revoke");
        assert_eq!(app.get(&path).await.status(), 401);
        assert_eq!(app.get("/api/calendar/me").await.status(), 401);
    }
}

/// Properties a session's ICS or a private feed may hold; anything else on a line of its own was injected.
const PROPERTIES: [&str; 18] = [
    "BEGIN",
    "END",
    "VERSION",
    "PRODID",
    "CALSCALE",
    "UID",
    "SUMMARY",
    "DESCRIPTION",
    "DTSTART",
    "DTEND",
    "DTSTAMP",
    "LOCATION",
    "URL",
    "SEQUENCE",
    "LAST-MODIFIED",
    "STATUS",
    "NAME",
    "X-WR-CALNAME",
];

/// A strict reading of RFC 5545 §3.1: content lines end with CRLF and nothing else; a continuation starts with a
/// space or tab; no control character but tab inside a line. Returns the unfolded lines.
fn strict_content_lines(text: &str) -> Vec<String> {
    let body = text
        .strip_suffix("\r\n")
        .expect("the last line ends with CRLF");
    let mut lines: Vec<String> = Vec::new();
    for raw in body.split("\r\n") {
        assert!(
            !raw.chars().any(|c| c.is_control() && c != '\t'),
            "a control character inside a line: {raw:?}"
        );
        match raw.strip_prefix([' ', '\t']) {
            Some(rest) => lines.last_mut().expect("a line to continue").push_str(rest),
            None => lines.push(raw.to_owned()),
        }
    }
    lines
}

fn property_name(line: &str) -> &str {
    line.split([':', ';']).next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_title_cannot_add_a_property_or_component() {
    let crafted = "Talk\rEND:VEVENT\rBEGIN:VEVENT\rSUMMARY:pwned\r\nATTACH:https://evil.example\nX-A:1\u{b}\u{0}\u{85}X-B:2\u{2028}X-C:3\u{2029}X-D:4";
    let mut dataset = fake_pretalx::demo_dataset(1);
    let session = fake_pretalx::edit_scheduled_session(&mut dataset, |sub| {
        sub["title"] = crafted.into();
        sub["description"] = format!("Body\r{crafted}").into();
    });
    let (app, _fake) = fake_pretalx::app_with_imported(Backend::Embedded, dataset).await;
    let text = app
        .get(&format!("/api/calendar/ical/{session}"))
        .await
        .text()
        .await
        .expect("body");

    let lines = strict_content_lines(&text);
    let names: Vec<&str> = lines.iter().map(|line| property_name(line)).collect();
    assert!(
        names.iter().all(|name| PROPERTIES.contains(name)),
        "unexpected property: {names:?}"
    );
    assert_eq!(
        names.iter().filter(|name| **name == "BEGIN").count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|name| **name == "SUMMARY").count(),
        1,
        "{names:?}"
    );
    // A parser that splits on CR, LF or a Unicode line break alone sees no property of its own either.
    for piece in text.split(['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}']) {
        if !piece.is_empty() && !piece.starts_with([' ', '\t']) {
            assert!(
                PROPERTIES.contains(&property_name(piece)),
                "{piece:?} reads as a property"
            );
        }
    }
    let parsed = events(&text);
    assert_eq!(parsed.len(), 1);
    let summary = parsed[0].get_summary().expect("a summary");
    assert!(
        summary.starts_with("Talk\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:pwned\nATTACH:"),
        "{summary:?}"
    );
}

fn property<'a>(event: &'a icalendar::Event, name: &str) -> Option<&'a str> {
    event.property_value(name)
}

/// The strictly read feed at `path`, every property one plaza writes, and its events by UID.
async fn strict_feed(app: &TestApp, path: &str) -> Vec<icalendar::Event> {
    let text = app.get(path).await.text().await.expect("feed");
    let lines = strict_content_lines(&text);
    assert!(
        lines.iter().all(|l| PROPERTIES.contains(&property_name(l))),
        "{lines:?}"
    );
    events(&text)
}

for_each_backend! {
    async fn a_moved_session_keeps_its_uid_with_a_higher_sequence_and_a_cancelled_one_is_cancelled(backend: Backend) {
        let mut dataset = fake_pretalx::demo_dataset(1);
        let codes = fake_pretalx::scheduled_codes(&dataset, 2);
        let (moved, cancelled) = (format!("{}-1", codes[0]), format!("{}-1", codes[1]));
        let (app, fake) = fake_pretalx::app_with_imported(backend, dataset.clone()).await;
        let ada = app.token_for("ada@example.org", &[]).await;
        for session in [&moved, &cancelled] {
            assert_eq!(app.post_as(&ada, &format!("/api/attendance/{session}/attend")).await.status(), 200);
        }
        let url = json_body(app.get_as(&ada, "/api/calendar/me").await).await["url"].as_str().expect("url").to_owned();
        let path = url.split_once("/api/").map(|(_, p)| format!("/api/{p}")).expect("an API URL");
        let before = strict_feed(&app, &path).await;
        assert_eq!(before.len(), 2);
        let find = |events: &[icalendar::Event], session: &str| {
            events.iter().find(|e| e.get_uid() == Some(format!("{session}@plaza").as_str())).cloned()
        };
        let was = find(&before, &moved).expect("the saved session");
        assert_eq!(property(&was, "SEQUENCE"), Some("0"));
        assert!(property(&was, "LAST-MODIFIED").is_some_and(|t| t.ends_with('Z')));

        fake_pretalx::move_slot(&mut dataset, &codes[0], 60, false);
        fake_pretalx::edit(&mut dataset, "submissions", |subs| {
            let sub = subs.iter_mut().find(|s| s["code"] == codes[1].as_str()).expect("submission");
            sub["state"] = "withdrawn".into();
        });
        fake.set(dataset);
        let version = plaza_jobs::schedule::run_once(&app.jobs()).await.expect("import").version;
        let served = plaza_tests::eventually(Duration::from_secs(10), || async { app.state.schedule.current().version == version });
        assert!(served.await.is_some());

        let after = strict_feed(&app, &path).await;
        assert_eq!(after.len(), 2, "the cancelled session stays in the feed");
        let now = find(&after, &moved).expect("same UID after the move");
        assert_eq!(property(&now, "SEQUENCE"), Some("1"));
        assert_ne!(property(&now, "DTSTART"), property(&was, "DTSTART"));
        assert_eq!(property(&now, "STATUS"), None);
        let gone = find(&after, &cancelled).expect("the cancelled session, same UID");
        assert_eq!((property(&gone, "STATUS"), property(&gone, "SEQUENCE")), (Some("CANCELLED"), Some("1")));
        assert!(property(&gone, "DTSTART").is_some());

        let single = app.get(&format!("/api/calendar/ical/{moved}")).await.text().await.expect("ics");
        let single = events(&single);
        assert_eq!((single[0].get_uid(), property(&single[0], "SEQUENCE")), (Some(format!("{moved}@plaza").as_str()), Some("1")));
        assert_eq!(app.get(&format!("/api/calendar/ical/{cancelled}")).await.status(), 404, "not public any more");
    }
}
