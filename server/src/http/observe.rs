//! Request observation: one log line and Prometheus metrics per request, labelled by route pattern (not raw path,
//! so unknown URLs cannot blow up label cardinality).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// `from_fn` middleware body.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let res = next.call(req).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    metrics::counter!(
        "plaza_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("plaza_http_request_duration_seconds", "method" => method.clone(), "route" => route)
        .record(elapsed.as_secs_f64());
    tracing::info!(target: "plaza::http", %method, %path, status, micros = elapsed.as_micros() as u64, "request");
    Ok(res)
}
