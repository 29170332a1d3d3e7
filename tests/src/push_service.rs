//! A local Web Push service for reminder tests: a wiremock server that accepts pushes (or answers the status a test
//! sets per browser), and browsers whose subscriptions it serves. Checking a push is real: the VAPID JWT is verified
//! with the `k=` key by jsonwebtoken (an independent ES256 implementation), and the body is DECRYPTED with the
//! browser's private key and auth secret (RFC 8291 / RFC 8188 `aes128gcm`, web-push-native's receiving side).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The push service.
pub struct PushService {
    /// The wiremock server.
    pub server: MockServer,
}

/// A browser subscribed at `/push/<name>` of a [`PushService`].
pub struct Browser {
    /// Its subscription endpoint.
    pub endpoint: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

/// One push as the service received it, checked and decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decrypted JSON payload.
    pub payload: Value,
    /// `TTL` header.
    pub ttl: i64,
    /// `Urgency` header.
    pub urgency: String,
    /// The verified VAPID claims (`aud`, `exp`, `sub`).
    pub claims: Value,
    /// The `k=` key of the VAPID header.
    pub vapid_key: String,
}

impl PushService {
    /// Starts the service; every push is accepted (201) unless [`PushService::answer`] says otherwise.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Self { server }
    }

    /// A new browser subscribed at `/push/<name>`.
    pub fn browser(&self, name: &str) -> Browser {
        let mut auth = [0u8; 16];
        for (i, byte) in auth.iter_mut().enumerate() {
            *byte = u8::try_from(i).unwrap_or(0) ^ name.len() as u8 ^ 0x5a;
        }
        Browser {
            endpoint: format!("{}/push/{name}", self.server.uri()),
            secret: p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng),
            auth,
        }
    }

    /// Answers `status` to the next `times` pushes to `browser`.
    pub async fn answer(&self, browser: &Browser, status: u16, times: u64) {
        Mock::given(method("POST"))
            .and(path(browser.path()))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Every push `browser` was sent so far (whatever the answer), checked and decrypted, oldest first.
    pub async fn received(&self, browser: &Browser) -> Vec<Received> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.url.path() == browser.path())
            .map(|r| browser.open(r))
            .collect()
    }
}

impl Browser {
    /// The endpoint's path (`/push/<name>`).
    pub fn path(&self) -> String {
        url::Url::parse(&self.endpoint)
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    /// `PushSubscription.toJSON()` of this browser.
    pub fn subscription(&self) -> Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()), "auth": URL_SAFE_NO_PAD.encode(self.auth)},
        })
    }

    /// Checks the headers and the VAPID signature of a push to this browser and decrypts its payload; panics on any
    /// failure.
    pub fn open(&self, request: &Request) -> Received {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("push without {name}"))
                .to_owned()
        };
        assert_eq!(header("content-encoding"), "aes128gcm");
        let authorization = header("authorization");
        let (token, key) = authorization
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap_or_else(|| panic!("not a VAPID header: {authorization}"));
        let point = URL_SAFE_NO_PAD.decode(key).expect("k= is base64url");
        assert_eq!(
            (point.len(), point[0]),
            (65, 4),
            "k= is an uncompressed P-256 point"
        );
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .expect("EC key");
        // The audience is the origin of the endpoint the subscription named.
        let origin = url::Url::parse(&self.endpoint)
            .expect("endpoint")
            .origin()
            .ascii_serialization();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[origin.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .unwrap_or_else(|e| panic!("VAPID JWT does not verify: {e}"))
            .claims;
        let auth = web_push_native::Auth::from(self.auth);
        let plain = web_push_native::decrypt(request.body.clone(), &self.secret, &auth)
            .unwrap_or_else(|e| panic!("the payload does not decrypt: {e}"));
        Received {
            payload: serde_json::from_slice(&plain).expect("a JSON payload"),
            ttl: header("ttl").parse().expect("TTL is a number"),
            urgency: header("urgency"),
            claims,
            vapid_key: key.to_owned(),
        }
    }
}
