//! Gives freed heap back to the operating system after a wave of sockets left (issue #19, "memory comes back").
//!
//! glibc's malloc keeps what a connection freed in its arenas: after 10,000 sockets left, a live process stayed at
//! 288 MB where it idles at ~20 MB (free chunks between live ones are never returned on their own). Every
//! [`SAMPLE`] this task compares the number of sockets with the highest since the last trim; once it fell by at
//! least [`WAVE`] sockets (and a quarter of that peak) and held still for one sample — the wave is over —
//! `malloc_trim(0)` hands every free page of every arena back (on the blocking pool: it walks the heap).
//! `plaza_live_heap_trims_total` counts the trims. A no-op off glibc.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::visitors::Visitors;

/// How often the socket count is looked at.
const SAMPLE: Duration = Duration::from_secs(1);

/// The smallest drop in sockets worth a trim.
const WAVE: i64 = 256;

/// Starts the task until `shutdown`.
pub fn start(visitors: Visitors, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut peak = visitors.local();
        let mut previous = peak;
        loop {
            tokio::select! {
                () = tokio::time::sleep(SAMPLE) => {}
                () = shutdown.cancelled() => break,
            }
            let now = visitors.local();
            peak = peak.max(now);
            let dropped = peak - now;
            if now == previous && dropped >= WAVE && dropped * 4 >= peak {
                peak = now;
                let _ = tokio::task::spawn_blocking(release_free_heap).await;
                metrics::counter!("plaza_live_heap_trims_total").increment(1);
            }
            previous = now;
        }
    });
}

/// Returns the allocator's free pages to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_heap() {
    // SAFETY: `malloc_trim` only releases memory the allocator holds free; it takes the arenas' own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}
