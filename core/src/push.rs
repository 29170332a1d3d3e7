//! Web Push (#20 reminders), the pure parts: the VAPID key (RFC 8292: parse `VAPID_PRIVATE_KEY`, publish its public
//! key, sign the `Authorization: vapid t=…, k=…` JWT for one push service) and the strict validation of a browser's
//! `PushSubscription.toJSON()`. No I/O: the reminders job encrypts (RFC 8291) and sends; the API stores.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde::Deserialize;

use crate::error::{ApiError, Failure};

/// Longest accepted endpoint URL (push services use well under 1 KB).
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// Subscriptions kept per attendee (one per browser); saving one more replaces the oldest.
pub const MAX_PER_ATTENDEE: i64 = 10;
/// Bytes of an uncompressed P-256 public key (`keys.p256dh`).
pub const P256DH_LEN: usize = 65;
/// Bytes of the authentication secret (`keys.auth`).
pub const AUTH_LEN: usize = 16;

/// The application server's VAPID key pair (`VAPID_PRIVATE_KEY`).
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey(public {})", self.public)
    }
}

impl PartialEq for VapidKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl VapidKey {
    /// Parses a P-256 private key: the base64url raw 32-byte scalar (what `plaza vapid-keygen` and the web-push
    /// tools print), or PEM (`-----BEGIN PRIVATE KEY-----` PKCS#8, or `-----BEGIN EC PRIVATE KEY-----` SEC1 from
    /// `openssl ecparam -name prime256v1 -genkey`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let secret = if text.starts_with("-----BEGIN") {
            // A PEM in an environment variable often has its newlines written as `\n`.
            let pem = text.replace("\\n", "\n");
            p256::SecretKey::from_pkcs8_pem(&pem)
                .or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
                .map_err(|_| "is not a P-256 private key in PEM (PKCS#8 or SEC1)".to_owned())?
        } else {
            let raw = URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| "is neither PEM nor base64url".to_owned())?;
            if raw.len() != 32 {
                return Err(format!(
                    "decodes to {} bytes; a raw P-256 private key is 32",
                    raw.len()
                ));
            }
            p256::SecretKey::from_slice(&raw)
                .map_err(|_| "is not a valid P-256 private key".to_owned())?
        };
        Ok(Self::from_secret(&secret))
    }

    /// A new random key (for `plaza vapid-keygen` and tests).
    pub fn generate() -> Self {
        Self::from_secret(&p256::SecretKey::random(
            &mut p256::elliptic_curve::rand_core::OsRng,
        ))
    }

    fn from_secret(secret: &p256::SecretKey) -> Self {
        let point = secret.public_key().to_encoded_point(false);
        Self {
            signing: SigningKey::from(secret),
            public: URL_SAFE_NO_PAD.encode(point.as_bytes()),
        }
    }

    /// The private scalar, base64url (what `VAPID_PRIVATE_KEY` takes).
    pub fn private_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.to_bytes())
    }

    /// The public key, base64url of the uncompressed point: the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<ES256 JWT {aud, exp, sub}>, k=<public key>`.
    /// `aud` is the endpoint's origin; push services refuse an `exp` more than 24 h ahead.
    pub fn authorization(
        &self,
        endpoint: &url::Url,
        subject: &str,
        expires: DateTime<Utc>,
    ) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": expires.timestamp(),
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signed}.{signature}, k={}", self.public)
    }
}

/// Checks `VAPID_SUBJECT`: a `mailto:` or `https:` URL the push service can contact (RFC 8292 §2.1).
pub fn check_subject(subject: &str) -> Result<(), String> {
    let ok = match url::Url::parse(subject) {
        Ok(url) if url.scheme() == "mailto" => url.path().contains('@'),
        Ok(url) if url.scheme() == "https" => url.host_str().is_some(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("expected a mailto: address or an https: URL".into())
    }
}

/// A browser's `PushSubscription.toJSON()` as posted (unknown fields such as `expirationTime` are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionJson {
    /// The push service URL.
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: SubscriptionKeys,
}

/// `keys` of a [`SubscriptionJson`], base64url.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (uncompressed point).
    pub p256dh: String,
    /// The authentication secret.
    pub auth: String,
}

/// A validated subscription, keys decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The push service URL.
    pub endpoint: String,
    /// 65 bytes, a point on P-256.
    pub p256dh: Vec<u8>,
    /// 16 bytes.
    pub auth: Vec<u8>,
}

/// Checks an endpoint URL: at most [`MAX_ENDPOINT_LEN`] bytes, `https` with a host name, no credentials. With
/// `allow_http` (`PUSH_ALLOW_HTTP`, for tests and local push services) `http` and IP or `localhost` hosts pass too;
/// without it they do not, so a subscription cannot point plaza's requests at an address inside its network.
pub fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<url::Url, String> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(format!("longer than {MAX_ENDPOINT_LEN} characters"));
    }
    let url = url::Url::parse(endpoint).map_err(|_| "not a URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = match url.host() {
        Some(host) => host,
        None => return Err("has no host".into()),
    };
    if allow_http {
        return match url.scheme() {
            "https" | "http" => Ok(url),
            _ => Err("expected an http(s) URL".into()),
        };
    }
    if url.scheme() != "https" {
        return Err("expected an https URL".into());
    }
    match host {
        url::Host::Domain(name)
            if !name.eq_ignore_ascii_case("localhost") && name.contains('.') =>
        {
            Ok(url)
        }
        _ => Err("expected the host name of a push service".into()),
    }
}

