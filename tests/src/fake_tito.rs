//! A fake Tito Admin API v3 for black-box tests: a wiremock server listing the tickets the test holds, with Tito's
//! body pagination (`meta.next_page`, `?page=N`), its `search[states][]` and `search[updated_at][gt]` filters and
//! its token check. Tests can edit tickets, fail a page or slow every answer down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// The account slug the fake serves.
pub const ACCOUNT: &str = "fake-org";
/// The event slug the fake serves.
pub const EVENT: &str = "fake-fest";
/// The token the fake accepts.
pub const TOKEN: &str = "fake-tito-token";

/// A running fake Tito.
pub struct FakeTito {
    /// The wiremock server (its `received_requests` show what plaza asked for).
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct State {
    tickets: Vec<Value>,
    per_page: usize,
    failing_page: Option<u64>,
    delay: Duration,
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let authorised = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(format!("Token token={TOKEN}").as_str());
        if !authorised {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"errors": {"authentication": ["Invalid token"]}}));
        }
        if request.url.path() != format!("/v3/{ACCOUNT}/{EVENT}/tickets") {
            return ResponseTemplate::new(404).set_body_json(json!({"errors": ["Not found"]}));
        }
        let page: u64 = query(request, "page")
            .first()
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        if state.failing_page == Some(page) {
            return ResponseTemplate::new(500).set_body_string("Internal Server Error");
        }
        let states = query(request, "search[states][]");
        let after = query(request, "search[updated_at][gt]")
            .first()
            .map(|v| DateTime::parse_from_rfc3339(v).expect("an RFC 3339 date"));
        let matching: Vec<&Value> = state
            .tickets
            .iter()
            .filter(|t| states.is_empty() || states.iter().any(|s| t["state"] == s.as_str()))
            .filter(|t| {
                after.is_none_or(|after| {
                    let updated = t["updated_at"].as_str().expect("updated_at");
                    DateTime::parse_from_rfc3339(updated).expect("a date") > after
                })
            })
            .collect();
        let per_page = state.per_page.max(1);
        let total_pages = matching.len().div_ceil(per_page).max(1) as u64;
        let results: Vec<&Value> = matching
            .iter()
            .skip((page as usize - 1) * per_page)
            .take(per_page)
            .copied()
            .collect();
        let body = json!({
            "tickets": results,
            "meta": {
                "current_page": page,
                "next_page": (page < total_pages).then_some(page + 1),
                "prev_page": (page > 1).then(|| page - 1),
                "total_pages": total_pages,
                "total_count": matching.len(),
                "per_page": per_page,
            },
        });
        ResponseTemplate::new(200)
            .set_body_json(body)
            .set_delay(state.delay)
    }
}

fn query(request: &Request, name: &str) -> Vec<String> {
    request
        .url
        .query_pairs()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

impl FakeTito {
    /// Serves `tickets`, 100 per page (Tito's default).
    pub async fn start(tickets: Vec<Value>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            tickets,
            per_page: 100,
            failing_page: None,
            delay: Duration::ZERO,
        }));
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the listed tickets.
    pub fn set_tickets(&self, tickets: Vec<Value>) {
        self.with_state(|state| state.tickets = tickets);
    }

    /// Applies `edit` to the ticket with `slug` (it must exist).
    pub fn edit(&self, slug: &str, edit: impl FnOnce(&mut Value)) {
        self.with_state(|state| {
            edit(
                state
                    .tickets
                    .iter_mut()
                    .find(|t| t["slug"] == slug)
                    .expect("the ticket exists"),
            )
        });
    }

    /// Lists `per_page` tickets per page.
    pub fn set_per_page(&self, per_page: usize) {
        self.with_state(|state| state.per_page = per_page);
    }

    /// Answers 500 to every request for page `page` (`None`: no failure).
    pub fn fail_page(&self, page: Option<u64>) {
        self.with_state(|state| state.failing_page = page);
    }

    /// Delays every answer (to make runs overlap).
    pub fn slow_down(&self, delay: Duration) {
        self.with_state(|state| state.delay = delay);
    }

    /// The `TITO_*` variables pointing plaza at this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TITO_URL", format!("{}/v3/", self.server.uri())),
            ("TITO_ACCOUNT", ACCOUNT.to_owned()),
            ("TITO_EVENT", EVENT.to_owned()),
            ("TITO_API_TOKEN", TOKEN.to_owned()),
        ]
    }

    /// The query of every tickets request received so far, in order.
    pub async fn ticket_queries(&self) -> Vec<Vec<(String, String)>> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with("/tickets"))
            .map(|r| r.url.query_pairs().into_owned().collect())
            .collect()
    }
}

/// A ticket shaped like the Admin API v3 `tickets` list (external-apis.md §2.2), held by `email` (`None`:
/// unassigned), last updated at `updated_at`.
pub fn ticket(slug: &str, state: &str, email: Option<&str>, updated_at: DateTime<Utc>) -> Value {
    let name = email.map(|e| e.split('@').next().unwrap_or_default().to_owned());
    let updated = updated_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "_type": "ticket",
        "id": slug.bytes().map(u64::from).sum::<u64>(),
        "slug": slug,
        "reference": format!("{}-1", slug.to_uppercase()),
        "state": state,
        "email": email,
        "name": name,
        "first_name": name,
        "last_name": null,
        "company_name": "",
        "phone_number": "",
        "release_title": "General Admission",
        "release_id": 101,
        "registration_id": 202,
        "registration": {
            "id": 202,
            "slug": format!("reg_{slug}"),
            "email": "buyer@example.org",
            "name": "The Buyer",
            "created_at": updated,
            "updated_at": updated,
        },
        "discount_code_used": "",
        "consented_at": null,
        "created_at": updated,
        "updated_at": updated,
        "metadata": null,
        "answers": [],
    })
}
