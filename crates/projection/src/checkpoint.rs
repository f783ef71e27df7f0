//! Where each projection has got to in the stream, and waiting for it (read-your-writes).
//!
//! The checkpoint row is written in the same transaction as the projection's rows, so it is
//! exactly the last event whose effects are visible to queries.

use std::time::Duration;

use sqlx::{Any, AnyPool, Row, Transaction};
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
    tx: &mut Transaction<'static, Any>,
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
        .execute(&mut **tx)
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
    .execute(&mut **tx)
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

/// Read-your-writes waits for one projection.
#[derive(Clone)]
pub struct Checkpoints {
    pool: AnyPool,
    name: String,
    /// Moves when this replica's projector commits; other replicas' progress is seen by polling.
    local: watch::Receiver<u64>,
}

impl Checkpoints {
    pub fn new(pool: AnyPool, name: &str, local: watch::Receiver<u64>) -> Self {
        Self {
            pool,
            name: name.to_owned(),
            local,
        }
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
        let deadline = tokio::time::Instant::now() + timeout;
        let mut local = self.local.clone();
        loop {
            let reached = self.current().await?;
            if reached >= min_sequence {
                return Ok(());
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
