//! The socket events, as the reference defines them (`deconf-api.md` §5): `auth`/`deauth` bind and unbind a JWT
//! identity, `trackMetric`/`trackError` store metrics, `startAnalyse`/`stopAnalyse` let admins watch them live.
//!
//! socketioxide runs each event's handler in its own task, so an `auth` still checking its token could lose the
//! race against the `startAnalyse` sent right after it. [`Turn`] restores the client's order per socket: it takes
//! a ticket while the message is extracted (synchronously, in arrival order) and waits for it before acting.
//!
//! Every failure becomes an `apiError` emission to the socket that caused it (the reference's envelope plus
//! `status`, never a stack trace); nothing here can take the process or another socket down. Handlers are generic
//! over the adapter, so the local and the Redis adapters share them.

use plaza_core::ApiError;
use plaza_core::auth::AuthClaims;
use plaza_core::live::{CLIENT_ERROR_EVENT, validate_metric};
use plaza_core::queries::attendees;
use plaza_core::queries::logs::NewLog;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

use super::Live;
use super::visitors::{self, ROOM as VISITORS_ROOM};

/// The room admins join to receive `liveEvent` / `liveError` (the reference's spelling).
pub const ANALYSIS_ROOM: &str = "metrics_analisis";

/// The identity bound to a socket by `auth` (kept with the socket: it dies with it, on whichever pod it lives).
#[derive(Debug, Clone)]
struct SocketUser {
    claims: AuthClaims,
}

/// The socket.io handshake `auth` payload plaza accepts: `{token}` (the deconf client sends none).
#[derive(Debug, Default, serde::Deserialize)]
pub struct HandshakeAuth {
    /// An auth JWT, bound as by the `auth` event.
    #[serde(default)]
    pub token: Option<String>,
}

/// The per-socket ticket counter behind [`Turn`].
#[derive(Debug, Clone)]
struct Turns(Arc<TurnsInner>);

#[derive(Debug)]
struct TurnsInner {
    next: AtomicU64,
    serving: watch::Sender<u64>,
}

impl Turns {
    fn new() -> Self {
        Self(Arc::new(TurnsInner {
            next: AtomicU64::new(0),
            serving: watch::Sender::new(0),
        }))
    }

    fn take(&self) -> Turn {
        Turn {
            ticket: self.0.next.fetch_add(1, Ordering::SeqCst),
            turns: self.clone(),
        }
    }
}

/// A handler's place in its socket's queue: [`Turn::wait`] returns once every earlier event of the socket was
/// handled; dropping it lets the next one go (also if the handler failed).
pub struct Turn {
    turns: Turns,
    ticket: u64,
}

impl Turn {
    async fn wait(&self) {
        let mut serving = self.turns.0.serving.subscribe();
        let _ = serving.wait_for(|now| *now >= self.ticket).await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let ticket = self.ticket;
        self.turns
            .0
            .serving
            .send_modify(|now| *now = (*now).max(ticket + 1));
    }
}

impl<A: Adapter> FromMessageParts<A> for Turn {
    type Error = Infallible;
    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        _: &mut socketioxide::handler::Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        // Installed at connect; a socket without one (impossible) simply gets no ordering.
        Ok(socket
            .extensions
            .get::<Turns>()
            .unwrap_or_else(Turns::new)
            .take())
    }
}

/// The ticket of the handshake-token binding, handed from [`prepare`] to [`on_connect`].
#[derive(Clone)]
struct HandshakeTurn(Arc<std::sync::Mutex<Option<Turn>>>);

/// Connect middleware: runs before the client is told it is connected, so the handlers are in place when its
/// first event (the deconf client sends `auth` at once) arrives — the connect handler itself runs in a task of its
/// own, after the CONNECT reply. Counts the socket and arranges for it to be uncounted.
pub async fn prepare<A: Adapter>(
    socket: SocketRef<A>,
    State(live): State<Live>,
) -> Result<(), Infallible> {
    let turns = Turns::new();
    // The handshake token is bound before any event of the socket is handled.
    let first = turns.take();
    socket.extensions.insert(turns);
    socket
        .extensions
        .insert(HandshakeTurn(Arc::new(std::sync::Mutex::new(Some(first)))));

    socket.on("auth", on_auth::<A>);
    socket.on("deauth", on_deauth::<A>);
    socket.on("trackMetric", on_track_metric::<A>);
    socket.on("trackError", on_track_error::<A>);
    socket.on("startAnalyse", on_start_analyse::<A>);
    socket.on("stopAnalyse", on_stop_analyse::<A>);
    socket.on_disconnect(async |State(live): State<Live>| live.visitors.left());
    // Before joining: the broadcast this arrival causes and the greeting in `on_connect` share the record.
    socket.extensions.insert(visitors::Sent::default());
    socket.join(VISITORS_ROOM);
    live.visitors.joined();
    Ok(())
}

