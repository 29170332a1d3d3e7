//! [`Application`]: the HTTP server bound and ready to run — `build`, `port`, `run_until_stopped`.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer};

use crate::http::{self, error, observe};
use crate::state::AppState;

/// A bound, not yet running HTTP API server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `LISTEN_ADDR` (port 0 picks a free port, as tests do) and prepares the server. Signals are not handled
    /// here: the caller owns shutdown and stops the server through [`Application::handle`].
    pub fn build(state: AppState) -> anyhow::Result<Self> {
        let listener = bind(state.config.listen_addr, "LISTEN_ADDR")?;
        Self::build_on(state, listener)
    }

    /// Like [`Application::build`], on a listener the caller bound (`all` mode puts the API behind the live
    /// listener on an internal port).
    pub fn build_on(state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        // Install the metrics recorder before the first request is observed.
        crate::telemetry::metrics_handle();
        let port = listener.local_addr()?.port();
        let grace = state.config.shutdown_grace.as_secs();
        let server = HttpServer::new(move || {
            App::new()
                .configure(http::configure_app(&state))
                .wrap(ErrorHandlers::new().default_handler(error::envelope_response))
                .wrap(from_fn(observe::observe))
        })
        .disable_signals()
        .shutdown_timeout(grace)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through the handle.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Binds `addr`, naming the variable `var` that configured it in the error.
pub fn bind(addr: std::net::SocketAddr, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({var}): {e}"))
}
