//! What the live listener does with requests outside the socket.io path: in `all` mode on one port, forward them
//! to the HTTP API (actix-web, on an internal loopback port) so one address serves both, as the reference did;
//! otherwise answer the live pods' probes `/healthz` (alive, with the dependencies' state) and `/readyz` (not
//! draining: a live process can serve sockets whatever its dependencies do),
//! `/metrics` (Prometheus) and 404 in the JSON envelope.
//!
//! As a front hop it is the only writer of the client's address the API reads: client-sent `Forwarded`,
//! `X-Forwarded-For` and `X-Real-IP` (and, from untrusted peers, `X-Forwarded-Proto`) are dropped, and the client it
//! resolved under `TRUSTED_PROXIES` is written into `CLIENT_IP_HEADER`. Every answer carries the API's security
//! headers (its own answers get them here; forwarded ones already have them).

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
use plaza_core::proxy::{FORWARDING_HEADERS, TrustedProxies};
use plaza_core::{ApiError, Config};

use crate::http::security::SecurityHeaders;
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
        /// Whose forwarding headers are believed, and the header the API reads.
        trusted: Box<TrustedProxies>,
        /// The security headers of every answer.
        security: Box<SecurityHeaders>,
    },
}

impl Fallback {
    /// Forwarding to the API at `upstream`, under `config`'s proxy trust and security headers.
    pub fn api(upstream: SocketAddr, config: &Config) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        // Drop pooled connections well before the API closes them (HTTP_KEEP_ALIVE_SECONDS): a request sent on a
        // connection the API is closing at that moment fails (503) instead of waiting for a fresh one.
        match config.http_keep_alive / 2 {
            half if half.is_zero() => builder.pool_max_idle_per_host(0),
            half => builder.pool_idle_timeout(half),
        };
        let client = builder.build(connector);
        Self::Api {
            upstream,
            client: Box::new(client),
            trusted: Box::new(config.trusted_proxies.clone()),
            security: Box::new(SecurityHeaders::new(config)),
        }
    }

    /// The security headers of this listener's answers.
    fn security(&self) -> SecurityHeaders {
        match self {
            Self::Probes(state) => SecurityHeaders::new(&state.config),
            Self::Api { security, .. } => (**security).clone(),
        }
    }
}

/// Makes the front the only writer of the client's address: drops every forwarding header the peer sent, then
/// names the client resolved from them under `trusted` in its one header (nothing when the peer is unknown).
fn forward_client(
    headers: &mut header::HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) {
    let client = peer.map(|peer| {
        trusted.client_of(peer.ip(), |name| {
            headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
        })
    });
    for name in FORWARDING_HEADERS {
        headers.remove(name);
    }
    if !peer.is_some_and(|peer| trusted.trusts(peer.ip())) {
        headers.remove("x-forwarded-proto");
    }
    if let Some(Ok(value)) =
        client.map(|client| header::HeaderValue::from_str(&trusted.header().value_for(client)))
    {
        headers.insert(trusted.header().name(), value);
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

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<Peer>()
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |Peer(addr)| {
                addr.ip()
            });
        let proto: Vec<String> = req
            .headers()
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let security = self.security();
        let answer = self.answer(req);
        Box::pin(async move {
            let mut response = answer.await?;
            let headers = response.headers_mut();
            for (name, value) in security.for_request(peer, proto.iter().map(String::as_str)) {
                let name = header::HeaderName::from_static(name);
                if !headers.contains_key(&name)
                    && let Ok(value) = header::HeaderValue::from_str(value)
                {
                    headers.insert(name, value);
                }
            }
            Ok(response)
        })
    }
}

impl Fallback {
    fn answer(
        &mut self,
        mut req: Request<Incoming>,
    ) -> <Self as tower_service::Service<Request<Incoming>>>::Future {
        let (upstream, client, trusted) = match self {
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
            Self::Api {
                upstream,
                client,
                trusted,
                ..
            } => (*upstream, (**client).clone(), trusted.clone()),
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
            let peer = req.extensions().get::<Peer>().map(|Peer(addr)| *addr);
            forward_client(req.headers_mut(), peer, &trusted);
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
