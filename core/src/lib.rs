//! plaza-core: what every part of plaza shares — configuration, the error type, the domain model, storage
//! (cache + database) and queries. It must never depend on actix-web, socketioxide or clap (checked in CI).

pub mod auth;
pub mod authz;
pub mod cache;
pub mod config;
pub mod content;
pub mod db;
pub mod email;
pub mod error;
pub mod identity;
pub mod live;
pub mod model;
pub mod proxy;
pub mod push;
pub mod queries;
pub mod tree;

pub use cache::Cache;
pub use config::Config;
pub use db::Db;
pub use error::ApiError;
