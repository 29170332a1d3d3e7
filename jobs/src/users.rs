//! The users job (`fetch-users`): Tito tickets → the `tito_tickets` allow-list. Complete tickets grant access; void
//! ones are stored with their state, so a voided or refunded ticket loses access (the reference never dropped them,
//! deconf-api.md §12 defect 14).
//!
//! Differential by default: only tickets changed since the cursor (minus an overlap) are read and upserted. The
//! cursor is the newest `updated_at` among the tickets *this sync* fetched (`sync_cursors`), never a webhook's: a
//! webhook delivered during a sync outage must not move it past changes the sync has not read. A full run (no
//! cursor yet, or `--full`) reads every ticket and replaces the table. Everything is fetched before anything is
//! written, and written in one transaction: a failed run changes nothing.
//!
//! Every address that lost access in a run (its ticket voided, reassigned, re-addressed or gone) has its tokens
//! revoked unless it may still sign in otherwise (admin, facilitator of the published schedule, another ticket).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use plaza_core::Config;
use plaza_core::config::TitoSource;
use plaza_core::identity;
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::attendees;
use plaza_core::queries::tickets::{self, COMPLETE, Ticket};
use plaza_core::queries::versions::{self, Table};
use url::Url;

use crate::tito::{ClientConfig, TicketQuery, TitoClient, wire};
use crate::upstream::transport::{HttpTransport, Transport};
use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/users`).
pub const JOB: &str = "users";
/// Lock lifetime; renewed while the job runs, so it only bounds how long a crashed run blocks the next one.
pub const LOCK_TTL: Duration = Duration::from_secs(120);
/// How far before the cursor a differential sync starts reading. Tito's `updated_at` is Tito's own clock, so our
/// clock's skew does not matter; the overlap covers Tito's eventual consistency (a change with an earlier
/// `updated_at` becoming visible after a later one). Re-reading a ticket is harmless: newer data wins.
pub const OVERLAP: TimeDelta = TimeDelta::minutes(15);
/// Longest name stored (the column's limit); longer Tito names are cut, not refused.
const MAX_NAME_CHARS: usize = 1000;
/// The name of this sync's cursor in `sync_cursors`.
const CURSOR: &str = "tito";
/// Ticket state stored for tickets that are not assigned to anybody.
const UNASSIGNED: &str = "unassigned";

/// How much of Tito a run read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Every ticket; the table was replaced.
    Full,
    /// Tickets changed after `since` (the stored cursor minus [`OVERLAP`]); they were upserted.
    Differential {
        /// The `search[updated_at][gt]` sent to Tito.
        since: DateTime<Utc>,
    },
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersSummary {
    /// Full or differential.
    pub kind: SyncKind,
    /// Tickets Tito listed.
    pub fetched: usize,
    /// Rows inserted or changed (an older copy of a stored ticket changes nothing).
    pub written: u64,
    /// Fetched tickets by Tito state.
    pub by_state: BTreeMap<String, usize>,
    /// Tickets in the table that grant access after the run.
    pub with_access: i64,
    /// How long the run took.
    pub duration: Duration,
}

impl fmt::Display for UsersSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SyncKind::Full => write!(f, "users: full sync")?,
            SyncKind::Differential { since } => write!(
                f,
                "users: differential sync since {}",
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            )?,
        }
        let states: Vec<String> = self
            .by_state
            .iter()
            .map(|(state, count)| format!("{count} {state}"))
            .collect();
        let states = if states.is_empty() {
            String::new()
        } else {
            format!(" ({})", states.join(", "))
        };
        write!(
            f,
            " — {} tickets fetched{states}, {} written; {} tickets grant access ({:.1} s)",
            self.fetched,
            self.written,
            self.with_access,
            self.duration.as_secs_f64()
        )
    }
}

/// Runs one sync under the job lock with the configured Tito (`JobError::AlreadyRunning` if another process is
/// syncing). `full` reads every ticket and rebuilds the table instead of reading changes since the last run.
pub async fn run_once(ctx: &JobContext, full: bool) -> Result<UsersSummary, JobError> {
    let client = client(&ctx.config)?;
    run_with(ctx, &client, full).await
}

/// [`run_once`] with a given client (tests shrink its retry delays).
pub async fn run_with<T: Transport>(
    ctx: &JobContext,
    client: &TitoClient<T>,
    full: bool,
) -> Result<UsersSummary, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || sync(ctx, client, full)).await
}

/// The client settings `config` selects; an error when Tito is not configured.
pub fn client_config(config: &Config) -> anyhow::Result<ClientConfig> {
    match &config.tito {
        TitoSource::Api {
            base_url,
            account,
            event,
            token,
        } => {
            let base = Url::parse(base_url).context("TITO_URL is not a URL")?;
            Ok(ClientConfig::new(
                base,
                account.clone(),
                event.clone(),
                token.expose(),
            ))
        }
        TitoSource::Disabled => {
            anyhow::bail!("Tito is not configured: set TITO_API_TOKEN, TITO_ACCOUNT and TITO_EVENT")
        }
    }
}

/// An HTTP client for the configured Tito.
pub fn client(config: &Config) -> anyhow::Result<TitoClient<HttpTransport>> {
    Ok(TitoClient::new(client_config(config)?)?)
}

/// The sync itself, without the lock (callers hold it).
pub async fn sync<T: Transport>(
    ctx: &JobContext,
    client: &TitoClient<T>,
    full: bool,
) -> anyhow::Result<UsersSummary> {
    let started = Instant::now();
    let cursor = if full {
        None
    } else {
        tickets::sync_cursor(&ctx.db, CURSOR)
            .await
            .context("reading the sync cursor")?
    };
    let (kind, query) = match cursor {
        Some(cursor) => {
            let since = cursor - OVERLAP;
            (
                SyncKind::Differential { since },
                TicketQuery::access().updated_after(since),
            )
        }
        None => (SyncKind::Full, TicketQuery::access()),
    };
    tracing::info!(?kind, "reading tickets from Tito");
    let fetched = client
        .tickets_with_progress(&query, |progress| {
            tracing::info!(
                page = progress.page,
                pages = progress.total_pages,
                read = progress.read,
                "Tito tickets page read"
            );
        })
        .await
        .context("listing Tito tickets")?;

    // Every listed ticket is stored whatever its state (Tito may ignore the state filter): only `complete` grants
    // access, so an unexpected state can only remove it.
    let rows: Vec<Ticket> = fetched.iter().map(to_row).collect();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        *by_state.entry(row.state.clone()).or_default() += 1;
    }
    let before = match kind {
        SyncKind::Full => tickets::all(&ctx.db).await,
        SyncKind::Differential { .. } => {
            let slugs: Vec<&str> = rows.iter().map(|r| r.slug.as_str()).collect();
            tickets::get_many(&ctx.db, &slugs).await
        }
    }
    .context("reading the stored tickets")?;
    let written = match kind {
        SyncKind::Full => {
            let stored = before.len();
            if rows.is_empty() && stored > 0 {
                // A test-mode token or the wrong event lists nothing; replacing would lock everybody out.
                anyhow::bail!(
                    "Tito listed no tickets; refusing to replace the {stored} stored tickets \
                     (check TITO_ACCOUNT, TITO_EVENT and that TITO_API_TOKEN is a live-mode token)"
                );
            }
            tickets::replace_all(&ctx.db, &rows).await
        }
        SyncKind::Differential { .. } => tickets::upsert_many(&ctx.db, &rows).await,
    }
    .context("storing tickets")?;
    if let Some(newest) = rows.iter().map(|r| r.tito_updated_at).max() {
        tickets::advance_sync_cursor(&ctx.db, CURSOR, newest)
            .await
            .context("storing the sync cursor")?;
    }
    let revoked = revoke_lost_access(ctx, &before, &rows, kind == SyncKind::Full)
        .await
        .context("revoking the tokens of addresses that lost access")?;
    if revoked > 0 {
        tracing::info!(
            revoked,
            "revoked the tokens of addresses that lost their ticket"
        );
    }

    let stored = tickets::count_by_state(&ctx.db)
        .await
        .context("counting stored tickets")?;
    record_metrics(&stored, rows.len());
    let with_access = stored
        .iter()
        .find(|(state, _)| state == COMPLETE)
        .map_or(0, |(_, count)| *count);
    let summary = UsersSummary {
        kind,
        fetched: rows.len(),
        written,
        by_state,
        with_access,
        duration: started.elapsed(),
    };
    tracing::info!(
        ?kind,
        fetched = summary.fetched,
        written,
        with_access,
        seconds = summary.duration.as_secs_f64(),
        "users sync finished"
    );
    Ok(summary)
}

/// The address hashes that held a `complete` ticket in `before` and no longer do by `after` (voided, reassigned,
/// re-addressed, or — in a full run, `vanished_too` — no longer listed).
pub fn lost_holders(before: &[Ticket], after: &[Ticket], vanished_too: bool) -> HashSet<String> {
    let after: HashMap<&str, &Ticket> = after.iter().map(|t| (t.slug.as_str(), t)).collect();
    before
        .iter()
        .filter(|old| old.state == COMPLETE)
        .filter(|old| match after.get(old.slug.as_str()) {
            Some(new) => new.state != COMPLETE || new.email_hash != old.email_hash,
            None => vanished_too,
        })
        .filter_map(|old| old.email_hash.clone())
        .collect()
}

/// Revokes the tokens of attendees whose address lost its ticket in this run and who may no longer sign in (the
/// facilitators of the published schedule and `ADMIN_EMAILS` keep access). Returns how many were revoked.
async fn revoke_lost_access(
    ctx: &JobContext,
    before: &[Ticket],
    after: &[Ticket],
    full: bool,
) -> anyhow::Result<usize> {
    let lost = lost_holders(before, after, full);
    if lost.is_empty() {
        return Ok(0);
    }
    let facilitators: Vec<String> = versions::latest_published(&ctx.db, Table::Schedule)
        .await?
        .and_then(|(_, data)| serde_json::from_value(data.get("facilitators")?.clone()).ok())
        .unwrap_or_default();
    // The block list only removes access, so leaving it out can only keep a blocked address revoked.
    let blocked = HashSet::new();
    let mut revoked = 0;
    let mut found = Vec::new();
    for attendee in attendees::find_by_email_hashes(&ctx.db, &lost).await? {
        found.push(attendee.id);
        let allowance = identity::allowance(
            &ctx.db,
            &ctx.config,
            &facilitators,
            &blocked,
            &attendee.email,
        )
        .await?;
        if !allowance.is_allowed() && attendees::revoke_tokens(&ctx.db, attendee.id).await? {
            revoked += 1;
        }
    }
    // Their roles changed (revoked or not): the api processes drop what they keep of them.
    plaza_core::authz::view::publish_many(&ctx.cache, &found).await;
    Ok(revoked)
}

/// One Tito ticket as a `tito_tickets` row: the holder's email (or else the buyer's) normalised and hashed, as the
/// reference compares them; no hash while the ticket is unassigned (the buyer is not its holder).
pub fn to_row(ticket: &wire::Ticket) -> Ticket {
    let state = ticket.state.trim().to_lowercase();
    let email_hash = if state == UNASSIGNED {
        None
    } else {
        ticket.holder_email().map(hash_email)
    };
    Ticket {
        slug: ticket.slug.trim().to_owned(),
        email_hash,
        name: ticket.holder_name().chars().take(MAX_NAME_CHARS).collect(),
        state,
        tito_updated_at: ticket.updated_at.with_timezone(&Utc),
    }
}

/// `count` fake complete tickets held by `attendee-<i>@example.org` (i from 1), for local data. Returns each
/// ticket with its email.
pub fn fake_tickets(count: u32, now: DateTime<Utc>) -> Vec<(String, Ticket)> {
    (1..=count)
        .map(|i| {
            let email = format!("attendee-{i}@example.org");
            let ticket = Ticket {
                slug: format!("fake-{i}"),
                email_hash: Some(hash_email(&email)),
                name: format!("Attendee {i}"),
                state: COMPLETE.to_owned(),
                tito_updated_at: now,
            };
            (email, ticket)
        })
        .collect()
}

/// Stores [`fake_tickets`] (re-running refreshes the same tickets) and returns their emails.
pub async fn insert_fake(ctx: &JobContext, count: u32) -> anyhow::Result<Vec<String>> {
    let (emails, rows): (Vec<String>, Vec<Ticket>) =
        fake_tickets(count, Utc::now()).into_iter().unzip();
    tickets::upsert_many(&ctx.db, &rows)
        .await
        .context("storing fake tickets")?;
    Ok(emails)
}

fn record_metrics(stored: &[(String, i64)], fetched: usize) {
    metrics::counter!("plaza_tito_tickets_fetched_total").increment(fetched as u64);
    for state in [COMPLETE, "void"] {
        if !stored.iter().any(|(stored, _)| stored == state) {
            metrics::gauge!("plaza_tito_tickets", "state" => state).set(0.0);
        }
    }
    for (state, count) in stored {
        metrics::gauge!("plaza_tito_tickets", "state" => state.clone()).set(*count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ticket(edit: serde_json::Value) -> wire::Ticket {
        let mut value = json!({
            "slug": "ti_abc",
            "state": "complete",
            "email": "  Ada@Example.ORG ",
            "name": "Ada Lovelace",
            "updated_at": "2026-11-23T10:00:00.000+01:00",
        });
        if let (Some(value), Some(edit)) = (value.as_object_mut(), edit.as_object()) {
            value.extend(edit.clone());
        }
        serde_json::from_value(value).expect("a valid ticket")
    }

    #[test]
    fn a_ticket_is_stored_by_the_hash_of_its_normalised_email() {
        let row = to_row(&ticket(json!({})));
        assert_eq!(
            row.email_hash.as_deref(),
            Some(hash_email("ada@example.org").as_str())
        );
        assert_eq!(row.name, "Ada Lovelace");
        assert_eq!(row.state, "complete");
        assert_eq!(
            row.tito_updated_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            "2026-11-23T09:00:00Z"
        );
    }

    #[test]
    fn without_an_email_the_registration_email_holds_the_ticket() {
        let row = to_row(&ticket(json!({
            "email": "",
            "name": null,
            "first_name": "Grace",
            "last_name": "Hopper",
            "registration": {"email": "buyer@example.org"},
        })));
        assert_eq!(
            row.email_hash.as_deref(),
            Some(hash_email("buyer@example.org").as_str())
        );
        assert_eq!(row.name, "Grace Hopper");
        let row = to_row(&ticket(
            json!({"email": null, "registration_email": "b@example.org"}),
        ));
        assert_eq!(
            row.email_hash.as_deref(),
            Some(hash_email("b@example.org").as_str())
        );
    }

    #[test]
    fn an_unassigned_ticket_has_no_holder() {
        let row = to_row(&ticket(json!({
            "state": "unassigned",
            "email": null,
            "registration_email": "buyer@example.org",
        })));
        assert_eq!(row.email_hash, None);
    }

    #[test]
    fn the_summary_is_one_line() {
        let summary = UsersSummary {
            kind: SyncKind::Full,
            fetched: 3,
            written: 3,
            by_state: BTreeMap::from([("complete".into(), 2), ("void".into(), 1)]),
            with_access: 2,
            duration: Duration::from_millis(420),
        };
        assert_eq!(
            summary.to_string(),
            "users: full sync — 3 tickets fetched (2 complete, 1 void), 3 written; 2 tickets grant access (0.4 s)"
        );
    }

    #[test]
    fn fake_tickets_are_complete_and_numbered_from_one() {
        let fakes = fake_tickets(2, Utc::now());
        assert_eq!(fakes[0].0, "attendee-1@example.org");
        assert_eq!(fakes[1].1.slug, "fake-2");
        assert!(fakes.iter().all(|(_, t)| t.state == COMPLETE));
    }
}
