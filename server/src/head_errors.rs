//! The JSON envelope on the errors the HTTP layer writes by itself, before any route or middleware sees a request:
//! actix-http and hyper answer a request head they cannot accept — malformed, a URI over 64 KiB (`http` refuses
//! it), more than 96 headers or a head over 128 KiB, a head that never finished arriving — with a bodyless
//! 400 / 408 / 414 / 431 and close the connection, and neither has a hook to change that body. [`EnvelopeIo`] wraps a
//! connection: when the server writes such a response (exactly a response head with `content-length: 0` and
//! `connection: close`, a status of that list, no content type) it gets the envelope as its body instead. Everything
//! else passes through untouched. Used by the API's listener (every mode, `all` on one port too) and the live listener.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use plaza_core::ApiError;
use tokio::io::AsyncWrite;

/// A connection whose HTTP-layer error responses carry the JSON envelope.
#[derive(Debug)]
pub struct EnvelopeIo<T> {
    inner: T,
    /// A rewritten response not yet written to `inner`.
    pending: Vec<u8>,
}

impl<T> EnvelopeIo<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The message of each HTTP-layer error status the envelope replaces; `None` for any other status.
fn message(status: &[u8]) -> Option<(u16, &'static str)> {
    Some(match status {
        b"400" => (400, "The request could not be parsed"),
        b"408" => (408, "The request took too long to arrive"),
        b"413" => (413, "The request is too large"),
        b"414" => (414, "The request URI is too long"),
        b"431" => (431, "The request headers are too large"),
        _ => return None,
    })
}

/// The envelope response replacing `head`, if `head` is a bodyless HTTP-layer error response.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let (code, text) = message(status.get(..3)?.as_bytes())?;
    let headers: Vec<&str> = lines.collect();
    let named = |name: &str, value: &str| {
        headers.iter().any(|h| {
            h.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case(value)
            })
        })
    };
    let has = |name: &str| {
        headers.iter().any(|h| {
            h.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
    };
    if !named("content-length", "0") || !named("connection", "close") || has("content-type") {
        return None;
    }
    let mut envelope = error_for(code).envelope();
    envelope.error = text.to_owned();
    let body = serde_json::to_string(&envelope).ok()?;
    let mut out = String::with_capacity(head.len() + body.len() + 64);
    out.push_str(status_line);
    out.push_str("\r\n");
    for header in headers.iter().filter(|h| {
        !h.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
    }) {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("content-type: application/json\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    out.push_str(&body);
    Some(out.into_bytes())
}

/// The error whose codes the envelope of `status` carries.
fn error_for(status: u16) -> ApiError {
    match status {
        413 => ApiError::PayloadTooLarge { limit: 0 },
        _ => ApiError::bad_request("general.badRequest"),
    }
}

impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
    /// When `buf` is an HTTP-layer error head to give the envelope: takes its replacement as pending (written now if
    /// possible, else by the flush the server does next) and answers the write as accepted in full. `None` for
    /// anything else, which the caller writes through.
    fn replace_error_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        // Cheap test first: only a response head starting a write can be one of these.
        if !buf.starts_with(b"HTTP/1.") {
            return None;
        }
        self.pending = rewrite(buf)?;
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            _ => Poll::Ready(Ok(buf.len())),
        })
    }

    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

crate::io_wrap::read_through!(EnvelopeIo);

crate::io_wrap::fd_through!(EnvelopeIo);

impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(accepted) = self.replace_error_head(cx, buf) {
            return accepted;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    /// A head with its body in one write (the patched actix-http writes a large body uncopied after the head): the
    /// head alone when it is one to rewrite (those have no body), else both straight through.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|buf| !buf.is_empty())
            && let Some(accepted) = self.replace_error_head(cx, first)
        {
            return accepted;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn a_bodyless_layer_error_gets_the_envelope() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).expect("rewritten")).expect("utf8");
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("connection: close") && head.contains("date: x"));
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["codes"][0], "general.badRequest");
        assert_eq!(json["error"], "The request headers are too large");
    }

    #[test]
    fn application_responses_pass_untouched() {
        for head in [
            // The app's own errors have bodies (and a content type).
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 20\r\ncontent-type: application/json\r\n\r\n"[..],
            // A keep-alive response is no HTTP-layer error.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            // A head with its body in the same write.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(rewrite(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
