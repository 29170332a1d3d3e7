//! The one authorisation check behind every authenticated request and socket event (the HTTP `AuthUser` /
//! `AdminUser` extractors, the private calendar feed and the socket `auth`/admin events all call [`authorize`]).
//!
//! A token only says *who* and *which token version*; everything else is evaluated now: the attendee exists, is
//! verified, still has that token version, is not blocked, and holds a role under the current rules — admin from the
//! current `ADMIN_EMAILS`, facilitator from the served schedule, attendee from the current ticket table. Roles in
//! the token are never trusted. When the check finds that access was lost (no role left, blocked, or an admin token
//! whose address left `ADMIN_EMAILS`) it bumps the token version, so the loss sticks even if access comes back.
//!
//! The storage read is one function, [`load`], returning an [`AccessRecord`]; the decision is pure ([`decide`]).
//! [`view::AccessView`] (issue #19) keeps records in memory in front of `load` (reloading hot ones in the background
//! before they expire), so an authenticated request reads no database: only an `Allow` is ever decided on a kept
//! record — a refusal or a revoke is decided again on a fresh read, so a stale entry can delay a loss of access
//! (bounded by notices and the TTL) but never refuse anyone.

pub mod view;

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ApiError;
use crate::identity::roles;
use crate::model::schedule::hash_email;
use crate::queries::{attendees, tickets};
use crate::{Config, Db};
use view::{AccessView, Changed};

/// What the check needs to know about one attendee, read from storage by [`load`].
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord {
    /// The attendee row.
    pub attendee: attendees::Attendee,
    /// True when a `complete` ticket is held by the attendee's address.
    pub holds_ticket: bool,
}

/// Reads the [`AccessRecord`] of attendee `id` (`None` when the row is gone): the attendee row, then one indexed
/// ticket lookup by the address's hash.
pub async fn load(db: &Db, id: i32) -> Result<Option<AccessRecord>, sqlx::Error> {
    let Some(attendee) = attendees::get(db, id).await? else {
        return Ok(None);
    };
    let holds_ticket = tickets::holder_name(db, &hash_email(&attendee.email))
        .await?
        .is_some();
    Ok(Some(AccessRecord {
        attendee,
        holds_ticket,
    }))
}

/// The rules in force now: admins, facilitators (hashes of the served schedule) and the block list.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Normalised `ADMIN_EMAILS`.
    pub admin_emails: &'a [String],
    /// Base64 SHA-256 hashes of the served schedule's facilitators.
    pub facilitators: &'a [String],
    /// Normalised blocked addresses.
    pub blocked: &'a HashSet<String>,
}

impl<'a> Policy<'a> {
    /// The rules of `config` with the served `facilitators` and `blocked` list.
    pub fn new(
        config: &'a Config,
        facilitators: &'a [String],
        blocked: &'a HashSet<String>,
    ) -> Self {
        Self {
            admin_emails: &config.admin_emails,
            facilitators,
            blocked,
        }
    }

    /// The roles normalised `email` holds now (empty when blocked); `holds_ticket` from the ticket table.
    pub fn roles(&self, email: &str, holds_ticket: bool) -> Vec<String> {
        let mut granted = Vec::new();
        if self.blocked.contains(email) {
            return granted;
        }
        if self.admin_emails.iter().any(|a| a == email) {
            granted.push(roles::ADMIN.to_owned());
        }
        if self.facilitators.contains(&hash_email(email)) {
            granted.push(roles::FACILITATOR.to_owned());
        }
        if holds_ticket {
            granted.push(roles::ATTENDEE.to_owned());
        }
        granted
    }
}

/// What a credential (auth token, calendar token) presents: the attendee, its token version and the roles it was
/// issued with (only used to notice a lost admin role; never to grant one).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// Attendee row id.
    pub sub: i32,
    /// Token version the credential was issued with.
    pub ver: i32,
    /// Roles the credential was issued with.
    pub roles: &'a [String],
}

/// The outcome of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Access with the roles held now.
    Allow(Vec<String>),
    /// No access: no such attendee, not verified, or a revoked token version.
    Deny,
    /// Access was lost since the credential was issued: deny and bump the token version.
    Revoke,
}

/// The pure decision over a loaded record.
pub fn decide(
    record: Option<&AccessRecord>,
    presented: &Presented<'_>,
    policy: &Policy<'_>,
) -> Decision {
    let Some(record) = record else {
        return Decision::Deny;
    };
    let attendee = &record.attendee;
    if !attendee.verified || attendee.token_version != presented.ver {
        return Decision::Deny;
    }
    let now = policy.roles(&attendee.email, record.holds_ticket);
    let had_admin = presented.roles.iter().any(|r| r == roles::ADMIN);
    let has_admin = now.iter().any(|r| r == roles::ADMIN);
    if now.is_empty() || (had_admin && !has_admin) {
        Decision::Revoke
    } else {
        Decision::Allow(now)
    }
}

