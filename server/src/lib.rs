//! plaza's server crate: the `plaza` binary's modes, the actix-web HTTP API and the socket.io live server.
//!
//! `main.rs` only parses the command line; everything it runs lives here so the black-box tests can start the
//! real application in-process (`Application::build` on port 0).

pub mod cli;
pub mod cors;
pub mod digest;
pub mod export;
pub mod head_errors;
pub mod health;
pub mod http;
mod io_wrap;
pub mod live;
pub mod log_sink;
pub mod modes;
pub mod releases;
pub mod scheduler;
pub mod shutdown;
pub mod snapshot;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use startup::Application;
pub use state::AppState;
