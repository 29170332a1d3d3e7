//! Who may sign in and with which roles: ticket holders (Tito) ∪ facilitators (speakers of confirmed sessions) ∪
//! `ADMIN_EMAILS`, minus the block list. Emails are normalised once and compared by hash, as the reference does.

use std::collections::HashSet;

use crate::authz::Policy;
use crate::config::{Config, normalise_email};
use crate::db::Db;
use crate::model::schedule::hash_email;
use crate::queries::tickets;

/// Role names, as the deconf client knows them.
pub mod roles {
    /// Emails in `ADMIN_EMAILS`.
    pub const ADMIN: &str = "admin";
    /// Speakers of confirmed sessions.
    pub const FACILITATOR: &str = "facilitator";
    /// Ticket holders.
    pub const ATTENDEE: &str = "attendee";
}

/// What the allow-list says about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Normalised email.
    pub email: String,
    /// Roles; empty means "not allowed".
    pub roles: Vec<String>,
    /// The name on the ticket, if a ticket holder.
    pub ticket_name: Option<String>,
}

impl Allowance {
    /// True when the address may sign in.
    pub fn is_allowed(&self) -> bool {
        !self.roles.is_empty()
    }

    /// A display name for a new attendee row.
    pub fn display_name(&self) -> String {
        match &self.ticket_name {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ if self.roles.iter().any(|r| r == roles::FACILITATOR) => "Facilitator".to_owned(),
            _ => self.email.split('@').next().unwrap_or_default().to_owned(),
        }
    }
}

/// Checks `email` against the allow-list. `facilitators` are the hashes of the published schedule; `blocked` the
/// normalised blocked addresses (a blocked address gets no roles).
pub async fn allowance(
    db: &Db,
    config: &Config,
    facilitators: &[String],
    blocked: &HashSet<String>,
    email: &str,
) -> Result<Allowance, sqlx::Error> {
    let email = normalise_email(email);
    let ticket_name = tickets::holder_name(db, &hash_email(&email)).await?;
    let granted = Policy::new(config, facilitators, blocked).roles(&email, ticket_name.is_some());
    Ok(Allowance {
        email,
        roles: granted,
        ticket_name,
    })
}

/// A minimal syntactic check of an address at the edge (the SMTP server has the last word).
pub fn looks_like_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().count() <= 320
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::looks_like_email;

    #[test]
    fn addresses_are_checked_loosely_but_sanely() {
        assert!(looks_like_email("ada@example.org"));
        assert!(looks_like_email(" Zoë.Ñandú@exämple.org "));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@localhost",
            "a b@example.org",
            "ada@example.org.",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
