//! The fleet service's read models, and the outboxes its reactors read.
//!
//! - [`FleetProjection`] (`fleet-fleet`, stream FLEET): vehicles, drivers, cities (each row holds
//!   the aggregate's folded state as JSON), the plan in force per city, driver tasks, plan
//!   history with KPIs; and a re-plan request whenever supply or configuration changes.
//! - [`DemandProjection`] (`fleet-demand`, stream ORDER): what the fleet needs of every order;
//!   and a re-plan request whenever demand changes, a reading request at every handover.
//!
//! Requests are rows written in the same transaction as the change that causes them, keyed by
//! the causing event's stream and sequence: a redelivered event is below the checkpoint and
//! writes nothing twice, and a crash loses no request (see `reactors`). Events are applied one
//! statement at a time: fleet and order volumes per city are modest; batch them into multi-row
//! statements when a city's volume asks for it.

pub mod kpis;
pub mod queries;

use rentops_eventstore::RecordedEvent;
use rentops_projection::rows::{bad, load_state};
use rentops_projection::{Projection, ProjectionError};
use rentops_proto::order as opb;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

use crate::domain::city::{CityAggregate, CityEvent};
use crate::domain::driver::{DriverAggregate, DriverEvent};
use crate::domain::plan::{NO_DRIVER, PlanEvent, TaskKind};
use crate::domain::vehicle::{VehicleAggregate, VehicleEvent};
use crate::domain::{at, model_from_pb};

pub const FLEET: &str = "fleet-fleet";
pub const DEMAND: &str = "fleet-demand";

pub use rentops_projection::db::{from_micros, micros};

type Tx = Transaction<'static, Any>;

fn json<T: Serialize>(e: &RecordedEvent, v: &T) -> Result<String, ProjectionError> {
    serde_json::to_string(v).map_err(|err| bad(e, err))
}

/// Asks for a re-plan of `city` on behalf of event `e` of `source`.
async fn request_replan(
    tx: &mut Tx,
    source: &str,
    e: &RecordedEvent,
    city: &str,
    urgent: bool,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO replan_requests (source, sequence, city, event_id, reason, urgent, recorded_at_us, traceparent, tracestate) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source, sequence) DO NOTHING",
    )
    .bind(source)
    .bind(e.sequence as i64)
    .bind(city.to_owned())
    .bind(e.meta.event_id.to_string())
    .bind(format!("{source}:{}", e.name))
    .bind(i64::from(urgent))
    .bind(micros(OffsetDateTime::now_utc()))
    // The re-plan continues the trace of the change that asked for it.
    .bind(e.trace.as_ref().map_or("", |t| t.traceparent.as_str()).to_owned())
    .bind(e.trace.as_ref().and_then(|t| t.tracestate.clone()).unwrap_or_default())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub struct FleetProjection;

