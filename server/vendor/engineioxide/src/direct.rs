//! plaza patch (change 4, issue #19): volatile packets written straight into an idle websocket's TCP socket.
//!
//! A broadcast to 10,000 websockets went through every socket's writer task: put the packets in the socket's
//! volatile slot, wake the task, and the task (select, tungstenite's frame buffer, the split stream's lock, the
//! server's I/O wrappers, tokio's readiness) finally made one `send`. Per socket and broadcast that was ~4.5 µs of
//! user-space CPU, nearly all cold cache lines, against ~9 µs in the kernel. When the server hands engine.io the
//! connection's file descriptor ([`DirectFd`], a request extension) and nothing is waiting to be written on that
//! socket, [`Direct::try_write`] now sends the one small text frame itself with a non-blocking `send`: no task, no
//! wake-up; anything else (a busy writer, queued or volatile packets waiting, a full kernel buffer, a large
//! packet, no descriptor) takes the slot as before.
//!
//! **What keeps the byte stream whole.** Everything else that writes to the stream (the writer task through
//! tungstenite, and the reader's automatic pong and close replies) goes through [`Guarded`], and one state word
//! orders them:
//!
//! * `OFF`: no direct writes (no descriptor, the writer not started yet, or gone).
//! * `IDLE`: the writer task waits with nothing in hand, and no frame is half-written; a direct write may start.
//! * `BUSY`: the writer task holds or writes packets, or tungstenite holds unwritten bytes.
//! * `DIRECT`: a direct `send` is under way (one non-blocking syscall: [`Guarded`] and the writer spin it out).
//! * `PARTIAL`: a direct `send` wrote only part of its frame; the rest is in [`Direct`] and is written by
//!   [`Guarded`] before any other byte (the writer is woken to do it).
//!
//! A direct write also needs the socket's buffered queue and volatile slot to be empty, so it never overtakes a
//! packet sent before it.
//!
//! **Why the descriptor stays valid.** Direct writes are enabled by the websocket writer task once it runs and
//! disabled (`OFF`, after waiting out a `DIRECT`) by a guard dropped before the writer's half of the stream; the
//! descriptor closes only when both halves are gone.

use std::io::Write as _;
use std::os::fd::{FromRawFd as _, RawFd};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use engineioxide_core::{Packet, PacketBuf};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The raw descriptor of the TCP connection a request arrived on, set by the server in the request's extensions
/// when the connection's bytes go to the socket unchanged (no TLS, no other framing). A websocket opened by such a
/// request gets direct writes.
#[derive(Clone, Copy, Debug)]
pub struct DirectFd(pub RawFd);

const OFF: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;
const DIRECT: u8 = 3;
const PARTIAL: u8 = 4;

/// The largest text frame written directly (header included); larger packets take the writer.
const MAX_FRAME: usize = 256;

/// One socket's direct-write state (see the module header).
#[derive(Debug)]
pub(crate) struct Direct {
    fd: AtomicI32,
    state: AtomicU8,
    /// tungstenite left bytes unwritten (a write returned short or pending): not `IDLE` until they are out.
    dirty: AtomicBool,
    /// The unwritten end of a frame a direct write left half-sent (state `PARTIAL`).
    rest: Mutex<Option<Bytes>>,
}

impl Default for Direct {
    fn default() -> Self {
        Self {
            fd: AtomicI32::new(-1),
            state: AtomicU8::new(OFF),
            dirty: AtomicBool::new(false),
            rest: Mutex::new(None),
        }
    }
}

