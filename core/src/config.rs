//! Typed configuration, read from environment variables only.
//!
//! [`VARS`] is the one list of every variable plaza reads: `--help`, `.env.example` (checked by a test) and the
//! parser below all come from it, so documentation cannot drift from behaviour. Loading never touches the
//! network or the filesystem; it only parses. A bad value is a [`ConfigError`] naming the variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::proxy::{ClientIpHeader, TrustedProxies};

/// One environment variable plaza reads.
#[derive(Debug, Clone, Copy)]
pub struct VarSpec {
    /// Variable name, e.g. `REDIS_URL`.
    pub name: &'static str,
    /// Default used when the variable is unset or empty; `None` means "unset" is meaningful on its own.
    pub default: Option<&'static str>,
    /// Example value written (commented out) into `.env.example` when there is no default.
    pub example: &'static str,
    /// One-line description shown in `--help` and `.env.example`.
    pub doc: &'static str,
}

/// Every environment variable plaza reads, in the order they are documented.
pub const VARS: &[VarSpec] = &[
    VarSpec {
        name: "PLAZA_MODE",
        default: Some("all"),
        example: "",
        doc: "Process role: all, api, live, migrate, fetch-schedule, fetch-users, fetch-content, log-visitors, retention, reminders (same as --mode).",
    },
    VarSpec {
        name: "LISTEN_ADDR",
        default: Some("127.0.0.1:3000"),
        example: "",
        doc: "Address the HTTP API listens on (use 0.0.0.0:3000 in a container).",
    },
    VarSpec {
        name: "API_BASE_PATH",
        default: Some("/api"),
        example: "",
        doc: "Path prefix of the deconf API routes; set it empty (or /) behind a prefix-stripping proxy.",
    },
    VarSpec {
        name: "LIVE_ADDR",
        default: None,
        example: "0.0.0.0:3001",
        doc: "Address of the socket.io listener. Unset: --mode live listens on LISTEN_ADDR, and all serves socket.io on LISTEN_ADDR beside the API.",
    },
    VarSpec {
        name: "SOCKET_PATH",
        default: None,
        example: "/api/socket.io",
        doc: "Path of the socket.io endpoint; default API_BASE_PATH + /socket.io (/api/socket.io, as the deconf client uses).",
    },
    VarSpec {
        name: "SOCKET_URL",
        default: None,
        example: "https://live.plaza.example.org",
        doc: "Origin the web client opens socket.io on; unset = the page's own origin (all mode, or an ingress routing SOCKET_PATH to live pods).",
    },
    VarSpec {
        name: "SOCKET_POLLING",
        default: Some("true"),
        example: "",
        doc: "Accept HTTP long-polling besides websockets (false: websocket only, so several live pods need no sticky sessions).",
    },
    VarSpec {
        name: "VISITORS_DEBOUNCE_MS",
        default: Some("2000"),
        example: "",
        doc: "At most one site-visitors broadcast per live process per this many milliseconds.",
    },
    VarSpec {
        name: "VISITORS_TTL_SECONDS",
        default: Some("15"),
        example: "",
        doc: "How long a crashed live process's sockets still count as visitors (each process refreshes its count every third of this).",
    },
    VarSpec {
        name: "LIVE_MAX_MESSAGE_BYTES",
        default: Some("16384"),
        example: "",
        doc: "Largest socket.io message accepted (websocket message or frame, polling payload); a bigger one is refused and its socket dropped.",
    },
    VarSpec {
        name: "LIVE_EVENT_RATE",
        default: Some("10"),
        example: "",
        doc: "Events per second one socket may send on average (token bucket refill); the excess is dropped and counted.",
    },
    VarSpec {
        name: "LIVE_EVENT_BURST",
        default: Some("50"),
        example: "",
        doc: "Events one socket may send at once before LIVE_EVENT_RATE applies (token bucket size).",
    },
    VarSpec {
        name: "LIVE_EVENT_DROP_LIMIT",
        default: Some("200"),
        example: "",
        doc: "A socket that had this many events dropped (over the rate, or its queue full) is disconnected.",
    },
    VarSpec {
        name: "LIVE_SOCKET_QUEUE",
        default: Some("64"),
        example: "",
        doc: "Events of one socket waiting to be handled (in order) before new ones are dropped.",
    },
    VarSpec {
        name: "LIVE_MAX_CONNECTIONS",
        default: Some("20000"),
        example: "",
        doc: "Open connections the live listener (live mode; all mode's one port) holds; more are closed on accept.",
    },
    VarSpec {
        name: "LIVE_MAX_CONNECTIONS_PER_IP",
        default: Some("64"),
        example: "",
        doc: "Open connections per client address on the live listener; peers in TRUSTED_PROXIES (the ingress) are exempt.",
    },
    VarSpec {
        name: "LIVE_HEADER_TIMEOUT_SECONDS",
        default: Some("10"),
        example: "",
        doc: "The live listener closes a connection that has not sent a whole request head within this time (also the keep-alive idle limit).",
    },
    VarSpec {
        name: "LIVE_MAX_HEADER_BYTES",
        default: Some("16384"),
        example: "",
        doc: "Largest request head (request line and headers) the live listener reads; a bigger one closes the connection.",
    },
    VarSpec {
        name: "LOG_QUEUE_MAX_BYTES",
        default: Some("8388608"),
        example: "",
        doc: "Bytes of metric rows (payload size) queued or awaiting a retry before new rows are dropped and counted.",
    },
    VarSpec {
        name: "DATABASE_URL",
        default: Some("sqlite://./data/plaza.db"),
        example: "",
        doc: "postgres://user:pass@host/db for Postgres, or sqlite://path for the embedded SQLite file.",
    },
    VarSpec {
        name: "DATABASE_MAX_CONNECTIONS",
        default: Some("10"),
        example: "",
        doc: "Size of the database connection pool of one process.",
    },
    VarSpec {
        name: "AUTH_CACHE_TTL_MS",
        default: Some("1000"),
        example: "",
        doc: "How long a process reuses an attendee's access state (token version, verified, ticket) and My Schedule list without reading the database (hot ones are re-read in the background at half this age); invalidation notices drop it sooner, this bounds staleness when one is lost (at most 10000; 0 reads the database on every request).",
    },
    VarSpec {
        name: "AUTH_CACHE_MAX_ENTRIES",
        default: Some("100000"),
        example: "",
        doc: "Most attendees whose access state one process keeps in memory (AUTH_CACHE_TTL_MS).",
    },
    VarSpec {
        name: "ATTENDANCE_CACHE_MAX_BYTES",
        default: Some("33554432"),
        example: "",
        doc: "Bytes of attendees' My Schedule lists one process keeps in memory for GET /api/attendance/me (kept like access state, AUTH_CACHE_TTL_MS; beyond it lists are read, not kept).",
    },
    VarSpec {
        name: "REDIS_URL",
        default: None,
        example: "redis://127.0.0.1:6379",
        doc: "Redis >= 7 used as cache and broker; unset runs the in-memory cache (one process only).",
    },
    VarSpec {
        name: "REDIS_PREFIX",
        default: Some("plaza:"),
        example: "",
        doc: "Prefix of every Redis key and channel, so several deployments can share one Redis.",
    },
    VarSpec {
        name: "LOG_FORMAT",
        default: Some("pretty"),
        example: "",
        doc: "pretty (human, for development) or json (one object per line, for production).",
    },
    VarSpec {
        name: "RUST_LOG",
        default: Some("info"),
        example: "",
        doc: "Log filter in tracing-subscriber EnvFilter syntax, e.g. info,plaza=debug.",
    },
    VarSpec {
        name: "ACCESS_LOG_PER_SECOND",
        default: Some("10"),
        example: "",
        doc: "Most access-log lines per second (per process) for successful requests; the rest are counted in one summary line per second. 4xx (INFO), 5xx and slow requests (WARN) have their own budget of 100 lines per second (every one at ordinary rates; a flood cannot fill the disk); the Prometheus metrics count every request. 0 logs no successful request.",
    },
    VarSpec {
        name: "ACCESS_LOG_SLOW_MS",
        default: Some("1000"),
        example: "",
        doc: "A request taking at least this long is logged (WARN) within the error budget (100 lines per second), whatever ACCESS_LOG_PER_SECOND says.",
    },
    VarSpec {
        name: "SHUTDOWN_GRACE_SECONDS",
        default: Some("10"),
        example: "",
        doc: "On SIGTERM/SIGINT, how long in-flight requests may take to finish before they are dropped.",
    },
    VarSpec {
        name: "MAX_BODY_BYTES",
        default: Some("262144"),
        example: "",
        doc: "Largest request body accepted; larger bodies get 413 in the JSON error envelope.",
    },
    VarSpec {
        name: "HTTP_HEADER_TIMEOUT_SECONDS",
        default: Some("5"),
        example: "",
        doc: "How long a client may take to send a request's headers (slowloris); the API answers 408 and closes the connection.",
    },
    VarSpec {
        name: "HTTP_KEEP_ALIVE_SECONDS",
        default: Some("5"),
        example: "",
        doc: "How long an idle keep-alive connection to the API stays open between requests (0 disables keep-alive).",
    },
    VarSpec {
        name: "HTTP_MAX_CONNECTIONS",
        default: Some("10000"),
        example: "",
        doc: "Most concurrent connections the API serves; further connections wait in the listen backlog until one closes.",
    },
    VarSpec {
        name: "READINESS_TIMEOUT_MS",
        default: Some("1500"),
        example: "",
        doc: "How long each dependency probe (every 2 s; /healthz detail and plaza_dependency_up) waits for Redis or the database before it counts it as down. Readiness does not depend on them.",
    },
    VarSpec {
        name: "SCHEDULE_REFRESH_SECONDS",
        default: Some("30"),
        example: "",
        doc: "How often api pods re-check the published schedule when no notice arrived (lost notice, flushed Redis).",
    },
    VarSpec {
        name: "JWT_SECRET",
        default: None,
        example: "change-me-to-at-least-32-random-characters",
        doc: "HS256 secret of every token (>= 32 chars). Required with Postgres; the embedded tier keeps one in ./data/.",
    },
    VarSpec {
        name: "JWT_ISSUER",
        default: Some("plaza"),
        example: "",
        doc: "The `iss` of issued tokens, checked on verification (the client's JWT_ISSUER must match).",
    },
    VarSpec {
        name: "AUTH_TOKEN_TTL_DAYS",
        default: Some("30"),
        example: "",
        doc: "Lifetime of sign-in (auth) tokens in days.",
    },
    VarSpec {
        name: "SELF_URL",
        default: None,
        example: "https://plaza.example.org/api/",
        doc: "Public URL of the API (login links, calendar feeds); default http://LISTEN_ADDR + API_BASE_PATH + /.",
    },
    VarSpec {
        name: "CLIENT_URL",
        default: None,
        example: "https://plaza.example.org/",
        doc: "Public URL of the web client (login redirects, share pages) and the origin CORS allows; a comma-separated list allows several origins (the first is used in links); default http://LISTEN_ADDR/.",
    },
    VarSpec {
        name: "ADMIN_EMAILS",
        default: None,
        example: "ada@example.org, grace@example.org",
        doc: "Comma-separated emails that sign in with the admin role (compared case-insensitively).",
    },
    VarSpec {
        name: "LOGIN_LINK_TTL_MINUTES",
        default: Some("30"),
        example: "",
        doc: "How long an emailed login link works (each link works once).",
    },
    VarSpec {
        name: "LOGIN_NOTIFY_UNKNOWN",
        default: Some("true"),
        example: "",
        doc: "Email addresses without a ticket that no ticket was found (true/false); the API answers the same either way.",
    },
    VarSpec {
        name: "LOGIN_LIMIT_PER_EMAIL",
        default: Some("5"),
        example: "",
        doc: "Login emails per address and requesting IP per minute (4x that per address from IPs it never signed in from); past it requests get the same 200 and no email.",
    },
    VarSpec {
        name: "LOGIN_LIMIT_PER_IP",
        default: Some("30"),
        example: "",
        doc: "Login requests per client IP per minute before 429 (the only login limit that answers differently).",
    },
    VarSpec {
        name: "TRUSTED_PROXIES",
        default: Some("loopback, private"),
        example: "",
        doc: "Proxies whose CLIENT_IP_HEADER entries (and X-Forwarded-Proto) are believed for a client's IP (per-IP limits): CIDRs or addresses, loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) or none.",
    },
    VarSpec {
        name: "CLIENT_IP_HEADER",
        default: Some("x-forwarded-for"),
        example: "",
        doc: "The one header trusted proxies name the client in: x-forwarded-for, forwarded (RFC 7239) or x-real-ip; the others are ignored.",
    },
    VarSpec {
        name: "CALENDAR_TOKEN_TTL_DAYS",
        default: Some("365"),
        example: "",
        doc: "Lifetime of private calendar feed URLs in days (they are also revoked with the user's other tokens).",
    },
    VarSpec {
        name: "CALENDAR_CANCELLED_DAYS",
        default: Some("30"),
        example: "",
        doc: "How long a cancelled session an attendee saved stays in their private calendar feed as STATUS:CANCELLED, in days after the release that cancelled it (so calendar apps remove the event).",
    },
    VarSpec {
        name: "CALENDAR_NAME",
        default: Some("My schedule"),
        example: "",
        doc: "Name of the private calendar feed (X-WR-CALNAME).",
    },
    VarSpec {
        name: "CLIENT_DIR",
        default: Some("client/dist"),
        example: "",
        doc: "The built web client (Vite output) served at / with an SPA fallback; empty disables it.",
    },
    VarSpec {
        name: "LOCALES",
        default: Some("en,es"),
        example: "",
        doc: "Comma-separated content locales; must include en, which every other locale falls back to.",
    },
    VarSpec {
        name: "CONTENT_REPO_REMOTE",
        default: None,
        example: "https://github.com/example/plaza-content.git",
        doc: "Git remote fetch-content clones (https, ssh, git@host:path, file:// or an absolute path); unset imports the content bundled into the binary.",
    },
    VarSpec {
        name: "CONTENT_REPO_BRANCH",
        default: Some("main"),
        example: "",
        doc: "Branch of CONTENT_REPO_REMOTE to import.",
    },
    VarSpec {
        name: "CONTENT_REPO_PATH",
        default: Some("content"),
        example: "",
        doc: "Folder inside the content repository that holds settings.json (. for the root).",
    },
    VarSpec {
        name: "CONTENT_FETCH_TIMEOUT_SECONDS",
        default: Some("60"),
        example: "",
        doc: "Longest a git clone of the content may take before the import fails.",
    },
    VarSpec {
        name: "SMTP_URL",
        default: None,
        example: "smtps://user:password@smtp.example.org:465",
        doc: "SMTP server (smtps:// for TLS, smtp://…?tls=required for STARTTLS); unset writes emails to OUTBOX_DIR as .eml files (the log names the file only).",
    },
    VarSpec {
        name: "MAIL_FROM",
        default: Some("plaza <noreply@localhost>"),
        example: "",
        doc: "From address of every email.",
    },
    VarSpec {
        name: "MAIL_REPLY_TO",
        default: None,
        example: "help@example.org",
        doc: "Reply-To address of every email (optional).",
    },
    VarSpec {
        name: "OUTBOX_DIR",
        default: Some("./data/outbox"),
        example: "",
        doc: "Where emails are written as .eml files when SMTP_URL is unset.",
    },
    VarSpec {
        name: "TITO_SECURITY_TOKEN",
        default: None,
        example: "tito-webhook-security-token",
        doc: "The Tito event's webhook security token (HMAC key of Tito-Signature); unset disables the webhook.",
    },
    VarSpec {
        name: "PRETALX_URL",
        default: Some("https://pretalx.com/api/"),
        example: "",
        doc: "Base URL of the Pretalx API (self-hosted Pretalx: https://host/api/).",
    },
    VarSpec {
        name: "PRETALX_EVENT",
        default: None,
        example: "my-conference-2026",
        doc: "Pretalx event slug. With PRETALX_API_TOKEN unset, the bundled demo event is imported instead.",
    },
    VarSpec {
        name: "PRETALX_API_TOKEN",
        default: None,
        example: "pretalx-organiser-token",
        doc: "Pretalx API token (organiser scope: speaker emails and is_featured need it).",
    },
    VarSpec {
        name: "PRETALX_IMPORT",
        default: None,
        example: r#"{"questions":{"links":[12],"recommendations":13,"affiliation":14},"aslTagId":5,"ccTagId":6}"#,
        doc: "JSON import options: question ids, ASL/CC tag ids, sessionTypes overrides, locales (checked at start: exit 2 when invalid).",
    },
    VarSpec {
        name: "TITO_URL",
        default: Some("https://api.tito.io/v3/"),
        example: "",
        doc: "Base URL of the Tito Admin API v3.",
    },
    VarSpec {
        name: "TITO_ACCOUNT",
        default: None,
        example: "my-organisation",
        doc: "Tito account slug (required with TITO_API_TOKEN).",
    },
    VarSpec {
        name: "TITO_EVENT",
        default: None,
        example: "my-conference-2026",
        doc: "Tito event slug (required with TITO_API_TOKEN).",
    },
    VarSpec {
        name: "TITO_API_TOKEN",
        default: None,
        example: "tito-admin-api-token",
        doc: "Tito Admin API token (live mode for real tickets). Unset disables fetch-users: nobody is on the allow-list.",
    },
    VarSpec {
        name: "SCHEDULE_CRON",
        default: Some("0 */5 * * * *"),
        example: "",
        doc: "`all` mode: when the schedule import runs (cron, UTC, seconds first; 5 fields = at second 0). Set empty to disable.",
    },
    VarSpec {
        name: "USERS_CRON",
        default: Some("0 */2 * * * *"),
        example: "",
        doc: "`all` mode: when the Tito sync (fetch-users) runs; skipped while TITO_API_TOKEN is unset. Empty disables.",
    },
    VarSpec {
        name: "CONTENT_CRON",
        default: Some("0 */15 * * * *"),
        example: "",
        doc: "`all` mode: when the content import (fetch-content) runs. Empty disables.",
    },
    VarSpec {
        name: "VISITORS_CRON",
        default: Some("0 * * * * *"),
        example: "",
        doc: "`all` mode: when the visitor count is logged (log-visitors). Empty disables.",
    },
    VarSpec {
        name: "RETENTION_CRON",
        default: Some("0 30 3 * * *"),
        example: "",
        doc: "`all` mode: when old logs rows and old schedule/content versions are deleted (retention). Empty disables.",
    },
    VarSpec {
        name: "LOGS_RETENTION_DAYS",
        default: Some("90"),
        example: "",
        doc: "retention deletes logs rows older than this many days (0 keeps them forever).",
    },
    VarSpec {
        name: "VERSIONS_KEEP",
        default: Some("20"),
        example: "",
        doc: "retention keeps this many newest schedule and content versions each (the served one always stays; 0 keeps all).",
    },
    VarSpec {
        name: "REMINDERS_CRON",
        default: Some("0 * * * * *"),
        example: "",
        doc: "`all` mode: when the session reminders job ticks (reminders; keep it every minute). Empty disables.",
    },
    VarSpec {
        name: "VAPID_PRIVATE_KEY",
        default: None,
        example: "CHANGE-ME-output-of-plaza-vapid-keygen",
        doc: "Web Push (VAPID) private key: the base64url raw P-256 scalar printed by `plaza vapid-keygen`, or a PEM (PKCS#8 or SEC1). Unset: reminders are live only and GET /push/key answers 404.",
    },
    VarSpec {
        name: "VAPID_SUBJECT",
        default: None,
        example: "mailto:ops@example.org",
        doc: "Web Push contact the push services see (a mailto: or https: URL); required with VAPID_PRIVATE_KEY.",
    },
    VarSpec {
        name: "PUSH_ALLOW_HTTP",
        default: Some("false"),
        example: "",
        doc: "Accept push subscriptions on http:// and IP/localhost endpoints (tests, a local push service); never in production.",
    },
];

