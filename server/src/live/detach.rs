//! Detaching a socket.io request's head from the connection's read buffer (issue #19: RSS per connection).
//!
//! hyper parses a request head without copying: the URI and every header value are slices of the connection's
//! 8 KiB read buffer. engine.io and socket.io keep the request's parts for the whole life of a socket, so each
//! websocket held that whole buffer (8 KiB of the 22.6 KiB a connection cost) although its head is a few hundred
//! bytes. [`Detach`] copies the URI and header values into allocations of their own before the request reaches
//! socketioxide, so hyper's buffer is freed once the connection is upgraded.

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Uri};

/// `req` with its URI and header values copied out of whatever buffer they share (extensions and body kept).
pub fn detach<B>(req: Request<B>) -> Request<B> {
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let copy = match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(mut copy) => {
                copy.set_sensitive(value.is_sensitive());
                copy
            }
            // Only what `from_bytes` refuses is shared as it was (hyper does not produce such values).
            Err(_) => value.clone(),
        };
        headers.append(name.clone(), copy);
    }
    parts.headers = headers;
    Request::from_parts(parts, body)
}

/// A service handing `inner` detached requests ([`detach`]).
#[derive(Debug, Clone)]
pub struct Detach<S>(pub S);

impl<S, B> tower_service::Service<Request<B>> for Detach<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        self.0.call(detach(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A request whose URI and header values are slices of `buffer`, as hyper parses them.
    fn parsed_in_place(buffer: &Bytes) -> Request<()> {
        let head = "GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: plaza\r\nX-Token: s3cret\r\n";
        let slice = |text: &str| {
            let at = head.find(text).expect("in the head");
            buffer.slice(at..at + text.len())
        };
        let mut req = Request::new(());
        *req.uri_mut() = Uri::from_maybe_shared(slice("/api/socket.io/?EIO=4&transport=websocket"))
            .expect("uri");
        let headers = req.headers_mut();
        headers.insert(
            "host",
            HeaderValue::from_maybe_shared(slice("plaza")).expect("value"),
        );
        let mut token = HeaderValue::from_maybe_shared(slice("s3cret")).expect("value");
        token.set_sensitive(true);
        headers.insert("x-token", token);
        headers.append("host", HeaderValue::from_static("second"));
        req
    }

    fn buffer() -> Bytes {
        let mut buffer = b"GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: plaza\r\nX-Token: s3cret\r\n".to_vec();
        buffer.resize(8192, 0);
        Bytes::from(buffer)
    }

    #[test]
    fn a_detached_request_holds_no_part_of_the_read_buffer() {
        let buffer = buffer();
        let kept = detach(parsed_in_place(&buffer));
        assert!(
            buffer.is_unique(),
            "the read buffer is still referenced by the request"
        );
        assert_eq!(kept.uri(), "/api/socket.io/?EIO=4&transport=websocket");
        assert_eq!(kept.uri().query(), Some("EIO=4&transport=websocket"));
        let hosts: Vec<_> = kept.headers().get_all("host").iter().collect();
        assert_eq!(hosts, ["plaza", "second"], "repeated headers kept in order");
        let token = kept.headers().get("x-token").expect("kept");
        assert_eq!(token, "s3cret");
        assert!(token.is_sensitive(), "sensitivity kept");
    }

    #[test]
    fn without_detaching_the_buffer_stays_referenced() {
        // What the fix is about: the parts of a request parsed in place pin the whole buffer.
        let buffer = buffer();
        let kept = parsed_in_place(&buffer);
        assert!(!buffer.is_unique());
        drop(kept);
        assert!(buffer.is_unique());
    }
}
