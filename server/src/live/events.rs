//! The socket events, as the reference defines them (`deconf-api.md` §5): `auth`/`deauth` bind and unbind a JWT
//! identity, `trackMetric`/`trackError` store metrics, `startAnalyse`/`stopAnalyse` let admins watch them live.
//!
//! Ordering and bounds: socketioxide extracts each event's arguments synchronously, in arrival order, then runs
//! the handler in a task of its own (so an `auth` still checking its token could lose the race against the
//! `startAnalyse` sent right after it). The [`Enqueued`] extractor therefore has the socket's [`Inbox`] do all
//! the work at extraction time: rate-limit (a token bucket, `LIVE_EVENT_RATE` / `LIVE_EVENT_BURST`), decode the
//! arguments and queue them in the socket's bounded queue (`LIVE_SOCKET_QUEUE`); one consumer task per socket
//! ([`consume`]) handles them one after the other. The queue and its consumer are created at the socket's first
//! event: a socket that never sends one (an anonymous visitor) costs neither (issue #19, memory per connection). Events over the rate or the queue are dropped and counted
//! (`plaza_live_events_dropped_total{reason}`); at `LIVE_EVENT_DROP_LIMIT` drops the socket is disconnected and its
//! connection may open no other (the bucket is per connection, see [`Budget`]).
//! Messages over `LIVE_MAX_MESSAGE_BYTES` never get this far: engine.io refuses them and drops the socket.
//!
//! Every failure becomes an `apiError` emission to the socket that caused it (the reference's envelope plus
//! `status`, never a stack trace); nothing here can take the process or another socket down. Handlers are generic
//! over the adapter, so the local and the Redis adapters share them.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use plaza_core::ApiError;
use plaza_core::auth::AuthClaims;
use plaza_core::authz::{Presented, Principal};
use plaza_core::config::LiveLimits;
use plaza_core::live::{CLIENT_ERROR_EVENT, validate_metric};
use plaza_core::queries::logs::NewLog;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, SocketRef, State, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use tokio::sync::mpsc;

use super::Live;
use super::visitors;

/// The room admins join to receive `liveEvent` / `liveError` (the reference's spelling).
pub const ANALYSIS_ROOM: &str = "metrics_analisis";

/// The events a client may send; anything else is ignored.
const EVENTS: [&str; 6] = [
    "auth",
    "deauth",
    "trackMetric",
    "trackError",
    "startAnalyse",
    "stopAnalyse",
];

/// The identity bound to a socket by `auth` (kept with the socket: it dies with it, on whichever pod it lives).
#[derive(Debug, Clone)]
struct SocketUser {
    claims: AuthClaims,
}

/// Marks a socket that joined [`ANALYSIS_ROOM`] (so leaving counts down the analysis flag once).
#[derive(Debug, Clone)]
struct Analysing;

/// The socket.io handshake `auth` payload plaza accepts: `{token}` (the deconf client sends none).
#[derive(Debug, Default, serde::Deserialize)]
pub struct HandshakeAuth {
    /// An auth JWT, bound as by the `auth` event.
    #[serde(default)]
    pub token: Option<String>,
}

/// One event waiting in its socket's queue, its arguments decoded (`None`: they did not have the expected shape).
enum Queued {
    Auth(Option<Value>),
    Deauth,
    Metric(Option<(Value, Value)>),
    Error(Option<Value>),
    StartAnalyse,
    StopAnalyse,
}

/// What one connection may send: a token bucket (`LIVE_EVENT_RATE` / `LIVE_EVENT_BURST`) shared by every
/// socket.io socket opened over it, and its count of dropped events. At `LIVE_EVENT_DROP_LIMIT` drops the socket is
/// disconnected and the connection banned: it cannot open another socket (a fresh namespace connection would
/// otherwise bring a fresh bucket). The accept loop creates one per TCP connection (see [`Budget::for_socket`]).
#[derive(Debug)]
pub struct Budget {
    rate: DefaultDirectRateLimiter,
    dropped: AtomicU32,
    drop_limit: u32,
}

impl Budget {
    /// A fresh budget under `limits`.
    pub fn new(limits: &LiveLimits) -> Arc<Self> {
        let rate = NonZeroU32::new(limits.event_rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.event_burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            rate: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            dropped: AtomicU32::new(0),
            drop_limit: limits.event_drop_limit,
        })
    }

    /// The budget of `socket`'s connection (set on its request by the accept loop), or a fresh one.
    fn for_socket<A: Adapter>(socket: &SocketRef<A>, limits: &LiveLimits) -> Arc<Self> {
        socket
            .req_parts()
            .extensions
            .get::<Arc<Self>>()
            .cloned()
            .unwrap_or_else(|| Self::new(limits))
    }

    fn banned(&self) -> bool {
        self.dropped.load(Ordering::Relaxed) >= self.drop_limit
    }
}