impl FleetProjection {
    async fn vehicle(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = VehicleEvent::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = &e.meta.aggregate_id;
        let state = load_state(tx, "SELECT state FROM vehicles WHERE vehicle_id = $1", id).await?;
        let Some(v) = VehicleAggregate::evolve(state, &event) else {
            return Ok(());
        };
        let status = if v.retired_at.is_some() {
            "RETIRED"
        } else if v.breakdown.is_some() {
            "BREAKDOWN"
        } else if v.on_hire_order_id.is_some() {
            "ON_HIRE"
        } else {
            "AVAILABLE"
        };
        sqlx::query(
            "INSERT INTO vehicles (vehicle_id, city, model, station, status, last_sequence, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (vehicle_id) DO UPDATE SET \
             station = excluded.station, status = excluded.status, last_sequence = excluded.last_sequence, \
             state = excluded.state",
        )
        .bind(id.clone())
        .bind(v.city.clone())
        .bind(v.model.code())
        .bind(v.station.clone())
        .bind(status)
        .bind(e.sequence as i64)
        .bind(json(e, &v)?)
        .execute(&mut **tx)
        .await?;
        let window = |kind: &'static str, from: OffsetDateTime, to: Option<OffsetDateTime>| {
            sqlx::query(
                "INSERT INTO vehicle_windows (vehicle_id, kind, from_us, to_us) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (vehicle_id, kind, from_us) DO UPDATE SET to_us = excluded.to_us",
            )
            .bind(id.clone())
            .bind(kind)
            .bind(micros(from))
            .bind(to.map(micros))
        };
        let supply_changed = match &event {
            VehicleEvent::MaintenanceScheduled(m) => {
                window("MAINTENANCE", m.from, Some(m.to)).execute(&mut **tx).await?;
                true
            }
            VehicleEvent::BreakdownReported(b) => {
                window("BREAKDOWN", b.at, None).execute(&mut **tx).await?;
                true
            }
            VehicleEvent::RepairCompleted(r) => {
                if let Some((from, to)) = v.past_breakdowns.last() {
                    window("BREAKDOWN", *from, Some(*to)).execute(&mut **tx).await?;
                }
                let _ = r;
                true
            }
            VehicleEvent::VehicleRetired(r) => {
                window("RETIRED", r.at, None).execute(&mut **tx).await?;
                put_down(tx, id, None, r.at).await?;
                true
            }
            VehicleEvent::VehicleRegistered(r) => {
                carry(tx, r.plate.as_str(), id, r.registered_at).await?;
                true
            }
            VehicleEvent::VehiclePlateChanged(c) => {
                put_down(tx, id, Some(c.from_plate.as_str()), c.at).await?;
                carry(tx, c.to_plate.as_str(), id, c.at).await?;
                // The plan names cars by id; the order shows the plate it was given.
                false
            }
            VehicleEvent::VehicleMoved(_) => true,
            // Handovers re-plan through the demand they belong to.
            VehicleEvent::VehicleReadingRecorded(_) => false,
        };
        if supply_changed {
            // docs/domain.md: a breakdown re-plans at once; other changes may be coalesced.
            let urgent = matches!(event, VehicleEvent::BreakdownReported(_));
            request_replan(tx, "fleet", e, &v.city, urgent).await?;
        }
        Ok(())
    }

    async fn driver(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = DriverEvent::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = &e.meta.aggregate_id;
        let state = load_state(tx, "SELECT state FROM drivers WHERE driver_id = $1", id).await?;
        let Some(d) = DriverAggregate::evolve(state, &event) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO drivers (driver_id, city, last_sequence, state) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (driver_id) DO UPDATE SET last_sequence = excluded.last_sequence, state = excluded.state",
        )
        .bind(id.clone())
        .bind(d.city.clone())
        .bind(e.sequence as i64)
        .bind(json(e, &d)?)
        .execute(&mut **tx)
        .await?;
        if matches!(event, DriverEvent::ShiftScheduled(_)) {
            request_replan(tx, "fleet", e, &d.city, false).await?;
        }
        Ok(())
    }

    async fn city(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = CityEvent::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = &e.meta.aggregate_id;
        let state = load_state(tx, "SELECT state FROM cities WHERE city = $1", id).await?;
        let Some(c) = CityAggregate::evolve(state, &event) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO cities (city, last_sequence, state) VALUES ($1, $2, $3) \
             ON CONFLICT (city) DO UPDATE SET last_sequence = excluded.last_sequence, state = excluded.state",
        )
        .bind(id.clone())
        .bind(e.sequence as i64)
        .bind(json(e, &c)?)
        .execute(&mut **tx)
        .await?;
        request_replan(tx, "fleet", e, id, false).await?;
        Ok(())
    }

    async fn plan(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = PlanEvent::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let city = e.meta.aggregate_id.clone();
        match &event {
            PlanEvent::VehicleAssigned(a) => {
                assign(
                    tx,
                    &city,
                    &a.order_id,
                    &a.vehicle_id,
                    &a.plate,
                    a.model.code(),
                    a.upgrade,
                    &a.plan_id,
                    a.assigned_at,
                )
                .await?;
            }
            PlanEvent::VehicleReassigned(a) => {
                assign(
                    tx,
                    &city,
                    &a.order_id,
                    &a.vehicle_id,
                    &a.plate,
                    a.model.code(),
                    a.upgrade,
                    &a.plan_id,
                    a.assigned_at,
                )
                .await?;
            }
            PlanEvent::AssignmentReleased(r) => {
                sqlx::query("DELETE FROM plan_assignments WHERE order_id = $1")
                    .bind(r.order_id.clone())
                    .execute(&mut **tx)
                    .await?;
            }
            PlanEvent::OrderAtRisk(r) => {
                sqlx::query("DELETE FROM plan_assignments WHERE order_id = $1")
                    .bind(r.order_id.clone())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO plan_at_risk (order_id, city, reason, explanation, plan_id, flagged_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO UPDATE SET reason = excluded.reason, \
                     explanation = excluded.explanation, plan_id = excluded.plan_id, flagged_at_us = excluded.flagged_at_us",
                )
                .bind(r.order_id.clone())
                .bind(city.clone())
                .bind(r.reason.clone())
                .bind(r.explanation.clone())
                .bind(r.plan_id.clone())
                .bind(micros(r.flagged_at))
                .execute(&mut **tx)
                .await?;
            }
            PlanEvent::DriverTaskAssigned(t) => {
                task(
                    tx,
                    &city,
                    &t.order_id,
                    t.kind,
                    &t.driver_id,
                    &t.shift_id,
                    Some(t.from),
                    Some(t.to),
                    &t.station,
                    &t.address,
                    false,
                    "",
                )
                .await?;
                if t.kind == TaskKind::Relocation {
                    sqlx::query(
                        "UPDATE driver_tasks SET to_station = $3, vehicle_id = $4 WHERE order_id = $1 AND kind = $2",
                    )
                    .bind(t.order_id.clone())
                    .bind(t.kind.code())
                    .bind(t.to_station.clone())
                    .bind(t.vehicle_id.clone())
                    .execute(&mut **tx)
                    .await?;
                    no_driver_resolved(tx, &t.order_id).await?;
                }
            }
            PlanEvent::DriverTaskUnassigned(t) => {
                if t.withdrawn {
                    sqlx::query("DELETE FROM driver_tasks WHERE order_id = $1 AND kind = $2")
                        .bind(t.order_id.clone())
                        .bind(t.kind.code())
                        .execute(&mut **tx)
                        .await?;
                    if t.kind == TaskKind::Relocation {
                        no_driver_resolved(tx, &t.order_id).await?;
                    }
                } else {
                    if t.kind == TaskKind::Relocation {
                        // The car is planned but nobody can move it: the order is at risk, the
                        // desk's to arrange (its assignment stays).
                        sqlx::query(
                            "INSERT INTO plan_at_risk (order_id, city, reason, explanation, plan_id, flagged_at_us) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO UPDATE SET reason = excluded.reason, \
                             explanation = excluded.explanation, plan_id = excluded.plan_id, flagged_at_us = excluded.flagged_at_us",
                        )
                        .bind(t.order_id.clone())
                        .bind(city.clone())
                        .bind(NO_DRIVER)
                        .bind(format!("no driver can move its car: {}", t.reason))
                        .bind(t.plan_id.clone())
                        .bind(micros(e.meta.time))
                        .execute(&mut **tx)
                        .await?;
                    }
                    task(
                        tx,
                        &city,
                        &t.order_id,
                        t.kind,
                        "",
                        "",
                        None,
                        None,
                        "",
                        "",
                        true,
                        &t.reason,
                    )
                    .await?;
                }
            }
            PlanEvent::PlanOrdersClosed(c) => {
                for o in &c.order_ids {
                    for table in ["plan_assignments", "plan_at_risk", "driver_tasks"] {
                        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE order_id = $1")))
                            .bind(o.clone())
                            .execute(&mut **tx)
                            .await?;
                    }
                }
            }
            PlanEvent::PlanPublished(p) => {
                let at_risk: i64 = sqlx::query("SELECT COUNT(*) FROM plan_at_risk WHERE city = $1")
                    .bind(city.clone())
                    .fetch_one(&mut **tx)
                    .await?
                    .get(0);
                sqlx::query(
                    "INSERT INTO plan_history (sequence, city, plan_id, planned_at_us, orders, fulfilled, upgrades, \
                     relocation_minutes, moved_from_previous, fulfilment_rate, idle_rate, proven_optimal, \
                     upper_bound_fulfilled, plan_trigger, at_risk, driver_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                     $11, $12, $13, $14, $15, $16) ON CONFLICT (sequence) DO NOTHING",
                )
                .bind(e.sequence as i64)
                .bind(city.clone())
                .bind(p.plan_id.clone())
                .bind(micros(p.planned_at))
                .bind(i64::from(p.orders))
                .bind(i64::from(p.fulfilled))
                .bind(i64::from(p.upgrades))
                .bind(p.relocation_minutes)
                .bind(i64::from(p.moved_from_previous))
                .bind(p.fulfilment_rate)
                .bind(p.idle_rate)
                .bind(i64::from(p.proven_optimal))
                .bind(i64::from(p.upper_bound_fulfilled))
                .bind(p.trigger.clone())
                .bind(at_risk)
                .bind(p.driver_minutes)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn assign(
    tx: &mut Tx,
    city: &str,
    order: &str,
    vehicle: &str,
    plate: &str,
    model: &str,
    upgrade: bool,
    plan_id: &str,
    assigned_at: OffsetDateTime,
) -> Result<(), ProjectionError> {
    sqlx::query("DELETE FROM plan_at_risk WHERE order_id = $1")
        .bind(order.to_owned())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO plan_assignments (order_id, city, vehicle_id, plate, model, upgrade, plan_id, assigned_at_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO UPDATE SET vehicle_id = excluded.vehicle_id, \
         plate = excluded.plate, model = excluded.model, upgrade = excluded.upgrade, plan_id = excluded.plan_id, \
         assigned_at_us = excluded.assigned_at_us",
    )
    .bind(order.to_owned())
    .bind(city.to_owned())
    .bind(vehicle.to_owned())
    .bind(plate.to_owned())
    .bind(model.to_owned())
    .bind(i64::from(upgrade))
    .bind(plan_id.to_owned())
    .bind(micros(assigned_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn task(
    tx: &mut Tx,
    city: &str,
    order: &str,
    kind: TaskKind,
    driver: &str,
    shift: &str,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    station: &str,
    address: &str,
    flagged: bool,
    reason: &str,
) -> Result<(), ProjectionError> {
    // A flag keeps the task's times and place from when it had a driver, if it had one.
    sqlx::query(
        "INSERT INTO driver_tasks (order_id, kind, city, driver_id, shift_id, from_us, to_us, station, address, flagged, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (order_id, kind) DO UPDATE SET \
         driver_id = excluded.driver_id, shift_id = excluded.shift_id, \
         from_us = COALESCE(excluded.from_us, driver_tasks.from_us), to_us = COALESCE(excluded.to_us, driver_tasks.to_us), \
         station = CASE WHEN excluded.station = '' THEN driver_tasks.station ELSE excluded.station END, \
         address = CASE WHEN excluded.address = '' THEN driver_tasks.address ELSE excluded.address END, \
         flagged = excluded.flagged, reason = excluded.reason",
    )
    .bind(order.to_owned())
    .bind(kind.code())
    .bind(city.to_owned())
    .bind(driver.to_owned())
    .bind(shift.to_owned())
    .bind(from.map(micros))
    .bind(to.map(micros))
    .bind(station.to_owned())
    .bind(address.to_owned())
    .bind(i64::from(flagged))
    .bind(reason.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Projection for FleetProjection {
    fn name(&self) -> &str {
        FLEET
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.fleet.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        match e.subject.split('.').nth(2) {
            Some("vehicle") => self.vehicle(tx, e).await?,
            Some("driver") => self.driver(tx, e).await?,
            // The plate registry's claims guard registrations; which car carried a plate
            // when is read from the vehicles' own events.
            Some("plate") => {}
            Some("city") => self.city(tx, e).await?,
            Some("plan") => self.plan(tx, e).await?,
            _ => tracing::warn!(subject = %e.subject, "not a fleet aggregate; skipped"),
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        FleetProjection
    }

    /// `replan_requests` is not one: a rebuild writes its requests through to the live outbox
    /// (keyed by event, so a request already there is not asked twice).
    fn tables(&self) -> Vec<&'static str> {
        FLEET_TABLES.to_vec()
    }
}

/// The tables the fleet projection owns outright (`replan_requests` it shares with the demand).
const FLEET_TABLES: [&str; 9] = [
    "vehicles",
    "plate_history",
    "vehicle_windows",
    "drivers",
    "cities",
    "plan_assignments",
    "plan_at_risk",
    "driver_tasks",
    "plan_history",
];

/// The demand: the order service's events, as the fleet needs them.
pub struct DemandProjection;

fn location(l: &Option<opb::Location>) -> (String, String) {
    match l.as_ref().and_then(|l| l.place.as_ref()) {
        Some(opb::location::Place::StationId(s)) => (s.clone(), String::new()),
        Some(opb::location::Place::Address(a)) => (String::new(), a.clone()),
        None => (String::new(), String::new()),
    }
}

fn model_code(m: i32) -> String {
    model_from_pb(m).map(|m| m.code().to_owned()).unwrap_or_default()
}

/// A relocation of `order`'s car has a driver now (or is no longer needed): no longer at risk
/// for want of one.
async fn no_driver_resolved(tx: &mut Tx, order: &str) -> Result<(), ProjectionError> {
    sqlx::query("DELETE FROM plan_at_risk WHERE order_id = $1 AND reason = $2")
        .bind(order.to_owned())
        .bind(NO_DRIVER)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `vehicle_id` carries `plate` (compact form) from `from`.
async fn carry(tx: &mut Tx, plate: &str, vehicle_id: &str, from: OffsetDateTime) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO plate_history (plate, vehicle_id, from_us, to_us) VALUES ($1, $2, $3, NULL) \
         ON CONFLICT (plate, vehicle_id, from_us) DO NOTHING",
    )
    .bind(plate.to_owned())
    .bind(vehicle_id.to_owned())
    .bind(micros(from))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `vehicle_id` stops carrying `plate` (any plate: `None`) at `to`.
async fn put_down(
    tx: &mut Tx,
    vehicle_id: &str,
    plate: Option<&str>,
    to: OffsetDateTime,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE plate_history SET to_us = $3 WHERE vehicle_id = $1 AND ($2 = '' OR plate = $2) AND to_us IS NULL",
    )
    .bind(vehicle_id.to_owned())
    .bind(plate.unwrap_or_default().to_owned())
    .bind(micros(to))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A reading a handover asks of a car: `kind` PICKUP, RETURN, SWAP_OUT or SWAP_IN.
struct Reading<'a> {
    vehicle_id: &'a str,
    kind: &'static str,
    odometer_km: i64,
    charge_percent: u32,
    at: OffsetDateTime,
    /// Where the car stands after it (a return station, a swap's station); empty: unchanged.
    station: &'a str,
}

/// Asks for reading `part` of handover event `e` (a swap asks for two).
async fn reading(
    tx: &mut Tx,
    e: &RecordedEvent,
    part: i64,
    order_id: &str,
    r: Reading<'_>,
) -> Result<(), ProjectionError> {
    if r.vehicle_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO reading_requests (sequence, part, event_id, vehicle_id, kind, order_id, odometer_km, charge_percent, at_us, station) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (sequence, part) DO NOTHING",
    )
    .bind(e.sequence as i64)
    .bind(part)
    .bind(e.meta.event_id.to_string())
    .bind(r.vehicle_id.to_owned())
    .bind(r.kind)
    .bind(order_id.to_owned())
    .bind(r.odometer_km)
    .bind(i64::from(r.charge_percent))
    .bind(micros(r.at))
    .bind(r.station.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `vehicle_id` goes on hire for `order_id` at `from`.
async fn open_span(
    tx: &mut Tx,
    order_id: &str,
    vehicle_id: &str,
    city: &str,
    from: OffsetDateTime,
) -> Result<(), ProjectionError> {
    if vehicle_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO hire_spans (order_id, vehicle_id, city, from_us, to_us) VALUES ($1, $2, $3, $4, NULL) \
         ON CONFLICT (order_id, vehicle_id, from_us) DO NOTHING",
    )
    .bind(order_id.to_owned())
    .bind(vehicle_id.to_owned())
    .bind(city.to_owned())
    .bind(micros(from))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The car on hire for `order_id` leaves the hire at `to`.
async fn close_span(tx: &mut Tx, order_id: &str, to: OffsetDateTime) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE hire_spans SET to_us = $2 WHERE order_id = $1 AND to_us IS NULL")
        .bind(order_id.to_owned())
        .bind(micros(to))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Projection for DemandProjection {
    fn name(&self) -> &str {
        DEMAND
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.order.order.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        use prost::Message;
        let order_id = e.meta.aggregate_id.clone();
        let decode_err = |err: prost::DecodeError| bad(e, err);
        // Placement creates the row; every other event needs it.
        if e.name == "OrderPlaced" {
            let p = opb::OrderPlaced::decode(e.payload.as_ref()).map_err(decode_err)?;
            let (ps, pa) = location(&p.pickup_location);
            let (rs, ra) = location(&p.return_location);
            sqlx::query(
                "INSERT INTO demand_orders (order_id, city, status, confirmed, cancelled_by, model, pickup_station, \
                 pickup_address, pickup_at_us, return_station, return_address, return_at_us, vehicle_id, plate, \
                 last_sequence) VALUES ($1, $2, 'PLACED', 0, '', $3, $4, $5, $6, $7, $8, $9, '', '', $10) \
                 ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(order_id)
            .bind(p.city)
            .bind(model_code(p.requested_model))
            .bind(ps)
            .bind(pa)
            .bind(micros(at(&p.pickup_at)))
            .bind(rs)
            .bind(ra)
            .bind(micros(at(&p.return_at)))
            .bind(e.sequence as i64)
            .execute(&mut **tx)
            .await?;
            return Ok(());
        }
        let row = sqlx::query(
            "SELECT city, status, confirmed, COALESCE(NULLIF(on_hire_vehicle_id, ''), vehicle_id) \
             FROM demand_orders WHERE order_id = $1",
        )
        .bind(order_id.clone())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Ok(());
        };
        let city: String = row.get(0);
        let status: String = row.get(1);
        let confirmed = row.get::<i64, _>(2) == 1;
        // The car on hire (after a swap, the replacement).
        let vehicle_id: String = row.get(3);
        let set = |sql: &str| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE demand_orders SET {sql} WHERE order_id = $1"
            )))
        };
        let mut replan = false;
        match e.name.as_str() {
            "OrderConfirmed" => {
                set("status = 'CONFIRMED', confirmed = 1")
                    .bind(order_id.clone())
                    .execute(&mut **tx)
                    .await?;
                replan = true;
            }
            "OrderChanged" => {
                let c = opb::OrderChanged::decode(e.payload.as_ref()).map_err(decode_err)?;
                for f in &c.changed_fields {
                    let q = match f.as_str() {
                        "pickup_location" => {
                            let (s, a) = location(&c.pickup_location);
                            set("pickup_station = $2, pickup_address = $3")
                                .bind(order_id.clone())
                                .bind(s)
                                .bind(a)
                        }
                        "return_location" => {
                            let (s, a) = location(&c.return_location);
                            set("return_station = $2, return_address = $3")
                                .bind(order_id.clone())
                                .bind(s)
                                .bind(a)
                        }
                        "pickup_at" => set("pickup_at_us = $2")
                            .bind(order_id.clone())
                            .bind(micros(at(&c.pickup_at))),
                        "return_at" => set("return_at_us = $2")
                            .bind(order_id.clone())
                            .bind(micros(at(&c.return_at))),
                        "requested_model" => set("model = $2")
                            .bind(order_id.clone())
                            .bind(model_code(c.requested_model)),
                        _ => continue,
                    };
                    q.execute(&mut **tx).await?;
                    replan = confirmed;
                }
            }
            "OrderCancelled" => {
                let c = opb::OrderCancelled::decode(e.payload.as_ref()).map_err(decode_err)?;
                let by = opb::CancelledBy::try_from(c.cancelled_by)
                    .map(|b| b.as_str_name().trim_start_matches("CANCELLED_BY_").to_owned())
                    .unwrap_or_default();
                set("status = 'CANCELLED', cancelled_by = $2")
                    .bind(order_id.clone())
                    .bind(by)
                    .execute(&mut **tx)
                    .await?;
                replan = confirmed;
            }
            "VehiclePickedUp" => {
                let p = opb::VehiclePickedUp::decode(e.payload.as_ref()).map_err(decode_err)?;
                let picked_up_at = at(&p.picked_up_at);
                // The car really handed over, whichever the plan held (`planned_vehicle_id`):
                // the plan is made again around it.
                set("status = 'PICKED_UP', vehicle_id = $2, plate = $3, picked_up_at_us = $4, on_hire_vehicle_id = $2")
                    .bind(order_id.clone())
                    .bind(p.vehicle_id.clone())
                    .bind(p.plate.clone())
                    .bind(micros(picked_up_at))
                    .execute(&mut **tx)
                    .await?;
                open_span(tx, &order_id, &p.vehicle_id, &city, picked_up_at).await?;
                let r = Reading {
                    vehicle_id: &p.vehicle_id,
                    kind: "PICKUP",
                    odometer_km: p.odometer_km,
                    charge_percent: p.charge_percent,
                    at: picked_up_at,
                    station: "",
                };
                reading(tx, e, 0, &order_id, r).await?;
                replan = true;
            }
            "VehicleSwapped" => {
                let m = opb::VehicleSwapped::decode(e.payload.as_ref()).map_err(decode_err)?;
                let (Some(broken), Some(replacement)) = (m.broken, m.replacement) else {
                    return Err(bad(e, "a swap without both cars"));
                };
                let swapped_at = at(&m.swapped_at);
                let (station, _) = location(&m.location);
                set("on_hire_vehicle_id = $2")
                    .bind(order_id.clone())
                    .bind(replacement.vehicle_id.clone())
                    .execute(&mut **tx)
                    .await?;
                close_span(tx, &order_id, swapped_at).await?;
                open_span(tx, &order_id, &replacement.vehicle_id, &city, swapped_at).await?;
                let out = Reading {
                    vehicle_id: &broken.vehicle_id,
                    kind: "SWAP_OUT",
                    odometer_km: broken.odometer_km,
                    charge_percent: broken.charge_percent,
                    at: swapped_at,
                    station: &station,
                };
                reading(tx, e, 0, &order_id, out).await?;
                let swapped_in = Reading {
                    vehicle_id: &replacement.vehicle_id,
                    kind: "SWAP_IN",
                    odometer_km: replacement.odometer_km,
                    charge_percent: replacement.charge_percent,
                    at: swapped_at,
                    station: "",
                };
                reading(tx, e, 1, &order_id, swapped_in).await?;
                // The swap the plan held is done; both cars' days change.
                replan = true;
            }
            "VehicleReturned" => {
                let r = opb::VehicleReturned::decode(e.payload.as_ref()).map_err(decode_err)?;
                let (station, _) = location(&r.return_location);
                set("status = 'RETURNED', returned_at_us = $2")
                    .bind(order_id.clone())
                    .bind(micros(at(&r.returned_at)))
                    .execute(&mut **tx)
                    .await?;
                if !station.is_empty() {
                    set("return_station = $2")
                        .bind(order_id.clone())
                        .bind(station.clone())
                        .execute(&mut **tx)
                        .await?;
                }
                let station = if station.is_empty() {
                    sqlx::query("SELECT return_station FROM demand_orders WHERE order_id = $1")
                        .bind(order_id.clone())
                        .fetch_one(&mut **tx)
                        .await?
                        .get::<String, _>(0)
                } else {
                    station
                };
                close_span(tx, &order_id, at(&r.returned_at)).await?;
                // The return is read on the car on hire: after a swap, the replacement.
                let back = Reading {
                    vehicle_id: &vehicle_id,
                    kind: "RETURN",
                    odometer_km: r.odometer_km,
                    charge_percent: r.charge_percent,
                    at: at(&r.returned_at),
                    station: &station,
                };
                reading(tx, e, 0, &order_id, back).await?;
                replan = true;
            }
            "OrderCompleted" => {
                set("status = 'COMPLETED'")
                    .bind(order_id.clone())
                    .execute(&mut **tx)
                    .await?;
            }
            "OrderNoShow" => {
                set("status = 'NO_SHOW'")
                    .bind(order_id.clone())
                    .execute(&mut **tx)
                    .await?;
                replan = status == "CONFIRMED";
            }
            _ => {}
        }
        set("last_sequence = $2")
            .bind(order_id)
            .bind(e.sequence as i64)
            .execute(&mut **tx)
            .await?;
        if replan {
            request_replan(tx, "order", e, &city, false).await?;
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        DemandProjection
    }

    /// The outboxes (`replan_requests`, `reading_requests`) are not part of the view: a rebuild
    /// writes its requests through to the live ones, keyed by event as always.
    fn tables(&self) -> Vec<&'static str> {
        vec!["demand_orders", "hire_spans"]
    }
}
