//! Pretalx → deconf mapping on the `mapping.json` fixture (v2 shapes, mixed offsets, a break, odd cases).

mod common;

use common::{fixture, mapping_config, pretalx_data};
use plaza_core::model::schedule::{Layout, LintRule, Schedule, Session};
use plaza_jobs::pretalx::config::SessionTypeOverride;
use plaza_jobs::pretalx::map::map_schedule;
use serde_json::{Value, json};

fn schedule_of(data: Value) -> Schedule {
    map_schedule(&pretalx_data(data), &mapping_config())
}

fn session<'a>(schedule: &'a Schedule, id: &str) -> &'a Session {
    schedule
        .sessions
        .iter()
        .find(|session| session.id == id)
        .unwrap_or_else(|| panic!("no session {id}"))
}

fn rules_for(schedule: &Schedule, session_id: &str) -> Vec<LintRule> {
    schedule
        .lint
        .issues
        .iter()
        .filter(|issue| issue.session_id.as_deref() == Some(session_id))
        .map(|issue| issue.rule)
        .collect()
}

#[test]
fn multi_slot_submission_yields_one_session_per_slot() {
    let schedule = schedule_of(fixture("mapping.json"));

    let first = session(&schedule, "WRK2PT-1");
    let second = session(&schedule, "WRK2PT-2");
    // 88125 (5 Nov 16:00+01:00) comes before 88124 (6 Nov 10:00-05:00) although listed second.
    assert_eq!(first.slot.as_deref(), Some("1793890800000__1793896200000"));
    assert_eq!(second.slot.as_deref(), Some("1793977200000__1793982600000"));
    assert_eq!((first.track.as_str(), second.track.as_str()), ("43", "43"));
    assert!(
        schedule
            .sessions
            .iter()
            .all(|session| session.id != "WRK2PT-3")
    );
}

#[test]
fn slots_are_unique_sorted_and_written_like_javascript_dates() {
    let schedule = schedule_of(fixture("mapping.json"));

    let slots = serde_json::to_value(&schedule.slots).expect("serialisable");
    assert_eq!(
        slots,
        json!([
            {"id": "1793890800000__1793896200000", "start": "2026-11-05T15:00:00.000Z", "end": "2026-11-05T16:30:00.000Z"},
            {"id": "1793966400000__1793970000000", "start": "2026-11-06T12:00:00.000Z", "end": "2026-11-06T13:00:00.000Z"},
            {"id": "1793973600000__1793977200000", "start": "2026-11-06T14:00:00.000Z", "end": "2026-11-06T15:00:00.000Z"},
            {"id": "1793977200000__1793982600000", "start": "2026-11-06T15:00:00.000Z", "end": "2026-11-06T16:30:00.000Z"},
        ])
    );
}

#[test]
fn break_slot_is_kept_as_a_break_on_its_own_slot() {
    let schedule = schedule_of(fixture("mapping.json"));

    let breaks = serde_json::to_value(&schedule.breaks).expect("serialisable");
    assert_eq!(
        breaks,
        json!([{"id": "break-88126", "slotId": "1793966400000__1793970000000", "track": "42",
                "title": {"en": "Lunch", "es": "Almuerzo"}}])
    );
    assert!(
        schedule
            .slots
            .iter()
            .any(|slot| slot.id == "1793966400000__1793970000000")
    );
}

fn issue_of<'a>(schedule: &'a Schedule, submission: &str) -> Vec<(LintRule, &'a str)> {
    schedule
        .lint
        .issues
        .iter()
        .filter(|issue| issue.submission.as_deref() == Some(submission))
        .map(|issue| (issue.rule, issue.message.as_str()))
        .collect()
}

#[test]
fn unconfirmed_and_unplaced_submissions_are_left_out_and_reported() {
    let schedule = schedule_of(fixture("mapping.json"));

    let ids: Vec<&str> = schedule.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["WRK2PT-1", "H7KDQP-1", "WRK2PT-2"]);
    assert_eq!(schedule.lint.skipped_by_state.get("accepted"), Some(&1));
    let roomless = issue_of(&schedule, "NOROOM");
    assert_eq!(roomless.len(), 1);
    assert_eq!(roomless[0].0, LintRule::NoRoom);
    assert!(roomless[0].1.contains("left out"), "{}", roomless[0].1);
    assert!(LintRule::NoRoom.blocks_publishing());
}

#[test]
fn only_placed_visible_slots_of_the_released_schedule_make_sessions() {
    let mut data = fixture("mapping.json");
    // H7KDQP's slot is hidden; WRK2PT's second slot belongs to the draft; a draft-only break.
    data["slots"][0]["is_visible"] = json!(false);
    data["slots"][2]["schedule"] = json!(902);
    data["slots"][3]["schedule"] = json!(902);

    let schedule = schedule_of(data);

    let ids: Vec<&str> = schedule.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["WRK2PT-1"]);
    assert!(schedule.breaks.is_empty());
    assert_eq!(issue_of(&schedule, "H7KDQP")[0].0, LintRule::Unscheduled);
    let speakers: Vec<&str> = schedule.speakers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        speakers,
        ["ZXC34B"],
        "speakers only through public sessions"
    );
    assert_eq!(schedule.lint.speakers_left_out, 2);
}

