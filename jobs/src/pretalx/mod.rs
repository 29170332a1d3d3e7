//! Pretalx v2 → deconf schedule: `client` reads Pretalx over the shared upstream client (`crate::upstream`: retries,
//! HTTP transport) or the in-memory Pretalx (`memory`, for the `demo` event);
//! `map` turns the validated `wire` data into the core schedule model. No storage here: the `schedule` job stores
//! and publishes what this produces.

pub mod client;
pub mod config;
pub mod demo;
pub mod limits;
pub mod map;
pub mod memory;
pub mod wire;

pub use client::{ClientConfig, PretalxClient, PretalxError};
pub use config::ImportConfig;
pub use map::map_schedule;
