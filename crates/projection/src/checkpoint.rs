//! Where each projection has got to in the stream, and waiting for it (read-your-writes).
//!
//! The checkpoint row is written in the same transaction as the projection's rows, so it is
//! exactly the last event whose effects are visible to queries.
//!
//! A checkpoint only moves on the events a projection's filter matches. A service with several
//! projections filtering different subjects of one stream hands out sequences that some of them
//! never see, and waiting for such a projection's checkpoint to pass one would wait for an
//! unrelated later event. So while the checkpoint is below the sequence asked for, the wait also
//! asks the broker whether the projection has anything left to apply ([`Drained`]):
//!
//! 1. The caller's sequence `M` was stored in the stream before the command answered, and the
//!    request (hence this wait) came after that answer.
//! 2. The wait reads the stream's info first: its last sequence `≥ M` proves `M` is this
//!    stream's (a sequence of another stream, or one not yet written, is never taken as seen).
//! 3. Then the projector's durable consumer's info: `num_pending == 0` says every message its
//!    filter matches, up to the stream's end as the consumer sees it now (so including `M`), has
//!    been delivered, and `delivered.stream_sequence` is the last of them. If that is at or
//!    below the checkpoint read before the call, no matching message lies between the
//!    checkpoint and `M`.
//!
//! Together: every event up to `M` that the projection matches is visible, though the
//! checkpoint is below `M`. Acknowledgements are deliberately not relied on: when two replicas
//! overlap for a moment (a lease change), one's late ack can land on the consumer the other just
//! recreated under the same name; a delivery beyond the checkpoint, to either, only makes the
//! answer "not yet". The consumer is recreated at checkpoint + 1 whenever a replica takes the
//! projector over; while it is being recreated its info fails and the wait goes on.
//!
//! On a replicated stream the argument assumes that the consumer's leader counts `num_pending`
//! against everything the stream acknowledged before step 2 (JetStream places a consumer on its
//! stream's peers, and answers consumer info from the consumer leader).

use std::time::Duration;

use async_nats::jetstream;
use sqlx::{AnyPool, Row};
use tokio::sync::watch;

pub(crate) async fn create_table(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_checkpoints (
            name TEXT PRIMARY KEY,
            sequence BIGINT NOT NULL,
            updated_at_us BIGINT NOT NULL
        )",
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn read(pool: &AnyPool, name: &str) -> Result<u64, sqlx::Error> {
    let row = sqlx::query("SELECT sequence FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0)).unwrap_or(0).max(0) as u64)
}

/// Moves the checkpoint from `from` to `to` inside the batch's transaction. Returns false when
/// someone else moved it first (another projector instance applied these events): the caller
/// must roll back, so the events take effect once.
pub(crate) async fn advance(
    tx: &mut sqlx::AnyConnection,
    name: &str,
    from: u64,
    to: u64,
    now_us: i64,
) -> Result<bool, sqlx::Error> {
    if from == 0 {
        let inserted = sqlx::query(
            "INSERT INTO projection_checkpoints (name, sequence, updated_at_us) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(to as i64)
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
    }
    let updated = sqlx::query(
        "UPDATE projection_checkpoints SET sequence = $1, updated_at_us = $2 WHERE name = $3 AND sequence = $4",
    )
    .bind(to as i64)
    .bind(now_us)
    .bind(name)
    .bind(from as i64)
    .execute(&mut *tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("the projection has not reached sequence {wanted} within {timeout:?} (it is at {reached})")]
    Timeout {
        wanted: u64,
        reached: u64,
        timeout: Duration,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Where to ask the broker whether a projection has anything left to apply (see the module
/// doc): its stream and its projector's durable consumer.
#[derive(Clone)]
pub struct Drained {
    pub js: jetstream::Context,
    pub stream: String,
    pub consumer: String,
}

impl Drained {
    /// True when every event of the stream up to `sequence` that the consumer's filter matches
    /// is within `checkpoint`, read before this call (the steps of the module doc, in order).
    pub async fn covers(&self, sequence: u64, checkpoint: u64) -> bool {
        let Ok(mut stream) = self.js.get_stream(&self.stream).await else {
            return false;
        };
        match stream.info().await {
            Ok(info) if info.state.last_sequence >= sequence => {}
            _ => return false,
        }
        match stream.consumer_info(&self.consumer).await {
            Ok(info) => info.num_pending == 0 && info.delivered.stream_sequence <= checkpoint,
            Err(_) => false,
        }
    }
}

/// Read-your-writes waits for one projection.
#[derive(Clone)]
pub struct Checkpoints {
    pool: AnyPool,
    name: String,
    /// Moves when this replica's projector commits; other replicas' progress is seen by polling.
    local: watch::Receiver<u64>,
    /// `None`: only the checkpoint answers.
    drained: Option<Drained>,
}

/// How long a wait relies on the checkpoint alone before asking the broker, and how often it
/// asks again: most waits are for an event the projection is about to apply, and end sooner.
const ASK_BROKER_AFTER: Duration = Duration::from_millis(20);
const ASK_BROKER_EVERY: Duration = Duration::from_millis(100);

impl Checkpoints {
    pub fn new(pool: AnyPool, name: &str, local: watch::Receiver<u64>) -> Self {
        Self {
            pool,
            name: name.to_owned(),
            local,
            drained: None,
        }
    }

    /// Also answers for sequences the projection's filter does not match (see the module doc).
    pub fn with_drained(mut self, drained: Drained) -> Self {
        self.drained = Some(drained);
        self
    }

    pub async fn current(&self) -> Result<u64, sqlx::Error> {
        read(&self.pool, &self.name).await
    }

    /// Read-your-writes for a query: waits until the projection has applied the caller's
    /// `consistency.min_sequence` (a sequence a command of theirs returned), for at most
    /// `consistency.timeout_ms` (default 2 s, at most 30 s). No consistency asked: at once.
    pub async fn consistent(
        &self,
        consistency: Option<&rentops_proto::common::Consistency>,
    ) -> Result<(), tonic::Status> {
        let Some(c) = consistency else { return Ok(()) };
        if c.timeout_ms > 30_000 {
            return Err(rentops_runtime::invalid_argument(
                "consistency.timeout_ms",
                "at most 30000",
            ));
        }
        let timeout = Duration::from_millis(if c.timeout_ms == 0 {
            2_000
        } else {
            u64::from(c.timeout_ms)
        });
        self.wait_for(c.min_sequence, timeout).await.map_err(|e| match e {
            e @ WaitError::Timeout { .. } => tonic::Status::deadline_exceeded(e.to_string()),
            WaitError::Db(e) => crate::QueryError::Db(e).into(),
        })
    }

    /// Returns once the projection has applied `min_sequence`, or fails after `timeout`.
    pub async fn wait_for(&self, min_sequence: u64, timeout: Duration) -> Result<(), WaitError> {
        if min_sequence == 0 || *self.local.borrow() >= min_sequence {
            return Ok(());
        }
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let mut ask_at = started + ASK_BROKER_AFTER;
        let mut local = self.local.clone();
        loop {
            let reached = self.current().await?;
            if reached >= min_sequence {
                return Ok(());
            }
            if let Some(drained) = &self.drained
                && tokio::time::Instant::now() >= ask_at
            {
                if drained.covers(min_sequence, reached).await {
                    return Ok(());
                }
                ask_at = tokio::time::Instant::now() + ASK_BROKER_EVERY;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitError::Timeout {
                    wanted: min_sequence,
                    reached,
                    timeout,
                });
            }
            // Woken at once by our own projector, or re-check after a short poll when another
            // replica holds the projector lease.
            tokio::select! {
                _ = local.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
