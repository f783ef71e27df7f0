//! How far a reactor or a scanner has got, for operators (metrics) and for tests, which wait on
//! it instead of sleeping.

use std::time::Duration;

use tokio::sync::watch;

/// A reactor's or scanner's position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The stream sequence up to which this replica's reactor has handled (acknowledged) every
    /// event it was given and retries none; 0 before the first. (An event it gave back for a
    /// retry that another replica then handled holds this replica's position below it.)
    pub sequence: u64,
    /// Scan passes begun, and passes finished (successfully or not).
    pub passes_started: u64,
    pub passes_finished: u64,
}

/// The writing side, held by the running reactor or scanner.
#[derive(Debug)]
pub struct Progress {
    tx: watch::Sender<Position>,
}

/// The reading side: as many as needed, cheap to clone.
#[derive(Debug, Clone)]
pub struct ProgressWatch {
    rx: watch::Receiver<Position>,
}

#[derive(Debug, thiserror::Error)]
#[error("{what} not reached within {timeout:?} (at {at:?})")]
pub struct WaitTimedOut {
    pub what: String,
    pub at: Position,
    pub timeout: Duration,
}

impl Progress {
    pub fn new() -> (Progress, ProgressWatch) {
        let (tx, rx) = watch::channel(Position::default());
        (Progress { tx }, ProgressWatch { rx })
    }

    pub(crate) fn handled(&self, sequence: u64) {
        self.tx.send_modify(|p| p.sequence = p.sequence.max(sequence));
    }

    pub(crate) fn pass_started(&self) {
        self.tx.send_modify(|p| p.passes_started += 1);
    }

    pub(crate) fn pass_finished(&self) {
        self.tx.send_modify(|p| p.passes_finished += 1);
    }
}

impl ProgressWatch {
    pub fn current(&self) -> Position {
        *self.rx.borrow()
    }

    /// Waits until the reactor has handled stream sequence `sequence`.
    pub async fn handled(&self, sequence: u64, timeout: Duration) -> Result<Position, WaitTimedOut> {
        self.until(&format!("sequence {sequence}"), timeout, |p| p.sequence >= sequence)
            .await
    }

    /// Waits until a whole pass has run that began after this call: whatever the scanner reads
    /// (a moved clock, a new row) was there for it to see.
    pub async fn next_full_pass(&self, timeout: Duration) -> Result<Position, WaitTimedOut> {
        let begun = self.current().passes_started;
        self.until("a full pass", timeout, |p| p.passes_finished > begun).await
    }

    async fn until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Position) -> bool,
    ) -> Result<Position, WaitTimedOut> {
        let mut rx = self.rx.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|p| done(p))).await;
        match waited {
            Ok(Ok(p)) => Ok(*p),
            // Timed out, or the reactor is gone (it stopped) before getting there.
            _ => Err(WaitTimedOut {
                what: what.to_owned(),
                at: self.current(),
                timeout,
            }),
        }
    }
}
