//! Tito Admin API v3 → ticket holders: `client` reads Tito (headers, retries, `meta.next_page` pagination,
//! validation) into the `wire` types. No storage here: the `users` job maps tickets to `tito_tickets` rows.

pub mod client;
pub mod wire;

pub use client::{ClientConfig, PageProgress, TicketQuery, TitoClient, TitoError};