/// A variable that is missing or has an invalid value. Printed as one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid environment variable {var}: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// Which database engine a [`DatabaseUrl`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// PostgreSQL >= 14 (the large tiers).
    Postgres,
    /// An SQLite file (the embedded tier).
    Sqlite,
}

/// A validated database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// The engine this URL selects.
    pub kind: DatabaseKind,
    url: String,
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…` or `sqlite:…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.parse::<sqlx::postgres::PgConnectOptions>()
                .map_err(|e| e.to_string())?;
            DatabaseKind::Postgres
        } else if url.starts_with("sqlite:") {
            url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .map_err(|e| e.to_string())?;
            DatabaseKind::Sqlite
        } else {
            return Err("expected a postgres://… or sqlite://… URL".into());
        };
        Ok(Self {
            kind,
            url: url.to_owned(),
        })
    }

    /// The URL itself. It may hold a password: never log it, log [`DatabaseUrl::redacted`].
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `***`, safe for logs.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    /// For SQLite URLs, the database file's path (`None` for in-memory databases and Postgres).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.kind != DatabaseKind::Sqlite {
            return None;
        }
        let rest = self
            .url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host…` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A secret string (a URL with credentials, a token): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The whole typed configuration of one plaza process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PLAZA_MODE`: the process role, as text (the server crate parses it into its `Mode`).
    pub mode: String,
    /// `LISTEN_ADDR`: where the HTTP API listens.
    pub listen_addr: SocketAddr,
    /// `API_BASE_PATH`: prefix of the deconf routes, normalised to `""` or `/segment…` without a trailing slash.
    pub api_base_path: String,
    /// `LIVE_ADDR`: where the socket.io listener binds; `None` shares `LISTEN_ADDR` (see [`Config::live_addr`]).
    pub live_addr: Option<SocketAddr>,
    /// `SOCKET_PATH`: the socket.io endpoint's path, normalised like `/api/socket.io` (no trailing slash).
    pub socket_path: String,
    /// `SOCKET_URL`: the origin the web client opens socket.io on (`None`: the page's own).
    pub socket_url: Option<String>,
    /// `SOCKET_POLLING`: accept HTTP long-polling besides websockets.
    pub socket_polling: bool,
    /// `VISITORS_DEBOUNCE_MS`.
    pub visitors_debounce: Duration,
    /// `VISITORS_TTL_SECONDS`.
    pub visitors_ttl: Duration,
    /// `DATABASE_URL`: Postgres or SQLite.
    pub database_url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS`: pool size.
    pub database_max_connections: u32,
    /// `AUTH_CACHE_TTL_MS`: how long an attendee's access state is reused (zero: not cached).
    pub auth_cache_ttl: Duration,
    /// `AUTH_CACHE_MAX_ENTRIES`: most cached access states per process.
    pub auth_cache_max_entries: usize,
    /// `ATTENDANCE_CACHE_MAX_BYTES`: most bytes of cached attendance lists per process.
    pub attendance_cache_max_bytes: usize,
    /// `REDIS_URL`: `None` selects the in-memory cache.
    pub redis_url: Option<Secret>,
    /// `REDIS_PREFIX`: prefix of every cache key and channel.
    pub redis_prefix: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `ACCESS_LOG_PER_SECOND`: access-log lines per second for successful requests.
    pub access_log_per_second: u32,
    /// `ACCESS_LOG_SLOW_MS`: a request at least this slow is always logged.
    pub access_log_slow: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`.
    pub shutdown_grace: Duration,
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`: longest wait for a request's headers.
    pub http_header_timeout: Duration,
    /// `HTTP_KEEP_ALIVE_SECONDS`: idle keep-alive time (zero: no keep-alive).
    pub http_keep_alive: Duration,
    /// `HTTP_MAX_CONNECTIONS`: concurrent connections of the API listener.
    pub http_max_connections: usize,
    /// `READINESS_TIMEOUT_MS`.
    pub readiness_timeout: Duration,
    /// `SCHEDULE_REFRESH_SECONDS`.
    pub schedule_refresh: Duration,
    /// `JWT_SECRET`; `None` only on the embedded tier, which keeps a generated one in its data folder.
    pub jwt_secret: Option<Secret>,
    /// `JWT_ISSUER`.
    pub jwt_issuer: String,
    /// `AUTH_TOKEN_TTL_DAYS`, as a duration.
    pub auth_token_ttl: Duration,
    /// `SELF_URL`, ending in `/`.
    pub self_url: String,
    /// `CLIENT_URL` (its first entry), ending in `/`: login redirects, share and calendar links.
    pub client_url: String,
    /// The origins (`scheme://host[:port]`, lowercase) of every `CLIENT_URL` entry: what CORS allows.
    pub client_origins: Vec<String>,
    /// Whether `CLIENT_URL` was set (a client elsewhere), rather than defaulted to plaza's own address.
    pub client_url_set: bool,
    /// `ADMIN_EMAILS`, normalised (trimmed, lowercased).
    pub admin_emails: Vec<String>,
    /// `LOGIN_LINK_TTL_MINUTES`.
    pub login_link_ttl: Duration,
    /// `LOGIN_NOTIFY_UNKNOWN`.
    pub login_notify_unknown: bool,
    /// `LOGIN_LIMIT_PER_EMAIL`.
    pub login_limit_per_email: u32,
    /// `LOGIN_LIMIT_PER_IP`.
    pub login_limit_per_ip: u32,
    /// `TRUSTED_PROXIES`, reading `CLIENT_IP_HEADER`.
    pub trusted_proxies: TrustedProxies,
    /// `CALENDAR_TOKEN_TTL_DAYS`, as a duration.
    pub calendar_token_ttl: Duration,
    /// `CALENDAR_CANCELLED_DAYS`, as a duration.
    pub calendar_cancelled_for: Duration,
    /// `CALENDAR_NAME`.
    pub calendar_name: String,
    /// `CLIENT_DIR`; `None` serves no web client.
    pub client_dir: Option<PathBuf>,
    /// `LOCALES` (always includes `en`).
    pub locales: Vec<String>,
    /// Where fetch-content reads (`CONTENT_REPO_*`).
    pub content: ContentSource,
    /// `CONTENT_FETCH_TIMEOUT_SECONDS`.
    pub content_fetch_timeout: Duration,
    /// `SMTP_URL`; `None` writes emails to the outbox folder.
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`.
    pub mail_from: String,
    /// `MAIL_REPLY_TO`.
    pub mail_reply_to: Option<String>,
    /// `OUTBOX_DIR`.
    pub outbox_dir: PathBuf,
    /// `TITO_SECURITY_TOKEN`.
    pub tito_security_token: Option<Secret>,
    /// Where the schedule comes from.
    pub pretalx: PretalxSource,
    /// `PRETALX_IMPORT`: import options as JSON (parsed by the schedule job; validated there).
    pub pretalx_import: Option<serde_json::Value>,
    /// Where ticket holders come from (`TITO_*`).
    pub tito: TitoSource,
    /// `*_CRON`: when `all` mode's in-process scheduler runs each job.
    pub cron: JobCrons,
    /// `LIVE_*`: the live server's bounds.
    pub live_limits: LiveLimits,
    /// `LOG_QUEUE_MAX_BYTES`: payload bytes of metric rows queued (or awaiting a retry) before rows are dropped.
    pub log_queue_max_bytes: usize,
    /// `LOGS_RETENTION_DAYS` and `VERSIONS_KEEP`.
    pub retention: Retention,
    /// `VAPID_*`: Web Push for reminders; `None` when `VAPID_PRIVATE_KEY` is unset.
    pub push: Option<PushConfig>,
    /// `PUSH_ALLOW_HTTP`.
    pub push_allow_http: bool,
}

/// Web Push settings (`VAPID_PRIVATE_KEY`, `VAPID_SUBJECT`).
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    /// The application server's key.
    pub key: crate::push::VapidKey,
    /// The contact URL (`mailto:` or `https:`).
    pub subject: String,
}

/// What one client may cost the live server (`LIVE_*`); every bound has a safe default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLimits {
    /// `LIVE_MAX_MESSAGE_BYTES`: largest socket.io message (websocket message or frame, polling payload).
    pub max_message_bytes: usize,
    /// `LIVE_EVENT_RATE`: events per second per socket (token bucket refill).
    pub event_rate: u32,
    /// `LIVE_EVENT_BURST`: token bucket size.
    pub event_burst: u32,
    /// `LIVE_EVENT_DROP_LIMIT`: dropped events after which a socket is disconnected.
    pub event_drop_limit: u32,
    /// `LIVE_SOCKET_QUEUE`: events of one socket waiting to be handled.
    pub socket_queue: usize,
    /// `LIVE_MAX_CONNECTIONS`: open connections on the live listener.
    pub max_connections: usize,
    /// `LIVE_MAX_CONNECTIONS_PER_IP`: open connections per untrusted peer address.
    pub max_connections_per_ip: usize,
    /// `LIVE_HEADER_TIMEOUT_SECONDS`: longest wait for a whole request head (also between keep-alive requests).
    pub header_timeout: Duration,
    /// `LIVE_MAX_HEADER_BYTES`: largest request head.
    pub max_header_bytes: usize,
}

/// How long old rows are kept (`LOGS_RETENTION_DAYS`, `VERSIONS_KEEP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `LOGS_RETENTION_DAYS` as a duration; `None` keeps logs forever.
    pub logs: Option<Duration>,
    /// `VERSIONS_KEEP`: newest versions kept per feed; `None` keeps all.
    pub versions_keep: Option<u32>,
}

