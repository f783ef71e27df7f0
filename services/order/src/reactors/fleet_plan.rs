//! Fleet's plan, folded into the orders (docs/domain.md, what flows between the services: `fleet` →
//! `order`: a car assigned, re-assigned, or none found — the order is at risk).
//!
//! A reactor over fleet's stream (`FLEET`, subjects `rentops.fleet.plan.<CITY>.<EventName>`):
//! `VehicleAssigned` / `VehicleReassigned` → `RecordAssignment`, `AssignmentReleased` →
//! `ClearAssignment`, `OrderAtRisk` → `FlagAtRisk`; every other plan event (PlanPublished,
//! PlanOrdersClosed, DriverTask*) is acknowledged and passed over. Each command carries the
//! causing event's `ce-id` as its request id, so a redelivered event (or the same event published
//! twice) is recognised by the command handler and changes nothing twice; causation = that event,
//! correlation = the event's correlation id, actor `system:fleet-plan`.
//!
//! **One durable consumer shared by every replica, one message in flight.** All replicas pull
//! from the same durable pull consumer (`order-fleet-plan`), so each message goes to one replica
//! and no lease is needed: when a replica dies, its message is redelivered to another after
//! `ack_wait`. `max_ack_pending = 1` keeps the plan's order: an order's `VehicleAssigned` must be
//! applied before its `VehicleReassigned`, and a message is only delivered once the one before it
//! was acknowledged — also when that one is being retried. The cost is one round trip per event
//! (about a millisecond: a re-plan moving 1,000 assignments is folded in about a second), which
//! the desk does not notice; a lease with in-order batches would be faster but needs care to keep
//! order across retries, and is not needed at this volume.
//!
//! A message is acknowledged once its command succeeded, changed nothing, or was refused by a
//! business rule (an order the order service does not know: logged and skipped). When the event
//! log is unavailable or the order was contended (UNAVAILABLE / ABORTED) it is not acknowledged
//! but negatively acknowledged with a delay, so it comes back — and nothing behind it overtakes
//! it. A message that is no well-formed plan event is logged loudly and skipped: it can never
//! become readable, and holding it would stall every order behind it.
//!
//! Fleet may start after the order service: until the `FLEET` stream exists the reactor waits
//! and looks again.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use prost::Message as _;
use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, RecordedEvent};
use rentops_proto::fleet as fleet_pb;
use rentops_runtime::Clock;
use tokio_util::sync::CancellationToken;

use crate::domain::codec::{from_ts, model_from_pb};
use crate::domain::{AssignedVehicle, AtRisk, OrderAggregate, OrderCommand, OrderError, Plate};

pub const ACTOR: &str = "system:fleet-plan";

#[derive(Debug, Clone)]
pub struct FleetPlanSettings {
    /// Fleet's stream.
    pub stream: String,
    /// The durable consumer every replica shares.
    pub durable: String,
    pub filter_subject: String,
    /// How long a message whose command could not run (UNAVAILABLE / ABORTED) waits before it
    /// is delivered again; also how often a missing stream is looked for.
    pub retry_after: Duration,
    /// How long a delivered message may stay unacknowledged before the broker gives it to
    /// another replica (a replica that died holding it).
    pub ack_wait: Duration,
}