/// A new connection (after [`prepare`]): send it the visitor count and bind a handshake token if given.
pub async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    State(live): State<Live>,
    handshake: TryData<HandshakeAuth>,
) {
    let first = socket
        .extensions
        .remove::<HandshakeTurn>()
        .and_then(|turn| turn.0.lock().ok()?.take());
    visitors::send(&socket, live.visitors.estimate());
    if let Ok(HandshakeAuth { token: Some(token) }) = handshake.0 {
        bind(&socket, &live, &token).await;
    }
    drop(first);
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

/// Verifies an auth token like the HTTP `AuthUser` does — signature, expiry, an existing verified attendee with
/// the same token version — and, unlike the reference (defect 8), the block list.
async fn authenticate(live: &Live, token: &str) -> Result<AuthClaims, ApiError> {
    let claims = live.state.tokens.verify_auth(token)?;
    match attendees::get(&live.state.db, claims.sub).await? {
        Some(a)
            if a.verified
                && a.token_version == claims.ver
                && !live.state.blocked().contains(&a.email) =>
        {
            Ok(claims)
        }
        _ => Err(ApiError::Unauthorized("general.unauthorized")),
    }
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

/// `auth <jwt>`: binds the identity to this socket (replacing any earlier one).
async fn on_auth<A: Adapter>(
    turn: Turn,
    socket: SocketRef<A>,
    State(live): State<Live>,
    token: TryData<Value>,
) {
    turn.wait().await;
    match token.0 {
        Ok(Value::String(token)) => bind(&socket, &live, &token).await,
        _ => send_error(&socket, &ApiError::invalid("Expected an auth token")),
    }
}

/// `deauth`: forgets the identity; 401 when none is bound (as the reference).
async fn on_deauth<A: Adapter>(turn: Turn, socket: SocketRef<A>) {
    turn.wait().await;
    match socket.extensions.remove::<SocketUser>() {
        Some(user) => socket.leave(plaza_core::live::attendee_room(user.claims.sub)),
        None => send_error(&socket, &ApiError::Unauthorized("general.unauthorized")),
    }
}

/// `trackMetric <eventName> <payload>`: validated, stored, and shown to admins. Unlike the reference (defect 21),
/// rejected events are not streamed as `liveEvent`.
async fn on_track_metric<A: Adapter>(
    turn: Turn,
    socket: SocketRef<A>,
    State(live): State<Live>,
    args: TryData<(Value, Value)>,
) {
    turn.wait().await;
    let Ok((event, payload)) = args.0 else {
        send_error(
            &socket,
            &ApiError::invalid("Expected an event name and a payload"),
        );
        return;
    };
    let name = match validate_metric(&event, &payload) {
        Ok(name) => name,
        Err(err) => return send_error(&socket, &err),
    };
    let attendee = socket.extensions.get::<SocketUser>().map(|u| u.claims.sub);
    live.logs.push(NewLog {
        event: name.to_owned(),
        attendee,
        socket: Some(socket.id.to_string()),
        data: payload.clone(),
    });
    let live_event = json!({
        "created": chrono::Utc::now(),
        "eventName": name,
        "payload": payload,
    });
    // Through the socket's namespace (not `io.to`, which panics once the namespace is gone at shutdown).
    if let Err(err) = socket
        .within(ANALYSIS_ROOM)
        .emit("liveEvent", &live_event)
        .await
    {
        tracing::warn!(%err, "could not stream a liveEvent");
    }
}

/// `trackError <error>`: stored as `general/clientError` `{message, stack}` and streamed raw as `liveError`.
async fn on_track_error<A: Adapter>(
    turn: Turn,
    socket: SocketRef<A>,
    State(live): State<Live>,
    error: TryData<Value>,
) {
    turn.wait().await;
    let error = error.0.unwrap_or(Value::Null);
    let field = |name: &str| error.get(name).cloned().unwrap_or(Value::Null);
    live.logs.push(NewLog {
        event: CLIENT_ERROR_EVENT.to_owned(),
        attendee: socket.extensions.get::<SocketUser>().map(|u| u.claims.sub),
        socket: Some(socket.id.to_string()),
        data: json!({ "message": field("message"), "stack": field("stack") }),
    });
    if let Err(err) = socket.within(ANALYSIS_ROOM).emit("liveError", &error).await {
        tracing::warn!(%err, "could not stream a liveError");
    }
}

/// The bound identity, re-checked against the database, if it is an admin's; 401 otherwise.
async fn admin<A: Adapter>(socket: &SocketRef<A>, live: &Live) -> Result<(), ApiError> {
    let Some(user) = socket.extensions.get::<SocketUser>() else {
        return Err(ApiError::Unauthorized("general.unauthorized"));
    };
    if !user.claims.has_role("admin") {
        return Err(ApiError::Unauthorized("general.unauthorized"));
    }
    // The token was checked at `auth`; a revocation since then must end admin access too.
    match attendees::get(&live.state.db, user.claims.sub).await? {
        Some(a) if a.verified && a.token_version == user.claims.ver => Ok(()),
        _ => {
            socket.extensions.remove::<SocketUser>();
            Err(ApiError::Unauthorized("general.unauthorized"))
        }
    }
}

/// `startAnalyse`: an admin starts receiving `liveEvent` / `liveError`.
async fn on_start_analyse<A: Adapter>(turn: Turn, socket: SocketRef<A>, State(live): State<Live>) {
    turn.wait().await;
    match admin(&socket, &live).await {
        Ok(()) => socket.join(ANALYSIS_ROOM),
        Err(err) => send_error(&socket, &err),
    }
}

/// `stopAnalyse`: the admin stops receiving them.
async fn on_stop_analyse<A: Adapter>(turn: Turn, socket: SocketRef<A>, State(live): State<Live>) {
    turn.wait().await;
    match admin(&socket, &live).await {
        Ok(()) => socket.leave(ANALYSIS_ROOM),
        Err(err) => send_error(&socket, &err),
    }
}