/// The cron expressions of `all` mode's scheduler (`SCHEDULE_CRON`, `USERS_CRON`, `CONTENT_CRON`,
/// `VISITORS_CRON`, `RETENTION_CRON`), validated and normalised to the 6-field form (seconds first); `None` = disabled (set empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCrons {
    /// `SCHEDULE_CRON`: the Pretalx import.
    pub schedule: Option<String>,
    /// `USERS_CRON`: the Tito sync.
    pub users: Option<String>,
    /// `CONTENT_CRON`: the content import.
    pub content: Option<String>,
    /// `VISITORS_CRON`: the visitor-count logger.
    pub visitors: Option<String>,
    /// `RETENTION_CRON`: old logs and versions deleted.
    pub retention: Option<String>,
    /// `REMINDERS_CRON`: session reminders sent.
    pub reminders: Option<String>,
}

/// The schedule source selected by the `PRETALX_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PretalxSource {
    /// A real Pretalx event.
    Api {
        /// API base URL, ending in `/`.
        base_url: String,
        /// Event slug.
        event: String,
        /// API token.
        token: Secret,
    },
    /// No token configured: the bundled demo event, imported through the same pipeline.
    Demo,
}

/// The ticket source selected by the `TITO_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TitoSource {
    /// A real Tito event.
    Api {
        /// Admin API base URL, ending in `/`.
        base_url: String,
        /// Account (organisation) slug.
        account: String,
        /// Event slug.
        event: String,
        /// Admin API token.
        token: Secret,
    },
    /// No token configured: `fetch-users` has nothing to read.
    Disabled,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let listen_addr = vars.parse("LISTEN_ADDR", |v| {
            v.parse::<SocketAddr>().map_err(|e| e.to_string())
        })?;
        let api_base_path = normalise_base_path(&vars.text_keeping_empty("API_BASE_PATH")?)
            .map_err(|reason| ConfigError {
                var: "API_BASE_PATH",
                reason,
            })?;
        let host = match listen_addr.ip() {
            ip if ip.is_unspecified() => format!("127.0.0.1:{}", listen_addr.port()),
            _ => listen_addr.to_string(),
        };
        let self_default = format!("http://{host}{api_base_path}/");
        let client_default = format!("http://{host}/");
        let (client_url, client_urls) = client_urls(&vars, &client_default)?;
        Ok(Self {
            mode: vars.text("PLAZA_MODE")?,
            listen_addr,
            live_addr: vars.optional("LIVE_ADDR", |v| {
                v.parse::<SocketAddr>().map_err(|e| e.to_string())
            })?,
            socket_path: match vars.optional("SOCKET_PATH", normalise_base_path)? {
                Some(path) if !path.is_empty() => path,
                Some(_) => {
                    return Err(ConfigError {
                        var: "SOCKET_PATH",
                        reason: "expected a URL path such as /api/socket.io".into(),
                    });
                }
                None => format!("{api_base_path}/socket.io"),
            },
            socket_url: vars.optional("SOCKET_URL", |v| {
                http_base_url(v).map(|u| u.trim_end_matches('/').to_owned())
            })?,
            socket_polling: vars.parse("SOCKET_POLLING", boolean)?,
            visitors_debounce: Duration::from_millis(
                vars.parse("VISITORS_DEBOUNCE_MS", positive::<u64>)?,
            ),
            visitors_ttl: Duration::from_secs(vars.parse("VISITORS_TTL_SECONDS", positive::<u64>)?),
            api_base_path,
            database_url: vars.parse("DATABASE_URL", |v| {
                not_placeholder(v)?;
                DatabaseUrl::parse(v)
            })?,
            database_max_connections: vars.parse("DATABASE_MAX_CONNECTIONS", positive::<u32>)?,
            auth_cache_ttl: Duration::from_millis(vars.parse(
                "AUTH_CACHE_TTL_MS",
                |v| match whole::<u64>(v)? {
                    ms if ms <= 10_000 => Ok(ms),
                    _ => Err("expected at most 10000 (milliseconds)".into()),
                },
            )?),
            auth_cache_max_entries: vars.parse("AUTH_CACHE_MAX_ENTRIES", positive::<usize>)?,
            attendance_cache_max_bytes: vars
                .parse("ATTENDANCE_CACHE_MAX_BYTES", positive::<usize>)?,
            redis_url: vars.optional("REDIS_URL", |v| {
                if v.starts_with("redis://")
                    || v.starts_with("rediss://")
                    || v.starts_with("redis+unix://")
                {
                    Ok(Secret::new(v))
                } else {
                    Err("expected a redis://… or rediss://… URL".into())
                }
            })?,
            redis_prefix: vars.text("REDIS_PREFIX")?,
            log_format: vars.parse("LOG_FORMAT", |v| match v {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected pretty or json".into()),
            })?,
            log_filter: vars.text("RUST_LOG")?,
            access_log_per_second: vars.parse("ACCESS_LOG_PER_SECOND", |v| {
                v.parse::<u32>().map_err(|e| e.to_string())
            })?,
            access_log_slow: Duration::from_millis(
                vars.parse("ACCESS_LOG_SLOW_MS", positive::<u64>)?,
            ),
            shutdown_grace: Duration::from_secs(vars.parse("SHUTDOWN_GRACE_SECONDS", |v| {
                v.parse::<u64>().map_err(|e| e.to_string())
            })?),
            max_body_bytes: vars.parse("MAX_BODY_BYTES", positive::<usize>)?,
            http_header_timeout: Duration::from_secs(
                vars.parse("HTTP_HEADER_TIMEOUT_SECONDS", positive::<u64>)?,
            ),
            http_keep_alive: Duration::from_secs(vars.parse("HTTP_KEEP_ALIVE_SECONDS", |v| {
                v.parse::<u64>().map_err(|e| e.to_string())
            })?),
            http_max_connections: vars.parse("HTTP_MAX_CONNECTIONS", positive::<usize>)?,
            readiness_timeout: Duration::from_millis(
                vars.parse("READINESS_TIMEOUT_MS", positive::<u64>)?,
            ),
            schedule_refresh: Duration::from_secs(
                vars.parse("SCHEDULE_REFRESH_SECONDS", positive::<u64>)?,
            ),
            jwt_secret: vars.optional("JWT_SECRET", |v| {
                not_placeholder(v)?;
                if v.len() >= 32 {
                    Ok(Secret::new(v))
                } else {
                    Err("must be at least 32 characters".into())
                }
            })?,
            jwt_issuer: vars.text("JWT_ISSUER")?,
            auth_token_ttl: Duration::from_secs(
                24 * 3600 * vars.parse("AUTH_TOKEN_TTL_DAYS", positive::<u64>)?,
            ),
            self_url: public_url(&vars, "SELF_URL", &self_default)?,
            client_url_set: vars.optional("CLIENT_URL", |_| Ok(()))?.is_some(),
            client_url,
            client_origins: client_urls.iter().map(|url| origin_of(url)).collect(),
            admin_emails: vars
                .optional("ADMIN_EMAILS", |v| {
                    Ok(v.split(',')
                        .map(normalise_email)
                        .filter(|e| !e.is_empty())
                        .collect())
                })?
                .unwrap_or_default(),
            login_link_ttl: Duration::from_secs(
                60 * vars.parse("LOGIN_LINK_TTL_MINUTES", positive::<u64>)?,
            ),
            login_notify_unknown: vars.parse("LOGIN_NOTIFY_UNKNOWN", boolean)?,
            login_limit_per_email: vars.parse("LOGIN_LIMIT_PER_EMAIL", positive::<u32>)?,
            login_limit_per_ip: vars.parse("LOGIN_LIMIT_PER_IP", positive::<u32>)?,
            trusted_proxies: vars
                .parse("TRUSTED_PROXIES", TrustedProxies::parse)?
                .reading(vars.parse("CLIENT_IP_HEADER", ClientIpHeader::parse)?),
            calendar_token_ttl: Duration::from_secs(
                24 * 3600 * vars.parse("CALENDAR_TOKEN_TTL_DAYS", positive::<u64>)?,
            ),
            calendar_cancelled_for: Duration::from_secs(
                24 * 3600 * vars.parse("CALENDAR_CANCELLED_DAYS", positive::<u64>)?,
            ),
            calendar_name: vars.text("CALENDAR_NAME")?,
            client_dir: Some(vars.text_keeping_empty("CLIENT_DIR")?)
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
            locales: vars.parse("LOCALES", locales)?,
            content: content_source(&vars)?,
            content_fetch_timeout: Duration::from_secs(
                vars.parse("CONTENT_FETCH_TIMEOUT_SECONDS", positive::<u64>)?,
            ),
            smtp_url: vars.optional("SMTP_URL", |v| {
                not_placeholder(v)?;
                if v.starts_with("smtp://") || v.starts_with("smtps://") {
                    Ok(Secret::new(v))
                } else {
                    Err("expected an smtp:// or smtps:// URL".into())
                }
            })?,
            mail_from: vars.parse("MAIL_FROM", mailbox)?,
            mail_reply_to: vars.optional("MAIL_REPLY_TO", mailbox)?,
            outbox_dir: PathBuf::from(vars.text("OUTBOX_DIR")?),
            tito_security_token: vars.optional("TITO_SECURITY_TOKEN", |v| {
                not_placeholder(v)?;
                Ok(Secret::new(v))
            })?,
            pretalx: pretalx_source(&vars)?,
            pretalx_import: vars.optional("PRETALX_IMPORT", |v| {
                serde_json::from_str::<serde_json::Value>(v)
                    .map_err(|e| format!("not valid JSON: {e}"))
            })?,
            tito: tito_source(&vars)?,
            cron: JobCrons {
                schedule: cron_var(&vars, "SCHEDULE_CRON")?,
                users: cron_var(&vars, "USERS_CRON")?,
                content: cron_var(&vars, "CONTENT_CRON")?,
                visitors: cron_var(&vars, "VISITORS_CRON")?,
                retention: cron_var(&vars, "RETENTION_CRON")?,
                reminders: cron_var(&vars, "REMINDERS_CRON")?,
            },
            live_limits: live_limits(&vars)?,
            log_queue_max_bytes: vars.parse("LOG_QUEUE_MAX_BYTES", positive::<usize>)?,
            retention: Retention {
                logs: Some(vars.parse("LOGS_RETENTION_DAYS", whole::<u64>)?)
                    .filter(|days| *days > 0)
                    .map(|days| Duration::from_secs(24 * 3600 * days)),
                versions_keep: Some(vars.parse("VERSIONS_KEEP", whole::<u32>)?).filter(|n| *n > 0),
            },
            push: push_config(&vars)?,
            push_allow_http: vars.parse("PUSH_ALLOW_HTTP", boolean)?,
        })
    }

    /// Start-up warnings about settings a deconf client elsewhere needs (README "Compatibility"): a client on
    /// another origin (`CLIENT_URL` set) silently drops tokens whose issuer differs from its own `JWT_ISSUER`, and
    /// plaza's default issuer is no client's.
    pub fn compatibility_warnings(&self) -> Vec<String> {
        let default_issuer = VARS
            .iter()
            .find(|v| v.name == "JWT_ISSUER")
            .and_then(|v| v.default);
        let mut warnings = Vec::new();
        if self.client_url_set && default_issuer == Some(self.jwt_issuer.as_str()) {
            warnings.push(format!(
                "CLIENT_URL is set but JWT_ISSUER is the default {:?}: a deconf client drops tokens whose issuer \
                 differs from its own JWT_ISSUER (the MozFest client's is \"mozfest-localhost\"); set JWT_ISSUER to \
                 the client's",
                self.jwt_issuer
            ));
        }
        warnings
    }

    /// Processes that sign or verify tokens need `JWT_SECRET`, except on the embedded tier (which keeps a generated
    /// one beside its SQLite file; the server fills it in before calling this).
    pub fn require_jwt_secret(&self) -> Result<(), ConfigError> {
        match self.jwt_secret {
            Some(_) => Ok(()),
            None => Err(ConfigError {
                var: "JWT_SECRET",
                reason: "is required outside the embedded tier".into(),
            }),
        }
    }

    /// True when this process runs without external services (SQLite and the in-memory cache).
    pub fn is_embedded(&self) -> bool {
        self.database_url.kind == DatabaseKind::Sqlite && self.redis_url.is_none()
    }
}

