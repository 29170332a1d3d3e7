//! The one middleware layer in front of the API's routes ([`edge`]): request observation
//! ([`super::observe`]), CORS ([`crate::cors`]) and security headers ([`super::security`]), in that order from the
//! outside in — each concern in its own module, one layer per request. As three `from_fn` layers every request
//! paid three boxed futures and dynamic calls on its hottest path (issue #19).

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::observe::Observation;
use super::security;

/// `from_fn` middleware: observes the request, answers a CORS preflight or runs the request (`HEAD` as `GET`),
/// then adds the CORS and security headers to whatever comes back, errors included.
pub async fn edge(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static, BoxBody>>, actix_web::Error> {
    let observation = Observation::start(&req);
    // Preflight answers get the security headers as well.
    let policy = security::prepare(&mut req);
    let mut res = crate::cors::actix(req, next).await?;
    if let Some(policy) = policy {
        security::secure(&policy, &mut res);
    }
    observation.finish(&res);
    Ok(res)
}
