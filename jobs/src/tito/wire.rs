//! Tito Admin API v3 objects, limited to the fields the allow-list sync reads (external-apis.md §2.2).
//! Required fields are required and typed so a malformed ticket fails at the edge; unknown fields are ignored;
//! text fields are bounded ([`FIELD_CHARS`]).
//! Nothing here knows about plaza's tables: the `users` job maps tickets to rows.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer};

/// Longest text kept from one Tito text field (names, emails, slugs, references), in characters; a longer value is
/// cut here, at the edge, so nothing downstream ever holds more (Tito's own forms allow far less).
pub const FIELD_CHARS: usize = 1_000;

fn cut(mut text: String) -> String {
    if let Some((end, _)) = text.char_indices().nth(FIELD_CHARS) {
        text.truncate(end);
    }
    text
}

fn bounded<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(cut))
}

fn bounded_required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer).map(cut)
}

/// The `meta` object of every list response: Tito paginates in the body, not with links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Meta {
    /// The page this response is.
    #[serde(default)]
    pub current_page: Option<u64>,
    /// The page to ask for next, or null on the last page.
    #[serde(default)]
    pub next_page: Option<u64>,
    /// Number of pages of this listing.
    #[serde(default)]
    pub total_pages: Option<u64>,
    /// Number of objects over all pages.
    #[serde(default)]
    pub total_count: Option<u64>,
    /// Objects per page.
    #[serde(default)]
    pub per_page: Option<u64>,
}

/// The registration (order) embedded in a ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegistrationRef {
    /// Registration id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Registration slug.
    #[serde(default, deserialize_with = "bounded")]
    pub slug: Option<String>,
    /// The buyer's email.
    #[serde(default, deserialize_with = "bounded")]
    pub email: Option<String>,
    /// The buyer's name.
    #[serde(default, deserialize_with = "bounded")]
    pub name: Option<String>,
}

/// `GET /{account}/{event}/tickets`: one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ticket {
    /// Numeric id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Stable unique slug, e.g. `ti_p7YUuD0PZKg1EKnyjxiqjtg`: plaza's key.
    #[serde(deserialize_with = "bounded_required")]
    pub slug: String,
    /// Human reference, e.g. `ABCD-1`.
    #[serde(default, deserialize_with = "bounded")]
    pub reference: Option<String>,
    /// `complete`, `incomplete`, `unassigned`, `void`…
    #[serde(deserialize_with = "bounded_required")]
    pub state: String,
    /// The holder's email; null while unassigned.
    #[serde(default, deserialize_with = "bounded")]
    pub email: Option<String>,
    /// The holder's full name.
    #[serde(default, deserialize_with = "bounded")]
    pub name: Option<String>,
    /// The holder's first name.
    #[serde(default, deserialize_with = "bounded")]
    pub first_name: Option<String>,
    /// The holder's last name.
    #[serde(default, deserialize_with = "bounded")]
    pub last_name: Option<String>,
    /// The buyer's email (plaza 3.x's fallback when `email` is empty).
    #[serde(default, deserialize_with = "bounded")]
    pub registration_email: Option<String>,
    /// The embedded registration, when Tito includes it.
    #[serde(default)]
    pub registration: Option<RegistrationRef>,
    /// Title of the ticket's release (ticket type).
    #[serde(default, deserialize_with = "bounded")]
    pub release_title: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<FixedOffset>>,
    /// Last change: newer data wins, and the newest is the next differential sync's cursor.
    pub updated_at: DateTime<FixedOffset>,
}

impl Ticket {
    /// The address that holds this ticket: `email`, or else the registration's (blank values count as none).
    pub fn holder_email(&self) -> Option<&str> {
        let registration = self
            .registration
            .as_ref()
            .and_then(|registration| registration.email.as_deref());
        [
            self.email.as_deref(),
            self.registration_email.as_deref(),
            registration,
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|email| !email.is_empty())
    }

    /// The holder's name: `name`, or else first and last name joined; empty when Tito has none.
    pub fn holder_name(&self) -> String {
        if let Some(name) = self.name.as_deref().map(str::trim)
            && !name.is_empty()
        {
            return name.to_owned();
        }
        [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `GET /v3/hello`: who the token is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hello {
    /// True for a valid token.
    pub authenticated: bool,
    /// The token's last characters.
    #[serde(default)]
    pub access_token: Option<String>,
    /// `live` or `test`: a test token sees only test tickets.
    #[serde(default)]
    pub lookup_mode: Option<String>,
    /// Accounts the token reaches (shape varies; kept raw).
    #[serde(default)]
    pub accounts: Vec<serde_json::Value>,
}