/// Typed access to variables with the defaults of [`VARS`].
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn raw(&self, name: &'static str) -> Option<String> {
        let spec = VARS.iter().find(|v| v.name == name);
        debug_assert!(spec.is_some(), "{name} is read but missing from VARS");
        let value = (self.0)(name).filter(|v| !v.trim().is_empty());
        value.or_else(|| spec.and_then(|s| s.default).map(str::to_owned))
    }

    /// Like [`Vars::text`], but a variable set to the empty string keeps that value instead of the default.
    fn text_keeping_empty(&self, name: &'static str) -> Result<String, ConfigError> {
        match (self.0)(name) {
            Some(value) if value.trim().is_empty() => Ok(String::new()),
            _ => self.text(name),
        }
    }

    fn text(&self, name: &'static str) -> Result<String, ConfigError> {
        self.raw(name).ok_or(ConfigError {
            var: name,
            reason: "is not set".into(),
        })
    }

    fn parse<T>(
        &self,
        name: &'static str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.text(name)?;
        f(value.trim()).map_err(|reason| ConfigError { var: name, reason })
    }

    fn optional<T>(
        &self,
        name: &'static str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.raw(name) {
            None => Ok(None),
            Some(value) => f(value.trim())
                .map(Some)
                .map_err(|reason| ConfigError { var: name, reason }),
        }
    }
}

