//! Tokens: HS256 JWTs with the deconf reference's claims (`kind`, `sub`, `user_roles`, `user_lang`, `iss`) plus what
//! the reference lacked — `exp` on every token and `ver`, the attendee's token version, so bumping the version in
//! the database revokes every token issued before. Verification failures map to the reference's codes.

use std::time::Duration;

use hmac::Mac as _;
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
    /// Keys the confirm-page nonces (HMAC-SHA256), distinct from the JWT signatures by their input's prefix.
    nonce_key: std::sync::Arc<[u8]>,
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
            nonce_key: secret.expose().as_bytes().into(),
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
        // A header that does not parse or names another algorithm (`alg: none`…) is a bad token like a bad
        // signature: 401. Only a correctly signed token of the wrong kind or shape is a 400 (the reference's).
        match jsonwebtoken::decode_header(token) {
            Ok(header) if header.alg == Algorithm::HS256 => {}
            _ => return Err(ApiError::Unauthorized("auth.badToken")),
        }
        let found = jsonwebtoken::decode::<KindOnly>(token, &self.decoding, &validation)
            .map_err(token_error)?;
        if found.claims.kind != kind {
            return Err(ApiError::invalid(format!(
                "Expected {} {kind} token",
                if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            )));
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
        let err = t.verify_auth(&jwt).expect_err("wrong kind");
        assert_eq!(err.status(), 400);
        assert!(
            format!("{err:?}").contains("Expected an auth token"),
            "{err:?}"
        );
    }

    #[test]
    fn unsigned_and_unparseable_tokens_are_401() {
        let t = tokens("0123456789abcdef0123456789abcdef");
        let b64 = |v: serde_json::Value| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                v.to_string(),
            )
        };
        let claims = b64(
            serde_json::json!({"kind": "auth", "sub": 1, "user_roles": ["admin"],
            "user_lang": "en", "iss": "plaza-test", "iat": 0, "exp": 4_000_000_000_i64, "ver": 0}),
        );
        for header in [
            serde_json::json!({"alg": "none", "typ": "JWT"}),
            serde_json::json!({"alg": "HS512", "typ": "JWT"}),
            serde_json::json!({"typ": "JWT"}),
        ] {
            let unsigned = format!("{}.{claims}.", b64(header.clone()));
            let err = t.verify_auth(&unsigned).expect_err("unsigned");
            assert_eq!(
                (err.status(), err.codes()),
                (401, vec!["auth.badToken".to_owned()]),
                "{header}"
            );
        }
        assert_eq!(
            t.verify_auth("%%%.%%%.%%%").expect_err("garbage").status(),
            401
        );
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
    /// The attendee's language when the link was sent (the confirm page speaks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
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
        lang: Option<&str>,
        redirect: Option<String>,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = LoginClaims {
            kind: "email-login".into(),
            sub,
            user_roles: roles.to_vec(),
            lang: lang.map(str::to_owned),
            redirect,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a login token")))
    }

    /// The nonce of the confirm form of login link `jti`: HMAC-SHA256 under the JWT secret, base64url. A form can
    /// only confirm the link whose page it came from.
    pub fn login_nonce(&self, jti: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.nonce_mac(jti).finalize().into_bytes())
    }

    /// True when `nonce` is the confirm-form nonce of link `jti` (constant-time comparison).
    pub fn login_nonce_is_valid(&self, jti: &str, nonce: &str) -> bool {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(nonce.trim())
            .is_ok_and(|bytes| self.nonce_mac(jti).verify_slice(&bytes).is_ok())
    }

    fn nonce_mac(&self, jti: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::KeyInit as _;
        // HMAC takes keys of any length, so this cannot fail; an empty key still yields a per-link value.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.nonce_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"plaza/login-confirm/");
        mac.update(jti.as_bytes());
        mac
    }

    /// Verifies a login link token (no leeway on expiry: a link's lifetime is a promise made in the email).
    pub fn verify_login(&self, token: &str) -> Result<LoginClaims, ApiError> {
        self.verify("email-login", token, 0)
    }
}
