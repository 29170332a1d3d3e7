//! [`Application`]: the HTTP server bound and ready to run — `build`, `port`, `run_until_stopped` — and [`Servers`],
//! the listeners of a serving mode (API, and in `all` the live server in front of it or beside it).

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use tokio_util::sync::CancellationToken;

use crate::cors::CorsPolicy;
use crate::http::{self, ClientFiles, error, observe};
use crate::live::LiveServer;
use crate::live::fallback::Fallback;
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
        // Read once, shared by every worker.
        let client = web::Data::new(ClientFiles::load(state.config.client_dir.as_deref())?);
        let cors = web::Data::new(CorsPolicy::new(&state.config));
        let server = HttpServer::new(move || {
            App::new()
                .configure(http::configure_app(&state, &client))
                .app_data(cors.clone())
                .wrap(ErrorHandlers::new().default_handler(error::envelope_response))
                // Outside the error rewriting, so error envelopes carry the CORS headers too.
                .wrap(from_fn(crate::cors::actix))
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

/// The listeners of a serving mode: the HTTP API and, in `all`, the live server.
pub struct Servers {
    /// The HTTP API.
    pub api: Application,
    /// The live server, when the mode runs one.
    pub live: Option<LiveServer>,
    /// The port clients use for the API (the live server's when they share `LISTEN_ADDR`).
    pub public_port: u16,
}

impl Servers {
    /// The API on `LISTEN_ADDR`; with `with_live`, also the live server — on `LIVE_ADDR` if set, otherwise on
    /// `LISTEN_ADDR` itself, in front of the API, which then listens on an internal loopback port.
    pub async fn build(
        state: &AppState,
        shutdown: &CancellationToken,
        with_live: bool,
    ) -> anyhow::Result<Self> {
        let config = &state.config;
        if !with_live {
            let api = Application::build(state.clone())?;
            let public_port = api.port();
            return Ok(Self {
                api,
                live: None,
                public_port,
            });
        }
        let (api, live_listener, fallback) = match config.live_addr {
            Some(addr) => (
                Application::build(state.clone())?,
                bind(addr, "LIVE_ADDR")?,
                Fallback::Probes(Box::new(state.clone())),
            ),
            None => {
                let public = bind(config.listen_addr, "LISTEN_ADDR")?;
                let internal = bind(([127, 0, 0, 1], 0).into(), "LISTEN_ADDR")?;
                let api = Application::build_on(state.clone(), internal)?;
                let upstream = ([127, 0, 0, 1], api.port()).into();
                (api, public, Fallback::api(upstream))
            }
        };
        let live =
            LiveServer::build(state.clone(), live_listener, fallback, shutdown.clone()).await?;
        let public_port = match config.live_addr {
            Some(_) => api.port(),
            None => live.port(),
        };
        Ok(Self {
            api,
            live: Some(live),
            public_port,
        })
    }
}

/// Binds `addr`, naming the variable `var` that configured it in the error.
pub fn bind(addr: std::net::SocketAddr, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({var}): {e}"))
}