impl Default for FleetPlanSettings {
    fn default() -> Self {
        Self {
            stream: "FLEET".into(),
            durable: "order-fleet-plan".into(),
            filter_subject: "rentops.fleet.plan.>".into(),
            retry_after: Duration::from_secs(1),
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// What became of one plan event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran (it may have changed nothing); `events` were appended.
    Applied { events: u32 },
    /// A plan event the order does not fold in (PlanPublished, driver tasks, …): acknowledged.
    Ignored,
    /// An event that cannot be folded in (no such order, malformed): acknowledged, logged.
    Skipped(String),
    /// The command could not run now: deliver the event again later.
    Retry(String),
}

/// The order command a plan event asks for, and the order it is about; `Ok(None)` for plan
/// events the order does not fold in.
pub fn command_for(name: &str, payload: &[u8]) -> Result<Option<(String, OrderCommand)>, String> {
    let ts = |field: &str, t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .ok_or_else(|| format!("{name}: {field} missing"))
            .and_then(|t| from_ts(t).map_err(|e| format!("{name}: {field}: {e}")))
    };
    let decode = |e: prost::DecodeError| format!("{name}: {e}");
    Ok(Some(match name {
        "VehicleAssigned" => {
            let m = fleet_pb::VehicleAssigned::decode(payload).map_err(decode)?;
            let at = ts("assigned_at", &m.assigned_at)?;
            (
                m.order_id,
                OrderCommand::RecordAssignment {
                    vehicle: AssignedVehicle {
                        plate: fleet_plate(&m.vehicle_id, &m.plate),
                        vehicle_id: m.vehicle_id,
                        model: model_from_pb(m.model),
                        upgrade: m.upgrade,
                    },
                    plan_id: m.plan_id,
                    at,
                    replaced_vehicle_id: None,
                    reason: String::new(),
                },
            )
        }
        "VehicleReassigned" => {
            let m = fleet_pb::VehicleReassigned::decode(payload).map_err(decode)?;
            let at = ts("assigned_at", &m.assigned_at)?;
            (
                m.order_id,
                OrderCommand::RecordAssignment {
                    vehicle: AssignedVehicle {
                        plate: fleet_plate(&m.vehicle_id, &m.plate),
                        vehicle_id: m.vehicle_id,
                        model: model_from_pb(m.model),
                        upgrade: m.upgrade,
                    },
                    plan_id: m.plan_id,
                    at,
                    replaced_vehicle_id: (!m.from_vehicle_id.is_empty()).then_some(m.from_vehicle_id),
                    reason: m.reason,
                },
            )
        }
        "AssignmentReleased" => {
            let m = fleet_pb::AssignmentReleased::decode(payload).map_err(decode)?;
            let at = ts("released_at", &m.released_at)?;
            (
                m.order_id,
                OrderCommand::ClearAssignment {
                    vehicle_id: m.vehicle_id,
                    reason: m.reason,
                    plan_id: m.plan_id,
                    at,
                },
            )
        }
        "OrderAtRisk" => {
            let m = fleet_pb::OrderAtRisk::decode(payload).map_err(decode)?;
            let at = ts("flagged_at", &m.flagged_at)?;
            (
                m.order_id,
                OrderCommand::FlagAtRisk {
                    at_risk: AtRisk {
                        reason: m.reason,
                        explanation: m.explanation,
                    },
                    plan_id: m.plan_id,
                    at,
                },
            )
        }
        _ => return Ok(None),
    }))
}

/// The plate of fleet's car, by the kernel's rule. A plate fleet registered under an older,
/// looser check does not parse; the assignment is still the order's (it stands on the vehicle
/// id), so it is recorded without the plate rather than refused, and said so in the log.
fn fleet_plate(vehicle_id: &str, text: &str) -> Option<Plate> {
    if text.is_empty() {
        return None;
    }
    match Plate::parse(text) {
        Ok(plate) => Some(plate),
        Err(e) => {
            tracing::warn!(vehicle_id, plate = text, error = %e, "fleet's plate is not a valid plate; recorded without it");
            None
        }
    }
}

/// Folds one plan message into its order.
pub async fn handle(
    handler: &CommandHandler<OrderAggregate>,
    clock: &dyn Clock,
    sequence: u64,
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: bytes::Bytes,
) -> Outcome {
    let event = match RecordedEvent::from_message(sequence, subject, headers, payload) {
        Ok(e) => e,
        Err(e) => return Outcome::Skipped(format!("not a rentops event: {e}")),
    };
    let (order_id, command) = match command_for(&event.name, &event.payload) {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::Ignored,
        Err(e) => return Outcome::Skipped(format!("malformed plan event: {e}")),
    };
    // The id becomes a subject token of the order stream: it must be one.
    if !rentops_eventstore::store::is_token(&order_id) {
        return Outcome::Skipped(format!("{} names no valid order id ({order_id:?})", event.name));
    }
    let event_id = event.meta.event_id.to_string();
    let meta = CommandMeta {
        request_id: event_id.clone(),
        // Its id is derived from what caused it: nobody reuses it by mistake.
        fingerprint: None,
        correlation_id: if event.meta.correlation_id.is_empty() {
            event_id.clone()
        } else {
            event.meta.correlation_id.clone()
        },
        causation_id: event_id,
        actor: ACTOR.into(),
        time: clock.now(),
    };
    match handler.execute(&order_id, &meta, &command, false).await {
        Ok(done) => Outcome::Applied {
            events: if done.replayed { 0 } else { done.events_appended },
        },
        // Fleet knows an order this service does not (or no longer plans it): nothing to fold.
        Err(ExecuteError::Domain(e @ (OrderError::NotFound | OrderError::WrongStatus { .. }))) => {
            Outcome::Skipped(format!("order {order_id}: {e}"))
        }
        Err(ExecuteError::Domain(e)) => Outcome::Skipped(format!("order {order_id}: refused: {e}")),
        // The request id is the fleet event's id, which no other command carries.
        Err(e @ ExecuteError::RequestReused { .. }) => Outcome::Skipped(format!("order {order_id}: {e}")),
        Err(e @ (ExecuteError::Conflict { .. } | ExecuteError::Unavailable(_) | ExecuteError::Store(_))) => {
            Outcome::Retry(format!("order {order_id}: {e}"))
        }
    }
}

/// Runs the reactor until shutdown: waits for fleet's stream, then consumes.
pub async fn run(
    handler: Arc<CommandHandler<OrderAggregate>>,
    js: jetstream::Context,
    clock: Arc<dyn Clock>,
    settings: FleetPlanSettings,
    shutdown: CancellationToken,
) {
    let mut said_waiting = false;
    while !shutdown.is_cancelled() {
        match consume(&handler, &js, clock.as_ref(), &settings, &shutdown, &mut said_waiting).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "fleet-plan reactor restarting"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(settings.retry_after) => {}
        }
    }
}

