//! The live server: socket.io (engine.io v4 / socket.io v5, via socketioxide) on its own hyper listener (`live`,
//! `all` with `LIVE_ADDR`), or inside the HTTP API's listener in `all` on one port (`embedded`). Websocket and
//! (unless `SOCKET_POLLING=false`) long-polling transports, CORS for `CLIENT_URL`, the Redis adapter when
//! `REDIS_URL` is set (rooms and `liveEvent`s shared across pods), the local adapter otherwise.
//!
//! Modules: `events` (the deconf socket events), `visitors` (the cluster visitor count), `analysis` (whether any
//! admin watches metrics), `driver` (a reconnecting Redis driver for the adapter), `fallback` (non-socket
//! requests: the probes), `listener` (the hardened accept loop, connection admission), `embedded` (socket.io in
//! the API's listener: polling as an actix route, websocket upgrades handed to hyper), `trim` (gives the heap back
//! after a wave of sockets left). Metric rows go through the shared [`LogSink`](crate::log_sink).
//!
//! Bounds: `LIVE_MAX_MESSAGE_BYTES` is engine.io's limit on both transports (websocket messages and frames, polling
//! payloads): a bigger message is refused and its socket dropped, before it is buffered whole.

mod analysis;
mod detach;
mod driver;
pub mod embedded;
mod events;
mod fallback;
pub mod listener;
mod my_schedule;
mod reminders;
mod trim;
mod visitors;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context as _;
use hyper_util::service::TowerToHyperService;
use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::{SocketIo, SocketIoBuilder, TransportType};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::analysis::Analysis;
use self::driver::ManagedDriver;
use self::embedded::Embedded;
use self::fallback::{Fallback, Peer};
use self::visitors::Visitors;
use crate::cors::{CorsPolicy, CorsService};
use crate::log_sink::LogSink;
use crate::state::AppState;

pub use self::events::ANALYSIS_ROOM;

/// What every socket handler shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Live(Arc<LiveInner>);

/// The contents of [`Live`].
#[derive(Debug)]
pub struct LiveInner {
    /// Configuration and storage.
    pub state: AppState,
    /// This process's visitor bookkeeping.
    pub visitors: Visitors,
    /// Where metric rows go.
    pub logs: LogSink,
    /// Whether some admin in the cluster is analysing (metrics are streamed only then).
    pub analysis: Analysis,
}

impl std::ops::Deref for Live {
    type Target = LiveInner;
    fn deref(&self) -> &LiveInner {
        &self.0
    }
}

/// Each websocket's read buffer (engineioxide's default is 4 KiB). tungstenite keeps it allocated and zero-fills it
/// before every read, so it is resident for every connection; the messages plaza accepts are small (a metric, an
/// auth token), and a bigger one only takes more reads. Issue #19: RSS per connection.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// The Redis adapter over plaza's reconnecting driver.
type RedisAdapter<E> = CustomRedisAdapter<E, ManagedDriver>;

type Serve = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A live server ready to run: on its own listener, or [`Embedded`] in the HTTP API's.
pub struct LiveServer {
    port: Option<u16>,
    serve: Serve,
}

impl LiveServer {
    /// Builds the socket.io service on its own `listener` (`live`, and `all` with `LIVE_ADDR`): other paths get the
    /// probes (see [`fallback`]). Background tasks (visitor count, metric writer) stop with `shutdown`.
    pub async fn build(
        state: AppState,
        listener: std::net::TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let port = listener.local_addr()?.port();
        let (mut server, _) = Self::start(state, Some(listener), shutdown).await?;
        server.port = Some(port);
        Ok(server)
    }

    /// Builds the socket.io service for the HTTP API's own listener (`all` on one port): the listener calls the
    /// returned [`Embedded`]. Running the server then only waits for `shutdown` and closes the sockets.
    pub async fn embedded(
        state: AppState,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, Embedded)> {
        let (server, embedded) = Self::start(state, None, shutdown).await?;
        let embedded = embedded.context("an embedded live server has its service")?;
        Ok((server, embedded))
    }

