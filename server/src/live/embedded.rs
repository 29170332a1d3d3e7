//! socket.io inside the HTTP API's own listener: `all` mode on one port. actix-http owns the port, so an API
//! request reaches actix-web directly (no second HTTP hop), and socket.io is served in-process:
//!
//! - long-polling requests (under `SOCKET_PATH`, no upgrade) are an actix route, [`polling`]: the request, its body
//!   bounded by `LIVE_MAX_MESSAGE_BYTES`, goes to the socketioxide service and its answer comes back as an actix
//!   response, so the API's middleware (security headers, CORS, observation, envelope) applies to it too;
//! - a request with `Upgrade: websocket` (any path: actix-http decides before routing) leaves actix-http through its
//!   upgrade hook, [`upgrade`]: its head is re-serialised in front of the bytes actix already read, and hyper serves
//!   that one request on the connection (closed after any answer but a 101) with the live listener's own stack, so
//!   socketioxide's `hyper::upgrade::on` works as it does there. Only upgrades pay this second parse.
//!
//! The socketioxide service is generic over its adapter (local or Redis): [`Embedded`] erases it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_codec::Framed;
use actix_http::h1;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use engineioxide::DirectFd;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use plaza_core::ApiError;
use plaza_core::config::LiveLimits;
use socketioxide::adapter::Adapter;
use socketioxide::service::SocketIoService;
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};
use tower_http::add_extension::AddExtension;

use super::events::Budget;
use super::fallback::{Fallback, Peer};
use super::listener::Conn;
use crate::cors::CorsService;
use crate::http::error::HttpError;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A connection handed from actix-http to hyper: the re-serialised request head and what actix had read beyond it
/// come first, then the connection itself.
pub type Handed = TokioIo<Rewind<Conn>>;

