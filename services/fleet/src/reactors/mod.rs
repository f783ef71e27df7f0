//! Reactions: the outboxes the projections fill (see `projections`) become commands.
//!
//! - Handover readings (order service: VehiclePickedUp / VehicleSwapped / VehicleReturned) →
//!   `RecordReading` on the vehicle, with the order event's id as request id (a swap's second
//!   reading, on the replacement, adds `:1`).
//! - Re-plan requests (demand changed: confirmed / changed / cancelled / picked up / returned /
//!   no-show; supply changed: registration, move, breakdown, repair, maintenance, retirement,
//!   shifts, city configuration) → one `Replan` of the city covering every request up to the
//!   newest. Requests are coalesced: the reactor waits `debounce` after a city's first pending
//!   request (a burst of 100 confirmations yields one or a few re-plans), except for a breakdown,
//!   which re-plans at once (docs/domain.md). The request id is `replan:<id of the newest causing
//!   event>`, so a redelivered event — skipped by the projection's checkpoint — asks for nothing,
//!   and a re-plan retried after a crash (its requests not yet deleted) is answered from the
//!   aggregate's memory of that request id instead of planning again.
//!
//! No re-plan runs while either projection is being rebuilt (on any replica): its tables are
//! then a partial view of the stream. Readings go on; each is keyed by its handover event.

pub mod replan;

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError};
use rentops_projection::Db;
use rentops_reactor::{Scan, Schedule};
use rentops_runtime::Clock;
use sqlx::Row;
use tokio::sync::watch;

use crate::domain::plan::PlanAggregate;
use crate::domain::vehicle::{ReadingKind, VehicleAggregate, VehicleCommand, VehicleError};
use crate::projections::from_micros;

pub use replan::ReplanSettings;

#[derive(Debug, thiserror::Error)]
pub enum ReadingsError {
    #[error("reading requests: {0}")]
    Db(#[source] sqlx::Error),
    #[error("recording a handover reading: {0}")]
    Execute(#[source] ExecuteError<VehicleError>),
}

/// Turns pending reading requests into vehicle commands; returns how many were done.
pub async fn readings_once(
    handler: &CommandHandler<VehicleAggregate>,
    db: &Db,
    clock: &dyn Clock,
) -> Result<usize, ReadingsError> {
    let rows = sqlx::query(
        "SELECT sequence, event_id, vehicle_id, kind, order_id, odometer_km, charge_percent, at_us, station, part \
         FROM reading_requests ORDER BY sequence, part LIMIT 200",
    )
    .fetch_all(&db.pool)
    .await
    .map_err(ReadingsError::Db)?;
    let mut done = 0;
    for r in rows {
        let sequence: i64 = r.get(0);
        let event_id: String = r.get(1);
        let vehicle_id: String = r.get(2);
        let part: i64 = r.get(9);
        let kind = match r.get::<String, _>(3).as_str() {
            "PICKUP" => ReadingKind::Pickup,
            "SWAP_OUT" => ReadingKind::SwapOut,
            "SWAP_IN" => ReadingKind::SwapIn,
            _ => ReadingKind::Return,
        };
        let command = VehicleCommand::RecordReading {
            kind,
            order_id: r.get(4),
            odometer_km: r.get(5),
            charge_percent: r.get::<i64, _>(6).clamp(0, 100) as u32,
            at: from_micros(r.get(7)),
            station: r.get(8),
        };
        let meta = CommandMeta {
            // A swap asks two cars for a reading: its second has a request id of its own.
            request_id: if part == 0 {
                format!("reading:{event_id}")
            } else {
                format!("reading:{event_id}:{part}")
            },
            // Its id is derived from what caused it: nobody reuses it by mistake.
            fingerprint: None,
            correlation_id: event_id.clone(),
            causation_id: event_id.clone(),
            actor: "system:fleet-readings".into(),
            time: clock.now(),
        };
        let valid = rentops_eventstore::store::is_token(&vehicle_id);
        match valid {
            false => {
                tracing::warn!(%vehicle_id, "handover names a vehicle id that is no fleet vehicle; reading skipped")
            }
            true => match handler.execute(&vehicle_id, &meta, &command, false).await {
                Ok(_) => {}
                Err(ExecuteError::Domain(VehicleError::NotFound)) => {
                    tracing::warn!(%vehicle_id, "handover of a vehicle the fleet does not know; reading skipped")
                }
                Err(e) => return Err(ReadingsError::Execute(e)),
            },
        }
        sqlx::query("DELETE FROM reading_requests WHERE sequence = $1 AND part = $2")
            .bind(sequence)
            .bind(part)
            .execute(&db.pool)
            .await
            .map_err(ReadingsError::Db)?;
        done += 1;
    }
    Ok(done)
}

/// Whether either projection the plan reads is being rebuilt, on whichever replica.
async fn rebuild_under_way(db: &Db) -> Result<bool, sqlx::Error> {
    for projection in [crate::projections::FLEET, crate::projections::DEMAND] {
        if rentops_projection::deferred::under_way(&db.pool, projection).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Both reactions, as one scan: run when a local projector commits (its outbox rows may have
/// grown), and every second (another replica may be the projector).
pub struct Reactions {
    pub vehicles: Arc<CommandHandler<VehicleAggregate>>,
    pub plans: Arc<CommandHandler<PlanAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub settings: ReplanSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    #[error("cannot tell whether a projection is being rebuilt: {0}")]
    Rebuild(#[source] sqlx::Error),
    #[error("re-plan pass failed: {0}")]
    Replan(#[source] replan::ReplanError),
    #[error("handover readings failed: {0}")]
    Readings(#[source] ReadingsError),
}

impl Scan for Reactions {
    type Error = ReactionError;

    fn name(&self) -> &str {
        "fleet-reactions"
    }

    async fn pass(&self) -> Result<Option<Duration>, ReactionError> {
        let replanned = match rebuild_under_way(&self.db).await {
            // A rebuild replays its stream into emptied tables: planning from them now would
            // plan without the supply or demand not replayed yet, and release their cars. The
            // requests wait (the replay records them again) until the rebuild has caught up.
            Ok(true) => Ok(Some(Duration::from_millis(250))),
            Ok(false) => replan::once(&self.plans, &self.db, self.clock.as_ref(), &self.settings)
                .await
                .map_err(ReactionError::Replan),
            Err(e) => Err(ReactionError::Rebuild(e)),
        };
        // Readings do not wait for the plan: each is keyed by its own handover event.
        readings_once(&self.vehicles, &self.db, self.clock.as_ref())
            .await
            .map_err(ReactionError::Readings)?;
        replanned
    }
}

/// When the reactions run: every second, and at once when either projector commits.
pub fn schedule(fleet_applied: watch::Receiver<u64>, demand_applied: watch::Receiver<u64>) -> Schedule {
    Schedule::every(Duration::from_secs(1))
        .woken_by(fleet_applied)
        .woken_by(demand_applied)
}
