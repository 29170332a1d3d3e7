//! [`Application`]: the HTTP server bound and ready to run — `build`, `port`, `run_until_stopped` — and [`Servers`],
//! the listeners of a serving mode (API, and in `all` the live server inside it or beside it).

use std::net::TcpListener;

use actix_http::{HttpService, KeepAlive, Protocol, error::DispatchError};
use actix_server::{Server, ServerHandle};
use actix_service::{ServiceFactoryExt as _, boxed, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};

use tokio_util::sync::CancellationToken;

use crate::cors::CorsPolicy;
use crate::head_errors::EnvelopeIo;
use crate::http::security::SecurityHeaders;
use crate::http::{self, ClientFiles, edge, error};
use crate::live::LiveServer;
use crate::live::embedded::{self, Embedded};
use crate::live::listener::{Admission, AdmittedIo, Conn};
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
        Self::build_on(state, listener, None)
    }

    /// Like [`Application::build`], on a listener the caller bound; with `socket`, the listener serves socket.io
    /// too (`all` on one port): polling under `SOCKET_PATH` as a route, websocket upgrades handed to hyper, and
    /// connections admitted under the `LIVE_*` connection caps and header timeout as well (see
    /// [`crate::live::embedded`]).
    pub fn build_on(
        state: AppState,
        listener: TcpListener,
        socket: Option<Embedded>,
    ) -> anyhow::Result<Self> {
        // Install the metrics recorder before the first request is observed.
        crate::telemetry::metrics_handle();
        let port = listener.local_addr()?.port();
        let config = &state.config;
        let grace = config.shutdown_grace.as_secs();
        // On the one port of `all`, the live listener's header timeout (also its keep-alive limit) holds too.
        let live_timeout = socket.as_ref().map_or(config.http_header_timeout, |_| {
            config.live_limits.header_timeout
        });
        let header_timeout = config.http_header_timeout.min(live_timeout);
        let keep_alive = match config.http_keep_alive {
            idle if idle.is_zero() => KeepAlive::Disabled,
            idle => KeepAlive::Timeout(idle.min(live_timeout)),
        };
        // actix counts connections per worker (one per core by default).
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let max_connections = config.http_max_connections.div_ceil(workers);
        // Read once, shared by every worker.
        let client = web::Data::new(ClientFiles::load(config.client_dir.as_deref())?);
        let cors = web::Data::new(CorsPolicy::new(config));
        let security = web::Data::new(SecurityHeaders::new(config));
        let local = listener.local_addr()?;
        // Shared by every worker: the caps are per process.
        let admission = socket
            .as_ref()
            .map(|_| Admission::new(&config.live_limits, config.trusted_proxies.clone()));
        let socket_path = config.socket_path.clone();
        // What `HttpServer` does, plus one wrap: each connection is an `EnvelopeIo`, so the errors actix-http
        // writes before any middleware (unparsable or oversized request heads) carry the JSON envelope too.
        let factory = move || {
            let socket_routes = socket.clone().map(|socket| {
                let path = socket_path.clone();
                move |cfg: &mut web::ServiceConfig| {
                    // Before the API's scope, which the default `/api/socket.io` is under.
                    cfg.app_data(web::Data::new(socket))
                        .service(web::scope(&path).default_service(web::to(embedded::polling)));
                }
            });
            let app = App::new()
                .configure(|cfg| {
                    if let Some(routes) = socket_routes {
                        routes(cfg);
                    }
                })
                .configure(http::configure_app(&state, &client))
                .app_data(cors.clone())
                .app_data(security.clone())
                .wrap(ErrorHandlers::new().default_handler(error::envelope_response))
                // Outside the error rewriting, so error envelopes carry the CORS and security headers too.
                .wrap(from_fn(edge::edge));
            // The app config only feeds URL generation and a Host-less request's host, neither of which plaza
            // uses (actix-web keeps its constructor private).
            let app = map_config(app, |_| AppConfig::default());
            let http = HttpService::<Conn, _, _>::build()
                // Slowloris: the headers must arrive within this (then 408 and close); actix's header limits are
                // fixed (at most 96 headers, 128 KiB of head: beyond that 431 or a closed connection).
                .client_request_timeout(header_timeout)
                .keep_alive(keep_alive)
                // `HttpServer`'s default (actix-http's own is none).
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(local);
            let admission = admission.clone();
            let accept = fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                // Over a `LIVE_*` cap: closed at once, unread.
                let slot = match (&admission, peer) {
                    (Some(admission), Some(peer)) => match admission.admit_counted(peer.ip()) {
                        Some(slot) => Some(slot),
                        None => {
                            return std::future::ready(Err(DispatchError::Io(
                                std::io::ErrorKind::ConnectionRefused.into(),
                            )));
                        }
                    },
                    _ => None,
                };
                let _ = io.set_nodelay(true);
                std::future::ready(Ok::<_, DispatchError>((
                    AdmittedIo::new(EnvelopeIo::new(io), slot),
                    Protocol::Http1,
                    peer,
                )))
            });
            match socket.clone() {
                Some(socket) => {
                    let budget = socket.clone();
                    let http = http
                        // One event budget per connection, shared by the sockets opened over it.
                        .on_connect_ext(move |_, ext| budget.on_connect(ext))
                        .upgrade(fn_service(move |(req, framed)| {
                            embedded::upgrade(socket.clone(), req, framed)
                        }))
                        .finish(app);
                    boxed::factory(accept.and_then(http))
                }
                None => boxed::factory(accept.and_then(http.finish(app))),
            }
        };
        let server = actix_server::Server::build()
            .workers(workers)
            .max_concurrent_connections(max_connections)
            .disable_signals()
            .shutdown_timeout(grace)
            .listen("plaza-api", listener, factory)?
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
    /// The port clients use for the API.
    pub public_port: u16,
}

impl Servers {
    /// The API on `LISTEN_ADDR`; with `with_live`, also the live server — on `LIVE_ADDR` if set, otherwise inside
    /// the API's own listener (one port, no hop: see [`crate::live::embedded`]).
    pub async fn build(
        state: &AppState,
        shutdown: &CancellationToken,
        with_live: bool,
    ) -> anyhow::Result<Self> {
        let (api, live) = match (with_live, state.config.live_addr) {
            (false, _) => (Application::build(state.clone())?, None),
            (true, Some(addr)) => {
                let listener = bind(addr, "LIVE_ADDR")?;
                let live = LiveServer::build(state.clone(), listener, shutdown.clone()).await?;
                (Application::build(state.clone())?, Some(live))
            }
            (true, None) => {
                let listener = bind(state.config.listen_addr, "LISTEN_ADDR")?;
                let (live, socket) = LiveServer::embedded(state.clone(), shutdown.clone()).await?;
                let api = Application::build_on(state.clone(), listener, Some(socket))?;
                (api, Some(live))
            }
        };
        let public_port = api.port();
        Ok(Self {
            api,
            live,
            public_port,
        })
    }
}

/// Binds `addr`, naming the variable `var` that configured it in the error.
pub fn bind(addr: std::net::SocketAddr, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({var}): {e}"))
}