impl SubscriptionJson {
    /// Validates every field, reporting each problem (`endpoint`, `keys.p256dh`, `keys.auth`).
    pub fn validate(&self, allow_http: bool) -> Result<Subscription, ApiError> {
        let mut failures = Vec::new();
        if let Err(reason) = check_endpoint(&self.endpoint, allow_http) {
            failures.push(Failure::new("endpoint", reason));
        }
        let p256dh = decode_key(&self.keys.p256dh, P256DH_LEN)
            .and_then(|key| match p256::PublicKey::from_sec1_bytes(&key) {
                Ok(_) => Ok(key),
                Err(_) => Err("is not a P-256 public key".to_owned()),
            })
            .map_err(|reason| failures.push(Failure::new("keys.p256dh", reason)));
        let auth = decode_key(&self.keys.auth, AUTH_LEN)
            .map_err(|reason| failures.push(Failure::new("keys.auth", reason)));
        match (p256dh, auth) {
            (Ok(p256dh), Ok(auth)) if failures.is_empty() => Ok(Subscription {
                endpoint: self.endpoint.clone(),
                p256dh,
                auth,
            }),
            _ => Err(ApiError::validation(failures)),
        }
    }
}

fn decode_key(text: &str, len: usize) -> Result<Vec<u8>, String> {
    // base64url without padding is what browsers send; padding is tolerated. Bounded before decoding.
    if text.len() > 4 * len {
        return Err(format!("expected {len} bytes, base64url"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| "not base64url".to_owned())?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(format!("expected {len} bytes, got {}", bytes.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(endpoint: &str, p256dh: &str, auth: &str) -> SubscriptionJson {
        SubscriptionJson {
            endpoint: endpoint.into(),
            keys: SubscriptionKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }
    }

    fn browser_keys() -> (String, String) {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        (
            URL_SAFE_NO_PAD.encode(point.as_bytes()),
            URL_SAFE_NO_PAD.encode([7u8; 16]),
        )
    }

    #[test]
    fn a_key_round_trips_through_its_base64url_form() {
        let key = VapidKey::generate();
        let again = VapidKey::parse(&key.private_base64url()).expect("parses");
        assert_eq!(again, key);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(key.public_key()).expect("b64").len(),
            65
        );
    }

    #[test]
    fn pem_keys_parse_in_pkcs8_and_sec1() {
        use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let expected = VapidKey::from_secret(&secret);
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
        let sec1 = secret.to_sec1_pem(LineEnding::LF).expect("sec1");
        assert_eq!(VapidKey::parse(&pkcs8).expect("pkcs8 parses"), expected);
        assert_eq!(VapidKey::parse(&sec1).expect("sec1 parses"), expected);
        // Newlines written as `\n` in one line of an env file.
        assert_eq!(
            VapidKey::parse(&sec1.replace('\n', "\\n")).expect("escaped"),
            expected
        );
        assert!(
            VapidKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [
            "",
            "not base64!",
            "AAAA",
            &URL_SAFE_NO_PAD.encode([0u8; 32]),
        ] {
            assert!(VapidKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subjects_are_mailto_or_https() {
        assert!(check_subject("mailto:ops@example.org").is_ok());
        assert!(check_subject("https://example.org/contact").is_ok());
        for bad in ["ops@example.org", "http://example.org", "mailto:nobody", ""] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_vapid_header_is_a_signed_jwt_for_the_endpoint_origin() {
        let key = VapidKey::generate();
        let endpoint = url::Url::parse("https://push.example.net/send/abc?x=1").expect("url");
        let header = key.authorization(&endpoint, "mailto:ops@example.org", Utc::now());
        let (token, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=…, k=…");
        assert_eq!(k, key.public_key());
        let claims = token.split('.').nth(1).expect("claims");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["sub"], "mailto:ops@example.org");
    }

    #[test]
    fn subscriptions_are_validated_strictly() {
        let (p256dh, auth) = browser_keys();
        let ok = subscription("https://fcm.googleapis.com/fcm/send/x", &p256dh, &auth);
        let stored = ok.validate(false).expect("valid");
        assert_eq!((stored.p256dh.len(), stored.auth.len()), (65, 16));

        let cases = [
            (
                "http://push.example.net/x",
                p256dh.as_str(),
                auth.as_str(),
                "endpoint",
            ),
            ("https://127.0.0.1/x", &p256dh, &auth, "endpoint"),
            ("https://localhost/x", &p256dh, &auth, "endpoint"),
            (
                "https://user:pw@push.example.net/x",
                &p256dh,
                &auth,
                "endpoint",
            ),
            ("ftp://push.example.net/x", &p256dh, &auth, "endpoint"),
            ("https://push.example.net/x", "AAAA", &auth, "keys.p256dh"),
            ("https://push.example.net/x", &auth, &auth, "keys.p256dh"),
            ("https://push.example.net/x", &p256dh, &p256dh, "keys.auth"),
            ("https://push.example.net/x", &p256dh, "***", "keys.auth"),
        ];
        for (endpoint, key, secret, path) in cases {
            let err = subscription(endpoint, key, secret)
                .validate(false)
                .expect_err(endpoint);
            let failures = err.envelope().failures.expect("failures");
            assert_eq!(failures[0].path, path, "{endpoint} {key} {secret}");
        }
        let long = format!("https://push.example.net/{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(subscription(&long, &p256dh, &auth).validate(false).is_err());
        // A point not on the curve.
        let mut off = URL_SAFE_NO_PAD.decode(&p256dh).expect("b64");
        off[64] ^= 1;
        let off = URL_SAFE_NO_PAD.encode(off);
        assert!(
            subscription("https://push.example.net/x", &off, &auth)
                .validate(false)
                .is_err()
        );
        // The test setting admits a local http push service.
        assert!(
            subscription("http://127.0.0.1:9/push", &p256dh, &auth)
                .validate(true)
                .is_ok()
        );
    }
}