/// `VAPID_PRIVATE_KEY` + `VAPID_SUBJECT`: both or neither (a subject alone is an error too: push looks configured
/// but would never send).
fn push_config(vars: &Vars<'_>) -> Result<Option<PushConfig>, ConfigError> {
    let key = vars.optional("VAPID_PRIVATE_KEY", |v| {
        not_placeholder(v)?;
        crate::push::VapidKey::parse(v)
    })?;
    let subject = vars.optional("VAPID_SUBJECT", |v| {
        crate::push::check_subject(v)?;
        Ok(v.to_owned())
    })?;
    match (key, subject) {
        (Some(key), Some(subject)) => Ok(Some(PushConfig { key, subject })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError {
            var: "VAPID_SUBJECT",
            reason: "is required with VAPID_PRIVATE_KEY (a mailto: or https: contact)".into(),
        }),
        (None, Some(_)) => Err(ConfigError {
            var: "VAPID_PRIVATE_KEY",
            reason: "is required with VAPID_SUBJECT".into(),
        }),
    }
}

/// Refuses a value still holding a template placeholder (`CHANGE-ME`, as in `k8s/base/secret.template.yaml`): a
/// copied template must not start a server with a publicly known secret.
fn not_placeholder(value: &str) -> Result<(), String> {
    if value.to_ascii_uppercase().contains("CHANGE-ME") || value.contains("USER:PASSWORD@") {
        Err(
            "still holds the template's placeholder (CHANGE-ME / USER:PASSWORD): set a real value"
                .into(),
        )
    } else {
        Ok(())
    }
}

