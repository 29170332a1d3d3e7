//! [`Application`]: the HTTP server bound and ready to run — `build`, `port`, `run_until_stopped`.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use crate::http::{self, ClientFiles, error, observe};
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
        // Install the metrics recorder before the first request is observed.
        crate::telemetry::metrics_handle();
        let addr = state.config.listen_addr;
        let listener = TcpListener::bind(addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (LISTEN_ADDR): {e}"))?;
        let port = listener.local_addr()?.port();
        let grace = state.config.shutdown_grace.as_secs();
        // Read once, shared by every worker.
        let client = web::Data::new(ClientFiles::load(state.config.client_dir.as_deref())?);
        let server = HttpServer::new(move || {
            App::new()
                .configure(http::configure_app(&state, &client))
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
