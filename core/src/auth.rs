//! Tokens: HS256 JWTs with the deconf reference's claims (`kind`, `sub`, `user_roles`, `user_lang`, `iss`) plus what
//! the reference lacked — `exp` on every token and `ver`, the attendee's token version, so bumping the version in
//! the database revokes every token issued before. Verification failures map to the reference's codes.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::ApiError;

/// Claims of an `auth` token (the API bearer token and the socket `auth` payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthClaims {
    /// Always `auth`.
    pub kind: String,
    /// The attendee's row id.
    pub sub: i32,
    /// Roles granted at login: `admin`, `facilitator`, `attendee`.
    pub user_roles: Vec<String>,
    /// The attendee's language.
    pub user_lang: String,
    /// Issuer (`JWT_ISSUER`).
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// The attendee's token version when this token was issued.
    #[serde(default)]
    pub ver: i32,
}

impl AuthClaims {
    /// True when the token grants `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.user_roles.iter().any(|r| r == role)
    }
}

#[derive(Deserialize)]
struct KindOnly {
    kind: String,
}

/// Signs and verifies plaza's tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    auth_ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("auth_ttl", &self.auth_ttl)
            .finish()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, issued as `issuer`, auth tokens valid for `auth_ttl`.
    pub fn new(secret: &Secret, issuer: &str, auth_ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            issuer: issuer.to_owned(),
            auth_ttl,
        }
    }

    /// Signs an `auth` token for attendee `sub`.
    pub fn sign_auth(
        &self,
        sub: i32,
        roles: &[String],
        lang: &str,
        ver: i32,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AuthClaims {
            kind: "auth".into(),
            sub,
            user_roles: roles.to_vec(),
            user_lang: lang.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + self.auth_ttl.as_secs() as i64,
            ver,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing an auth token")))
    }

    /// Verifies an `auth` token: signature, issuer, expiry (401 `auth.badToken` / `auth.tokenExpired` /
    /// `auth.tooEarly`), then its kind and shape (400 `general.badRequest`, as the reference answers).
    pub fn verify_auth(&self, token: &str) -> Result<AuthClaims, ApiError> {
        self.verify("auth", token, 30)
    }

    /// Verifies signature, issuer and expiry (with `leeway` seconds), then that the token is of `kind` and shape `T`.
    fn verify<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        token: &str,
        leeway: u64,
    ) -> Result<T, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = leeway;
        let found = jsonwebtoken::decode::<KindOnly>(token, &self.decoding, &validation)
            .map_err(token_error)?;
        if found.claims.kind != kind {
            return Err(ApiError::invalid(format!("Expected a {kind} token")));
        }
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::invalid(format!("Malformed {kind} token")))
    }

    fn encode<T: Serialize>(&self, claims: &T) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a token")))
    }

    /// Signs a private calendar feed token for attendee `sub`, valid for `ttl`.
    pub fn sign_calendar(
        &self,
        sub: i32,
        lang: &str,
        ver: i32,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        self.encode(&CalendarClaims {
            kind: "user-ical".into(),
            sub,
            user_lang: lang.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
            ver,
        })
    }

    /// Verifies a private calendar feed token.
    pub fn verify_calendar(&self, token: &str) -> Result<CalendarClaims, ApiError> {
        self.verify("user-ical", token, 0)
    }
}

/// Claims of a `user-ical` token, the capability inside a private calendar feed URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarClaims {
    /// Always `user-ical`.
    pub kind: String,
    /// The attendee's row id.
    pub sub: i32,
    /// Language of the feed's texts.
    pub user_lang: String,
    /// Issuer.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// The attendee's token version when issued (revoked with their other tokens).
    pub ver: i32,
}

fn token_error(err: jsonwebtoken::errors::Error) -> ApiError {
    match err.kind() {
        ErrorKind::ExpiredSignature => ApiError::Unauthorized("auth.tokenExpired"),
        ErrorKind::ImmatureSignature => ApiError::Unauthorized("auth.tooEarly"),
        ErrorKind::Json(_) => ApiError::invalid("Malformed token"),
        _ => ApiError::Unauthorized("auth.badToken"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(
            &Secret::new(secret),
            "plaza-test",
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn a_signed_auth_token_verifies_with_its_claims() {
        let t = tokens("0123456789abcdef0123456789abcdef");
        let jwt = t.sign_auth(7, &["admin".into()], "es", 3).expect("signs");
        let claims = t.verify_auth(&jwt).expect("verifies");
        assert_eq!(
            (claims.sub, claims.ver, claims.user_lang.as_str()),
            (7, 3, "es")
        );
        assert!(claims.has_role("admin"));
        assert!(claims.exp > claims.iat);
    }

    #[test]
    fn another_secret_or_issuer_is_a_bad_token() {
        let jwt = tokens("0123456789abcdef0123456789abcdef")
            .sign_auth(1, &[], "en", 0)
            .expect("signs");
        let err = tokens("ffffffffffffffffffffffffffffffff")
            .verify_auth(&jwt)
            .expect_err("wrong secret");
        assert_eq!(err.codes(), vec!["auth.badToken"]);
        let other = Tokens::new(
            &Secret::new("0123456789abcdef0123456789abcdef"),
            "other",
            Duration::from_secs(60),
        );
        assert_eq!(
            other.verify_auth(&jwt).expect_err("wrong issuer").codes(),
            vec!["auth.badToken"]
        );
        assert_eq!(
            other
                .verify_auth("not.a.jwt")
                .expect_err("garbage")
                .status(),
            401
        );
    }

    #[test]
    fn an_expired_token_says_so() {
        let t = Tokens::new(
            &Secret::new("0123456789abcdef0123456789abcdef"),
            "plaza-test",
            Duration::ZERO,
        );
        let mut claims = t
            .verify_auth(&t.sign_auth(1, &[], "en", 0).expect("signs"))
            .expect("fresh");
        claims.exp -= 3600;
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &t.encoding)
            .expect("encode");
        assert_eq!(
            t.verify_auth(&jwt).expect_err("expired").codes(),
            vec!["auth.tokenExpired"]
        );
    }

    #[test]
    fn a_token_of_another_kind_is_a_bad_request() {
        let t = tokens("0123456789abcdef0123456789abcdef");
        let mut claims = t
            .verify_auth(&t.sign_auth(1, &[], "en", 0).expect("signs"))
            .expect("fresh");
        claims.kind = "email-login".into();
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &t.encoding)
            .expect("encode");
        assert_eq!(t.verify_auth(&jwt).expect_err("wrong kind").status(), 400);
    }
}

/// Claims of an `email-login` token (the magic link). `jti` makes each link usable once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginClaims {
    /// Always `email-login`.
    pub kind: String,
    /// The attendee's row id.
    pub sub: i32,
    /// Roles computed when the link was requested (recomputed when it is used).
    pub user_roles: Vec<String>,
    /// Absolute client URL to land on after signing in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Unique id of this link.
    pub jti: String,
    /// Issuer.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
}

impl Tokens {
    /// Signs a login link token for attendee `sub`, valid for `ttl`.
    pub fn sign_login(
        &self,
        sub: i32,
        roles: &[String],
        redirect: Option<String>,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = LoginClaims {
            kind: "email-login".into(),
            sub,
            user_roles: roles.to_vec(),
            redirect,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a login token")))
    }

    /// Verifies a login link token (no leeway on expiry: a link's lifetime is a promise made in the email).
    pub fn verify_login(&self, token: &str) -> Result<LoginClaims, ApiError> {
        self.verify("email-login", token, 0)
    }
}
