//! Request observation: Prometheus metrics for every request and an access-log line for those the bounded policy of
//! [`AccessLog`] picks (errors and slow requests up to 100 a second, successes up to `ACCESS_LOG_PER_SECOND`); metrics are labelled by route pattern (not raw path,
//! so unknown URLs cannot blow up label cardinality) and by method from a fixed set (`other` for the rest: a client
//! can send any token as a method).
//!
//! The logged path never holds a credential: route parameters named like one (`{token}`) are replaced by `***`, and
//! so is any path segment that looks like a token (a JWT, or a long opaque string) on routes that matched nothing.
//! The query string is never logged.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::web;
use metrics::{Counter, Histogram};

use super::access_log::{AccessLog, Verdict};
use crate::state::AppState;

/// What a redacted path segment becomes.
const REDACTED: &str = "***";

/// One request being observed: started before it is handled, finished with its response.
pub struct Observation {
    started: Instant,
    method: &'static str,
}

impl Observation {
    /// Starts the clock on `req`.
    pub fn start(req: &ServiceRequest) -> Self {
        Self {
            started: Instant::now(),
            method: method_label(req.method()),
        }
    }

    /// Records the request's metrics and, if the policy picks it, its access-log line.
    pub fn finish<B>(self, res: &ServiceResponse<B>) {
        let elapsed = self.started.elapsed();
        let status = res.status().as_u16();
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        record(self.method, route, status, elapsed);
        if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
            emit_for(
                &state.access_log,
                self.method,
                res.request(),
                status,
                elapsed,
            );
        }
    }
}

/// The metric handles of one `(method, status)` pair, by route pattern.
type Handles = HashMap<(&'static str, u16), HashMap<String, (Counter, Histogram)>>;

thread_local! {
    /// Each worker thread keeps the handles it has used: recording is then two atomic updates, without building a
    /// labelled key and looking it up in the registry on every request. Bounded like the metrics themselves
    /// (routes × methods × statuses).
    static HANDLES: RefCell<Handles> = {
        // A handle taken before the recorder is installed would record nowhere, forever.
        crate::telemetry::metrics_handle();
        RefCell::new(HashMap::new())
    };
}

/// Counts a request and records its duration.
fn record(method: &'static str, route: String, status: u16, elapsed: Duration) {
    HANDLES.with_borrow_mut(|handles| {
        let by_route = handles.entry((method, status)).or_default();
        let (counter, histogram) = match by_route.get(route.as_str()) {
            Some(found) => found,
            None => {
                let counter = metrics::counter!(
                    "plaza_http_requests_total",
                    "method" => method,
                    "route" => route.clone(),
                    "status" => status.to_string()
                );
                let histogram = metrics::histogram!(
                    "plaza_http_request_duration_seconds",
                    "method" => method,
                    "route" => route.clone()
                );
                by_route.entry(route).or_insert((counter, histogram))
            }
        };
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

/// Logs a finished request if the policy picks it; the path is built (and redacted) only then.
fn emit_for(log: &AccessLog, method: &str, req: &HttpRequest, status: u16, elapsed: Duration) {
    match log.decide(status, elapsed) {
        Verdict::Skip => {}
        verdict => line(verdict, method, &logged_path(req), status, elapsed),
    }
}

/// [`emit_for`] with the path given (tests).
#[cfg(test)]
pub(super) fn emit(log: &AccessLog, method: &str, path: &str, status: u16, elapsed: Duration) {
    match log.decide(status, elapsed) {
        Verdict::Skip => {}
        verdict => line(verdict, method, path, status, elapsed),
    }
}

/// One access-log line.
fn line(verdict: Verdict, method: &str, path: &str, status: u16, elapsed: Duration) {
    let micros = elapsed.as_micros() as u64;
    if verdict == Verdict::Warn {
        tracing::warn!(target: "plaza::http", %method, %path, status, micros, "request");
    } else {
        tracing::info!(target: "plaza::http", %method, %path, status, micros, "request");
    }
}

/// The method as a metric label and in the log: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// The request's path with credentials replaced (see the module header).
fn logged_path(req: &HttpRequest) -> String {
    let mut path = req.path().to_owned();
    for (name, value) in req.match_info().iter() {
        if name.contains("token") && !value.is_empty() {
            path = path.replace(value, REDACTED);
        }
    }
    path.split('/')
        .map(|segment| {
            if looks_like_a_token(segment) {
                REDACTED
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A JWT (three dot-separated parts) or a long opaque string; file names, slugs and session ids are shorter.
fn looks_like_a_token(segment: &str) -> bool {
    segment.len() >= 40 || (segment.len() >= 16 && segment.matches('.').count() >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let long = Method::from_bytes("X".repeat(2000).as_bytes()).expect("a token");
        assert_eq!(method_label(&long), "other");
        assert_eq!(
            method_label(&Method::from_bytes(b"get").expect("token")),
            "other"
        );
    }

    #[test]
    fn token_like_segments_are_redacted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.c2lnbmF0dXJl";
        for segment in [jwt, &"a".repeat(40)] {
            assert!(looks_like_a_token(segment), "{segment}");
        }
        for segment in [
            "",
            "api",
            "index-BxYz12.js",
            "ABC-1",
            "whats-on",
            "client-config.json",
        ] {
            assert!(!looks_like_a_token(segment), "{segment}");
        }
    }
}
