//! The receivables read models, each owned by one projection:
//!
//! - [`HiresProjection`] (`receivables-hires`, over the order service's stream): the hires and
//!   each car's part of each, from pickups, swaps and returns.
//! - [`FleetCustodyProjection`] (`receivables-fleet`, over fleet's stream): which car carried
//!   which plate when, and the moves by drivers and staff.
//! - [`ReceivablesProjection`] (`receivables`, over this service's own stream): violations with
//!   their timelines, and the ledgers: bookings, open items and their matches, each debit's
//!   open-amount changes by day (and their sums per city, due date and day, which the ageing
//!   report reads), and every customer's statement lines with the running balance (ADR 0021).
//!
//! The two custody projections also write `rx_recheck`, an outbox of the spans their events
//! changed (one row per event and part), which the rematch scan reads to match again the
//! violations a late event may explain.

pub mod queries;

use std::collections::HashMap;

use rentops_eventstore::RecordedEvent;
use rentops_kernel::{Aggregate, EventCodec, Plate};
use rentops_ledger::{Account, BookingKind, LedgerEvent};
use rentops_projection::db::{from_micros, micros};
use rentops_projection::rows::{bad, decode, load_state};
use rentops_projection::{Projection, ProjectionError};
use rentops_proto::timestamp::from_timestamp;
use rentops_proto::{fleet as fpb, order as opb};
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

use crate::domain::claim::Claim;
use crate::domain::ledger::date_text;
use crate::domain::{ClaimAggregate, Ladder, LedgerAggregate, Violation, ViolationAggregate};

type Tx = Transaction<'static, Any>;

pub const HIRES: &str = "receivables-hires";
pub const FLEET: &str = "receivables-fleet";
pub const RECEIVABLES: &str = "receivables";

fn time_of(
    e: &RecordedEvent,
    t: &Option<prost_types::Timestamp>,
    field: &str,
) -> Result<OffsetDateTime, ProjectionError> {
    let t = t.as_ref().ok_or_else(|| bad(e, format!("{field} missing")))?;
    from_timestamp(t).map_err(|err| bad(e, format!("{field}: {err}")))
}

