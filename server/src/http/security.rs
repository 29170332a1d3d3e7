//! Security headers on every response — API JSON, HTML pages (sign-in confirm, share, lint), the web client's files
//! and errors — set in one place ([`secure`], a step of the API's one middleware layer) rather than per handler, plus
//! the live listener's own responses through [`SecurityHeaders::for_response`]. Two policies, by the response's
//! `Content-Type`:
//!
//! - **Pages** (everything that is not JSON: HTML, the client's scripts and styles, calendars, polling): helmet's
//!   defaults (what the Node original sent), adjusted for the SPA: scripts only from the origin (no inline script;
//!   the client build has none), inline styles allowed (the small server-rendered pages use a `<style>` element),
//!   images and iframes from any https origin (session covers, embedded players in content pages), and
//!   `connect-src` open to the API and socket.io origins, websockets included.
//! - **JSON** (`application/json`, `*+json`): nothing in it loads or runs, so the OWASP REST set: `nosniff`,
//!   `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` and `X-Frame-Options: DENY` (a JSON URL
//!   opened in a tab may load nothing and be framed by no one). The page-only headers (the long page policy,
//!   `Referrer-Policy`, `Cross-Origin-Opener-Policy`, `X-Permitted-Cross-Domain-Policies`) mean nothing to a `fetch`;
//!   leaving them off the hot JSON reads saves ~450 bytes and three header writes per response (issue #19).
//!
//! HSTS is sent only over https, with either policy: when the public URLs are https, or a trusted proxy says
//! `X-Forwarded-Proto: https`. A header a handler set itself (the confirm page's `Referrer-Policy`) is kept.
//!
//! The same step answers `HEAD` like `GET` (actix routes match the method exactly): the request runs as a `GET` and
//! the HTTP/1 codec, which remembers the original method, sends the headers without the body.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
use plaza_core::Config;
use plaza_core::proxy::TrustedProxies;

/// `X-Forwarded-Proto`, by constant (a `&str` name is parsed on every lookup).
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// `Strict-Transport-Security` over https: one year (no `includeSubDomains`: other hosts of the domain are not ours
/// to pin).
pub const HSTS: &str = "max-age=31536000";

/// The headers of every response, built once from the configuration.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// Pages and every other response that is not JSON.
    page: Policy,
    /// JSON responses.
    json: Policy,
    /// The public URLs are https: HSTS on every response.
    https: bool,
    trusted: TrustedProxies,
}

/// One set of headers, as text and prebuilt: per response the header values are only cloned (a reference count).
#[derive(Debug, Clone)]
struct Policy {
    pairs: Vec<(&'static str, String)>,
    prebuilt: Vec<(HeaderName, HeaderValue)>,
}

impl Policy {
    fn new(pairs: Vec<(&'static str, String)>) -> Self {
        let prebuilt = pairs
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).ok()?,
                ))
            })
            .collect();
        Self { pairs, prebuilt }
    }
}

/// The `Content-Security-Policy` of JSON responses.
pub const JSON_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Whether a `Content-Type` is JSON (`application/json`, `application/<something>+json`, any parameters).
pub fn is_json(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let Some(subtype) = essence
        .get(..12)
        .filter(|kind| kind.eq_ignore_ascii_case(b"application/"))
        .map(|_| &essence[12..])
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case(b"json")
        || (subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

impl SecurityHeaders {
    /// The policies for `config` (its public URLs, socket URL and trusted proxies).
    pub fn new(config: &Config) -> Self {
        let https =
            config.self_url.starts_with("https://") && config.client_url.starts_with("https://");
        let page = Policy::new(vec![
            ("content-security-policy", csp(config, https)),
            ("x-content-type-options", "nosniff".into()),
            ("referrer-policy", "no-referrer".into()),
            ("x-frame-options", "SAMEORIGIN".into()),
            ("cross-origin-opener-policy", "same-origin".into()),
            ("x-permitted-cross-domain-policies", "none".into()),
        ]);
        let json = Policy::new(vec![
            ("content-security-policy", JSON_CSP.into()),
            ("x-content-type-options", "nosniff".into()),
            ("x-frame-options", "DENY".into()),
        ]);
        Self {
            page,
            json,
            https,
            trusted: config.trusted_proxies.clone(),
        }
    }

    /// The policy of a response with this `Content-Type`.
    fn policy(&self, content_type: Option<&[u8]>) -> &Policy {
        if content_type.is_some_and(is_json) {
            &self.json
        } else {
            &self.page
        }
    }

    /// The headers for a response of `content_type` to a request from `peer` with these `X-Forwarded-Proto`
    /// values: the policy's headers, and HSTS when the request reached us over https.
    pub fn for_response<'a>(
        &'a self,
        content_type: Option<&[u8]>,
        peer: IpAddr,
        mut forwarded_proto: impl Iterator<Item = &'a str>,
    ) -> impl Iterator<Item = (&'static str, &'a str)> {
        let https = self.is_https(peer, &mut forwarded_proto);
        self.policy(content_type)
            .pairs
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(https.then_some(("strict-transport-security", HSTS)))
    }

    /// Whether a request from `peer` with these `X-Forwarded-Proto` values reached us over https.
    fn is_https<'a>(
        &self,
        peer: IpAddr,
        forwarded_proto: &mut impl Iterator<Item = &'a str>,
    ) -> bool {
        self.https
            || (self.trusted.trusts(peer)
                && forwarded_proto.any(|p| {
                    p.split(',')
                        .next_back()
                        .is_some_and(|last| last.trim().eq_ignore_ascii_case("https"))
                }))
    }
}