/// What the API's listener calls, whatever the adapter.
trait SocketIoFront: Send + Sync {
    /// Answers one long-polling request (the body already read).
    fn polling(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> BoxFuture<Result<http::Response<Bytes>, String>>;
    /// Serves the upgrade request at the start of the handed-over connection with hyper.
    fn upgrade(&self, handover: Handover) -> BoxFuture<()>;
}

/// A connection actix-http hands to hyper for a websocket upgrade, and what the live listener would know of it.
struct Handover {
    io: Handed,
    /// The TCP connection's descriptor (engine.io writes visitor counts straight into the websocket).
    fd: DirectFd,
    peer: SocketAddr,
    budget: Arc<Budget>,
}

/// The socket.io service of an `all` process on one port, as its HTTP API's listener uses it. Cheap to clone.
#[derive(Clone)]
pub struct Embedded {
    front: Arc<dyn SocketIoFront>,
    /// The live bounds (`LIVE_MAX_MESSAGE_BYTES`: engine.io refuses a longer polling payload, so no more is read).
    limits: Arc<LiveLimits>,
}

struct Services<A: Adapter> {
    /// For polling: answered bare, the API's middleware adds CORS and security headers.
    socket: SocketIoService<Fallback, A>,
    /// For upgrades: what the live listener serves (CORS and security headers on hyper's side).
    front: CorsService<SocketIoService<Fallback, A>>,
    http1: http1::Builder,
}

impl<A: Adapter> SocketIoFront for Services<A> {
    fn polling(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> BoxFuture<Result<http::Response<Bytes>, String>> {
        let mut service = self.socket.clone();
        Box::pin(async move {
            let response = match tower_service::Service::call(&mut service, req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?;
            Ok(http::Response::from_parts(parts, body.to_bytes()))
        })
    }

    fn upgrade(&self, handover: Handover) -> BoxFuture<()> {
        let Handover {
            io,
            fd,
            peer,
            budget,
        } = handover;
        let service = TowerToHyperService::new(super::detach::Detach(AddExtension::new(
            AddExtension::new(AddExtension::new(self.front.clone(), Peer(peer)), fd),
            budget,
        )));
        // One request (the upgrade) and no other: after an answer other than 101, API requests must reconnect to
        // reach actix. Said per answer rather than by turning keep-alive off, which would put `close` into the
        // 101's `Connection` header too (some websocket clients refuse it).
        let service = hyper::service::service_fn(move |req| {
            let answer = hyper::service::Service::call(&service, req);
            async move {
                let mut response = answer.await?;
                if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = self.http1.serve_connection(io, service).with_upgrades();
        Box::pin(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "upgraded live connection ended with an error");
            }
        })
    }
}

impl Embedded {
    /// Erases `socket` (the socketioxide service) and `front` (the same, as the live listener wraps it).
    pub(super) fn new<A: Adapter>(
        socket: SocketIoService<Fallback, A>,
        front: CorsService<SocketIoService<Fallback, A>>,
        limits: &LiveLimits,
    ) -> Self {
        let http1 = super::listener::http1_builder(limits);
        Self {
            front: Arc::new(Services {
                socket,
                front,
                http1,
            }),
            limits: Arc::new(limits.clone()),
        }
    }
}

impl Embedded {
    /// actix-http's `on_connect_ext`: the connection's event budget, shared by the sockets opened over it (polling
    /// requests and an upgrade alike).
    pub fn on_connect(&self, extensions: &mut actix_http::Extensions) {
        extensions.insert(Budget::new(&self.limits));
    }
}

/// The actix route of `SOCKET_PATH` (every method): one engine.io long-polling request.
pub async fn polling(
    req: HttpRequest,
    mut payload: web::Payload,
    socket: web::Data<Embedded>,
) -> Result<HttpResponse, HttpError> {
    // One byte over the limit is enough for engine.io to refuse the payload (and drop its socket) as it does on
    // the live listener; the rest is never buffered.
    let limit = socket.limits.max_message_bytes + 1;
    let mut body = BytesMut::new();
    while body.len() < limit
        && let Some(chunk) = payload.next().await
    {
        let chunk = chunk.map_err(|_| ApiError::invalid("The request body could not be read"))?;
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let mut request = http::Request::new(Full::new(body.freeze()));
    *request.method_mut() = http::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::invalid("Invalid method"))?;
    *request.uri_mut() = req
        .uri()
        .to_string()
        .parse()
        .map_err(|_| ApiError::invalid("Invalid request target"))?;
    *request.version_mut() = version(req.version());
    let headers = request.headers_mut();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    request
        .extensions_mut()
        .insert(budget_of(req.conn_data(), &socket.limits));
    let response =
        socket.front.polling(request).await.map_err(|err| {
            ApiError::Internal(anyhow::anyhow!("socket.io polling answer: {err}"))
        })?;
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = HttpResponse::build(status);
    for (name, value) in response.headers() {
        answer.append_header((name.as_str(), value.as_bytes()));
    }
    Ok(answer.body(response.into_body()))
}

/// The connection's event budget (set when actix accepted it), shared by polling and an upgrade over it.
fn budget_of(conn: Option<&Arc<Budget>>, limits: &LiveLimits) -> Arc<Budget> {
    conn.cloned().unwrap_or_else(|| Budget::new(limits))
}

fn version(version: actix_web::http::Version) -> http::Version {
    match version {
        actix_web::http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_web::http::Version::HTTP_09 => http::Version::HTTP_09,
        _ => http::Version::HTTP_11,
    }
}

/// actix-http's upgrade hook: hands the connection of a request with `Upgrade: websocket` to hyper (see the
/// module header). The connection's admission slot is released once hyper hands the websocket over, as on the
/// live listener.
pub async fn upgrade(
    socket: Embedded,
    req: actix_http::Request,
    framed: Framed<Conn, h1::Codec>,
) -> Result<(), actix_http::Error> {
    let peer = req
        .peer_addr()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let budget = budget_of(req.conn_data(), &socket.limits);
    let head = request_head(req.head());
    let parts = framed.into_parts();
    let mut io = parts.io;
    // Whatever an earlier response on this connection left unwritten goes first.
    if !parts.write_buf.is_empty()
        && (io.write_all(&parts.write_buf).await.is_err() || io.flush().await.is_err())
    {
        return Ok(());
    }
    let slot = io.release();
    let fd = DirectFd(std::os::fd::AsRawFd::as_raw_fd(&io));
    let mut replay = BytesMut::from(head.as_slice());
    replay.extend_from_slice(&parts.read_buf);
    let io = TokioIo::new(Rewind::new(io, replay.freeze()));
    let handover = Handover {
        io,
        fd,
        peer,
        budget,
    };
    socket.front.upgrade(handover).await;
    drop(slot);
    Ok(())
}

/// `head` as HTTP/1 bytes: request line, headers, blank line.
fn request_head(head: &actix_http::RequestHead) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.uri.to_string().as_bytes());
    out.extend_from_slice(match head.version {
        actix_web::http::Version::HTTP_10 => b" HTTP/1.0\r\n",
        _ => b" HTTP/1.1\r\n",
    });
    for (name, value) in head.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A connection that first yields `prefix`, then reads from `inner`; writes go straight to `inner`.
#[derive(Debug)]
pub struct Rewind<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Rewind<T> {
    /// `inner`, with `prefix` to be read before it.
    pub fn new(inner: T, prefix: Bytes) -> Self {
        Self { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

crate::io_wrap::write_through!(Rewind);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    #[tokio::test]
    async fn a_rewound_connection_yields_its_prefix_first() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut rewound = Rewind::new(client, Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"));
        server.write_all(b"rest").await.expect("write");
        drop(server);
        let mut all = String::new();
        rewound.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "GET / HTTP/1.1\r\n\r\nrest");
    }

    #[test]
    fn a_head_is_re_serialised_with_every_header() {
        let mut req = actix_http::Request::new();
        let head = req.head_mut();
        head.method = actix_web::http::Method::GET;
        head.uri = "/socket.io/?EIO=4&transport=websocket"
            .parse()
            .expect("uri");
        head.headers.append(
            actix_web::http::header::HOST,
            actix_web::http::header::HeaderValue::from_static("plaza"),
        );
        head.headers.append(
            actix_web::http::header::UPGRADE,
            actix_web::http::header::HeaderValue::from_static("websocket"),
        );
        let head = String::from_utf8(request_head(req.head())).expect("utf-8");
        // actix's header map is a hash map: the header lines may come in any order.
        let body = head
            .strip_prefix("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n")
            .and_then(|rest| rest.strip_suffix("\r\n\r\n"))
            .unwrap_or_else(|| panic!("request line and end of head: {head:?}"));
        let mut lines: Vec<&str> = body.split("\r\n").collect();
        lines.sort_unstable();
        assert_eq!(lines, ["host: plaza", "upgrade: websocket"]);
    }
}
