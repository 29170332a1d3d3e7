//! Logs (tracing, pretty or JSON) and the Prometheus recorder behind `/metrics`, with its upkeep running on a timer
//! (histogram samples are folded into their buckets every [`UPKEEP_INTERVAL`] instead of piling up until a scrape).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use plaza_core::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. A second call (tests) is a no-op.
pub fn init_logs(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// How often the recorder's upkeep runs (the exporter's own default when it runs its listener).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The name of the thread that runs the recorder's upkeep.
const UPKEEP_THREAD: &str = "metrics-upkeep";

/// The process's Prometheus recorder, installed on first use (one per process, shared by every app in tests).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const BUCKETS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 120.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed already; then this handle still renders (empty).
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name(UPKEEP_THREAD.into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(%err, "cannot start the metrics upkeep: histograms grow until scraped");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_runs_its_upkeep_on_a_thread() {
        metrics_handle();
        let names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("procfs")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        };
        // A new thread names itself once it runs (until then it has its parent's name).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !names().iter().any(|n| n == UPKEEP_THREAD) {
            assert!(std::time::Instant::now() < deadline, "{:?}", names());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