/// A socket's entry point: its connection's [`Budget`] and the sending side of its queue (created with its
/// consumer at the first event). Kept in the socket's extensions; removed on disconnect, which ends the consumer
/// once the queue is drained.
#[derive(Clone)]
struct Inbox(Arc<InboxInner>);

struct InboxInner {
    queue: OnceLock<mpsc::Sender<Queued>>,
    budget: Arc<Budget>,
    live: Live,
}

impl Inbox {
    fn new(budget: Arc<Budget>, live: Live) -> Self {
        Self(Arc::new(InboxInner {
            queue: OnceLock::new(),
            budget,
            live,
        }))
    }

    /// Queues `event`, starting the queue and its consumer (for `socket`) on first use; false if the queue is full.
    fn push<A: Adapter>(&self, socket: impl FnOnce() -> SocketRef<A>, event: Queued) -> bool {
        let queue = self.0.queue.get_or_init(|| {
            let live = &self.0.live;
            let (queue, events) = mpsc::channel(live.state.config.live_limits.socket_queue);
            tokio::spawn(consume(socket(), live.clone(), events));
            queue
        });
        !matches!(
            queue.try_send(event),
            Err(mpsc::error::TrySendError::Full(_))
        )
    }

    /// Rate-limits, decodes and queues one event (called during extraction, in arrival order).
    fn accept<A: Adapter>(
        &self,
        socket: &Arc<Socket<A>>,
        data: &mut socketioxide::handler::Value,
        ack: &Option<i64>,
    ) {
        let Ok(Event(name)) = Event::from_message_parts(socket, data, ack) else {
            return;
        };
        if self.0.budget.rate.check().is_err() {
            return self.dropped(socket, "rate");
        }
        fn args<A: Adapter, T: serde::de::DeserializeOwned>(
            socket: &Arc<Socket<A>>,
            data: &mut socketioxide::handler::Value,
            ack: &Option<i64>,
        ) -> Option<T> {
            let Ok(TryData(decoded)) = TryData::<T>::from_message_parts(socket, data, ack);
            decoded.ok()
        }
        let event = match name.as_str() {
            "auth" => Queued::Auth(args(socket, data, ack)),
            "deauth" => Queued::Deauth,
            "trackMetric" => Queued::Metric(args(socket, data, ack)),
            "trackError" => Queued::Error(args(socket, data, ack)),
            "startAnalyse" => Queued::StartAnalyse,
            "stopAnalyse" => Queued::StopAnalyse,
            _ => return,
        };
        if !self.push(|| socket.clone().into(), event) {
            self.dropped(socket, "queue");
        }
    }

    /// Counts a dropped event; disconnects the socket at the drop limit.
    fn dropped<A: Adapter>(&self, socket: &Arc<Socket<A>>, reason: &'static str) {
        metrics::counter!("plaza_live_events_dropped_total", "reason" => reason).increment(1);
        let budget = &self.0.budget;
        if budget.dropped.fetch_add(1, Ordering::Relaxed) + 1 == budget.drop_limit {
            metrics::counter!("plaza_live_abusive_disconnects_total").increment(1);
            tracing::info!(socket = %socket.id, "socket disconnected: too many events over its limits");
            let socket = socket.clone();
            tokio::spawn(async move {
                let _ = socket.disconnect();
            });
        }
    }
}

/// The extractor of every event handler: it queues the event (see [`Inbox::accept`]); the handler does nothing.
pub struct Enqueued;

impl<A: Adapter> FromMessageParts<A> for Enqueued {
    type Error = Infallible;
    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        data: &mut socketioxide::handler::Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        if let Some(inbox) = socket.extensions.get::<Inbox>() {
            inbox.accept(socket, data, ack);
        }
        Ok(Enqueued)
    }
}