fn pretalx_source(vars: &Vars<'_>) -> Result<PretalxSource, ConfigError> {
    // All three are always read (and validated), so a typo is reported even while the token is unset.
    let base_url = vars.parse("PRETALX_URL", http_base_url)?;
    let event = vars.optional("PRETALX_EVENT", slug)?;
    let Some(token) = vars.optional("PRETALX_API_TOKEN", |v| Ok(Secret::new(v)))? else {
        return Ok(PretalxSource::Demo);
    };
    let event = event.ok_or(ConfigError {
        var: "PRETALX_EVENT",
        reason: "is required with PRETALX_API_TOKEN".into(),
    })?;
    Ok(PretalxSource::Api {
        base_url,
        event,
        token,
    })
}

/// Trims and lowercases an email address: the one normalisation used everywhere (the reference's `trimEmail`).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn mailbox(v: &str) -> Result<String, String> {
    v.parse::<lettre::message::Mailbox>()
        .map(|_| v.to_owned())
        .map_err(|e| format!("not an email address: {e}"))
}

fn public_url(vars: &Vars<'_>, name: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = vars
        .optional(name, |v| Ok(v.to_owned()))?
        .unwrap_or_else(|| default.to_owned());
    http_base_url(&value).map_err(|reason| ConfigError { var: name, reason })
}

/// `CLIENT_URL`: one or more comma-separated http(s) URLs (unset means `default`). Returns the first and all.
fn client_urls(vars: &Vars<'_>, default: &str) -> Result<(String, Vec<String>), ConfigError> {
    let value = vars
        .optional("CLIENT_URL", |v| Ok(v.to_owned()))?
        .unwrap_or_else(|| default.to_owned());
    let urls = value
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(http_base_url)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| ConfigError {
            var: "CLIENT_URL",
            reason,
        })?;
    match urls.first() {
        Some(first) => Ok((first.clone(), urls.clone())),
        None => Err(ConfigError {
            var: "CLIENT_URL",
            reason: "expected an http(s):// URL".into(),
        }),
    }
}

/// The origin of an http(s) base URL, as a browser sends it in `Origin`: scheme and authority, lowercase.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

fn tito_source(vars: &Vars<'_>) -> Result<TitoSource, ConfigError> {
    // Like Pretalx: every variable is read and validated, so a typo is reported even while the token is unset.
    let base_url = vars.parse("TITO_URL", http_base_url)?;
    let account = vars.optional("TITO_ACCOUNT", slug)?;
    let event = vars.optional("TITO_EVENT", slug)?;
    let Some(token) = vars.optional("TITO_API_TOKEN", |v| Ok(Secret::new(v)))? else {
        return Ok(TitoSource::Disabled);
    };
    let required = |var: &'static str| ConfigError {
        var,
        reason: "is required with TITO_API_TOKEN".into(),
    };
    Ok(TitoSource::Api {
        base_url,
        account: account.ok_or_else(|| required("TITO_ACCOUNT"))?,
        event: event.ok_or_else(|| required("TITO_EVENT"))?,
        token,
    })
}

/// A `*_CRON` variable: unset → its default, set empty → `None` (the job is disabled), else a valid expression.
fn cron_var(vars: &Vars<'_>, name: &'static str) -> Result<Option<String>, ConfigError> {
    let value = vars.text_keeping_empty(name)?;
    if value.trim().is_empty() {
        return Ok(None);
    }
    cron_expression(value.trim())
        .map(Some)
        .map_err(|reason| ConfigError { var: name, reason })
}

/// Validates a cron expression with the parser and dialect tokio-cron-scheduler uses (croner: seconds required,
/// day-of-month AND day-of-week), so what passes here schedules there. A 5-field expression (crontab's, as in the
/// Kubernetes CronJobs) is accepted and runs at second 0. Returns the 6-field form.
pub fn cron_expression(v: &str) -> Result<String, String> {
    let fields: Vec<&str> = v.split_whitespace().collect();
    let normalised = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => {
            return Err(format!(
                "{v:?} has {n} fields; expected 6 (sec min hour day month weekday) or 5 (min hour day month weekday)"
            ));
        }
    };
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(&normalised)
        .map_err(|e| format!("{v:?} is not a valid cron expression: {e}"))?;
    Ok(normalised)
}

/// An http(s) URL, normalised to end in `/` (so relative paths join below it).
fn http_base_url(v: &str) -> Result<String, String> {
    if v.starts_with("https://") || v.starts_with("http://") {
        Ok(if v.ends_with('/') {
            v.to_owned()
        } else {
            format!("{v}/")
        })
    } else {
        Err("expected an http(s):// URL".into())
    }
}

/// Where site content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// The `content/` folder compiled into the binary.
    Bundled,
    /// A folder of a git repository.
    Git {
        /// `CONTENT_REPO_REMOTE`.
        remote: String,
        /// `CONTENT_REPO_BRANCH`.
        branch: String,
        /// `CONTENT_REPO_PATH`.
        path: String,
    },
}

