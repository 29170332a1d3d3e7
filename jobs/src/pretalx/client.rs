//! The Pretalx v2 client: headers, retries, pagination and validation of every object, over any [`Transport`].
//! It returns wire types and knows nothing about deconf; it never logs the token.

use crate::upstream::decode::at;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::pretalx::limits;
use crate::pretalx::wire::{
    Answer, Event, Page, PretalxData, Question, Room, ScheduleVersion, Slot, Speaker, Submission,
    SubmissionType, Tag, Track,
};
use crate::upstream;
use crate::upstream::get::Failure;
use crate::upstream::retry::RetryPolicy;
use crate::upstream::transport::{HttpTransport, Transport};

/// The API version every request pins (external-apis.md §1.1: never depend on what the token first saw).
pub const API_VERSION: &str = "v2";

/// Where and how to reach Pretalx.
#[derive(Clone)]
pub struct ClientConfig {
    /// API root of the Pretalx instance, e.g. `https://pretalx.com/api/` (a missing final `/` is added).
    pub base_url: Url,
    /// Event slug, e.g. `mozilla-festival-2026`.
    pub event: String,
    /// API token from `/orga/me`; organiser scope is needed for emails and `is_featured`.
    pub token: String,
    /// Retry limits.
    pub retry: RetryPolicy,
    /// Most pages read from one list before giving up (guards against a server that never ends).
    pub max_pages: u32,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Most bytes of one response body ([`limits::RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// Most bytes of all responses of one [`PretalxClient::fetch_all`] ([`limits::IMPORT_BYTES`]).
    pub max_import_bytes: u64,
    /// Most objects of one [`PretalxClient::fetch_all`] ([`limits::IMPORT_OBJECTS`]).
    pub max_import_objects: usize,
}

impl ClientConfig {
    /// Defaults for everything but the three identifying values.
    pub fn new(base_url: Url, event: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base_url,
            event: event.into(),
            token: token.into(),
            retry: RetryPolicy::default(),
            max_pages: 400,
            timeout: Duration::from_secs(30),
            max_response_bytes: limits::RESPONSE_BYTES,
            max_import_bytes: limits::IMPORT_BYTES,
            max_import_objects: limits::IMPORT_OBJECTS,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("event", &self.event)
            .field("token", &"<redacted>")
            .field("retry", &self.retry)
            .field("max_pages", &self.max_pages)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("max_import_objects", &self.max_import_objects)
            .finish()
    }
}

/// Why a Pretalx read failed.
#[derive(Debug, thiserror::Error)]
pub enum PretalxError {
    /// 401 / 403: the token is wrong, expired, or not scoped to this event or endpoint.
    #[error(
        "Pretalx refused the API token ({status}) for {url}: check that the token is valid and has access to this event"
    )]
    BadToken {
        /// 401 or 403.
        status: u16,
        /// The request URL.
        url: String,
    },
    /// Any other 4xx (404 for a wrong event slug, 400 for a bad filter…); not retried.
    #[error("Pretalx answered {status} for {url}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The request URL.
        url: String,
        /// Start of the response body.
        detail: String,
    },
    /// 429, 5xx or connection failures outlasted the retry policy.
    #[error("Pretalx request to {url} failed after {attempts} attempts; last error: {last}")]
    GaveUp {
        /// The request URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the last attempt got.
        last: String,
    },
    /// An object (or a page envelope) did not have the expected shape.
    #[error("malformed object in Pretalx {resource}: {object}: {}{message}", at(.path))]
    Malformed {
        /// Collection or endpoint, e.g. `submissions`.
        resource: String,
        /// Which object: its code or id if readable, and its position.
        object: String,
        /// serde path of the offending field inside the object (empty for the object itself).
        path: String,
        /// What serde expected.
        message: String,
    },
    /// `next` links looped or never ended.
    #[error("Pretalx pagination of {resource} stopped: {reason}")]
    Pagination {
        /// Collection.
        resource: String,
        /// Loop or page limit.
        reason: String,
    },
    /// A response, or the import as a whole, is over its size limit (README "Schedule"): nothing is imported.
    #[error("Pretalx sent too much: {what} is over the limit of {limit}; nothing was imported")]
    TooLarge {
        /// What was too large (a response URL, or the import).
        what: String,
        /// The limit, with its unit.
        limit: String,
    },
    /// The client configuration cannot work.
    #[error("invalid Pretalx configuration: {0}")]
    Config(String),
}

/// What one [`PretalxClient::fetch_all`] has read so far, checked against the import limits.
#[derive(Debug, Default)]
struct Budget {
    bytes: AtomicU64,
    objects: AtomicUsize,
}

/// Reads one Pretalx event through `T`.
#[derive(Clone)]
pub struct PretalxClient<T> {
    transport: T,
    event_url: Url,
    headers: Vec<(&'static str, String)>,
    retry: RetryPolicy,
    max_pages: u32,
    max_import_bytes: u64,
    max_import_objects: usize,
}

// Hand-written: the headers hold the API token, which must never reach a log.
impl<T> fmt::Debug for PretalxClient<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PretalxClient")
            .field("event_url", &self.event_url.as_str())
            .finish_non_exhaustive()
    }
}

impl PretalxClient<HttpTransport> {
    /// A client over real HTTP.
    pub fn new(config: ClientConfig) -> Result<Self, PretalxError> {
        let transport = HttpTransport::new(config.timeout, config.max_response_bytes)
            .map_err(|error| PretalxError::Config(error.to_string()))?;
        Self::with_transport(config, transport)
    }
}

impl<T: Transport> PretalxClient<T> {
    /// A client over any transport (the in-memory demo, a test double).
    pub fn with_transport(config: ClientConfig, transport: T) -> Result<Self, PretalxError> {
        let valid_slug = !config.event.is_empty()
            && config
                .event
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_slug {
            return Err(PretalxError::Config(format!(
                "event slug {:?} is not a Pretalx slug",
                config.event
            )));
        }
        if config.token.trim().is_empty() {
            return Err(PretalxError::Config("the API token is empty".into()));
        }
        if !matches!(config.base_url.scheme(), "http" | "https")
            || config.base_url.cannot_be_a_base()
        {
            return Err(PretalxError::Config(format!(
                "base URL {} is not an http(s) URL",
                config.base_url
            )));
        }
        let mut base_url = config.base_url;
        if !base_url.path().ends_with('/') {
            base_url.set_path(&format!("{}/", base_url.path()));
        }
        let event_url = base_url
            .join(&format!("events/{}/", config.event))
            .map_err(|error| {
                PretalxError::Config(format!("cannot build the event URL: {error}"))
            })?;
        Ok(Self {
            transport,
            event_url,
            headers: vec![
                ("Authorization", format!("Token {}", config.token.trim())),
                ("Pretalx-Version", API_VERSION.to_owned()),
                ("Accept", "application/json".to_owned()),
            ],
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
            max_pages: config.max_pages.max(1),
            max_import_bytes: config.max_import_bytes,
            max_import_objects: config.max_import_objects,
        })
    }

    /// `GET events/<slug>/`.
    pub async fn event(&self) -> Result<Event, PretalxError> {
        self.event_within(&Budget::default()).await
    }

    async fn event_within(&self, budget: &Budget) -> Result<Event, PretalxError> {
        let body = self.get(&self.event_url, budget).await?;
        decode(parse_json(&body, "event", "object")?, "event", "object")
    }

    /// `GET events/<slug>/schedules/latest/`: the released schedule, or `None` while nothing is released (404).
    /// The `wip` draft is never read: only what Pretalx shows the public may be published.
    pub async fn released_schedule(&self) -> Result<Option<ScheduleVersion>, PretalxError> {
        self.released_within(&Budget::default()).await
    }

    async fn released_within(
        &self,
        budget: &Budget,
    ) -> Result<Option<ScheduleVersion>, PretalxError> {
        let url = self.event_url.join("schedules/latest/").map_err(|error| {
            PretalxError::Config(format!("cannot build the schedule URL: {error}"))
        })?;
        match self.get(&url, budget).await {
            Ok(body) => {
                let value = parse_json(&body, "schedules/latest", "object")?;
                decode(value, "schedules/latest", "object").map(Some)
            }
            Err(PretalxError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every object of `events/<slug>/<resource>/?<query>`, following `next` until null, each checked as `O`.
    pub async fn list<O: DeserializeOwned>(
        &self,
        resource: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<O>, PretalxError> {
        self.list_within(resource, query, &Budget::default()).await
    }

    async fn list_within<O: DeserializeOwned>(
        &self,
        resource: &str,
        query: &[(&str, &str)],
        budget: &Budget,
    ) -> Result<Vec<O>, PretalxError> {
        let mut url = self
            .event_url
            .join(&format!("{resource}/"))
            .map_err(|error| {
                PretalxError::Config(format!("cannot build the {resource} URL: {error}"))
            })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let first_url = url.clone();
        let mut seen = HashSet::from([url.query().unwrap_or_default().to_owned()]);
        let mut objects = Vec::new();
        let mut expected = None;
        for page_number in 1..=self.max_pages {
            let body = self.get(&url, budget).await?;
            let where_ = format!("page {page_number}");
            let page: Page<Value> =
                decode(parse_json(&body, resource, &where_)?, resource, &where_)?;
            drop(body);
            let read = budget
                .objects
                .fetch_add(page.results.len(), Ordering::Relaxed)
                + page.results.len();
            if read > self.max_import_objects {
                return Err(PretalxError::TooLarge {
                    what: format!("the import (at {resource} page {page_number})"),
                    limit: format!("{} objects", self.max_import_objects),
                });
            }
            expected.get_or_insert(page.count);
            for (index, value) in page.results.into_iter().enumerate() {
                let object = format!(
                    "{} (results[{index}] of page {page_number})",
                    object_name(&value)
                );
                objects.push(decode(value, resource, &object)?);
            }
            let Some(next) = page.next else {
                if expected != Some(objects.len() as u64) {
                    tracing::warn!(
                        resource,
                        expected,
                        read = objects.len(),
                        "Pretalx list changed while paging"
                    );
                }
                return Ok(objects);
            };
            url = next_page_url(&first_url, &next, resource)?;
            if !seen.insert(url.query().unwrap_or_default().to_owned()) {
                return Err(PretalxError::Pagination {
                    resource: resource.to_owned(),
                    reason: format!(
                        "`next` of page {page_number} points back to an earlier page ({next})"
                    ),
                });
            }
        }
        Err(PretalxError::Pagination {
            resource: resource.to_owned(),
            reason: format!("more than {} pages", self.max_pages),
        })
    }

    /// All submissions, with resources inlined.
    pub async fn submissions(&self) -> Result<Vec<Submission>, PretalxError> {
        // `expand=resources` rather than a second list: v2 has no event-wide resource endpoint, and fetching each
        // resource by id would cost one request per resource; expansion costs nothing extra on our side.
        self.list("submissions", &[("expand", "resources")]).await
    }

    /// All speakers.
    pub async fn speakers(&self) -> Result<Vec<Speaker>, PretalxError> {
        self.list("speakers", &[]).await
    }

    /// Slots of schedule `schedule` (the released one), breaks included.
    pub async fn slots(&self, schedule: i64) -> Result<Vec<Slot>, PretalxError> {
        self.list("slots", &[("schedule", &schedule.to_string())])
            .await
    }

    /// All rooms.
    pub async fn rooms(&self) -> Result<Vec<Room>, PretalxError> {
        self.list("rooms", &[]).await
    }

    /// All tags.
    pub async fn tags(&self) -> Result<Vec<Tag>, PretalxError> {
        self.list("tags", &[]).await
    }

    /// All tracks.
    pub async fn tracks(&self) -> Result<Vec<Track>, PretalxError> {
        self.list("tracks", &[]).await
    }

    /// All submission types.
    pub async fn submission_types(&self) -> Result<Vec<SubmissionType>, PretalxError> {
        self.list("submission-types", &[]).await
    }

    /// All questions (for operators choosing question ids).
    pub async fn questions(&self) -> Result<Vec<Question>, PretalxError> {
        self.list("questions", &[]).await
    }

    /// Answers to one question.
    pub async fn answers(&self, question: i64) -> Result<Vec<Answer>, PretalxError> {
        self.list("answers", &[("question", &question.to_string())])
            .await
    }

    /// Everything the mapping needs, read one list after another (gentle on Pretalx's rate limit; an import
    /// runs every few minutes at most, so latency does not matter), within the import's byte and object limits.
    /// Slots are those of the released schedule only; with nothing released there are none.
    pub async fn fetch_all(&self, question_ids: &[i64]) -> Result<PretalxData, PretalxError> {
        let budget = Budget::default();
        let event = self.event_within(&budget).await?;
        let released = self.released_within(&budget).await?;
        let submissions = self
            .list_within("submissions", &[("expand", "resources")], &budget)
            .await?;
        let speakers = self.list_within("speakers", &[], &budget).await?;
        let slots = match &released {
            Some(schedule) => {
                self.list_within("slots", &[("schedule", &schedule.id.to_string())], &budget)
                    .await?
            }
            None => Vec::new(),
        };
        let rooms = self.list_within("rooms", &[], &budget).await?;
        let tags = self.list_within("tags", &[], &budget).await?;
        let tracks = self.list_within("tracks", &[], &budget).await?;
        let submission_types = self.list_within("submission-types", &[], &budget).await?;
        let mut answers = Vec::new();
        let mut asked = HashSet::new();
        for &question in question_ids {
            if asked.insert(question) {
                let question = question.to_string();
                let query = [("question", question.as_str())];
                answers.extend(self.list_within("answers", &query, &budget).await?);
            }
        }
        Ok(PretalxData {
            event,
            released,
            submissions,
            speakers,
            slots,
            rooms,
            tags,
            tracks,
            submission_types,
            answers,
        })
    }

    /// One GET with the shared upstream retries, counted against the import's byte limit.
    async fn get(&self, url: &Url, budget: &Budget) -> Result<Vec<u8>, PretalxError> {
        let body = upstream::get::get(&self.transport, url, &self.headers, &self.retry, "pretalx")
            .await
            .map_err(|failure| match failure {
                Failure::BadToken { status } => PretalxError::BadToken {
                    status,
                    url: url.to_string(),
                },
                Failure::Status { status, detail } => PretalxError::Status {
                    status,
                    url: url.to_string(),
                    detail,
                },
                Failure::GaveUp { attempts, last } => PretalxError::GaveUp {
                    url: url.to_string(),
                    attempts,
                    last,
                },
                Failure::TooLarge { limit } => PretalxError::TooLarge {
                    what: format!("the response of {url}"),
                    limit: format!("{limit} bytes"),
                },
            })?;
        let size = body.len() as u64;
        if budget.bytes.fetch_add(size, Ordering::Relaxed) + size > self.max_import_bytes {
            return Err(PretalxError::TooLarge {
                what: format!("the import (at {url})"),
                limit: format!("{} bytes", self.max_import_bytes),
            });
        }
        Ok(body)
    }
}

/// The next page's URL: the query of `next` on our own first URL. Like the reference client, this ignores the
/// host and scheme Pretalx puts in `next`, which behind a misconfigured proxy is often `http://` or an internal
/// name — and the token must never be sent anywhere but the configured base URL.
fn next_page_url(first: &Url, next: &str, resource: &str) -> Result<Url, PretalxError> {
    let next = Url::parse(next)
        .or_else(|_| first.join(next))
        .map_err(|error| PretalxError::Pagination {
            resource: resource.to_owned(),
            reason: format!("`next` is not a URL ({next}): {error}"),
        })?;
    let mut url = first.clone();
    url.set_query(next.query());
    Ok(url)
}

fn parse_json(body: &[u8], resource: &str, object: &str) -> Result<Value, PretalxError> {
    serde_json::from_slice(body).map_err(|error| PretalxError::Malformed {
        resource: resource.to_owned(),
        object: object.to_owned(),
        path: String::new(),
        message: format!("not JSON: {error}"),
    })
}

fn decode<O: DeserializeOwned>(
    value: Value,
    resource: &str,
    object: &str,
) -> Result<O, PretalxError> {
    crate::upstream::decode::decode_at(value).map_err(|(path, message)| PretalxError::Malformed {
        resource: resource.to_owned(),
        object: object.to_owned(),
        path,
        message,
    })
}

/// `"H7KDQP"` for submissions and speakers, `#42` for id-keyed objects, `(unnamed)` otherwise.
fn object_name(value: &Value) -> String {
    match (value.get("code"), value.get("id")) {
        (Some(Value::String(code)), _) => format!("{code:?}"),
        (_, Some(Value::Number(id))) => format!("#{id}"),
        _ => "(unnamed)".to_owned(),
    }
}
