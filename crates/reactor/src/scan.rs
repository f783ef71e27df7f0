//! Due-item scanners: passes over the service's own projection that issue the commands that are
//! due (a deadline reached, a dunning step, an outbox row waiting).
//!
//! A pass runs on a schedule — every `interval`, and at once when one of the `wake` signals moves
//! (a local projector committed: there may be new rows) — and may ask to run again sooner. A pass
//! that fails is tried again after a jittered backoff. Every replica may run the same scanner:
//! its commands carry request ids derived from the item (`contact-overdue` for an order, the
//! causing event's id for an outbox row), so a step taken twice is taken once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::progress::Progress;

/// One kind of time-driven step.
pub trait Scan: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// For logs and metrics, e.g. `order-confirmation-deadline`.
    fn name(&self) -> &str;

    /// Issues every command due now. `Ok(Some(d))`: run again within `d` (work is left, or an
    /// item falls due then); `Ok(None)`: on the schedule.
    fn pass(&self) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send;
}

/// When passes run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The longest time between two passes.
    pub interval: Duration,
    /// Signals that start a pass at once when they change (e.g. a projector's applied sequence).
    pub wake: Vec<watch::Receiver<u64>>,
    /// Waits after failed passes.
    pub backoff: Backoff,
}

impl Schedule {
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            wake: Vec::new(),
            backoff: Backoff::new(Duration::from_millis(100), interval.max(Duration::from_millis(100))),
        }
    }

    pub fn woken_by(mut self, signal: watch::Receiver<u64>) -> Self {
        self.wake.push(signal);
        self
    }
}

/// Runs `scan` until `shutdown`: a first pass at once, then as the schedule says.
pub async fn run_scan<S: Scan>(scan: S, mut schedule: Schedule, progress: Progress, shutdown: CancellationToken) {
    // At 0 from the start, so "no failures" is a value on the dashboard, not missing data.
    metrics::counter!("rentops_scan_failures_total", "scan" => scan.name().to_owned()).increment(0);
    loop {
        progress.pass_started();
        let started = tokio::time::Instant::now();
        // A pass starts a trace of its own: the commands it issues (and their events) carry it.
        let span = tracing::info_span!("scan", scan = scan.name());
        let wait = match scan.pass().instrument(span).await {
            Ok(next) => {
                schedule.backoff.succeeded();
                next.map_or(schedule.interval, |d| d.min(schedule.interval))
            }
            Err(e) => {
                let wait = schedule.backoff.failed();
                tracing::warn!(
                    scan = scan.name(),
                    error = %e,
                    failures = schedule.backoff.failures(),
                    retry_in = ?wait,
                    "scan pass failed; trying again"
                );
                metrics::counter!("rentops_scan_failures_total", "scan" => scan.name().to_owned()).increment(1);
                wait
            }
        };
        metrics::histogram!("rentops_scan_pass_seconds", "scan" => scan.name().to_owned())
            .record(started.elapsed().as_secs_f64());
        progress.pass_finished();
        let woken = wake(&mut schedule.wake);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = woken => {}
        }
    }
}

/// Resolves when any of `signals` changes; never, when there are none (or all senders are gone).
async fn wake(signals: &mut [watch::Receiver<u64>]) {
    if signals.is_empty() {
        return futures::future::pending().await;
    }
    let changes = signals.iter_mut().map(|s| Box::pin(s.changed()));
    match futures::future::select_all(changes).await {
        (Ok(()), _, _) => {}
        // A sender dropped (its projector stopped): do not spin on it; the interval remains.
        (Err(_), _, _) => futures::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the database is away")]
    struct Away;

    /// Fails its first `failing` passes, then counts successful ones.
    struct Counting {
        failing: u32,
        passes: Arc<AtomicU32>,
        ok: Arc<AtomicU32>,
    }

    impl Scan for Counting {
        type Error = Away;
        fn name(&self) -> &str {
            "counting"
        }
        async fn pass(&self) -> Result<Option<Duration>, Away> {
            let n = self.passes.fetch_add(1, Ordering::SeqCst);
            if n < self.failing {
                return Err(Away);
            }
            self.ok.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
    }

    fn counting(failing: u32) -> (Counting, Arc<AtomicU32>) {
        let ok = Arc::new(AtomicU32::new(0));
        let scan = Counting {
            failing,
            passes: Arc::default(),
            ok: ok.clone(),
        };
        (scan, ok)
    }

    #[tokio::test(start_paused = true)]
    async fn passes_run_on_the_interval_with_the_clock_moved_not_slept() {
        let (scan, ok) = counting(0);
        let (progress, watch) = Progress::new();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_scan(
            scan,
            Schedule::every(Duration::from_secs(3600)),
            progress,
            shutdown.clone(),
        ));
        watch.next_full_pass(Duration::from_secs(1)).await.unwrap();
        let after_first = ok.load(Ordering::SeqCst);
        // Paused time jumps ahead while every task waits: an hour passes at once.
        watch.next_full_pass(Duration::from_secs(7200)).await.unwrap();
        assert!(ok.load(Ordering::SeqCst) > after_first);
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_signal_starts_a_pass_before_the_interval() {
        let (scan, ok) = counting(0);
        let (progress, watch) = Progress::new();
        let (applied, signal) = watch::channel(0u64);
        let shutdown = CancellationToken::new();
        let schedule = Schedule::every(Duration::from_secs(3600)).woken_by(signal);
        let task = tokio::spawn(run_scan(scan, schedule, progress, shutdown.clone()));
        watch.next_full_pass(Duration::from_secs(1)).await.unwrap();
        let before = tokio::time::Instant::now();
        applied.send_replace(1);
        watch.next_full_pass(Duration::from_secs(1)).await.unwrap();
        assert!(tokio::time::Instant::now() - before < Duration::from_secs(1));
        assert!(ok.load(Ordering::SeqCst) >= 2);
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn a_scan_reports_no_failures_from_its_start() {
        // The recorder is this thread's: the runtime runs the scan on it.
        let page = rentops_testkit::metrics::rendered(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                let (scan, _) = counting(0);
                let (progress, watch) = Progress::new();
                let shutdown = CancellationToken::new();
                let schedule = Schedule::every(Duration::from_secs(3600));
                let task = tokio::spawn(run_scan(scan, schedule, progress, shutdown.clone()));
                watch.next_full_pass(Duration::from_secs(1)).await.unwrap();
                shutdown.cancel();
                task.await.unwrap();
            });
        });
        let failures = rentops_testkit::metrics::value(&page, "rentops_scan_failures_total{scan=\"counting\"}");
        assert_eq!(failures, Some(0.0), "{page}");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_passes_are_retried_sooner_than_the_interval() {
        let (scan, ok) = counting(3);
        let (progress, watch) = Progress::new();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_scan(
            scan,
            Schedule::every(Duration::from_secs(3600)),
            progress,
            shutdown.clone(),
        ));
        let started = tokio::time::Instant::now();
        // Three failures, then a success: well within the interval (the backoff's ceiling is
        // 100 ms, 200 ms, 400 ms).
        tokio::time::timeout(Duration::from_secs(60), async {
            while ok.load(Ordering::SeqCst) == 0 {
                watch.next_full_pass(Duration::from_secs(60)).await.unwrap();
            }
        })
        .await
        .unwrap();
        assert!(tokio::time::Instant::now() - started < Duration::from_secs(1));
        shutdown.cancel();
        task.await.unwrap();
    }
}
