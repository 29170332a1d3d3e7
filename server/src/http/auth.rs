//! Auth extractors, visible in handler signatures: [`AuthUser`] (a valid bearer token of an existing, verified
//! attendee whose token version still matches), [`AdminUser`] and [`MaybeUser`].
//!
//! As in the reference, a missing or non-bearer `Authorization` header is anonymous, but a bearer token that fails
//! verification is an error even where auth is optional.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use plaza_core::ApiError;
use plaza_core::auth::AuthClaims;
use plaza_core::queries::attendees;

use super::HttpError;
use crate::state::AppState;

/// A signed-in attendee.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The verified token's claims.
    pub claims: AuthClaims,
}

impl AuthUser {
    /// The attendee's row id.
    pub fn id(&self) -> i32 {
        self.claims.sub
    }

    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.claims.has_role("admin")
    }
}

/// A signed-in admin (401 otherwise, as the reference answers).
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

/// An optional signed-in attendee.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

/// The bearer token of a request, if it has one (`bearer` matched case-insensitively).
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn authenticate(state: web::Data<AppState>, token: String) -> Result<AuthUser, HttpError> {
    let claims = state.tokens.verify_auth(&token)?;
    let attendee = attendees::get(&state.db, claims.sub).await?;
    match attendee {
        Some(a) if a.verified && a.token_version == claims.ver => Ok(AuthUser { claims }),
        _ => Err(ApiError::Unauthorized("general.unauthorized").into()),
    }
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, HttpError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")).into())
}

impl FromRequest for MaybeUser {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = state_of(req);
        Box::pin(async move {
            match token {
                None => Ok(Self(None)),
                Some(token) => Ok(Self(Some(authenticate(state?, token).await?))),
            }
        })
    }
}

impl FromRequest for AuthUser {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let maybe = MaybeUser::from_request(req, payload);
        Box::pin(async move {
            maybe
                .await?
                .0
                .ok_or_else(|| HttpError(ApiError::Unauthorized("general.unauthorized")))
        })
    }
}

impl FromRequest for AdminUser {
    type Error = HttpError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin() {
                Ok(Self(user))
            } else {
                Err(ApiError::Unauthorized("general.unauthorized").into())
            }
        })
    }
}
