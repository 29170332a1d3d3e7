//! Serving pre-built [`Representation`]s: content negotiation (brotli, gzip, identity), strong ETags per encoding
//! and `If-None-Match` → 304. Used by every hot read (`/schedule`, `/schedule/whats-on`, `/content/:slug`) and the
//! web client's files.
//!
//! The body is the shared `Bytes` itself, one piece: plaza's actix-http (`server/vendor/actix-http`, change 1) writes
//! a large sized body from it after the head in one vectored write, without copying it into the connection's
//! write buffer (upstream copied it, and a 700 KB piece grew that buffer past the size it keeps).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::snapshot::Representation;

/// The encodings plaza serves, best first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// Picks the best encoding the client accepts (`q=0` excludes one).
fn negotiate(accept: Option<&HeaderValue>) -> Encoding {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return Encoding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut pieces = part.split(';');
            let coding = pieces.next().unwrap_or_default().trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
        })
    };
    if accepts("br") {
        Encoding::Brotli
    } else if accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Cache policy of resources that change in place: always revalidate (cheap: ETag → 304).
pub const REVALIDATE: &str = "public, max-age=0, must-revalidate";

/// Serves a pre-built representation that changes in place (see [`serve_with`]).
pub fn serve(req: &HttpRequest, rep: &Representation) -> HttpResponse {
    serve_with(req, rep, REVALIDATE)
}

/// Serves a pre-built representation: 304 when `If-None-Match` names it, else the best encoding it has with its
/// ETag and `cache_control`. Every header value is prebuilt or static: a hot read allocates nothing but the response.
pub fn serve_with(
    req: &HttpRequest,
    rep: &Representation,
    cache_control: &'static str,
) -> HttpResponse {
    let encoding = negotiate(req.headers().get(header::ACCEPT_ENCODING));
    let (body, etag, coding) = match (encoding, &rep.br, &rep.gzip) {
        (Encoding::Brotli, Some(br), _) => (br, &rep.etags.br, Some("br")),
        (Encoding::Brotli | Encoding::Gzip, _, Some(gz)) => (gz, &rep.etags.gzip, Some("gzip")),
        _ => (&rep.identity, &rep.etags.identity, None),
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim().trim_start_matches("W/").trim_matches('"');
                // The tag is URL-safe base64 (it may contain `-`): strip only the encoding suffixes.
                let t = t
                    .strip_suffix("-br")
                    .or_else(|| t.strip_suffix("-gz"))
                    .unwrap_or(t);
                t == "*" || t == rep.tag
            })
        });
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ));
    if matches {
        return response.finish();
    }
    if let Some(coding) = coding {
        response.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(coding)));
    }
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(rep.content_type),
    ));
    response.body(body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::{BodySize, MessageBody as _};

    #[test]
    fn tags_containing_a_dash_still_match() {
        let rep = Representation::bytes(Vec::new(), "text/plain", false)
            .expect("rep")
            .with_tag("ab-cd");
        for sent in [
            "\"ab-cd\"",
            "\"ab-cd-br\"",
            "W/\"ab-cd-gz\"",
            "\"x\", \"ab-cd\"",
        ] {
            let req = actix_web::test::TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, sent))
                .to_http_request();
            assert_eq!(serve(&req, &rep).status(), 304, "{sent}");
        }
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, "\"ab\""))
            .to_http_request();
        assert_eq!(serve(&req, &rep).status(), 200);
    }

    #[actix_web::test]
    async fn a_large_body_goes_out_whole_and_sized() {
        let body: Vec<u8> = (0..700 * 1024 + 17).map(|i| (i % 251) as u8).collect();
        let rep =
            Representation::bytes(body.clone(), "application/octet-stream", false).expect("rep");
        let req = actix_web::test::TestRequest::default().to_http_request();
        let res = serve(&req, &rep);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).expect("type"),
            "application/octet-stream"
        );
        let (_, body_out) = res.into_parts();
        assert_eq!(body_out.size(), BodySize::Sized(body.len() as u64));
        let sent = actix_web::body::to_bytes(body_out).await.expect("body");
        assert_eq!(sent.as_ref(), body.as_slice());
    }

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(negotiate(Some(&h("gzip, deflate, br"))), Encoding::Brotli);
        assert_eq!(negotiate(Some(&h("gzip, br;q=0"))), Encoding::Gzip);
        assert_eq!(negotiate(Some(&h("identity"))), Encoding::Identity);
        assert_eq!(negotiate(None), Encoding::Identity);
    }
}