/// A caller who passed the check.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The attendee row as read by the check.
    pub attendee: attendees::Attendee,
    /// The roles held now.
    pub roles: Vec<String>,
}

impl Principal {
    /// True when `role` is held now.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The check: decides on the kept record of the attendee when it allows access, else on a fresh read (which is
/// kept for the next request); a loss of access bumps the token version and invalidates the record in every
/// process. 401 `general.unauthorized` on refusal.
pub async fn authorize(
    db: &Db,
    view: &AccessView,
    policy: &Policy<'_>,
    presented: &Presented<'_>,
) -> Result<Principal, ApiError> {
    if let Some(hit) = view.lookup(presented.sub)
        && let Decision::Allow(roles) = decide(Some(&hit.value), presented, policy)
    {
        metrics::counter!("plaza_auth_cache_total", "result" => "hit").increment(1);
        if hit.refresh {
            let (db, id) = (db.clone(), presented.sub);
            view.refresh(id, async move { load(&db, id).await });
        }
        return Ok(Principal {
            attendee: hit.value.attendee.clone(),
            roles,
        });
    }
    metrics::counter!("plaza_auth_cache_total", "result" => "miss").increment(1);
    let epoch = view.epoch();
    let record = load(db, presented.sub).await?.map(Arc::new);
    if let Some(record) = &record {
        view.insert(presented.sub, record.clone(), epoch);
    }
    match decide(record.as_deref(), presented, policy) {
        Decision::Allow(roles) => match record {
            Some(record) => Ok(Principal {
                attendee: Arc::unwrap_or_clone(record).attendee,
                roles,
            }),
            None => Err(ApiError::Unauthorized("general.unauthorized")),
        },
        Decision::Deny => Err(ApiError::Unauthorized("general.unauthorized")),
        Decision::Revoke => {
            // Boxed: the rare path keeps the future every authenticated handler embeds small.
            Box::pin(revoke(db, view, presented)).await?;
            Err(ApiError::Unauthorized("general.unauthorized"))
        }
    }
}

/// Bumps the presented token version (once, however many requests noticed) and invalidates the attendee's kept
/// state here at once and in every other process.
async fn revoke(db: &Db, view: &AccessView, presented: &Presented<'_>) -> Result<(), ApiError> {
    if attendees::revoke_version(db, presented.sub, presented.ver).await? {
        view.changed(Changed::One(presented.sub)).await;
    } else {
        view.forget(Changed::One(presented.sub));
    }
    Ok(())
}

/// A verified attendee's [`AccessRecord`] for unit tests (here and in `view`).
#[cfg(test)]
pub(crate) fn test_record(id: i32, email: &str, ver: i32, holds_ticket: bool) -> AccessRecord {
    use chrono::Utc;
    use sqlx::types::Json;
    AccessRecord {
        attendee: attendees::Attendee {
            id,
            created: Utc::now(),
            name: "A".into(),
            email: email.into(),
            language: "en".into(),
            country: String::new(),
            affiliation: String::new(),
            verified: true,
            consented: Utc::now(),
            user_data: Json(serde_json::json!({})),
            token_version: ver,
            schedule_emails: true,
            reminder_minutes: 0,
        },
        holds_ticket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(email: &str, ver: i32, holds_ticket: bool) -> AccessRecord {
        test_record(1, email, ver, holds_ticket)
    }

    #[test]
    fn roles_are_evaluated_now_and_lost_access_revokes() {
        let admins = vec!["boss@example.org".to_owned()];
        let blocked: HashSet<String> = ["mallory@example.org".to_owned()].into();
        let policy = Policy {
            admin_emails: &admins,
            facilitators: &[],
            blocked: &blocked,
        };
        let none: Vec<String> = Vec::new();
        let admin = vec!["admin".to_owned()];
        let p = |roles| Presented {
            sub: 1,
            ver: 2,
            roles,
        };
        assert_eq!(
            decide(
                Some(&record("ada@example.org", 2, true)),
                &p(&admin),
                &policy
            ),
            Decision::Revoke,
            "a claimed admin role is never granted from the token; its loss revokes"
        );
        assert_eq!(
            decide(
                Some(&record("ada@example.org", 2, true)),
                &p(&none),
                &policy
            ),
            Decision::Allow(vec!["attendee".into()])
        );
        assert_eq!(
            decide(
                Some(&record("ada@example.org", 3, true)),
                &p(&none),
                &policy
            ),
            Decision::Deny
        );
        assert_eq!(
            decide(
                Some(&record("ada@example.org", 2, false)),
                &p(&none),
                &policy
            ),
            Decision::Revoke
        );
        assert_eq!(
            decide(
                Some(&record("mallory@example.org", 2, true)),
                &p(&none),
                &policy
            ),
            Decision::Revoke
        );
        assert_eq!(
            decide(
                Some(&record("boss@example.org", 2, false)),
                &p(&admin),
                &policy
            ),
            Decision::Allow(vec!["admin".into()])
        );
        assert_eq!(decide(None, &p(&none), &policy), Decision::Deny);
    }
}
