//! Reactions: the outboxes the projections fill (see `projections`) become commands.
//!
//! - Handover readings (order service: VehiclePickedUp / VehicleReturned) → `RecordReading` on
//!   the vehicle, with the order event's id as request id.
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
use rentops_runtime::Clock;
use sqlx::Row;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::plan::PlanAggregate;
use crate::domain::vehicle::{ReadingKind, VehicleAggregate, VehicleCommand, VehicleError};
use crate::projections::from_micros;

pub use replan::ReplanSettings;

/// Turns pending reading requests into vehicle commands; returns how many were done.
pub async fn readings_once(
    handler: &CommandHandler<VehicleAggregate>,
    db: &Db,
    clock: &dyn Clock,
) -> Result<usize, String> {
    let rows = sqlx::query(
        "SELECT sequence, event_id, vehicle_id, kind, order_id, odometer_km, charge_percent, at_us, station \
         FROM reading_requests ORDER BY sequence LIMIT 200",
    )
    .fetch_all(&db.pool)
    .await
    .map_err(|e| e.to_string())?;
    let mut done = 0;
    for r in rows {
        let sequence: i64 = r.get(0);
        let event_id: String = r.get(1);
        let vehicle_id: String = r.get(2);
        let kind = if r.get::<String, _>(3) == "PICKUP" {
            ReadingKind::Pickup
        } else {
            ReadingKind::Return
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
            request_id: format!("reading:{event_id}"),
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
                Err(e) => return Err(e.to_string()),
            },
        }
        sqlx::query("DELETE FROM reading_requests WHERE sequence = $1")
            .bind(sequence)
            .execute(&db.pool)
            .await
            .map_err(|e| e.to_string())?;
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

/// Runs both reactions until shutdown: woken when a local projector commits, and every second
/// (another replica may be the projector).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    vehicles: Arc<CommandHandler<VehicleAggregate>>,
    plans: Arc<CommandHandler<PlanAggregate>>,
    db: Db,
    clock: Arc<dyn Clock>,
    settings: ReplanSettings,
    mut fleet_applied: watch::Receiver<u64>,
    mut demand_applied: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    loop {
        let wait = match rebuild_under_way(&db).await {
            // A rebuild replays its stream into emptied tables: planning from them now would
            // plan without the supply or demand not replayed yet, and release their cars. The
            // requests wait (the replay records them again) until the rebuild has caught up.
            Ok(true) => Some(Duration::from_millis(250)),
            Ok(false) => replan::once(&plans, &db, clock.as_ref(), &settings)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "re-plan pass failed; retrying");
                    Some(Duration::from_millis(500))
                }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether a projection is being rebuilt; retrying");
                Some(Duration::from_millis(500))
            }
        };
        if let Err(e) = readings_once(&vehicles, &db, clock.as_ref()).await {
            tracing::warn!(error = %e, "handover readings failed; retrying");
        }
        let wait = wait.unwrap_or(Duration::from_secs(1));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = fleet_applied.changed() => {}
            _ = demand_applied.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