fn content_source(vars: &Vars) -> Result<ContentSource, ConfigError> {
    let branch = vars.parse("CONTENT_REPO_BRANCH", git_branch)?;
    let path = vars.parse("CONTENT_REPO_PATH", repo_path)?;
    Ok(match vars.optional("CONTENT_REPO_REMOTE", git_remote)? {
        None => ContentSource::Bundled,
        Some(remote) => ContentSource::Git {
            remote,
            branch,
            path,
        },
    })
}

fn locales(v: &str) -> Result<Vec<String>, String> {
    let mut list: Vec<String> = Vec::new();
    for locale in v.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if !(2..=8).contains(&locale.len())
            || !locale.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        {
            return Err(format!("{locale:?} is not a locale code like en or pt-br"));
        }
        if !list.iter().any(|l| l == locale) {
            list.push(locale.to_owned());
        }
    }
    if list.iter().any(|l| l == "en") {
        Ok(list)
    } else {
        Err("must include en (the fallback locale)".into())
    }
}

/// A git remote passed to `git clone` as one argument after `--`: a URL with a transport git allows by default, an
/// scp-like `user@host:path`, or an absolute path. Never an option, never the `ext::` transport.
pub fn git_remote(v: &str) -> Result<String, String> {
    let ok = ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|p| v.starts_with(p))
        || v.starts_with('/')
        || (v.contains('@') && v.contains(':') && !v.contains("::"));
    if ok && !v.starts_with('-') && !v.chars().any(char::is_whitespace) {
        Ok(v.to_owned())
    } else {
        Err("expected an https://, ssh://, git://, file:// or user@host:path remote, or an absolute path".into())
    }
}

/// A branch name as `git check-ref-format --branch` would accept it (a conservative subset).
pub fn git_branch(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 200
        && !v.starts_with(['-', '/', '.'])
        && !v.ends_with(['/', '.'])
        && !v.ends_with(".lock")
        && !v.contains("..")
        && !v.contains("//")
        && !v.contains("@{")
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err("expected a branch name (letters, digits, -, _, . and /)".into())
    }
}

/// A relative folder inside the content repository, with no way out of it.
fn repo_path(v: &str) -> Result<String, String> {
    let ok = !v.starts_with('/')
        && v.split('/')
            .all(|part| part != ".." && !part.starts_with('-'))
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok && !v.is_empty() {
        Ok(v.to_owned())
    } else {
        Err("expected a relative folder such as content or . (no ..)".into())
    }
}

/// True for a non-empty URL slug: letters, digits, `-` and `_`.
pub fn is_slug(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A URL slug: letters, digits, `-` and `_`.
fn slug(v: &str) -> Result<String, String> {
    if is_slug(v) {
        Ok(v.to_owned())
    } else {
        Err("expected a slug (letters, digits, - and _)".into())
    }
}

fn live_limits(vars: &Vars<'_>) -> Result<LiveLimits, ConfigError> {
    let max_header_bytes = vars.parse("LIVE_MAX_HEADER_BYTES", positive::<usize>)?;
    // hyper's read buffer cannot be smaller than 8 KiB.
    if max_header_bytes < 8192 {
        return Err(ConfigError {
            var: "LIVE_MAX_HEADER_BYTES",
            reason: "must be at least 8192".into(),
        });
    }
    Ok(LiveLimits {
        max_message_bytes: vars.parse("LIVE_MAX_MESSAGE_BYTES", positive::<usize>)?,
        event_rate: vars.parse("LIVE_EVENT_RATE", positive::<u32>)?,
        event_burst: vars.parse("LIVE_EVENT_BURST", positive::<u32>)?,
        event_drop_limit: vars.parse("LIVE_EVENT_DROP_LIMIT", positive::<u32>)?,
        socket_queue: vars.parse("LIVE_SOCKET_QUEUE", positive::<usize>)?,
        max_connections: vars.parse("LIVE_MAX_CONNECTIONS", positive::<usize>)?,
        max_connections_per_ip: vars.parse("LIVE_MAX_CONNECTIONS_PER_IP", positive::<usize>)?,
        header_timeout: Duration::from_secs(
            vars.parse("LIVE_HEADER_TIMEOUT_SECONDS", positive::<u64>)?,
        ),
        max_header_bytes,
    })
}

fn whole<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse::<T>()
        .map_err(|_| format!("expected a whole number (0 or more), got {v:?}"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(v: &str) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("expected a positive whole number, got {v:?}")),
    }
}

fn normalise_base_path(v: &str) -> Result<String, String> {
    let trimmed = v.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#')
    {
        return Err("expected a URL path such as /api".into());
    }
    Ok(format!("/{trimmed}"))
}

/// Renders `.env.example` from [`VARS`]: every variable, commented out, with its default or an example.
pub fn env_example() -> String {
    let mut out = String::from(
        "# plaza configuration: every environment variable it reads.\n\
         # Generated by `plaza env-example`; a test fails when this file and the code disagree.\n",
    );
    for var in VARS {
        out.push_str(&format!("\n# {}\n", var.doc));
        match var.default {
            Some(default) => out.push_str(&format!("# {}={}\n", var.name, default)),
            None => out.push_str(&format!("# {}={}\n", var.name, var.example)),
        }
    }
    out
}