/// The `Content-Security-Policy` of `config`.
fn csp(config: &Config, https: bool) -> String {
    let mut connect = vec!["'self'".to_owned()];
    for url in [
        Some(&config.self_url),
        Some(&config.client_url),
        config.socket_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let origin = origin(url);
        // Older Safari does not extend 'self' to websockets: name the ws(s) form of each origin too.
        let ws = origin
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        for source in [origin.to_owned(), ws] {
            if !connect.contains(&source) {
                connect.push(source);
            }
        }
    }
    let client = origin(&config.client_url);
    let mut policy = format!(
        "default-src 'self'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: https:; font-src 'self' data:; connect-src {}; frame-src https:; \
         object-src 'none'; base-uri 'self'; form-action 'self' {client}; frame-ancestors 'self'",
        connect.join(" ")
    );
    if https {
        policy.push_str("; upgrade-insecure-requests");
    }
    policy
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    match url[host_start..].find('/') {
        Some(end) => &url[..host_start + end],
        None => url,
    }
}

/// Before the request is routed: runs `HEAD` as `GET`; returns the policies to apply to its response.
pub fn prepare(req: &mut ServiceRequest) -> Option<web::Data<SecurityHeaders>> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    req.app_data::<web::Data<SecurityHeaders>>().cloned()
}

/// After: adds the headers of the response's policy it does not have yet.
pub fn secure<B>(policy: &SecurityHeaders, res: &mut ServiceResponse<B>) {
    let peer = res
        .request()
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let https = policy.is_https(
        peer,
        &mut res
            .request()
            .headers()
            .get_all(X_FORWARDED_PROTO)
            .filter_map(|v| v.to_str().ok()),
    );
    let headers = res.headers_mut();
    let chosen = policy.policy(
        headers
            .get(actix_web::http::header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
    );
    for (name, value) in &chosen.prebuilt {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    if https {
        let name = HeaderName::from_static("strict-transport-security");
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(HSTS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
        Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).expect("valid")
    }

    fn names(headers: &SecurityHeaders, peer: &str, proto: &[&'static str]) -> Vec<&'static str> {
        let peer = peer.parse().expect("address");
        headers
            .for_response(Some(b"text/html"), peer, proto.iter().copied())
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn the_policy_allows_the_api_and_socket_origins_and_no_inline_script() {
        let headers = SecurityHeaders::new(&config(&[
            ("SOCKET_URL", "https://live.example.org"),
            ("CLIENT_URL", "https://app.example.org/"),
        ]));
        let csp = &headers.page.pairs[0].1;
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3000 https://app.example.org wss://app.example.org https://live.example.org wss://live.example.org;"),
            "{csp}"
        );
        assert!(
            csp.contains("form-action 'self' https://app.example.org;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        assert!(!csp.contains("upgrade-insecure-requests"), "http: {csp}");
        assert_eq!(
            origin("https://a.example:8443/api/"),
            "https://a.example:8443"
        );
        assert_eq!(origin("http://a.example"), "http://a.example");
    }

    #[test]
    fn json_gets_the_short_policy_and_everything_else_the_page_policy() {
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
        ] {
            assert!(is_json(json.as_bytes()), "{json}");
        }
        for other in [
            "text/html; charset=utf-8",
            "text/javascript",
            "application/jsonp",
            "application/+json",
            "text/json",
            "text/calendar",
            "",
        ] {
            assert!(!is_json(other.as_bytes()), "{other}");
        }
        let headers = SecurityHeaders::new(&config(&[]));
        let peer = "8.8.8.8".parse().expect("address");
        let json: Vec<_> = headers
            .for_response(Some(b"application/json"), peer, std::iter::empty())
            .collect();
        assert_eq!(
            json,
            vec![
                ("content-security-policy", JSON_CSP),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
            ]
        );
        let page = names(&headers, "8.8.8.8", &[]);
        assert_eq!(page.len(), 6, "{page:?}");
        let unknown: Vec<_> = headers
            .for_response(None, peer, std::iter::empty())
            .map(|(name, _)| name)
            .collect();
        assert_eq!(unknown, page, "no content type: the page policy");
        let https = SecurityHeaders::new(&config(&[
            ("SELF_URL", "https://plaza.example.org/api/"),
            ("CLIENT_URL", "https://plaza.example.org/"),
        ]));
        assert!(
            https
                .for_response(Some(b"application/json"), peer, std::iter::empty())
                .any(|(name, _)| name == "strict-transport-security"),
            "HSTS with either policy"
        );
    }

    #[test]
    fn hsts_only_over_https() {
        let http = SecurityHeaders::new(&config(&[]));
        assert!(!names(&http, "127.0.0.1", &[]).contains(&"strict-transport-security"));
        assert!(
            names(&http, "127.0.0.1", &["https"]).contains(&"strict-transport-security"),
            "a trusted proxy terminated TLS"
        );
        assert!(
            !names(&http, "8.8.8.8", &["https"]).contains(&"strict-transport-security"),
            "an untrusted peer's claim is ignored"
        );
        let https = SecurityHeaders::new(&config(&[
            ("SELF_URL", "https://plaza.example.org/api/"),
            ("CLIENT_URL", "https://plaza.example.org/"),
        ]));
        assert!(names(&https, "8.8.8.8", &[]).contains(&"strict-transport-security"));
        assert!(
            https.page.pairs[0]
                .1
                .ends_with("; upgrade-insecure-requests")
        );
    }
}
