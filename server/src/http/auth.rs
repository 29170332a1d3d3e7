//! Auth extractors, visible in handler signatures: [`AuthUser`] (a valid bearer token that passes the one
//! authorisation check, `plaza_core::authz` — existing, verified, same token version, not blocked, roles evaluated
//! now), [`AdminUser`] (admin *now*, from the current `ADMIN_EMAILS`) and [`MaybeUser`].
//!
//! As in the reference, a missing or non-bearer `Authorization` header is anonymous, but a bearer token that fails
//! verification is an error even where auth is optional.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use plaza_core::ApiError;
use plaza_core::auth::AuthClaims;
use plaza_core::authz::{Presented, Principal};
use plaza_core::identity::roles;

use super::HttpError;
use crate::state::AppState;

/// A signed-in attendee.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The verified token's claims (its roles are what was granted at sign-in; use [`AuthUser::principal`]).
    pub claims: AuthClaims,
    /// The attendee and the roles it holds now.
    pub principal: Principal,
}

impl AuthUser {
    /// The attendee's row id.
    pub fn id(&self) -> i32 {
        self.claims.sub
    }

    /// True for admins (by the current `ADMIN_EMAILS`, whatever the token says).
    pub fn is_admin(&self) -> bool {
        self.principal.has_role(roles::ADMIN)
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
    let principal = state
        .authorize(&Presented {
            sub: claims.sub,
            ver: claims.ver,
            roles: &claims.user_roles,
        })
        .await?;
    Ok(AuthUser { claims, principal })
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