#[test]
fn nothing_is_public_before_a_schedule_is_released() {
    let mut data = fixture("mapping.json");
    data["released"] = Value::Null;

    let schedule = schedule_of(data);

    assert!(schedule.sessions.is_empty() && schedule.speakers.is_empty());
    assert!(schedule.breaks.is_empty() && schedule.slots.is_empty());
}

#[test]
fn private_tags_resources_and_non_web_links_are_left_out_and_reported() {
    let mut data = fixture("mapping.json");
    data["tags"][0]["is_public"] = json!(false);
    data["submissions"][0]["resources"][0]["is_public"] = json!(false);
    data["submissions"][0]["image"] = json!("javascript:alert(1)");
    data["answers"][0]["answer"] =
        json!("https://meet.example.org/ok javascript://meet.example.org/%0aalert(1)");

    let schedule = schedule_of(data);

    let talk = session(&schedule, "H7KDQP-1");
    assert_eq!(talk.themes, ["1700", "1701"]);
    assert!(schedule.themes.iter().all(|theme| theme.id != "1698"));
    let urls: Vec<&str> = talk.links.iter().map(|link| link.url.as_str()).collect();
    assert_eq!(urls, ["https://meet.example.org/ok"]);
    assert_eq!(talk.cover_image.as_deref(), Some(""));
    let rules: Vec<LintRule> = schedule
        .lint
        .issues
        .iter()
        .map(|issue| issue.rule)
        .collect();
    for rule in [
        LintRule::PrivateTag,
        LintRule::PrivateResource,
        LintRule::UnsafeLink,
    ] {
        assert!(rules.contains(&rule), "{rule:?} not reported: {rules:?}");
    }
}

#[test]
fn over_long_texts_are_cut_to_their_limits_and_reported() {
    use plaza_jobs::pretalx::limits;
    let mut data = fixture("mapping.json");
    data["submissions"][0]["title"] = json!("t".repeat(limits::TITLE_CHARS + 5));
    data["submissions"][0]["description"] = json!("é".repeat(limits::TEXT_CHARS * 3));
    data["speakers"][0]["biography"] = json!("b".repeat(limits::BIOGRAPHY_CHARS + 1));

    let schedule = schedule_of(data);

    let talk = session(&schedule, "H7KDQP-1");
    assert_eq!(talk.title["en"].chars().count(), limits::TITLE_CHARS);
    assert_eq!(talk.content["en"].chars().count(), limits::TEXT_CHARS);
    let ana = schedule
        .speakers
        .iter()
        .find(|s| s.id == "QWE12A")
        .expect("Ana");
    assert_eq!(ana.bio["en"].chars().count(), limits::BIOGRAPHY_CHARS);
    let cut = schedule
        .lint
        .issues
        .iter()
        .filter(|issue| issue.rule == LintRule::Truncated)
        .count();
    assert_eq!(cut, 3);
}

#[test]
fn submission_with_missing_or_unknown_type_is_kept_and_reported() {
    let mut data = fixture("mapping.json");
    data["submissions"][0]["submission_type"] = Value::Null;
    data["submissions"][1]["submission_type"] = json!(9999);

    let schedule = schedule_of(data);

    assert_eq!(session(&schedule, "H7KDQP-1").session_type, "");
    assert!(rules_for(&schedule, "H7KDQP-1").contains(&LintRule::NoType));
    assert_eq!(session(&schedule, "WRK2PT-2").session_type, "9999");
    // Reported once per submission, by its first session.
    assert!(rules_for(&schedule, "WRK2PT-1").contains(&LintRule::UnknownType));
}

#[test]
fn withdrawn_submission_without_slot_is_counted_not_silently_dropped() {
    let schedule = schedule_of(fixture("mapping.json"));

    assert!(
        schedule
            .sessions
            .iter()
            .all(|session| !session.id.starts_with("GONE01"))
    );
    assert_eq!(schedule.lint.skipped_by_state.get("withdrawn"), Some(&1));
}

#[test]
fn host_languages_add_asl_and_cc_and_strip_the_mozilla_suffix() {
    let schedule = schedule_of(fixture("mapping.json"));

    assert_eq!(
        session(&schedule, "H7KDQP-1").host_languages,
        ["en", "asl", "cc"]
    );
    assert_eq!(session(&schedule, "WRK2PT-1").host_languages, ["es"]);
}

#[test]
fn links_come_from_answers_with_host_and_path_and_from_http_resources() {
    let schedule = schedule_of(fixture("mapping.json"));

    let links = serde_json::to_value(&session(&schedule, "H7KDQP-1").links).expect("serialisable");
    assert_eq!(
        links,
        json!([
            {"type": "any", "url": "https://meet.example.org/h7kdqp", "language": "en"},
            {"type": "url", "url": "https://example.org/slides.pdf", "title": "Slides", "language": "en"},
        ])
    );
}