async fn consume(
    handler: &CommandHandler<OrderAggregate>,
    js: &jetstream::Context,
    clock: &dyn Clock,
    settings: &FleetPlanSettings,
    shutdown: &CancellationToken,
    said_waiting: &mut bool,
) -> Result<(), String> {
    let stream = match js.get_stream(&settings.stream).await {
        Ok(s) => s,
        Err(e) => {
            if !*said_waiting {
                tracing::info!(stream = %settings.stream, error = %e, "fleet's stream is not there yet; waiting for it");
                *said_waiting = true;
            }
            return Err(e.to_string());
        }
    };
    let consumer = stream
        .get_or_create_consumer(
            &settings.durable,
            consumer::pull::Config {
                durable_name: Some(settings.durable.clone()),
                description: Some("rentops order: fleet's plan folded into the orders".into()),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: settings.ack_wait,
                filter_subject: settings.filter_subject.clone(),
                // In plan order: see the module doc.
                max_ack_pending: 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot open the fleet-plan consumer; retrying");
            e.to_string()
        })?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    tracing::info!(stream = %settings.stream, durable = %settings.durable, "fleet-plan reactor consuming");
    *said_waiting = false;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(msg) = next else {
            return Err("consumer stream ended".into());
        };
        let msg = msg.map_err(|e| {
            tracing::warn!(error = %e, "fleet-plan consumer failed; reopening");
            e.to_string()
        })?;
        let info = msg.info().map_err(|e| e.to_string())?;
        let sequence = info.stream_sequence;
        if info.delivered > 1 {
            metrics::counter!("rentops_consumer_redeliveries_total", "projection" => "order-fleet-plan").increment(1);
        }
        let outcome = handle(
            handler,
            clock,
            sequence,
            msg.subject.as_str(),
            msg.headers.as_ref(),
            msg.payload.clone(),
        )
        .await;
        let ack = match &outcome {
            Outcome::Applied { events } => {
                if *events > 0 {
                    tracing::debug!(sequence, subject = %msg.subject, events, "plan event folded into its order");
                }
                metrics::counter!("rentops_order_fleet_plan_events_total", "outcome" => "applied").increment(1);
                AckKind::Ack
            }
            Outcome::Ignored => AckKind::Ack,
            Outcome::Skipped(why) => {
                tracing::warn!(sequence, subject = %msg.subject, reason = %why, "plan event skipped");
                metrics::counter!("rentops_order_fleet_plan_events_total", "outcome" => "skipped").increment(1);
                AckKind::Ack
            }
            Outcome::Retry(why) => {
                tracing::warn!(sequence, subject = %msg.subject, reason = %why, "plan event not folded in yet; retrying");
                metrics::counter!("rentops_order_fleet_plan_events_total", "outcome" => "retried").increment(1);
                AckKind::Nak(Some(settings.retry_after))
            }
        };
        msg.ack_with(ack).await.map_err(|e| e.to_string())?;
    }
}
