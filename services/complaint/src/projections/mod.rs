//! The complaint read models, each owned by one projection:
//!
//! - [`ComplaintProjection`] (`complaint`, over this service's own stream): the cases (one row
//!   each, with the SLA due index and each stopped clock's figures), their timelines, and the
//!   hot spots raised. Every time in them is the business time the events record (a case
//!   entered late falls in the week it was opened), never the time of the append.
//! - [`OrdersProjection`] (`complaint-orders`, over order's stream): the orders a case may link
//!   to, and the orders placed per day, city, sales channel and model (the analysis'
//!   denominators).
//! - [`FleetProjection`] (`complaint-fleet`, over fleet's stream): the cars, with model and plate.
//! - [`ReceivablesLinksProjection`] (`complaint-receivables`, over receivables' stream):
//!   violations and whose they are, repair claims, ledger charges.

pub mod analysis;
pub mod queries;

use std::sync::Arc;

use rentops_eventstore::RecordedEvent;
use rentops_kernel::{Aggregate, Calendar, EventCodec};
use rentops_projection::db::micros;
use rentops_projection::rows::{bad, decode, load_state};
use rentops_projection::{Projection, ProjectionError};
use rentops_proto::timestamp::from_timestamp;
use rentops_proto::{fleet as fpb, order as opb, receivables as rpb};
use sqlx::{Any, Transaction};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::domain::hot_spot::HotSpotAggregate;
use crate::domain::sla::{self, ClockKind};
use crate::domain::{Case, CaseAggregate, Policies};

type Tx = Transaction<'static, Any>;

pub const COMPLAINT: &str = "complaint";
pub const ORDERS: &str = "complaint-orders";
pub const FLEET: &str = "complaint-fleet";
pub const RECEIVABLES: &str = "complaint-receivables";