impl Direct {
    /// Direct writes on `fd` from now on: called by the websocket writer task, which holds half of the stream.
    /// Starts `BUSY`: the writer makes it `IDLE` once it waits with nothing in hand.
    pub(crate) fn enable(&self, fd: RawFd) {
        self.fd.store(fd, Ordering::Relaxed);
        let _ = self
            .state
            .compare_exchange(OFF, BUSY, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// No more direct writes, after the one under way (if any) has returned.
    pub(crate) fn disable(&self) {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state == DIRECT {
                std::hint::spin_loop();
            } else if self
                .state
                .compare_exchange(state, OFF, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Takes the stream for the writer or [`Guarded`]: waits out a direct `send`, turns `IDLE` into `BUSY`, and
    /// returns the state found (`IDLE` when this call made it `BUSY`).
    pub(crate) fn acquire(&self) -> u8 {
        loop {
            match self.state.load(Ordering::Acquire) {
                DIRECT => std::hint::spin_loop(),
                IDLE => {
                    if self
                        .state
                        .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        return IDLE;
                    }
                }
                state => return state,
            }
        }
    }

    /// Gives the stream back (`BUSY` → `IDLE`) unless tungstenite still holds unwritten bytes.
    pub(crate) fn release(&self) {
        if !self.dirty.load(Ordering::Acquire) {
            let _ = self
                .state
                .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Writes `packets` (one engine.io message) as a websocket text frame straight into the socket if it is idle
    /// and `nothing_waiting()` holds once it is taken; gives the packets back otherwise. `Err(())` in the result:
    /// the frame was only partly written and the caller must wake the writer to finish it.
    pub(crate) fn try_write(
        &self,
        packets: PacketBuf,
        nothing_waiting: impl FnOnce() -> bool,
    ) -> Result<Option<PacketBuf>, ()> {
        // A socket without a descriptor (polling, or a server that gave none) costs one load.
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return Ok(Some(packets));
        }
        let mut frame = [0u8; MAX_FRAME];
        let len = match packets.as_slice() {
            [Packet::Message(msg)] => match encode_text(&mut frame, msg.as_bytes()) {
                Some(len) => len,
                None => return Ok(Some(packets)),
            },
            _ => return Ok(Some(packets)),
        };
        if self
            .state
            .compare_exchange(IDLE, DIRECT, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Ok(Some(packets));
        }
        if !nothing_waiting() {
            self.state.store(IDLE, Ordering::Release);
            return Ok(Some(packets));
        }
        match send(fd, &frame[..len]) {
            Ok(n) if n == len => {
                self.state.store(IDLE, Ordering::Release);
                Ok(None)
            }
            Ok(n) if n > 0 => {
                self.left_partial(Bytes::copy_from_slice(&frame[n..len]));
                Err(())
            }
            // Full or failing: the writer will wait for room, or meet the error itself.
            _ => {
                self.state.store(IDLE, Ordering::Release);
                Ok(Some(packets))
            }
        }
    }

    /// A direct write left `rest` of its frame unwritten: nothing else may be written before it.
    fn left_partial(&self, rest: Bytes) {
        *self.rest.lock().unwrap_or_else(|e| e.into_inner()) = Some(rest);
        self.state.store(PARTIAL, Ordering::Release);
    }
}

#[cfg(test)]
impl Direct {
    /// The writer waits with nothing in hand: a direct write may start.
    pub(crate) fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == IDLE
    }

    /// Writes the first `n` bytes of the frame of `msg` (an engine.io packet, `4` included) directly, as a `send`
    /// into a nearly full buffer would, leaving the rest for the writer.
    pub(crate) fn write_part_of(&self, msg: &str, n: usize) {
        let mut frame = [0u8; MAX_FRAME];
        let len = encode_text(&mut frame, &msg.as_bytes()[1..]).unwrap();
        assert!(
            self.state
                .compare_exchange(IDLE, DIRECT, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        );
        assert_eq!(
            send(self.fd.load(Ordering::Relaxed), &frame[..n]).unwrap(),
            n
        );
        self.left_partial(Bytes::copy_from_slice(&frame[n..len]));
    }
}

/// Asks the CPU to fetch the cache line at `at` (change 5); a no-op off x86-64. Never dereferences `at`.
#[doc(hidden)]
#[inline(always)]
pub fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing and cannot fault, whatever the address; SSE is part of the
    // x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// One non-blocking `send` of `bytes` on `fd`, taken while the state is `DIRECT`.
fn send(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `fd` is the open descriptor of this websocket's TCP connection: it stays open while the state is not
    // `OFF` (see the module header), and `DIRECT`, held by the caller, keeps `disable` waiting until this write
    // returns. The `TcpStream` is never dropped, so the descriptor is not closed here; the socket is non-blocking
    // (tokio's), and std sends with `MSG_NOSIGNAL`.
    let mut stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    stream.write(bytes)
}

/// Writes the text frame of engine.io message `msg` (`4` + `msg`, unmasked: a server's frame) into `frame`;
/// its length, or `None` if it does not fit.
fn encode_text(frame: &mut [u8; MAX_FRAME], msg: &[u8]) -> Option<usize> {
    let payload = 1 + msg.len();
    let header = if payload <= 125 { 2 } else { 4 };
    if header + payload > MAX_FRAME {
        return None;
    }
    frame[0] = 0x81;
    if header == 2 {
        frame[1] = payload as u8;
    } else {
        frame[1] = 126;
        frame[2..4].copy_from_slice(&(payload as u16).to_be_bytes());
    }
    frame[header] = b'4';
    frame[header + 1..header + payload].copy_from_slice(msg);
    Some(header + payload)
}

/// The websocket's stream as tungstenite sees it: every write first finishes a frame a direct write left
/// half-sent, and holds the state `BUSY` while it writes (see the module header).
pub(crate) struct Guarded<S> {
    inner: S,
    direct: std::sync::Arc<Direct>,
}

impl<S> Guarded<S> {
    pub(crate) fn new(inner: S, direct: std::sync::Arc<Direct>) -> Self {
        Self { inner, direct }
    }
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    /// Writes the rest of a half-sent direct frame, if there is one.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.direct.state.load(Ordering::Acquire) != PARTIAL {
            return Poll::Ready(Ok(()));
        }
        let mut rest = self.direct.rest.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(bytes) = rest.as_mut().filter(|b| !b.is_empty()) {
            match Pin::new(&mut self.inner).poll_write(cx, bytes) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    let _ = bytes.split_to(n);
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        *rest = None;
        let _ =
            self.direct
                .state
                .compare_exchange(PARTIAL, BUSY, Ordering::AcqRel, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let found = self.direct.acquire();
        ready!(self.poll_rest(cx))?;
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        let whole = matches!(res, Poll::Ready(Ok(n)) if n == buf.len());
        self.direct.dirty.store(!whole, Ordering::Release);
        // Only what this call took is given back: the writer task releases its own hold.
        if found == IDLE && whole {
            self.direct.release();
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_rest(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_rest(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Enables direct writes for as long as it lives (held by the websocket writer task; see the module header).
pub(crate) struct Enabled<'a>(&'a Direct);

impl<'a> Enabled<'a> {
    pub(crate) fn new(direct: &'a Direct, fd: Option<RawFd>) -> Self {
        if let Some(fd) = fd {
            direct.enable(fd);
        }
        Self(direct)
    }
}

impl Drop for Enabled<'_> {
    fn drop(&mut self) {
        self.0.disable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    /// The bytes tungstenite writes for the server's text frame of `payload`.
    fn tungstenite_frame(payload: &str) -> Vec<u8> {
        let mut out = Vec::new();
        Frame::message(payload.to_owned(), OpCode::Data(Data::Text), true)
            .format(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn frames_are_encoded_as_tungstenite_encodes_them() {
        for msg in [
            String::new(),
            r#"2["site-visitors",7]"#.to_owned(),
            "x".repeat(124),
            "x".repeat(125),
            "x".repeat(MAX_FRAME - 5),
        ] {
            let mut frame = [0u8; MAX_FRAME];
            let len = encode_text(&mut frame, msg.as_bytes()).unwrap();
            assert_eq!(
                &frame[..len],
                tungstenite_frame(&format!("4{msg}")),
                "{} bytes",
                msg.len()
            );
        }
        let mut frame = [0u8; MAX_FRAME];
        assert_eq!(
            encode_text(&mut frame, "x".repeat(MAX_FRAME - 4).as_bytes()),
            None
        );
    }
}