#[test]
fn recommendations_are_parsed_from_their_question_answer() {
    let schedule = schedule_of(fixture("mapping.json"));

    let urls: Vec<&str> = session(&schedule, "H7KDQP-1")
        .recommendations
        .iter()
        .map(|link| link.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://example.org/read/one",
            "https://foundation.mozilla.org/"
        ]
    );
    assert!(session(&schedule, "WRK2PT-1").recommendations.is_empty());
}

#[test]
fn facilitators_are_base64_sha256_of_trimmed_lowercased_emails_of_confirmed_speakers() {
    let schedule = schedule_of(fixture("mapping.json"));

    // "  Ana.Garcia@Example.org " → sha256("ana.garcia@example.org"); Kwame (confirmed WRK2PT) too; NOMAIL has none.
    assert_eq!(
        schedule.facilitators,
        [
            "bWjX4VQ9Uy0CA9QZqwxJR1MoX+Ibv0zY95h/xHmfneU=",
            "wHfBjPqjIP41d0Br/y/BVrmAV1KFwmDJxJriMOMqpE0="
        ]
    );
}

#[test]
fn speakers_of_only_unconfirmed_sessions_are_not_facilitators() {
    let mut data = fixture("mapping.json");
    data["submissions"][1]["state"] = json!("accepted");

    let schedule = schedule_of(data);

    assert_eq!(
        schedule.facilitators,
        ["bWjX4VQ9Uy0CA9QZqwxJR1MoX+Ibv0zY95h/xHmfneU="]
    );
}

#[test]
fn participant_cap_comes_from_attendee_signup_capacity() {
    let schedule = schedule_of(fixture("mapping.json"));

    assert_eq!(session(&schedule, "WRK2PT-1").participant_cap, Some(30));
    let json = serde_json::to_value(session(&schedule, "H7KDQP-1")).expect("serialisable");
    assert_eq!(json["participantCap"], Value::Null);
}

#[test]
fn session_fields_follow_the_reference_mapping() {
    let schedule = schedule_of(fixture("mapping.json"));

    let talk = session(&schedule, "H7KDQP-1");
    assert_eq!(talk.session_type, "5456");
    assert_eq!(talk.track, "42");
    assert_eq!(talk.themes, ["1698", "1700", "1701"]);
    assert_eq!(talk.speakers, ["QWE12A", "NOMAIL"]);
    assert!(talk.is_featured && talk.is_recorded);
    let workshop = session(&schedule, "WRK2PT-1");
    assert!(!workshop.is_recorded);
    // Spanish sessions: the reference `en` key plus `es`; an empty description falls back to the abstract.
    assert_eq!(
        workshop.title.get("es").map(String::as_str),
        Some("Taller de redes comunitarias")
    );
    assert_eq!(workshop.title.get("en"), workshop.title.get("es"));
    assert_eq!(
        workshop.content.get("en").map(String::as_str),
        Some("Corto.")
    );
    assert_eq!(
        workshop.cover_image.as_deref(),
        Some("https://pretalx.example.org/media/cover.png")
    );
}

#[test]
fn room_names_may_be_plain_strings_or_locale_maps() {
    let schedule = schedule_of(fixture("mapping.json"));

    let tracks = serde_json::to_value(&schedule.tracks).expect("serialisable");
    // Ordered by room position; locales outside the config (de) are left out.
    assert_eq!(
        tracks,
        json!([
            {"id": "43", "title": {"en": "Studio B"}},
            {"id": "42", "title": {"en": "Main Stage", "es": "Escenario principal"}},
        ])
    );
}

#[test]
fn session_types_come_from_submission_types_with_config_overrides() {
    let mut config = mapping_config();
    let title = [("en".to_owned(), "Hands-on".to_owned())].into();
    config.session_types.insert(
        5457,
        SessionTypeOverride {
            title: Some(title),
            icon: Some(["fas".into(), "tools".into()]),
            layout: Some(Layout::Plenary),
        },
    );

    let schedule = map_schedule(&pretalx_data(fixture("mapping.json")), &config);

    let types = serde_json::to_value(&schedule.types).expect("serialisable");
    assert_eq!(
        types,
        json!([
            {"id": "5456", "iconGroup": "fas", "iconName": "users", "layout": "workshop", "title": {"en": "Talk", "es": "Charla"}},
            {"id": "5457", "iconGroup": "fas", "iconName": "tools", "layout": "plenary", "title": {"en": "Hands-on"}},
        ])
    );
}

#[test]
fn speakers_get_affiliation_bio_and_headshot() {
    let schedule = schedule_of(fixture("mapping.json"));

    let speakers = serde_json::to_value(&schedule.speakers).expect("serialisable");
    assert_eq!(
        speakers[1],
        json!({"id": "QWE12A", "name": "Ana García", "role": {"en": "Mozilla Foundation"},
               "bio": {"en": "Ana builds community networks."}, "headshot": "https://pretalx.example.org/media/avatars/ana.png"})
    );
    assert_eq!(speakers[2]["headshot"], "");
}
