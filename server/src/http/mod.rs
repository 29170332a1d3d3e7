//! The actix-web HTTP API: routes, body limits and middleware pieces; `startup` assembles them into the `App`.
//!
//! Routes live one resource per module, each exposing `config(cfg)`. Operations endpoints (`/healthz`, `/readyz`,
//! `/metrics`) are at the root; the deconf API is under `API_BASE_PATH`.

pub mod access_log;
mod admin;
pub(crate) mod attendance;
pub mod auth;
mod calendar;
mod client;
mod content;
pub mod edge;
pub mod error;
mod general;
mod lint_page;
mod login;
pub mod observe;
pub mod openapi;
mod ops;
mod push;
mod representation;
mod schedule;
pub mod security;
mod share;
mod tito;

use std::net::{IpAddr, Ipv4Addr};

use actix_web::{HttpRequest, web};
use plaza_core::proxy::TrustedProxies;

pub use self::client::ClientFiles;
pub use self::error::HttpError;
pub use self::ops::{Role, health, readiness};
use crate::state::AppState;

/// Registers state, body limits and every route on an actix `ServiceConfig`.
pub fn configure_app(
    state: &AppState,
    client: &web::Data<ClientFiles>,
) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let state = state.clone();
    let client = client.clone();
    move |cfg| {
        let limit = state.config.max_body_bytes;
        let base = state.config.api_base_path.clone();
        cfg.app_data(web::Data::new(state))
            .app_data(client)
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::new(limit))
            .configure(ops::config)
            .configure(client::config)
            .service(
                web::scope(&base)
                    .configure(general::config)
                    .configure(openapi::config)
                    .configure(schedule::config)
                    .configure(content::config)
                    .configure(share::config)
                    .configure(login::config)
                    .configure(attendance::config)
                    .configure(push::config)
                    .configure(calendar::config)
                    .configure(tito::config)
                    .configure(admin::config),
            )
            .default_service(web::to(client::serve_client));
    }
}

/// The client's IP as far as `trusted` proxies vouch for it in their one header (the peer itself when it is no
/// trusted proxy).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    trusted.client_of(peer_ip(req), |name| {
        req.headers().get_all(name).filter_map(|v| v.to_str().ok())
    })
}

/// The connection's peer address (unspecified when unknown, as in some in-process tests).
fn peer_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}