/// China's offset, in which the analysis counts days.
pub const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// The day of `at` in China, YYYY-MM-DD.
pub fn china_day(at: OffsetDateTime) -> String {
    let d = at.to_offset(CHINA).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The cases and their timelines, from this service's own events. The SLA policies, the
/// calendar and the silence before an auto-close decide each case's next due instant (kept in
/// the row, for the scan): a change of them applies to the rows written after it, and to all
/// after a rebuild. A case is due no sooner than `settle` after its latest change was
/// recorded: a backlog case whose steps are being entered one by one is left alone until the
/// desk is done with it.
pub struct ComplaintProjection {
    pub policies: Arc<Policies>,
    pub calendar: Arc<Calendar>,
    pub silence: Duration,
    pub settle: Duration,
}

/// A stopped clock's figures: counted time spent, and whether within the target. `None` while
/// it runs, or when its business hours cannot be counted (a year the calendar lacks).
fn stopped_clock(case: &Case, policies: &Policies, calendar: &Calendar, clock: ClockKind) -> Option<(i64, bool)> {
    let run = case.run(clock);
    if !run.stopped {
        return None;
    }
    let policy = case.policy(policies)?;
    let upto = run.spans.iter().filter_map(|s| s.end).max()?;
    let spent = sla::spent(&policy.hours, calendar, &run.spans, upto).ok()?;
    Some((spent.whole_seconds(), spent <= policy.target(clock)))
}

impl ComplaintProjection {
    async fn hot_spot(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let h = HotSpotAggregate::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let brief = serde_json::to_string(&h.brief).map_err(|err| bad(e, err))?;
        sqlx::query(
            "INSERT INTO cp_hot_spots (hot_spot_id, category, period_start_us, period_end_us, current_cases, \
             previous_cases, rise_percent, brief, raised_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (hot_spot_id) DO NOTHING",
        )
        .bind(e.meta.aggregate_id.clone())
        .bind(h.category)
        .bind(micros(h.period_start))
        .bind(micros(h.period_end))
        .bind(i64::from(h.current))
        .bind(i64::from(h.previous))
        .bind(h.rise_percent.map(i64::from))
        .bind(brief)
        .bind(micros(h.at))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn case(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let event = CaseAggregate::decode(&e.name, &e.payload).map_err(|err| bad(e, err))?;
        let id = e.meta.aggregate_id.clone();
        let state: Case = load_state(tx, "SELECT state FROM cp_cases WHERE case_id = $1", &id)
            .await?
            .unwrap_or_default();
        let c = CaseAggregate::evolve(state, &event);
        let Some(o) = &c.opened else {
            return Err(bad(e, "an event before the case was opened"));
        };
        let next_due = match c.next_due(&self.policies, &self.calendar, self.silence) {
            Ok(d) => d.map(|(at, _)| micros(at.max(e.meta.time + self.settle))),
            Err(err) => {
                // Business hours in a year the calendar has no notice for: the scan cannot
                // count them; the desk sees the case and an operator adds the year.
                tracing::warn!(case_id = %id, error = %err, "SLA clock cannot be counted; no due time");
                None
            }
        };
        let fr = stopped_clock(&c, &self.policies, &self.calendar, ClockKind::FirstResponse);
        let res = stopped_clock(&c, &self.policies, &self.calendar, ClockKind::Resolution);
        let json = serde_json::to_string(&c).map_err(|err| bad(e, err))?;
        sqlx::query(
            "INSERT INTO cp_cases (case_id, customer_id, order_id, vehicle_id, violation_id, claim_id, \
             charge_booking_id, channel, category, sub_category, severity, status, agent, root_cause, city, \
             vehicle_model, order_channel, opened_us, first_response_us, resolved_us, closed_us, reopened, \
             escalated, fr_spent_s, fr_met, res_spent_s, res_met, next_due_us, state, last_sequence, text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) ON CONFLICT (case_id) DO UPDATE SET \
             severity = excluded.severity, status = excluded.status, agent = excluded.agent, \
             root_cause = excluded.root_cause, first_response_us = excluded.first_response_us, \
             resolved_us = excluded.resolved_us, closed_us = excluded.closed_us, reopened = excluded.reopened, \
             escalated = excluded.escalated, fr_spent_s = excluded.fr_spent_s, fr_met = excluded.fr_met, \
             res_spent_s = excluded.res_spent_s, res_met = excluded.res_met, next_due_us = excluded.next_due_us, \
             state = excluded.state, last_sequence = excluded.last_sequence",
        )
        .bind(id.clone())
        .bind(o.links.customer_id.clone())
        .bind(o.links.order_id.clone())
        .bind(o.links.vehicle_id.clone())
        .bind(o.links.violation_id.clone())
        .bind(o.links.claim_id.clone())
        .bind(o.links.charge_booking_id.clone())
        .bind(o.channel.code())
        .bind(o.category.clone())
        .bind(o.sub_category.clone())
        .bind(c.severity.code())
        .bind(c.status.code())
        .bind(c.agent.clone().unwrap_or_default())
        .bind(c.root_cause.clone().unwrap_or_default())
        .bind(o.context.city.clone())
        .bind(o.context.vehicle_model.clone())
        .bind(o.context.order_channel.clone())
        .bind(micros(o.opened_at))
        .bind(c.first_response_at.map(micros))
        .bind(
            c.resolution
                .as_ref()
                .filter(|_| !c.status.is_active())
                .map(|r| micros(r.at)),
        )
        .bind(c.closed_at.map(micros))
        .bind(i64::from(c.reopened))
        .bind(i64::from(!c.escalated.is_empty()))
        .bind(fr.map(|(s, _)| s))
        .bind(fr.map(|(_, met)| i64::from(met)))
        .bind(res.map(|(s, _)| s))
        .bind(res.map(|(_, met)| i64::from(met)))
        .bind(next_due)
        .bind(json)
        .bind(e.sequence as i64)
        .bind(o.text.clone())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO cp_case_events (sequence, case_id, name, at_us, actor, payload) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(e.sequence as i64)
        .bind(id)
        .bind(e.name.clone())
        // When it happened (a command entered late names its own time), not when it was
        // appended.
        .bind(micros(event.at()))
        .bind(e.meta.actor.clone())
        .bind(e.payload.to_vec())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl Projection for ComplaintProjection {
    fn name(&self) -> &str {
        COMPLAINT
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec![
            format!("rentops.complaint.{}.>", CaseAggregate::TYPE),
            format!("rentops.complaint.{}.>", HotSpotAggregate::TYPE),
        ]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        if e.subject.split('.').nth(2) == Some(HotSpotAggregate::TYPE) {
            self.hot_spot(tx, e).await?;
        } else {
            self.case(tx, e).await?;
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        ComplaintProjection {
            policies: self.policies.clone(),
            calendar: self.calendar.clone(),
            silence: self.silence,
            settle: self.settle,
        }
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["cp_cases", "cp_case_events", "cp_hot_spots"]
    }
}

fn order_channel(c: i32, partner: &str) -> String {
    match opb::Channel::try_from(c) {
        Ok(opb::Channel::App) => "APP".into(),
        Ok(opb::Channel::MiniProgram) => "MINI_PROGRAM".into(),
        Ok(opb::Channel::Web) => "WEB".into(),
        Ok(opb::Channel::CallCenter) => "CALL_CENTER".into(),
        Ok(opb::Channel::Partner) if !partner.trim().is_empty() => format!("PARTNER:{}", partner.trim()),
        Ok(opb::Channel::Partner) => "PARTNER".into(),
        _ => String::new(),
    }
}

fn model_code(v: i32) -> String {
    rentops_proto::model::model_from_pb(v)
        .map(|m| m.code().to_owned())
        .unwrap_or_default()
}

/// Orders, from the order service's events.
pub struct OrdersProjection;

impl Projection for OrdersProjection {
    fn name(&self) -> &str {
        ORDERS
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.order.order.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let order = e.meta.aggregate_id.clone();
        match e.name.as_str() {
            "OrderPlaced" => {
                let p: opb::OrderPlaced = decode(e)?;
                let placed = match p.placed_at.as_ref().map(from_timestamp) {
                    Some(Ok(t)) => t,
                    _ => e.meta.time,
                };
                let channel = order_channel(p.channel, &p.partner_code);
                let model = model_code(p.requested_model);
                let station = match p.pickup_location.and_then(|l| l.place) {
                    Some(opb::location::Place::StationId(s)) => s,
                    _ => String::new(),
                };
                let inserted = sqlx::query(
                    "INSERT INTO cp_orders (order_id, customer_id, city, channel, model, station_id, placed_us, vehicle_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, '') ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(order)
                .bind(p.customer.map(|c| c.customer_id).unwrap_or_default())
                .bind(p.city.clone())
                .bind(channel.clone())
                .bind(model.clone())
                .bind(station)
                .bind(micros(placed))
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted > 0 {
                    sqlx::query(
                        "INSERT INTO cp_order_days (day, city, channel, model, orders) VALUES ($1, $2, $3, $4, 1) \
                         ON CONFLICT (day, city, channel, model) DO UPDATE SET orders = cp_order_days.orders + 1",
                    )
                    .bind(china_day(placed))
                    .bind(p.city)
                    .bind(channel)
                    .bind(model)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            "VehiclePickedUp" => {
                let p: opb::VehiclePickedUp = decode(e)?;
                sqlx::query("UPDATE cp_orders SET vehicle_id = $2 WHERE order_id = $1")
                    .bind(order)
                    .bind(p.vehicle_id)
                    .execute(&mut **tx)
                    .await?;
            }
            "VehicleSwapped" => {
                let s: opb::VehicleSwapped = decode(e)?;
                if let Some(r) = s.replacement {
                    sqlx::query("UPDATE cp_orders SET vehicle_id = $2 WHERE order_id = $1")
                        .bind(order)
                        .bind(r.vehicle_id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        OrdersProjection
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["cp_orders", "cp_order_days"]
    }
}

/// Cars, from fleet's vehicle events.
pub struct FleetProjection;

impl Projection for FleetProjection {
    fn name(&self) -> &str {
        FLEET
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.fleet.vehicle.>".into()]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        match e.name.as_str() {
            "VehicleRegistered" => {
                let r: fpb::VehicleRegistered = decode(e)?;
                sqlx::query(
                    "INSERT INTO cp_vehicles (vehicle_id, model, plate) VALUES ($1, $2, $3) \
                     ON CONFLICT (vehicle_id) DO UPDATE SET model = excluded.model, plate = excluded.plate",
                )
                .bind(e.meta.aggregate_id.clone())
                .bind(model_code(r.model))
                .bind(r.plate)
                .execute(&mut **tx)
                .await?;
            }
            "VehiclePlateChanged" => {
                let c: fpb::VehiclePlateChanged = decode(e)?;
                sqlx::query("UPDATE cp_vehicles SET plate = $2 WHERE vehicle_id = $1")
                    .bind(e.meta.aggregate_id.clone())
                    .bind(c.to_plate)
                    .execute(&mut **tx)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        FleetProjection
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["cp_vehicles"]
    }
}

/// Violations, claims and charges, from receivables' events.
pub struct ReceivablesLinksProjection;

impl Projection for ReceivablesLinksProjection {
    fn name(&self) -> &str {
        RECEIVABLES
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec![
            "rentops.receivables.violation.>".into(),
            "rentops.receivables.claim.>".into(),
            "rentops.receivables.ledger.>".into(),
        ]
    }

    async fn apply_event(&self, tx: &mut Tx, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let id = e.meta.aggregate_id.clone();
        match e.name.as_str() {
            "ViolationRecorded" => {
                sqlx::query(
                    "INSERT INTO cp_violations (violation_id, customer_id, vehicle_id, order_id) \
                     VALUES ($1, '', '', '') ON CONFLICT (violation_id) DO NOTHING",
                )
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            "ViolationMatched" => {
                let m: rpb::ViolationMatched = decode(e)?;
                // A match to a driver, staff or the company names no customer.
                sqlx::query(
                    "INSERT INTO cp_violations (violation_id, customer_id, vehicle_id, order_id) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (violation_id) DO UPDATE SET \
                     customer_id = excluded.customer_id, vehicle_id = excluded.vehicle_id, \
                     order_id = excluded.order_id",
                )
                .bind(id)
                .bind(m.customer_id)
                .bind(m.vehicle_id)
                .bind(m.order_id)
                .execute(&mut **tx)
                .await?;
            }
            "ClaimOpened" => {
                let c: rpb::ClaimOpened = decode(e)?;
                sqlx::query(
                    "INSERT INTO cp_claims (claim_id, customer_id, order_id, vehicle_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (claim_id) DO NOTHING",
                )
                .bind(id)
                .bind(c.customer_id)
                .bind(c.order_id)
                .bind(c.vehicle_id)
                .execute(&mut **tx)
                .await?;
            }
            "LedgerBooked" => {
                let b: rpb::LedgerBooked = decode(e)?;
                if b.kind == rpb::BookingKind::Charge as i32 {
                    sqlx::query(
                        "INSERT INTO cp_charges (booking_id, customer_id, reference) VALUES ($1, $2, $3) \
                         ON CONFLICT (booking_id) DO NOTHING",
                    )
                    .bind(b.booking_id)
                    .bind(if b.customer_id.is_empty() { id } else { b.customer_id })
                    .bind(b.reference)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        ReceivablesLinksProjection
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["cp_violations", "cp_claims", "cp_charges"]
    }
}
