//! What the live listener answers outside the socket.io path: the live pods' probes `/healthz` (alive, with the
//! dependencies' state) and `/readyz` (not draining: a live process can serve sockets whatever its dependencies
//! do), `/metrics` (Prometheus) and 404 in the JSON envelope. Every answer carries the API's security headers
//! (the JSON policy on JSON, see [`crate::http::security`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use plaza_core::ApiError;

use crate::http::security::SecurityHeaders;
use crate::state::AppState;

/// Response body of the fallback.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The address of the client of a connection, set on each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Requests the socket.io service does not handle.
#[derive(Clone, Debug)]
pub struct Fallback {
    state: Box<AppState>,
    security: Box<SecurityHeaders>,
}

impl Fallback {
    /// The probes of `state`'s process.
    pub fn new(state: AppState) -> Self {
        let security = Box::new(SecurityHeaders::new(&state.config));
        Self {
            state: Box::new(state),
            security,
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

impl<B> tower_service::Service<Request<B>> for Fallback {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
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
        let mut response = self.answer(req.uri().path());
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let headers = response.headers_mut();
        for (name, value) in self.security.for_response(
            content_type.as_ref().map(header::HeaderValue::as_bytes),
            peer,
            proto.iter().map(String::as_str),
        ) {
            let name = header::HeaderName::from_static(name);
            if !headers.contains_key(&name)
                && let Ok(value) = header::HeaderValue::from_str(value)
            {
                headers.insert(name, value);
            }
        }
        Box::pin(std::future::ready(Ok(response)))
    }
}

impl Fallback {
    fn answer(&self, path: &str) -> Response<Body> {
        match path {
            // A live-only process still answers the liveness probe and the Prometheus scrape.
            "/healthz" => full(StatusCode::OK, crate::http::health(&self.state).to_string()),
            "/readyz" => {
                let (ready, body) = crate::http::readiness(&self.state, crate::http::Role::Live);
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                full(status, body.to_string())
            }
            "/metrics" => {
                let mut response =
                    full(StatusCode::OK, crate::telemetry::metrics_handle().render());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                response
            }
            _ => envelope(&ApiError::NotFound),
        }
    }
}