    async fn start(
        state: AppState,
        listener: Option<TcpListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, Option<Embedded>)> {
        // Install the metrics recorder before the first socket is counted.
        crate::telemetry::metrics_handle();
        let config = &state.config;
        let (logs, log_writer) = LogSink::start(
            state.db.clone(),
            config.log_queue_max_bytes,
            shutdown.clone(),
        );
        let live = Live(Arc::new(LiveInner {
            analysis: Analysis::new(state.cache.clone()),
            visitors: Visitors::new(
                state.cache.clone(),
                config.visitors_debounce,
                config.visitors_ttl,
            ),
            logs,
            state: state.clone(),
        }));
        let max_message = config.live_limits.max_message_bytes;
        let mut builder = SocketIo::builder()
            .req_path(config.socket_path.clone())
            .max_payload(max_message as u64)
            .ws_max_message_size(max_message)
            .ws_max_frame_size(max_message)
            .ws_read_buffer_size(WS_READ_BUFFER_BYTES);
        if !config.socket_polling {
            builder = builder.transports([TransportType::Websocket]);
        }
        let builder = builder.with_state(live.clone());
        let fallback = Fallback::new(state.clone());
        let (serve, embedded) = match &config.redis_url {
            Some(url) => {
                let driver = ManagedDriver::new(url.expose(), shutdown.clone())
                    .context("REDIS_URL cannot be used by the socket.io adapter")?;
                let adapter = RedisAdapterCtr::new_with_driver(
                    driver,
                    RedisAdapterConfig::new()
                        .with_prefix(format!("{}socket.io", config.redis_prefix)),
                );
                let builder = builder.with_adapter::<RedisAdapter<_>>(adapter);
                let (service, io) = builder.build_with_inner_svc(fallback);
                // Registers at once, Redis or not: the driver subscribes the adapter's channels when it can.
                io.ns(
                    "/",
                    events::on_connect::<RedisAdapter<Emitter>>
                        .with(events::prepare::<RedisAdapter<Emitter>>),
                )
                .await
                .map_err(|err| anyhow::anyhow!("the socket.io namespace cannot start: {err}"))?;
                serve(service, io, live, listener, shutdown)
            }
            None => {
                let builder: SocketIoBuilder<LocalAdapter> = builder;
                let (service, io) = builder.build_with_inner_svc(fallback);
                io.ns(
                    "/",
                    events::on_connect::<LocalAdapter>.with(events::prepare::<LocalAdapter>),
                );
                serve(service, io, live, listener, shutdown)
            }
        };
        let serve = Box::pin(async move {
            serve.await;
            // Sockets are closed; let the metric writer store what they sent.
            let _ = log_writer.await;
        });
        Ok((Self { port: None, serve }, embedded))
    }

    /// The port of its own listener (`None` in the HTTP API's).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Serves until the `shutdown` given at build is cancelled, then closes every socket.
    pub async fn run(self) {
        self.serve.await
    }
}

/// The accept loop on `listener` (plain hyper HTTP/1 with upgrades, as socketioxide requires), or with none the
/// service for the HTTP API's listener; then, at shutdown, the sockets close.
fn serve<A: Adapter>(
    service: socketioxide::service::SocketIoService<Fallback, A>,
    io: SocketIo<A>,
    live: Live,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> (Serve, Option<Embedded>) {
    let emitters = live.visitors.start(io.clone(), shutdown.clone());
    live.analysis.start(shutdown.clone());
    let config = &live.state.config;
    let limits = config.live_limits.clone();
    let notices = my_schedule::start(live.clone(), io.clone(), shutdown.clone());
    let reminders = reminders::start(live.clone(), io.clone(), shutdown.clone());
    trim::start(live.visitors.clone(), shutdown.clone());
    // CORS for what the live server answers itself (socket.io polling from the client's origin, the probes).
    let front = CorsService::new(service.clone(), CorsPolicy::new(&live.state.config));
    let (accept, embedded): (Serve, _) = match listener {
        Some(listener) => {
            let admission =
                listener::Admission::new(&config.live_limits, config.trusted_proxies.clone());
            let http1 = listener::http1_builder(&config.live_limits);
            let accept = listener::accept_loop(listener, admission, shutdown, move |io, peer| {
                // The connection's descriptor: engine.io writes visitor counts straight into its websocket.
                let fd = engineioxide::DirectFd(std::os::fd::AsRawFd::as_raw_fd(io.inner()));
                let service =
                    tower_http::add_extension::AddExtension::new(front.clone(), Peer(peer));
                let service = tower_http::add_extension::AddExtension::new(service, fd);
                // One event budget per connection, shared by the sockets opened over it.
                let service = tower_http::add_extension::AddExtension::new(
                    service,
                    events::Budget::new(&limits),
                );
                // The request's head copied out of hyper's read buffer, which the socket would otherwise keep.
                let connection = http1
                    .serve_connection(io, TowerToHyperService::new(detach::Detach(service)))
                    .with_upgrades();
                async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "live connection ended with an error");
                    }
                }
            });
            (Box::pin(accept), None)
        }
        None => {
            let embedded = Embedded::new(service, front, &limits);
            (
                Box::pin(async move { shutdown.cancelled().await }),
                Some(embedded),
            )
        }
    };
    let serve = Box::pin(async move {
        accept.await;
        // Shutdown order: every emitter stops before the namespace goes (an emit into a closed server panics in
        // socketioxide), then the sockets close.
        for emitter in emitters.into_iter().chain([notices, reminders]) {
            let _ = emitter.await;
        }
        io.close().await;
        tracing::info!("live server stopped");
    });
    (serve, embedded)
}