/// Connect middleware: runs before the client is told it is connected, so the handlers are in place when its
/// first event (the deconf client sends `auth` at once) arrives — the connect handler itself runs in a task of its
/// own, after the CONNECT reply. Starts the socket's queue (a handshake token is bound before any event), counts
/// the socket and arranges for it to be uncounted.
pub async fn prepare<A: Adapter>(
    socket: SocketRef<A>,
    State(live): State<Live>,
    handshake: TryData<HandshakeAuth>,
) -> Result<(), &'static str> {
    let limits = &live.state.config.live_limits;
    let budget = Budget::for_socket(&socket, limits);
    if budget.banned() {
        return Err("too many events over the limits");
    }
    let inbox = Inbox::new(budget, live.clone());
    if let Ok(HandshakeAuth { token: Some(token) }) = handshake.0 {
        inbox.push(|| socket.clone(), Queued::Auth(Some(Value::String(token))));
    }
    socket.extensions.insert(inbox);
    for event in EVENTS {
        socket.on(event, async |_: Enqueued| {});
    }
    socket.on_disconnect(async |socket: SocketRef<A>, State(live): State<Live>| {
        // The consumer ends once it has handled what is queued.
        socket.extensions.remove::<Inbox>();
        if socket.extensions.remove::<Analysing>().is_some() {
            live.analysis.stopped();
        }
        live.visitors.left();
    });
    // Before joining: the broadcaster's admission and the greeting in `on_connect` share the record.
    socket.extensions.insert(visitors::Sent::default());
    socket.join(visitors::ARRIVING);
    live.visitors.joined();
    Ok(())
}

/// A new connection (after [`prepare`]): send it the visitor count.
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(live): State<Live>) {
    visitors::greet(&socket, live.visitors.estimate());
}

/// Handles one socket's events in order, until it disconnected and its queue is drained.
async fn consume<A: Adapter>(socket: SocketRef<A>, live: Live, mut events: mpsc::Receiver<Queued>) {
    while let Some(event) = events.recv().await {
        match event {
            Queued::Auth(Some(Value::String(token))) => bind(&socket, &live, &token).await,
            Queued::Auth(_) => send_error(&socket, &ApiError::invalid("Expected an auth token")),
            Queued::Deauth => on_deauth(&socket),
            Queued::Metric(args) => on_track_metric(&socket, &live, args).await,
            Queued::Error(error) => on_track_error(&socket, &live, error).await,
            Queued::StartAnalyse => on_start_analyse(&socket, &live).await,
            Queued::StopAnalyse => on_stop_analyse(&socket, &live).await,
        }
    }
}

/// Emits `err` as `apiError` to `socket` (and logs it when it is a server fault).
fn send_error<A: Adapter>(socket: &SocketRef<A>, err: &ApiError) {
    if err.status() >= 500 {
        tracing::error!(error = format!("{err:#}"), socket = %socket.id, "socket handler failed");
    }
    let mut payload = serde_json::to_value(err.envelope()).unwrap_or_else(|_| json!({}));
    if let Some(object) = payload.as_object_mut() {
        object.insert("status".into(), json!(err.status()));
    }
    let _ = socket.emit("apiError", &payload);
}

/// Verifies an auth token and passes it through the one authorisation check the HTTP `AuthUser` uses
/// (`AppState::authorize`: existing, verified, same token version, not blocked — unlike the reference, defect 8 —
/// and roles evaluated now). Returns the claims with the roles held now.
async fn authenticate(live: &Live, token: &str) -> Result<AuthClaims, ApiError> {
    let mut claims = live.state.tokens.verify_auth(token)?;
    claims.user_roles = authorize(live, &claims).await?.roles;
    Ok(claims)
}

/// The one authorisation check for a bound identity.
async fn authorize(live: &Live, claims: &AuthClaims) -> Result<Principal, ApiError> {
    live.state
        .authorize(&Presented {
            sub: claims.sub,
            ver: claims.ver,
            roles: &claims.user_roles,
        })
        .await
}

async fn bind<A: Adapter>(socket: &SocketRef<A>, live: &Live, token: &str) {
    match authenticate(live, token).await {
        Ok(claims) => {
            // The attendee's private room (`myScheduleChanged`); a re-`auth` as someone else leaves the old one.
            if let Some(old) = socket.extensions.get::<SocketUser>() {
                socket.leave(plaza_core::live::attendee_room(old.claims.sub));
            }
            socket.join(plaza_core::live::attendee_room(claims.sub));
            socket.extensions.insert(SocketUser { claims });
        }
        Err(err) => send_error(socket, &err),
    }
}

/// `deauth`: forgets the identity; 401 when none is bound (as the reference).
fn on_deauth<A: Adapter>(socket: &SocketRef<A>) {
    match socket.extensions.remove::<SocketUser>() {
        Some(user) => socket.leave(plaza_core::live::attendee_room(user.claims.sub)),
        None => send_error(socket, &ApiError::Unauthorized("general.unauthorized")),
    }
}

