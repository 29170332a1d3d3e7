//! Pretalx v2 → deconf schedule: `client` reads Pretalx over a `transport` (HTTP, or the in-memory `demo` event),
//! `map` turns the validated `wire` data into the core schedule model. No storage here: the `schedule` job stores
//! and publishes what this produces.

pub mod client;
pub mod config;
pub mod demo;
pub mod map;
pub mod retry;
pub mod transport;
pub mod wire;

pub use client::{ClientConfig, PretalxClient, PretalxError};
pub use config::ImportConfig;
pub use map::map_schedule;