/// Renders the variable list for `--help`.
pub fn env_help() -> String {
    let mut out = String::from("Environment variables:\n");
    for var in VARS {
        let default = var
            .default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        out.push_str(&format!("  {:<26} {}{}\n", var.name, var.doc, default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_selects_the_embedded_tier() {
        let config = load(&[]).expect("defaults are valid");
        assert!(config.is_embedded());
        assert_eq!(config.api_base_path, "/api");
        assert_eq!(config.listen_addr.port(), 3000);
        assert_eq!(
            config.database_url.sqlite_path(),
            Some(PathBuf::from("./data/plaza.db"))
        );
    }

    #[test]
    fn cron_variables_default_accept_crontab_form_and_disable_when_empty() {
        let config = load(&[
            ("SCHEDULE_CRON", "*/10 * * * *"),
            ("USERS_CRON", ""),
            ("CONTENT_CRON", "*/1 * * * * *"),
        ])
        .expect("valid crons");
        assert_eq!(config.cron.schedule.as_deref(), Some("0 */10 * * * *"));
        assert_eq!(config.cron.users, None);
        assert_eq!(config.cron.content.as_deref(), Some("*/1 * * * * *"));
        assert_eq!(config.cron.visitors.as_deref(), Some("0 * * * * *"));
    }

    #[test]
    fn web_push_needs_a_valid_key_and_subject_together() {
        let key = crate::push::VapidKey::generate();
        let private = key.private_base64url();
        let config = load(&[]).expect("defaults");
        assert_eq!((config.push, config.push_allow_http), (None, false));
        assert_eq!(config.cron.reminders.as_deref(), Some("0 * * * * *"));
        let config = load(&[
            ("VAPID_PRIVATE_KEY", &private),
            ("VAPID_SUBJECT", "mailto:ops@example.org"),
        ])
        .expect("push on");
        assert_eq!(config.push.expect("push").key, key);
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("VAPID_PRIVATE_KEY", &private)], "VAPID_SUBJECT"),
            (
                &[("VAPID_SUBJECT", "mailto:ops@example.org")],
                "VAPID_PRIVATE_KEY",
            ),
            (
                &[
                    ("VAPID_PRIVATE_KEY", "c2hvcnQ"),
                    ("VAPID_SUBJECT", "mailto:ops@example.org"),
                ],
                "VAPID_PRIVATE_KEY",
            ),
            (
                &[
                    ("VAPID_PRIVATE_KEY", &private),
                    ("VAPID_SUBJECT", "ops@example.org"),
                ],
                "VAPID_SUBJECT",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(load(vars).expect_err(var).var, var, "{vars:?}");
        }
    }

    #[test]
    fn an_invalid_cron_expression_names_its_variable() {
        for bad in ["every minute", "61 * * * * *", "* * * * * * * *"] {
            let err = load(&[("VISITORS_CRON", bad)]).expect_err(bad);
            assert_eq!(err.var, "VISITORS_CRON", "{bad}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn client_url_may_list_several_origins_and_links_use_the_first() {
        let config = load(&[(
            "CLIENT_URL",
            "https://Plaza.Example.org/app, http://localhost:5173",
        )])
        .expect("a list is valid");
        assert_eq!(config.client_url, "https://Plaza.Example.org/app/");
        assert_eq!(
            config.client_origins,
            ["https://plaza.example.org", "http://localhost:5173"]
        );
        let err = load(&[("CLIENT_URL", "https://ok.example, ftp://bad")]).expect_err("ftp");
        assert_eq!(err.var, "CLIENT_URL");
    }

    #[test]
    fn a_client_elsewhere_with_the_default_issuer_is_warned_about() {
        let warnings = |vars: &[(&str, &str)]| load(vars).expect("valid").compatibility_warnings();
        let elsewhere = ("CLIENT_URL", "https://client.example/");
        assert_eq!(warnings(&[elsewhere]).len(), 1);
        assert!(warnings(&[elsewhere])[0].contains("JWT_ISSUER"));
        assert!(warnings(&[elsewhere, ("JWT_ISSUER", "mozfest-localhost")]).is_empty());
        assert!(
            warnings(&[]).is_empty(),
            "plaza's own client shares its issuer"
        );
    }

    #[test]
    fn nonsense_database_url_names_the_variable() {
        let err = load(&[("DATABASE_URL", "nonsense")]).expect_err("must fail");
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.to_string().contains("DATABASE_URL"));
    }

    #[test]
    fn servers_on_postgres_need_a_jwt_secret_of_sufficient_length() {
        let config =
            load(&[("DATABASE_URL", "postgres://localhost/db")]).expect("migrate needs no secret");
        assert_eq!(
            config.require_jwt_secret().expect_err("the API does").var,
            "JWT_SECRET"
        );
        let err = load(&[("JWT_SECRET", "short")]).expect_err("short secret");
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn the_secret_templates_placeholders_are_refused() {
        let template = include_str!("../../k8s/base/secret.template.yaml");
        let value = |name: &str| {
            template
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .map(|v| v.trim_matches('"').to_owned())
                .expect("the template sets it")
        };
        for name in ["JWT_SECRET", "DATABASE_URL", "SMTP_URL"] {
            let placeholder = value(name);
            let err = load(&[(name, placeholder.as_str())]).expect_err(name);
            assert_eq!(err.var, name);
            assert!(err.to_string().contains("placeholder"), "{err}");
        }
        let real = "0123456789abcdef0123456789abcdef-real";
        assert!(load(&[("JWT_SECRET", real)]).is_ok());
    }

    #[test]
    fn a_pretalx_token_selects_the_api_and_needs_an_event() {
        assert_eq!(load(&[]).expect("valid").pretalx, PretalxSource::Demo);
        let err = load(&[("PRETALX_API_TOKEN", "t")]).expect_err("no event");
        assert_eq!(err.var, "PRETALX_EVENT");
        let config = load(&[
            ("PRETALX_API_TOKEN", "t"),
            ("PRETALX_EVENT", "fest-26"),
            ("PRETALX_URL", "https://p.example/api"),
        ])
        .expect("valid");
        let PretalxSource::Api {
            base_url, event, ..
        } = config.pretalx
        else {
            panic!("expected the API source")
        };
        assert_eq!(
            (base_url.as_str(), event.as_str()),
            ("https://p.example/api/", "fest-26")
        );
    }

    #[test]
    fn a_tito_token_enables_the_sync_and_needs_an_account_and_an_event() {
        assert_eq!(load(&[]).expect("valid").tito, TitoSource::Disabled);
        let err =
            load(&[("TITO_API_TOKEN", "t"), ("TITO_EVENT", "fest-26")]).expect_err("no account");
        assert_eq!(err.var, "TITO_ACCOUNT");
        assert!(err.to_string().contains("TITO_ACCOUNT"), "{err}");
        let err =
            load(&[("TITO_API_TOKEN", "t"), ("TITO_ACCOUNT", "mozilla")]).expect_err("no event");
        assert_eq!(err.var, "TITO_EVENT");
        let config = load(&[
            ("TITO_API_TOKEN", "t"),
            ("TITO_ACCOUNT", "mozilla"),
            ("TITO_EVENT", "fest-26"),
        ])
        .expect("valid");
        let TitoSource::Api {
            base_url,
            account,
            event,
            token,
        } = config.tito
        else {
            panic!("expected the API source")
        };
        assert_eq!(
            (base_url.as_str(), account.as_str(), event.as_str()),
            ("https://api.tito.io/v3/", "mozilla", "fest-26")
        );
        assert_eq!(token.expose(), "t");
    }

    #[test]
    fn tito_values_are_validated_even_without_a_token() {
        let err = load(&[("TITO_URL", "api.tito.io")]).expect_err("not a URL");
        assert_eq!(err.var, "TITO_URL");
        let err = load(&[("TITO_EVENT", "fest 26")]).expect_err("not a slug");
        assert_eq!(err.var, "TITO_EVENT");
        let config = load(&[
            ("TITO_URL", "http://127.0.0.1:9/v3"),
            ("TITO_API_TOKEN", "t"),
            ("TITO_ACCOUNT", "a"),
            ("TITO_EVENT", "e"),
        ])
        .expect("valid");
        assert!(
            matches!(config.tito, TitoSource::Api { ref base_url, .. } if base_url == "http://127.0.0.1:9/v3/")
        );
    }

    #[test]
    fn redis_url_must_be_a_redis_url() {
        let err = load(&[("REDIS_URL", "http://x")]).expect_err("must fail");
        assert_eq!(err.var, "REDIS_URL");
    }

    #[test]
    fn the_socket_path_follows_the_api_base_path_unless_set() {
        assert_eq!(load(&[]).expect("valid").socket_path, "/api/socket.io");
        assert_eq!(
            load(&[("API_BASE_PATH", "")]).expect("valid").socket_path,
            "/socket.io"
        );
        assert_eq!(
            load(&[("SOCKET_PATH", "live/socket.io/")])
                .expect("valid")
                .socket_path,
            "/live/socket.io"
        );
        assert_eq!(
            load(&[("SOCKET_PATH", "/")]).expect_err("root").var,
            "SOCKET_PATH"
        );
        assert_eq!(load(&[]).expect("valid").live_addr, None);
        assert_eq!(
            load(&[("VISITORS_DEBOUNCE_MS", "0")])
                .expect_err("zero")
                .var,
            "VISITORS_DEBOUNCE_MS"
        );
    }

    #[test]
    fn base_path_is_normalised() {
        assert_eq!(
            load(&[("API_BASE_PATH", "api/")])
                .expect("valid")
                .api_base_path,
            "/api"
        );
        assert_eq!(
            load(&[("API_BASE_PATH", "/")])
                .expect("valid")
                .api_base_path,
            ""
        );
        assert_eq!(
            load(&[("API_BASE_PATH", "")]).expect("valid").api_base_path,
            ""
        );
    }

    #[test]
    fn secrets_are_not_shown_by_debug() {
        let config = load(&[
            ("REDIS_URL", "redis://:hunter2@localhost"),
            ("DATABASE_URL", "postgres://u:hunter2@localhost/db"),
            ("JWT_SECRET", "hunter2hunter2hunter2hunter2hunter2"),
            ("PRETALX_API_TOKEN", "hunter2"),
            ("PRETALX_EVENT", "e"),
            ("TITO_API_TOKEN", "hunter2"),
            ("TITO_ACCOUNT", "a"),
            ("TITO_EVENT", "e"),
        ])
        .expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_parser_reads_exactly_the_documented_variables() {
        let read = std::cell::RefCell::new(Vec::new());
        Config::from_lookup(|k| {
            read.borrow_mut().push(k.to_owned());
            None
        })
        .expect("defaults are valid");
        let mut read = read.into_inner();
        read.sort();
        read.dedup();
        let mut documented: Vec<String> = VARS.iter().map(|v| v.name.to_owned()).collect();
        documented.sort();
        assert_eq!(read, documented);
    }

    #[test]
    fn every_variable_has_a_doc_and_a_default_or_example() {
        for var in VARS {
            assert!(!var.doc.is_empty(), "{} has no doc", var.name);
            assert!(
                var.default.is_some() || !var.example.is_empty(),
                "{} has no default or example",
                var.name
            );
        }
    }
}