/// Streams `payload` as `event` to the admins analysing, if any admin in the cluster is (see
/// [`super::analysis`]): with nobody watching, nothing goes through the adapter (Redis).
async fn stream<A: Adapter>(socket: &SocketRef<A>, live: &Live, event: &str, payload: &Value) {
    if !live.analysis.active() {
        return;
    }
    // Through the socket's namespace (not `io.to`, which panics once the namespace is gone at shutdown).
    if let Err(err) = socket.within(ANALYSIS_ROOM).emit(event, payload).await {
        metrics::counter!("plaza_live_stream_failures_total").increment(1);
        tracing::debug!(%err, event, "could not stream to the analysis room");
    }
}

/// `trackMetric <eventName> <payload>`: validated, stored, and shown to admins. Unlike the reference (defect 21),
/// rejected events are not streamed as `liveEvent`.
async fn on_track_metric<A: Adapter>(
    socket: &SocketRef<A>,
    live: &Live,
    args: Option<(Value, Value)>,
) {
    let Some((event, payload)) = args else {
        return send_error(
            socket,
            &ApiError::invalid("Expected an event name and a payload"),
        );
    };
    let name = match validate_metric(&event, &payload) {
        Ok(name) => name,
        Err(err) => return send_error(socket, &err),
    };
    let attendee = socket.extensions.get::<SocketUser>().map(|u| u.claims.sub);
    let live_event = live.analysis.active().then(|| {
        json!({
            "created": chrono::Utc::now(),
            "eventName": name,
            "payload": payload,
        })
    });
    live.logs.push(NewLog {
        event: name.to_owned(),
        attendee,
        socket: Some(socket.id.to_string()),
        data: payload,
    });
    if let Some(live_event) = live_event {
        stream(socket, live, "liveEvent", &live_event).await;
    }
}

/// `trackError <error>`: stored as `general/clientError` `{message, stack}` and streamed raw as `liveError`.
async fn on_track_error<A: Adapter>(socket: &SocketRef<A>, live: &Live, error: Option<Value>) {
    let error = error.unwrap_or(Value::Null);
    let field = |name: &str| error.get(name).cloned().unwrap_or(Value::Null);
    live.logs.push(NewLog {
        event: CLIENT_ERROR_EVENT.to_owned(),
        attendee: socket.extensions.get::<SocketUser>().map(|u| u.claims.sub),
        socket: Some(socket.id.to_string()),
        data: json!({ "message": field("message"), "stack": field("stack") }),
    });
    stream(socket, live, "liveError", &error).await;
}

/// The bound identity, re-checked against the database, if it is an admin's; 401 otherwise.
async fn admin<A: Adapter>(socket: &SocketRef<A>, live: &Live) -> Result<(), ApiError> {
    let Some(user) = socket.extensions.get::<SocketUser>() else {
        return Err(ApiError::Unauthorized("general.unauthorized"));
    };
    if !user.claims.has_role("admin") {
        return Err(ApiError::Unauthorized("general.unauthorized"));
    }
    // The token was checked at `auth`; a revocation, a block or a removal from ADMIN_EMAILS since then ends admin
    // access too: the same check as every HTTP request.
    match authorize(live, &user.claims).await {
        Ok(principal) if principal.has_role("admin") => Ok(()),
        Ok(_) => Err(ApiError::Unauthorized("general.unauthorized")),
        Err(err) => {
            socket.extensions.remove::<SocketUser>();
            Err(err)
        }
    }
}

/// `startAnalyse`: an admin starts receiving `liveEvent` / `liveError` (and the cluster starts streaming them).
async fn on_start_analyse<A: Adapter>(socket: &SocketRef<A>, live: &Live) {
    match admin(socket, live).await {
        Ok(()) => {
            socket.join(ANALYSIS_ROOM);
            if socket.extensions.insert(Analysing).is_none() {
                live.analysis.started().await;
            }
        }
        Err(err) => send_error(socket, &err),
    }
}

/// `stopAnalyse`: the admin stops receiving them.
async fn on_stop_analyse<A: Adapter>(socket: &SocketRef<A>, live: &Live) {
    match admin(socket, live).await {
        Ok(()) => {
            socket.leave(ANALYSIS_ROOM);
            if socket.extensions.remove::<Analysing>().is_some() {
                live.analysis.stopped();
            }
        }
        Err(err) => send_error(socket, &err),
    }
}
