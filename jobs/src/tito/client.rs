//! The Tito Admin API v3 client: headers, retries, body pagination (`meta.next_page`) and validation of every
//! ticket, over any [`Transport`]. It returns wire types (or raw JSON for dumps) and knows nothing about plaza's
//! tables; it never logs the token.

use crate::upstream::decode::at;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::tito::wire::{Hello, Meta, Ticket};
use crate::upstream;
use crate::upstream::get::Failure;
use crate::upstream::retry::RetryPolicy;
use crate::upstream::transport::{HttpTransport, Transport};

/// Where and how to reach Tito.
#[derive(Clone)]
pub struct ClientConfig {
    /// Admin API root, e.g. `https://api.tito.io/v3/` (a missing final `/` is added).
    pub base_url: Url,
    /// Account (organisation) slug.
    pub account: String,
    /// Event slug.
    pub event: String,
    /// Admin API token.
    pub token: String,
    /// Retry limits.
    pub retry: RetryPolicy,
    /// Most pages read from one list before giving up (guards against a server that never ends). At Tito's
    /// default of 100 per page, the default allows 100 000 tickets.
    pub max_pages: u32,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Most bytes of one response body ([`MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
}

/// Default limit of one Tito response body: a page of 100 tickets is well under 1 MiB.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

impl ClientConfig {
    /// Defaults for everything but the four identifying values.
    pub fn new(
        base_url: Url,
        account: impl Into<String>,
        event: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            base_url,
            account: account.into(),
            event: event.into(),
            token: token.into(),
            retry: RetryPolicy::default(),
            max_pages: 1000,
            timeout: Duration::from_secs(30),
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("account", &self.account)
            .field("event", &self.event)
            .field("token", &"<redacted>")
            .field("retry", &self.retry)
            .field("max_pages", &self.max_pages)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Why a Tito read failed.
#[derive(Debug, thiserror::Error)]
pub enum TitoError {
    /// 401 / 403: the token is wrong, revoked, or has no access to this account.
    #[error(
        "Tito refused the API token ({status}) for {url}: check TITO_API_TOKEN (an Admin API token with access to \
         this account)"
    )]
    BadToken {
        /// 401 or 403.
        status: u16,
        /// The request URL.
        url: String,
    },
    /// Any other 4xx (404 for a wrong account or event slug, 400 for a bad filter…); not retried.
    #[error("Tito answered {status} for {url}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The request URL.
        url: String,
        /// Start of the response body.
        detail: String,
    },
    /// 429, 5xx or connection failures outlasted the retry policy.
    #[error("Tito request to {url} failed after {attempts} attempts; last error: {last}")]
    GaveUp {
        /// The request URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the last attempt got.
        last: String,
    },
    /// An object (or a page envelope) did not have the expected shape.
    #[error("malformed object in Tito {resource}: {object}: {}{message}", at(.path))]
    Malformed {
        /// Collection or endpoint, e.g. `tickets`.
        resource: String,
        /// Which object: its slug if readable, and its position.
        object: String,
        /// Path of the offending field inside the object (empty for the object itself).
        path: String,
        /// What was expected.
        message: String,
    },
    /// `meta.next_page` looped or never ended.
    #[error("Tito pagination of {resource} stopped: {reason}")]
    Pagination {
        /// Collection.
        resource: String,
        /// Loop or page limit.
        reason: String,
    },
    /// A response body was over the client's size limit ([`MAX_RESPONSE_BYTES`] by default).
    #[error("Tito sent a response of {url} larger than {limit} bytes; nothing was imported")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The client configuration cannot work.
    #[error("invalid Tito configuration: {0}")]
    Config(String),
}

/// Which tickets to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketQuery {
    /// `search[states][]`: the states wanted. Tito leaves void tickets out unless asked for.
    pub states: Vec<String>,
    /// `search[updated_at][gt]`: only tickets changed after this instant (differential sync).
    pub updated_after: Option<DateTime<Utc>>,
}

impl TicketQuery {
    /// What the allow-list needs: `complete` tickets grant access and `void` ones take it away.
    pub fn access() -> Self {
        Self {
            states: vec!["complete".to_owned(), "void".to_owned()],
            updated_after: None,
        }
    }

    /// The same, changed after `instant`.
    pub fn updated_after(mut self, instant: DateTime<Utc>) -> Self {
        self.updated_after = Some(instant);
        self
    }

    /// The query parameters. Sorted by creation, oldest first: tickets created while we page are appended at the
    /// end instead of shifting earlier pages (a shift would make us skip a ticket).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = self
            .states
            .iter()
            .map(|state| ("search[states][]".to_owned(), state.clone()))
            .collect();
        params.push(("search[sort]".to_owned(), "created_at".to_owned()));
        params.push(("search[direction]".to_owned(), "asc".to_owned()));
        if let Some(instant) = self.updated_after {
            params.push((
                "search[updated_at][gt]".to_owned(),
                instant.to_rfc3339_opts(SecondsFormat::Secs, true),
            ));
        }
        params
    }
}

/// Progress of a listing, reported after each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageProgress<'a> {
    /// Collection, e.g. `tickets`.
    pub resource: &'a str,
    /// The page just read (1-based).
    pub page: u64,
    /// Pages in the listing, as Tito reports them.
    pub total_pages: Option<u64>,
    /// Objects read so far.
    pub read: usize,
}

/// Reads one Tito account and event through `T`.
#[derive(Clone)]
pub struct TitoClient<T> {
    transport: T,
    root: Url,
    account_url: Url,
    event_url: Url,
    headers: Vec<(&'static str, String)>,
    retry: RetryPolicy,
    max_pages: u32,
}

impl<T> fmt::Debug for TitoClient<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not derived: the headers hold the token.
        formatter
            .debug_struct("TitoClient")
            .field("event_url", &self.event_url.as_str())
            .field("retry", &self.retry)
            .field("max_pages", &self.max_pages)
            .finish_non_exhaustive()
    }
}

impl TitoClient<HttpTransport> {
    /// A client over real HTTP.
    pub fn new(config: ClientConfig) -> Result<Self, TitoError> {
        let transport = HttpTransport::new(config.timeout, config.max_response_bytes)
            .map_err(|error| TitoError::Config(error.to_string()))?;
        Self::with_transport(config, transport)
    }
}

impl<T: Transport> TitoClient<T> {
    /// A client over any transport (a test double).
    pub fn with_transport(config: ClientConfig, transport: T) -> Result<Self, TitoError> {
        for (what, slug) in [("account", &config.account), ("event", &config.event)] {
            let valid = !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(TitoError::Config(format!(
                    "{what} slug {slug:?} is not a Tito slug"
                )));
            }
        }
        if config.token.trim().is_empty() {
            return Err(TitoError::Config("the API token is empty".into()));
        }
        if !matches!(config.base_url.scheme(), "http" | "https")
            || config.base_url.cannot_be_a_base()
        {
            return Err(TitoError::Config(format!(
                "base URL {} is not an http(s) URL",
                config.base_url
            )));
        }
        let mut root = config.base_url;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        let join = |base: &Url, path: String| {
            base.join(&path)
                .map_err(|error| TitoError::Config(format!("cannot build the URL {path}: {error}")))
        };
        let account_url = join(&root, format!("{}/", config.account))?;
        let event_url = join(&account_url, format!("{}/", config.event))?;
        Ok(Self {
            transport,
            root,
            account_url,
            event_url,
            headers: vec![
                // The literal `token=` is part of Tito's scheme (external-apis.md §2.1).
                (
                    "Authorization",
                    format!("Token token={}", config.token.trim()),
                ),
                ("Accept", "application/json".to_owned()),
            ],
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
            max_pages: config.max_pages.max(1),
        })
    }

    /// `GET /v3/hello`: whether the token works, and its mode (`live` or `test`).
    pub async fn hello(&self) -> Result<Hello, TitoError> {
        let url = self
            .root
            .join("hello")
            .map_err(|error| TitoError::Config(format!("cannot build the hello URL: {error}")))?;
        let body = self.get(&url).await?;
        decode(parse_json(&body, "hello", "response")?, "hello", "response")
    }

    /// Every ticket matching `query`, each validated.
    pub async fn tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>, TitoError> {
        self.tickets_with_progress(query, |_| {}).await
    }

    /// [`TitoClient::tickets`], calling `on_page` after each page.
    pub async fn tickets_with_progress(
        &self,
        query: &TicketQuery,
        on_page: impl FnMut(PageProgress<'_>),
    ) -> Result<Vec<Ticket>, TitoError> {
        let url = self.url(&self.event_url, "tickets")?;
        let tickets: Vec<Ticket> = self.list(url, "tickets", &query.params(), on_page).await?;
        for (index, ticket) in tickets.iter().enumerate() {
            if let Err((path, message)) = check_ticket(ticket) {
                return Err(TitoError::Malformed {
                    resource: "tickets".to_owned(),
                    object: format!("{:?} (ticket {} of the listing)", ticket.slug, index + 1),
                    path: path.to_owned(),
                    message,
                });
            }
        }
        Ok(tickets)
    }

    /// Every ticket matching `query` as Tito sends it (for dumps).
    pub async fn tickets_raw(&self, query: &TicketQuery) -> Result<Vec<Value>, TitoError> {
        let url = self.url(&self.event_url, "tickets")?;
        self.list(url, "tickets", &query.params(), |_| {}).await
    }

    /// Every registration (order) of the event as Tito sends it (for dumps; the allow-list reads tickets only).
    pub async fn registrations(&self) -> Result<Vec<Value>, TitoError> {
        let url = self.url(&self.event_url, "registrations")?;
        self.list(url, "registrations", &[], |_| {}).await
    }

    /// Every event of the account as Tito sends it (for dumps: finding the event slug).
    pub async fn events(&self) -> Result<Vec<Value>, TitoError> {
        let url = self.url(&self.account_url, "events")?;
        self.list(url, "events", &[], |_| {}).await
    }

    fn url(&self, base: &Url, resource: &str) -> Result<Url, TitoError> {
        base.join(resource)
            .map_err(|error| TitoError::Config(format!("cannot build the {resource} URL: {error}")))
    }

    /// Every object under `key` of `url?<query>`, requesting `page=N` while `meta.next_page` is a number, each
    /// checked as `O`.
    async fn list<O: DeserializeOwned>(
        &self,
        url: Url,
        key: &str,
        query: &[(String, String)],
        mut on_page: impl FnMut(PageProgress<'_>),
    ) -> Result<Vec<O>, TitoError> {
        let pagination = |reason: String| TitoError::Pagination {
            resource: key.to_owned(),
            reason,
        };
        let mut objects = Vec::new();
        let mut page: u64 = 1;
        let mut expected = None;
        for read_pages in 1..=self.max_pages {
            let mut page_url = url.clone();
            if !query.is_empty() || page > 1 {
                let mut pairs = page_url.query_pairs_mut();
                pairs.extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if page > 1 {
                    pairs.append_pair("page", &page.to_string());
                }
            }
            let body = self.get(&page_url).await?;
            let where_ = format!("page {page}");
            let mut envelope = parse_json(&body, key, &where_)?;
            let meta: Meta = match envelope.get_mut("meta").map(Value::take) {
                Some(meta) => {
                    decode(meta, key, &where_).map_err(|error| prefix_path(error, "meta"))?
                }
                None => return Err(malformed(key, &where_, "", "missing field `meta`")),
            };
            let items = match envelope.get_mut(key).map(Value::take) {
                Some(Value::Array(items)) => items,
                Some(_) => return Err(malformed(key, &where_, key, "expected a list")),
                None => {
                    return Err(malformed(
                        key,
                        &where_,
                        "",
                        &format!("missing field `{key}`"),
                    ));
                }
            };
            if read_pages == 1 {
                expected = meta.total_count;
                if let Some(total) = meta.total_pages
                    && total > u64::from(self.max_pages)
                {
                    return Err(pagination(format!(
                        "Tito reports {total} pages, more than the limit of {}",
                        self.max_pages
                    )));
                }
            }
            for (index, value) in items.into_iter().enumerate() {
                let object = format!("{} ({key}[{index}] of page {page})", object_name(&value));
                objects.push(decode(value, key, &object)?);
            }
            on_page(PageProgress {
                resource: key,
                page,
                total_pages: meta.total_pages,
                read: objects.len(),
            });
            let Some(next) = meta.next_page else {
                if expected.is_some_and(|expected| expected != objects.len() as u64) {
                    tracing::warn!(
                        resource = key,
                        expected,
                        read = objects.len(),
                        "Tito list changed while paging"
                    );
                }
                return Ok(objects);
            };
            // Pages must move forward: anything else would loop (or re-read) forever.
            if next <= page {
                return Err(pagination(format!(
                    "`meta.next_page` of page {page} is {next}, not a later page"
                )));
            }
            page = next;
        }
        Err(pagination(format!("more than {} pages", self.max_pages)))
    }

    /// One GET with the shared upstream retries.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, TitoError> {
        upstream::get::get(&self.transport, url, &self.headers, &self.retry, "tito")
            .await
            .map_err(|failure| match failure {
                Failure::BadToken { status } => TitoError::BadToken {
                    status,
                    url: url.to_string(),
                },
                Failure::Status { status, detail } => TitoError::Status {
                    status,
                    url: url.to_string(),
                    detail,
                },
                Failure::GaveUp { attempts, last } => TitoError::GaveUp {
                    url: url.to_string(),
                    attempts,
                    last,
                },
                Failure::TooLarge { limit } => TitoError::TooLarge {
                    url: url.to_string(),
                    limit,
                },
            })
    }
}

/// What the `tito_tickets` table needs beyond the types: a usable key and state (its column limits).
fn check_ticket(ticket: &Ticket) -> Result<(), (&'static str, String)> {
    if ticket.slug.trim().is_empty() || ticket.slug.chars().count() > 200 {
        return Err(("slug", "expected 1 to 200 characters".to_owned()));
    }
    if ticket.state.trim().is_empty() || ticket.state.chars().count() > 50 {
        return Err(("state", "expected 1 to 50 characters".to_owned()));
    }
    Ok(())
}

fn malformed(resource: &str, object: &str, path: &str, message: &str) -> TitoError {
    TitoError::Malformed {
        resource: resource.to_owned(),
        object: object.to_owned(),
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// `meta.next_page` rather than `next_page` for an error inside the page's `meta`.
fn prefix_path(error: TitoError, prefix: &str) -> TitoError {
    match error {
        TitoError::Malformed {
            resource,
            object,
            path,
            message,
        } => TitoError::Malformed {
            resource,
            object,
            path: if path.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{path}")
            },
            message,
        },
        other => other,
    }
}

fn parse_json(body: &[u8], resource: &str, object: &str) -> Result<Value, TitoError> {
    serde_json::from_slice(body)
        .map_err(|error| malformed(resource, object, "", &format!("not JSON: {error}")))
}

fn decode<O: DeserializeOwned>(value: Value, resource: &str, object: &str) -> Result<O, TitoError> {
    crate::upstream::decode::decode_at(value).map_err(|(path, message)| TitoError::Malformed {
        resource: resource.to_owned(),
        object: object.to_owned(),
        path,
        message,
    })
}

/// `"ti_p7YU…"` by slug, `#42` by id, `(unnamed)` otherwise.
fn object_name(value: &Value) -> String {
    match (value.get("slug"), value.get("id")) {
        (Some(Value::String(slug)), _) => format!("{slug:?}"),
        (_, Some(Value::Number(id))) => format!("#{id}"),
        _ => "(unnamed)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_query_asks_for_complete_and_void_tickets_oldest_first() {
        let since = DateTime::parse_from_rfc3339("2026-11-23T09:45:00+01:00")
            .expect("valid date")
            .with_timezone(&Utc);
        let params = TicketQuery::access().updated_after(since).params();
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("search[states][]", "complete"),
                ("search[states][]", "void"),
                ("search[sort]", "created_at"),
                ("search[direction]", "asc"),
                ("search[updated_at][gt]", "2026-11-23T08:45:00Z"),
            ]
        );
    }

    #[test]
    fn urls_are_built_under_the_account_and_event() {
        let config = ClientConfig::new(
            Url::parse("https://api.tito.io/v3").expect("url"),
            "mozilla",
            "fest-26",
            "t",
        );
        let client = TitoClient::new(config).expect("valid");
        assert_eq!(
            client
                .url(&client.event_url, "tickets")
                .expect("url")
                .as_str(),
            "https://api.tito.io/v3/mozilla/fest-26/tickets"
        );
        assert_eq!(
            client
                .url(&client.account_url, "events")
                .expect("url")
                .as_str(),
            "https://api.tito.io/v3/mozilla/events"
        );
    }

    #[test]
    fn bad_slugs_and_empty_tokens_are_refused() {
        let base = Url::parse("https://api.tito.io/v3/").expect("url");
        let error = TitoClient::new(ClientConfig::new(base.clone(), "../x", "e", "t"))
            .expect_err("bad slug");
        assert!(error.to_string().contains("account slug"), "{error}");
        let error =
            TitoClient::new(ClientConfig::new(base, "a", "e", " ")).expect_err("empty token");
        assert!(error.to_string().contains("token is empty"), "{error}");
    }
}
