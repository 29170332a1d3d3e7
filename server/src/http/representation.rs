//! Serving pre-built [`Representation`]s: content negotiation (brotli, gzip, identity), strong ETags per encoding
//! and `If-None-Match` → 304. Used by every hot read (`/schedule`, `/schedule/whats-on`, `/content/:slug`).

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

/// Serves a pre-built representation: 304 when `If-None-Match` names it, else the best encoding with its ETag.
pub fn serve(req: &HttpRequest, rep: &Representation) -> HttpResponse {
    let encoding = negotiate(req.headers().get(header::ACCEPT_ENCODING));
    let (body, etag, coding) = match encoding {
        Encoding::Brotli => (&rep.br, format!("\"{}-br\"", rep.tag), Some("br")),
        Encoding::Gzip => (&rep.gzip, format!("\"{}-gz\"", rep.tag), Some("gzip")),
        Encoding::Identity => (&rep.identity, format!("\"{}\"", rep.tag), None),
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
        .insert_header((header::ETAG, etag))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=0, must-revalidate"));
    if matches {
        return response.finish();
    }
    if let Some(coding) = coding {
        response.insert_header((header::CONTENT_ENCODING, coding));
    }
    response.content_type("application/json").body(body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_containing_a_dash_still_match() {
        let rep = Representation {
            tag: "ab-cd".into(),
            identity: Default::default(),
            gzip: Default::default(),
            br: Default::default(),
        };
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

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(negotiate(Some(&h("gzip, deflate, br"))), Encoding::Brotli);
        assert_eq!(negotiate(Some(&h("gzip, br;q=0"))), Encoding::Gzip);
        assert_eq!(negotiate(Some(&h("identity"))), Encoding::Identity);
        assert_eq!(negotiate(None), Encoding::Identity);
    }
}
