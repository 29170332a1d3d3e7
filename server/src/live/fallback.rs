//! What the live listener does with requests outside the socket.io path: in `all` mode on one port, forward them
//! to the HTTP API (actix-web, on an internal loopback port) so one address serves both, as the reference did;
//! otherwise answer the live pods' probes `/healthz` (alive, with the dependencies' state) and `/readyz` (not
//! draining: a live process can serve sockets whatever its dependencies do),
//! `/metrics` (Prometheus) and 404 in the JSON envelope.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use plaza_core::ApiError;

use crate::state::AppState;

/// Response body of the fallback.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The address of the client of a connection, set on each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Requests the socket.io service does not handle.
#[derive(Clone, Debug)]
pub enum Fallback {
    /// The probes and `/metrics` of a live-only listener; 404 in the JSON envelope for anything else.
    Probes(Box<AppState>),
    /// Forward to the HTTP API listening on this loopback address.
    Api {
        /// Where actix-web listens.
        upstream: SocketAddr,
        /// A pooled HTTP/1 client (boxed: it is large and cloned per request).
        client: Box<Client<HttpConnector, Incoming>>,
    },
}

impl Fallback {
    /// Forwarding to the API at `upstream`.
    pub fn api(upstream: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self::Api {
            upstream,
            client: Box::new(client),
        }
    }
}

fn full(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn envelope(err: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    full(
        status,
        serde_json::to_string(&err.envelope()).unwrap_or_default(),
    )
}

impl tower_service::Service<Request<Incoming>> for Fallback {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let (upstream, client) = match self {
            // A live-only process still answers the liveness probe and the Prometheus scrape.
            Self::Probes(state) if req.uri().path() == "/healthz" => {
                let body = crate::http::health(state).to_string();
                return Box::pin(async { Ok(full(StatusCode::OK, body)) });
            }
            Self::Probes(state) if req.uri().path() == "/readyz" => {
                let (ready, body) = crate::http::readiness(state, crate::http::Role::Live);
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                return Box::pin(async move { Ok(full(status, body.to_string())) });
            }
            Self::Probes(_) if req.uri().path() == "/metrics" => {
                return Box::pin(async {
                    let mut response =
                        full(StatusCode::OK, crate::telemetry::metrics_handle().render());
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    Ok(response)
                });
            }
            Self::Probes(_) => return Box::pin(async { Ok(envelope(&ApiError::NotFound)) }),
            Self::Api { upstream, client } => (*upstream, (**client).clone()),
        };
        Box::pin(async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            let Ok(uri) = format!("http://{upstream}{path}").parse::<Uri>() else {
                return Ok(envelope(&ApiError::invalid("Invalid request target")));
            };
            *req.uri_mut() = uri;
            // The API sees the real client (rate limits, logs) the way it does behind the ingress.
            if let Some(Peer(peer)) = req.extensions().get::<Peer>().copied() {
                let forwarded = match req.headers().get("x-forwarded-for") {
                    Some(v) => format!("{}, {}", v.to_str().unwrap_or_default(), peer.ip()),
                    None => peer.ip().to_string(),
                };
                if let Ok(value) = header::HeaderValue::from_str(&forwarded) {
                    req.headers_mut().insert("x-forwarded-for", value);
                }
            }
            match client.request(req).await {
                Ok(response) => Ok(response.map(BodyExt::boxed)),
                Err(err) => {
                    tracing::warn!(%err, "the HTTP API did not answer a forwarded request");
                    Ok(envelope(&ApiError::Unavailable("api".into())))
                }
            }
        })
    }
}