/// The one key of a plate however it was spelled; empty when it does not parse (such a car
/// is then found by its id only).
fn plate_key(text: &str) -> String {
    Plate::parse(text).map(|p| p.key()).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn recheck(
    tx: &mut Tx,
    stream: &str,
    e: &RecordedEvent,
    part: i64,
    vehicle_id: &str,
    plate_key: &str,
    from: OffsetDateTime,
    to: Option<OffsetDateTime>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO rx_recheck (stream, sequence, part, vehicle_id, plate_key, from_us, to_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream, sequence, part) DO NOTHING",
    )
    .bind(stream.to_owned())
    .bind(e.sequence as i64)
    .bind(part)
    .bind(vehicle_id.to_owned())
    .bind(plate_key.to_owned())
    .bind(micros(from))
    .bind(to.map(micros))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The hires, from the order service's events.
pub struct HiresProjection;

impl HiresProjection {
    /// Closes the car's open part of `order` at `at`; returns the car and plate it was.
    async fn close_open(
        tx: &mut Tx,
        order: &str,
        at: OffsetDateTime,
    ) -> Result<Option<(i64, String, String)>, ProjectionError> {
        let open = sqlx::query(
            "SELECT part, vehicle_id, plate_key FROM rx_hire_spans WHERE order_id = $1 AND to_us IS NULL \
             ORDER BY part DESC LIMIT 1",
        )
        .bind(order.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = open else {
            return Ok(None);
        };
        let part: i64 = row.try_get(0)?;
        sqlx::query("UPDATE rx_hire_spans SET to_us = $3 WHERE order_id = $1 AND part = $2")
            .bind(order.to_owned())
            .bind(part)
            .bind(micros(at))
            .execute(&mut **tx)
            .await?;
        Ok(Some((part, row.try_get(1)?, row.try_get(2)?)))
    }
}

impl Projection for HiresProjection {
    fn name(&self) -> &str {
        HIRES
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.order.order.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let order = e.meta.aggregate_id.clone();
        match e.name.as_str() {
            "OrderPlaced" => {
                let p: opb::OrderPlaced = decode(e)?;
                let customer = p.customer.unwrap_or_default();
                let cover = rentops_proto::cover::cover_from_pb(p.cover_tier)
                    .ok_or_else(|| bad(e, format!("cover_tier: unknown value {}", p.cover_tier)))?;
                sqlx::query(
                    "INSERT INTO rx_hires (order_id, customer_id, customer_phone, city, violation_deposit_fen, \
                     last_sequence, cover_tier) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(order)
                .bind(customer.customer_id)
                .bind(customer.phone)
                .bind(p.city)
                .bind(p.violation_deposit.map(|m| m.amount_fen).unwrap_or(0))
                .bind(e.sequence as i64)
                .bind(cover.code())
                .execute(&mut **tx)
                .await?;
            }
            "VehiclePickedUp" => {
                let p: opb::VehiclePickedUp = decode(e)?;
                let at = time_of(e, &p.picked_up_at, "picked_up_at")?;
                let key = plate_key(&p.plate);
                sqlx::query(
                    "INSERT INTO rx_hire_spans (order_id, part, vehicle_id, plate_key, from_us, to_us) \
                     VALUES ($1, 0, $2, $3, $4, NULL) ON CONFLICT (order_id, part) DO NOTHING",
                )
                .bind(order)
                .bind(p.vehicle_id.clone())
                .bind(key.clone())
                .bind(micros(at))
                .execute(&mut **tx)
                .await?;
                sqlx::query("UPDATE rx_hires SET picked_up_us = $2 WHERE order_id = $1 AND picked_up_us IS NULL")
                    .bind(e.meta.aggregate_id.clone())
                    .bind(micros(at))
                    .execute(&mut **tx)
                    .await?;
                recheck(tx, "ORDER", e, 0, &p.vehicle_id, &key, at, None).await?;
            }
            "VehicleSwapped" => {
                let s: opb::VehicleSwapped = decode(e)?;
                let at = time_of(e, &s.swapped_at, "swapped_at")?;
                let replacement = s.replacement.unwrap_or_default();
                let closed = Self::close_open(tx, &order, at).await?;
                let part = closed.as_ref().map_or(0, |(p, _, _)| p + 1);
                if let Some((_, vehicle, key)) = &closed {
                    recheck(tx, "ORDER", e, 0, vehicle, key, at, None).await?;
                }
                let key = plate_key(&replacement.plate);
                sqlx::query(
                    "INSERT INTO rx_hire_spans (order_id, part, vehicle_id, plate_key, from_us, to_us) \
                     VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (order_id, part) DO NOTHING",
                )
                .bind(order)
                .bind(part)
                .bind(replacement.vehicle_id.clone())
                .bind(key.clone())
                .bind(micros(at))
                .execute(&mut **tx)
                .await?;
                recheck(tx, "ORDER", e, 1, &replacement.vehicle_id, &key, at, None).await?;
            }
            "VehicleReturned" => {
                let r: opb::VehicleReturned = decode(e)?;
                let at = time_of(e, &r.returned_at, "returned_at")?;
                sqlx::query("UPDATE rx_hires SET returned_us = $2 WHERE order_id = $1")
                    .bind(order.clone())
                    .bind(micros(at))
                    .execute(&mut **tx)
                    .await?;
                if !r.damage_noted.trim().is_empty() {
                    // An outbox for the claims scan (kept through a rebuild, keyed by order).
                    sqlx::query(
                        "INSERT INTO rx_damage (order_id, damage, returned_us) VALUES ($1, $2, $3) \
                         ON CONFLICT (order_id) DO NOTHING",
                    )
                    .bind(order.clone())
                    .bind(r.damage_noted.trim().to_owned())
                    .bind(micros(at))
                    .execute(&mut **tx)
                    .await?;
                }
                if let Some((_, vehicle, key)) = Self::close_open(tx, &order, at).await? {
                    recheck(tx, "ORDER", e, 0, &vehicle, &key, at, None).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        HiresProjection
    }

    /// `rx_recheck` and `rx_damage` are outboxes, written through during a rebuild (keyed by
    /// event and by order).
    fn tables(&self) -> Vec<&'static str> {
        vec!["rx_hires", "rx_hire_spans"]
    }
}

/// Plates and moves, from fleet's vehicle events.
pub struct FleetCustodyProjection;

impl FleetCustodyProjection {
    async fn close_plate(tx: &mut Tx, vehicle: &str, at: OffsetDateTime) -> Result<Option<String>, ProjectionError> {
        let open = sqlx::query("SELECT from_us, plate_key FROM rx_plate_spans WHERE vehicle_id = $1 AND to_us IS NULL")
            .bind(vehicle.to_owned())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = open else {
            return Ok(None);
        };
        let from: i64 = row.try_get(0)?;
        sqlx::query("UPDATE rx_plate_spans SET to_us = $3 WHERE vehicle_id = $1 AND from_us = $2")
            .bind(vehicle.to_owned())
            .bind(from)
            .bind(micros(at))
            .execute(&mut **tx)
            .await?;
        Ok(Some(row.try_get(1)?))
    }

    async fn open_plate(
        tx: &mut Tx,
        vehicle: &str,
        plate: &str,
        at: OffsetDateTime,
    ) -> Result<String, ProjectionError> {
        let key = plate_key(plate);
        sqlx::query(
            "INSERT INTO rx_plate_spans (vehicle_id, from_us, plate_key, plate, to_us) VALUES ($1, $2, $3, $4, NULL) \
             ON CONFLICT (vehicle_id, from_us) DO UPDATE SET plate_key = excluded.plate_key, plate = excluded.plate, \
             to_us = NULL",
        )
        .bind(vehicle.to_owned())
        .bind(micros(at))
        .bind(key.clone())
        .bind(plate.to_owned())
        .execute(&mut **tx)
        .await?;
        Ok(key)
    }
}

impl Projection for FleetCustodyProjection {
    fn name(&self) -> &str {
        FLEET
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.fleet.vehicle.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let vehicle = e.meta.aggregate_id.clone();
        match e.name.as_str() {
            "VehicleRegistered" => {
                let r: fpb::VehicleRegistered = decode(e)?;
                let at = time_of(e, &r.registered_at, "registered_at")?;
                let key = Self::open_plate(tx, &vehicle, &r.plate, at).await?;
                recheck(tx, "FLEET", e, 0, &vehicle, &key, at, None).await?;
            }
            "VehiclePlateChanged" => {
                let c: fpb::VehiclePlateChanged = decode(e)?;
                let at = time_of(e, &c.at, "at")?;
                if let Some(old) = Self::close_plate(tx, &vehicle, at).await? {
                    recheck(tx, "FLEET", e, 0, &vehicle, &old, at, None).await?;
                }
                let key = Self::open_plate(tx, &vehicle, &c.to_plate, at).await?;
                recheck(tx, "FLEET", e, 1, &vehicle, &key, at, None).await?;
            }
            "VehicleRetired" => {
                let r: fpb::VehicleRetired = decode(e)?;
                let at = time_of(e, &r.at, "at")?;
                if let Some(old) = Self::close_plate(tx, &vehicle, at).await? {
                    recheck(tx, "FLEET", e, 0, &vehicle, &old, at, None).await?;
                }
            }
            "VehicleMoved" => {
                let m: fpb::VehicleMoved = decode(e)?;
                if m.driver_id.is_empty() && m.staff_id.is_empty() {
                    return Ok(());
                }
                let arrived = time_of(e, &m.moved_at, "moved_at")?;
                let departed = match &m.departed_at {
                    Some(_) => time_of(e, &m.departed_at, "departed_at")?,
                    None => arrived,
                };
                sqlx::query(
                    "INSERT INTO rx_moves (sequence, vehicle_id, departed_us, arrived_us, driver_id, staff_id) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sequence) DO NOTHING",
                )
                .bind(e.sequence as i64)
                .bind(vehicle.clone())
                .bind(micros(departed))
                .bind(micros(arrived))
                .bind(m.driver_id)
                .bind(m.staff_id)
                .execute(&mut **tx)
                .await?;
                recheck(tx, "FLEET", e, 0, &vehicle, "", departed, Some(arrived)).await?;
            }
            _ => {}
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        FleetCustodyProjection
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["rx_plate_spans", "rx_moves"]
    }
}

/// The violations and the ledgers, from this service's own events. The ladder's configuration
/// decides when each violation's next step falls due (kept in the row, for the ladder scan): a
/// change of the ladder applies to the rows the projection writes after it, and to all of them
/// after a rebuild.
pub struct ReceivablesProjection {
    pub ladder: Ladder,
}

impl ReceivablesProjection {
    /// Applies a violation event: its state is read once per batch (then kept in `pending`) and
    /// its row written once per batch, by [`Self::write_violations`]; the event's timeline row
    /// at once.
    async fn violation(
        &self,
        tx: &mut Tx,
        e: &RecordedEvent,
        pending: &mut HashMap<String, (Violation, i64, OffsetDateTime)>,
    ) -> Result<(), ProjectionError> {
        let event = ViolationAggregate::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = e.meta.aggregate_id.clone();
        let state = match pending.remove(&id) {
            Some((v, _, _)) => v,
            None => load_state(tx, "SELECT state FROM rx_violations WHERE violation_id = $1", &id)
                .await?
                .unwrap_or_default(),
        };
        let v = ViolationAggregate::evolve(state, &event);
        if v.record.is_none() {
            return Err(bad(e, "an event before the violation's record"));
        }
        sqlx::query(
            "INSERT INTO rx_violation_events (sequence, violation_id, name, at_us, actor, payload) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(e.sequence as i64)
        .bind(id.clone())
        .bind(e.name.clone())
        .bind(micros(e.meta.time))
        .bind(e.meta.actor.clone())
        .bind(e.payload.to_vec())
        .execute(&mut **tx)
        .await?;
        pending.insert(id, (v, e.sequence as i64, e.meta.time));
        Ok(())
    }

    /// Writes the rows of the violations a batch changed, each as its last event left it.
    async fn write_violations(
        &self,
        tx: &mut Tx,
        pending: HashMap<String, (Violation, i64, OffsetDateTime)>,
    ) -> Result<(), ProjectionError> {
        for (id, (v, sequence, time)) in pending {
            let Some(record) = &v.record else {
                continue;
            };
            let matched = v.matched.as_ref();
            let next = v.next_step(&self.ladder);
            let state = serde_json::to_string(&v).map_err(|err| ProjectionError::stored_row(id.clone(), err))?;
            sqlx::query(
                "INSERT INTO rx_violations (violation_id, plate_key, plate, offence_us, status, city, customer_id, order_id, \
                 next_step, next_due_us, rematchable, state, last_sequence, updated_at_us, charge_booking_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (violation_id) DO UPDATE SET \
                 charge_booking_id = excluded.charge_booking_id, \
                 status = excluded.status, city = excluded.city, customer_id = excluded.customer_id, \
                 order_id = excluded.order_id, next_step = excluded.next_step, next_due_us = excluded.next_due_us, \
                 rematchable = excluded.rematchable, state = excluded.state, last_sequence = excluded.last_sequence, \
                 updated_at_us = excluded.updated_at_us",
            )
            .bind(id.clone())
            .bind(record.plate.key())
            .bind(record.plate.to_string())
            .bind(micros(record.offence_at))
            .bind(v.status().code())
            .bind(matched.map(|m| m.city.clone()).unwrap_or_default())
            .bind(matched.map(|m| m.customer_id.clone()).unwrap_or_default())
            .bind(matched.map(|m| m.order_id.clone()).unwrap_or_default())
            .bind(next.map(|(s, _)| s.code()))
            .bind(next.map(|(_, due)| micros(due)))
            .bind(i64::from(v.is_rematchable()))
            .bind(state)
            .bind(sequence)
            .bind(micros(time))
            .bind(v.charge_booking_id().unwrap_or_default().to_owned())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn claim(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = ClaimAggregate::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = e.meta.aggregate_id.clone();
        let state: Claim = load_state(tx, "SELECT state FROM rx_claims WHERE claim_id = $1", &id)
            .await?
            .unwrap_or_default();
        let c = ClaimAggregate::evolve(state, &event);
        let Some(opened) = &c.opened else {
            return Err(bad(e, "an event before the claim was opened"));
        };
        let status = if c.is_confirmed() { "CONFIRMED" } else { "OPEN" };
        sqlx::query(
            "INSERT INTO rx_claims (claim_id, order_id, customer_id, status, opened_us, state, last_sequence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (claim_id) DO UPDATE SET status = excluded.status, \
             state = excluded.state, last_sequence = excluded.last_sequence",
        )
        .bind(id.clone())
        .bind(opened.order_id.clone())
        .bind(opened.customer_id.clone())
        .bind(status)
        .bind(micros(opened.opened_at))
        .bind(serde_json::to_string(&c).map_err(|err| bad(e, err))?)
        .bind(e.sequence as i64)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO rx_claim_events (sequence, claim_id, name, at_us, actor, payload) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(e.sequence as i64)
        .bind(id)
        .bind(e.name.clone())
        .bind(micros(e.meta.time))
        .bind(e.meta.actor.clone())
        .bind(e.payload.to_vec())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn ledger(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = LedgerAggregate::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let LedgerEvent::Booked { booking, settlement } = &event;
        let day = date_text(booking.booked_at.date());
        let customer = booking.customer.to_string();
        sqlx::query(
            "INSERT INTO rx_ledger_events (sequence, customer_id, booked_day, payload) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(e.sequence as i64)
        .bind(customer.clone())
        .bind(day.clone())
        .bind(e.payload.to_vec())
        .execute(&mut **tx)
        .await?;
        statement_line(tx, e, booking, &day).await?;
        let receivable = booking
            .net(&Account::Receivable(booking.customer.clone()))
            .ok_or_else(|| bad(e, "receivable overflows"))?;
        match booking.kind {
            BookingKind::Charge | BookingKind::Refund if receivable.0 > 0 => {
                let due = date_text(booking.due.unwrap_or(booking.booked_at.date()));
                let city = booking.city.as_ref().map(|c| c.to_string()).unwrap_or_default();
                let inserted = sqlx::query(
                    "INSERT INTO rx_items (booking_id, customer_id, kind, amount_fen, due, city, order_id, reference, \
                     booked_day, reversed_day, open_fen, sequence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $4, $10) \
                     ON CONFLICT (booking_id) DO NOTHING",
                )
                .bind(booking.id.to_string())
                .bind(customer)
                .bind(booking.kind.name())
                .bind(receivable.0)
                .bind(due.clone())
                .bind(city.clone())
                .bind(booking.order.as_ref().map(|o| o.to_string()).unwrap_or_default())
                .bind(booking.reference.clone().unwrap_or_default())
                .bind(day.clone())
                .bind(e.sequence as i64)
                .execute(&mut **tx)
                .await?;
                if inserted.rows_affected() == 1 {
                    open_changed(
                        tx,
                        &booking.id.to_string(),
                        &city,
                        &due,
                        &day,
                        receivable.0,
                        receivable.0,
                    )
                    .await?;
                }
            }
            BookingKind::DepositHold => {
                let amount = booking
                    .net(&Account::DepositsHeld(booking.customer.clone()))
                    .and_then(|f| f.checked_neg())
                    .ok_or_else(|| bad(e, "deposit overflows"))?;
                sqlx::query(
                    "INSERT INTO rx_holds (order_id, customer_id, booking_id, amount_fen, resolved) \
                     VALUES ($1, $2, $3, $4, 0) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(booking.order.as_ref().map(|o| o.to_string()).unwrap_or_default())
                .bind(customer)
                .bind(booking.id.to_string())
                .bind(amount.0)
                .execute(&mut **tx)
                .await?;
            }
            BookingKind::DepositDeduction | BookingKind::DepositRelease => {
                if let Some(hold) = booking.about {
                    sqlx::query("UPDATE rx_holds SET resolved = 1 WHERE booking_id = $1")
                        .bind(hold.to_string())
                        .execute(&mut **tx)
                        .await?;
                }
            }
            BookingKind::Reversal => {
                if let Some(about) = booking.about {
                    sqlx::query("UPDATE rx_items SET reversed_day = $2 WHERE booking_id = $1")
                        .bind(about.to_string())
                        .bind(day.clone())
                        .execute(&mut **tx)
                        .await?;
                }
            }
            _ => {}
        }
        for m in &settlement.released {
            sqlx::query("UPDATE rx_matches SET released_day = $3 WHERE debit_id = $1 AND credit_id = $2")
                .bind(m.debit.to_string())
                .bind(m.credit.to_string())
                .bind(day.clone())
                .execute(&mut **tx)
                .await?;
            change_open(tx, e, &m.debit.to_string(), &day, Some(m.amount.0)).await?;
        }
        // A reversed debit is open no more, from the day of its reversal (what was matched with
        // it was released just above).
        if booking.kind == BookingKind::Reversal
            && let Some(about) = booking.about
        {
            change_open(tx, e, &about.to_string(), &day, None).await?;
        }
        for m in &settlement.applied {
            sqlx::query(
                "INSERT INTO rx_matches (debit_id, credit_id, amount_fen, applied_day, released_day, booking_kind) \
                 VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (debit_id, credit_id) DO UPDATE SET \
                 amount_fen = rx_matches.amount_fen + excluded.amount_fen",
            )
            .bind(m.debit.to_string())
            .bind(m.credit.to_string())
            .bind(m.amount.0)
            .bind(day.clone())
            .bind(booking.kind.name())
            .execute(&mut **tx)
            .await?;
            let taken = m.amount.0.checked_neg().ok_or_else(|| bad(e, "match overflows"))?;
            change_open(tx, e, &m.debit.to_string(), &day, Some(taken)).await?;
        }
        Ok(())
    }
}

/// Changes what is open of debit item `booking` by `delta` (`None`: to nothing, a reversal),
/// from the end of `day`. A match with no debit item in the read model (none exists: every
/// debit is one) changes nothing.
async fn change_open(
    tx: &mut Tx,
    e: &RecordedEvent,
    booking: &str,
    day: &str,
    delta: Option<i64>,
) -> Result<(), ProjectionError> {
    let row = sqlx::query("SELECT open_fen, city, due FROM rx_items WHERE booking_id = $1")
        .bind(booking.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let (open, city, due): (i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let (open_now, delta) = match delta {
        Some(d) => (
            open.checked_add(d).ok_or_else(|| bad(e, "an open amount overflows"))?,
            d,
        ),
        None => (0, open.checked_neg().ok_or_else(|| bad(e, "an open amount overflows"))?),
    };
    if open_now < 0 {
        return Err(bad(e, format!("debit {booking} would be open by {open_now} fen")));
    }
    if delta == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE rx_items SET open_fen = $2 WHERE booking_id = $1")
        .bind(booking.to_owned())
        .bind(open_now)
        .execute(&mut **tx)
        .await?;
    open_changed(tx, booking, &city, &due, day, delta, open_now).await
}

/// Records that debit `booking` (of `city`, due on `due`) is open by `open_now` from the end of
/// `day`, `delta` more than before: its change row, and the day's delta of its city and due date.
async fn open_changed(
    tx: &mut Tx,
    booking: &str,
    city: &str,
    due: &str,
    day: &str,
    delta: i64,
    open_now: i64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO rx_item_changes (booking_id, day, open_fen) VALUES ($1, $2, $3) \
         ON CONFLICT (booking_id, day) DO UPDATE SET open_fen = excluded.open_fen",
    )
    .bind(booking.to_owned())
    .bind(day.to_owned())
    .bind(open_now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO rx_open_deltas (city, due, day, delta_fen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (city, due, day) DO UPDATE SET delta_fen = rx_open_deltas.delta_fen + excluded.delta_fen",
    )
    .bind(city.to_owned())
    .bind(due.to_owned())
    .bind(day.to_owned())
    .bind(delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `booking`'s line of its customer's statement: what it added to and took off what they
/// owe, and the balance, deposits held and running totals after it (the customer's previous
/// line's, plus this one's; checked).
async fn statement_line(
    tx: &mut Tx,
    e: &RecordedEvent,
    booking: &rentops_ledger::Booking,
    day: &str,
) -> Result<(), ProjectionError> {
    let customer = booking.customer.to_string();
    let previous = sqlx::query(
        "SELECT line_no, balance_fen, deposit_held_fen, total_debit_fen, total_credit_fen FROM rx_statement_lines \
         WHERE customer_id = $1 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(customer.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let (line_no, balance, held, debits, credits): (i64, i64, i64, i64, i64) = match previous {
        None => (0, 0, 0, 0, 0),
        Some(r) => (
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
        ),
    };
    let overflow = || bad(e, "the statement's running balance overflows");
    let receivable = booking
        .net(&Account::Receivable(booking.customer.clone()))
        .ok_or_else(overflow)?
        .0;
    // Deposits held are a liability, so a credit to them is an increase of what is held.
    let deposit_change = booking
        .net(&Account::DepositsHeld(booking.customer.clone()))
        .and_then(rentops_kernel::Fen::checked_neg)
        .ok_or_else(overflow)?
        .0;
    let (debit, credit) = if receivable >= 0 {
        (receivable, 0)
    } else {
        (0, receivable.checked_neg().ok_or_else(overflow)?)
    };
    let balance = balance.checked_add(receivable).ok_or_else(overflow)?;
    let held = held.checked_add(deposit_change).ok_or_else(overflow)?;
    let debits = debits.checked_add(debit).ok_or_else(overflow)?;
    let credits = credits.checked_add(credit).ok_or_else(overflow)?;
    sqlx::query(
        "INSERT INTO rx_statement_lines (customer_id, sequence, line_no, booked_day, booked_at_us, booking_id, kind, \
         reference, about_booking_id, due, debit_fen, credit_fen, balance_fen, deposit_change_fen, deposit_held_fen, \
         total_debit_fen, total_credit_fen, memo) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (customer_id, sequence) DO NOTHING",
    )
    .bind(customer)
    .bind(e.sequence as i64)
    .bind(line_no.saturating_add(1))
    .bind(day.to_owned())
    .bind(micros(booking.booked_at))
    .bind(booking.id.to_string())
    .bind(booking.kind.name())
    .bind(booking.reference.clone().unwrap_or_default())
    .bind(booking.about.map(|b| b.to_string()).unwrap_or_default())
    .bind(booking.due.map(date_text).unwrap_or_default())
    .bind(debit)
    .bind(credit)
    .bind(balance)
    .bind(deposit_change)
    .bind(held)
    .bind(debits)
    .bind(credits)
    .bind(booking.memo.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Projection for ReceivablesProjection {
    fn name(&self) -> &str {
        RECEIVABLES
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec![
            format!("rentops.receivables.{}.>", ViolationAggregate::TYPE),
            format!("rentops.receivables.{}.>", LedgerAggregate::TYPE),
            format!("rentops.receivables.{}.>", ClaimAggregate::TYPE),
        ]
    }

    /// One event is a batch of one: the rows are those of folding it alone.
    async fn apply_event(&self, tx: &mut Tx, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.apply(tx, std::slice::from_ref(event)).await
    }

    async fn apply(&self, tx: &mut Tx, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        // The violations this batch changed, as its events left them so far: an import's
        // record and match (and the ladder's first notice) are one row write, not three.
        let mut pending = HashMap::new();
        for e in events {
            let aggregate = e.subject.split('.').nth(2).unwrap_or_default();
            if aggregate == LedgerAggregate::TYPE {
                self.ledger(tx, e).await?;
            } else if aggregate == ClaimAggregate::TYPE {
                self.claim(tx, e).await?;
            } else {
                self.violation(tx, e, &mut pending).await?;
            }
        }
        self.write_violations(tx, pending).await
    }

    fn fresh(&self) -> Self {
        ReceivablesProjection {
            ladder: self.ladder.clone(),
        }
    }

    fn tables(&self) -> Vec<&'static str> {
        vec![
            "rx_violations",
            "rx_violation_events",
            "rx_ledger_events",
            "rx_items",
            "rx_matches",
            "rx_item_changes",
            "rx_open_deltas",
            "rx_statement_lines",
            "rx_holds",
            "rx_claims",
            "rx_claim_events",
        ]
    }
}

/// For queries: microseconds back to a time.
pub(crate) fn at(us: i64) -> OffsetDateTime {
    from_micros(us)
}
