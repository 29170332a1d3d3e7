//! The live listener's accept loop (`live`, and `all` with `LIVE_ADDR`), hardened for the open internet, and the
//! connection admission the HTTP API's listener shares in `all` on one port: a connection is admitted only under `LIVE_MAX_CONNECTIONS` in all and `LIVE_MAX_CONNECTIONS_PER_IP`
//! from its address (peers in `TRUSTED_PROXIES`, i.e. the ingress, count only towards the total); an over-limit
//! connection is closed at once, before any byte is read. hyper then gets a timer, so `LIVE_HEADER_TIMEOUT_SECONDS`
//! closes a connection that has not sent a whole request head in time — half-sent requests (slowloris) and idle
//! keep-alive connections alike — and `LIVE_MAX_HEADER_BYTES` bounds what it buffers for one. Upgraded websockets
//! leave hyper; engine.io's ping timeout closes them when silent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::head_errors::EnvelopeIo;
use plaza_core::config::LiveLimits;
use plaza_core::proxy::TrustedProxies;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Who may hold a connection: the total and per-address caps.
#[derive(Clone, Debug)]
pub struct Admission {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
    trusted: TrustedProxies,
}

/// A held connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Admitted {
    _total: OwnedSemaphorePermit,
    ip: Option<IpAddr>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        if let Ok(mut counts) = self.per_ip.lock()
            && let Some(n) = counts.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

impl Admission {
    /// The caps of `limits`; `trusted` peers are exempt from the per-address one.
    pub fn new(limits: &LiveLimits, trusted: TrustedProxies) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_connections)),
            per_ip: Arc::default(),
            max_per_ip: limits.max_connections_per_ip,
            trusted,
        }
    }

    /// A slot for a connection from `peer`; a refusal is counted in `plaza_live_connections_refused_total`.
    pub fn admit_counted(&self, peer: IpAddr) -> Option<Admitted> {
        self.admit(peer)
            .map_err(|reason| {
                metrics::counter!("plaza_live_connections_refused_total", "reason" => reason)
                    .increment(1);
            })
            .ok()
    }

    /// A slot for a connection from `peer`, or why there is none.
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, &'static str> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| "total")?;
        let peer = peer.to_canonical();
        if self.trusted.trusts(peer) {
            return Ok(Admitted {
                _total: total,
                ip: None,
                per_ip: self.per_ip.clone(),
            });
        }
        let mut counts = self.per_ip.lock().map_err(|_| "total")?;
        let n = counts.entry(peer).or_insert(0);
        if *n >= self.max_per_ip {
            return Err("per_ip");
        }
        *n += 1;
        Ok(Admitted {
            _total: total,
            ip: Some(peer),
            per_ip: self.per_ip.clone(),
        })
    }
}

/// A connection of the HTTP API's listener: in `all` on one port it holds its admission slot (`None` elsewhere).
pub type Conn = AdmittedIo<EnvelopeIo<tokio::net::TcpStream>>;

/// A connection and the slot it holds; the slot is freed when the connection is dropped or [`released`](Self::release).
#[derive(Debug)]
pub struct AdmittedIo<T> {
    inner: T,
    slot: Option<Admitted>,
}

impl<T> AdmittedIo<T> {
    /// `inner`, holding `slot`.
    pub fn new(inner: T, slot: Option<Admitted>) -> Self {
        Self { inner, slot }
    }

    /// Takes the slot out: the caller decides when it is freed.
    pub fn release(&mut self) -> Option<Admitted> {
        self.slot.take()
    }
}

crate::io_wrap::read_through!(AdmittedIo);

crate::io_wrap::write_through!(AdmittedIo);

crate::io_wrap::fd_through!(AdmittedIo);

/// The hyper HTTP/1 settings of every connection.
pub fn http1_builder(limits: &LiveLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
}

/// Accepts connections on `listener` until `shutdown`, handing each admitted one to `serve_connection` (which owns
/// its slot until the connection ends).
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    admission: Admission,
    shutdown: CancellationToken,
    serve_connection: F,
) where
    F: Fn(TokioIo<EnvelopeIo<tokio::net::TcpStream>>, std::net::SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!(%err, "live listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(slot) = admission.admit_counted(peer.ip()) else {
            // Closed unread: the cheapest possible refusal.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // hyper's own errors (unparsable heads, oversized headers) get the JSON envelope too.
        let connection = serve_connection(TokioIo::new(EnvelopeIo::new(stream)), peer);
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    }
}
