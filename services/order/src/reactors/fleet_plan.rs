//! Fleet's plan, folded into the orders (docs/domain.md, what flows between the services: `fleet` →
//! `order`: a car assigned, re-assigned, or none found — the order is at risk).
//!
//! A reactor over fleet's stream (`FLEET`, subjects `rentops.fleet.plan.<CITY>.<EventName>`):
//! `VehicleAssigned` / `VehicleReassigned` → `RecordAssignment`, `AssignmentReleased` →
//! `ClearAssignment`, `OrderAtRisk` → `FlagAtRisk`; every other plan event (PlanPublished,
//! PlanOrdersClosed, DriverTask*) is acknowledged and passed over. Each command carries the
//! causing event's id as its request id, so a redelivered event (or the same event published
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

use prost::Message as _;
use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, RecordedEvent};
use rentops_proto::fleet as fleet_pb;
use rentops_reactor::{Backoff, React, Reaction, Subscription};
use rentops_runtime::Clock;

use crate::domain::codec::{from_ts, model_from_pb};
use crate::domain::{AssignedVehicle, AtRisk, NO_DRIVER, OrderAggregate, OrderCommand, OrderError, Plate};

pub const ACTOR: &str = "system:fleet-plan";

#[derive(Debug, Clone)]
pub struct FleetPlanSettings {
    /// Fleet's stream.
    pub stream: String,
    /// The durable consumer every replica shares.
    pub durable: String,
    pub filter_subject: String,
    /// The ceiling of the first wait before a message whose command could not run (UNAVAILABLE /
    /// ABORTED) is delivered again (it grows with its deliveries, jittered); likewise for looking
    /// for a missing stream.
    pub retry_after: Duration,
    /// How long a delivered message may stay unacknowledged before the broker gives it to
    /// another replica (a replica that died holding it).
    pub ack_wait: Duration,
}

impl FleetPlanSettings {
    /// The durable consumer, shared by every replica; one message in flight keeps the plan's
    /// order (see the module doc).
    pub fn subscription(&self) -> Subscription {
        let mut s = Subscription::new(&self.stream, &self.durable, &[self.filter_subject.as_str()]);
        s.description = "rentops order: fleet's plan folded into the orders".into();
        s.ack_wait = self.ack_wait;
        s.max_ack_pending = 1;
        s.backoff = Backoff::new(self.retry_after, self.retry_after.max(Duration::from_secs(10)));
        s
    }
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

/// The order command a plan event asks for, and the order it is about; `Ok(None)` for plan
/// events the order does not fold in.
pub fn command_for(name: &str, payload: &[u8]) -> Result<Option<(String, OrderCommand)>, String> {
    command_at(name, payload, time::OffsetDateTime::UNIX_EPOCH)
}

/// [`command_for`], for an event decided at `time` (what a plan event without a time of its own,
/// a driver task's flag, is dated by).
pub fn command_at(
    name: &str,
    payload: &[u8],
    time: time::OffsetDateTime,
) -> Result<Option<(String, OrderCommand)>, String> {
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
        // A relocation no driver can take: the car is planned, the move is not; the order is
        // at risk (and keeps its car) until a driver can, or the move is no longer needed.
        "DriverTaskUnassigned" => {
            let m = fleet_pb::DriverTaskUnassigned::decode(payload).map_err(decode)?;
            if m.kind != fleet_pb::TaskKind::Relocation as i32 {
                return Ok(None);
            }
            let command = if m.withdrawn {
                OrderCommand::ResolveNoDriver {
                    plan_id: m.plan_id,
                    at: time,
                }
            } else {
                OrderCommand::FlagAtRisk {
                    at_risk: AtRisk {
                        reason: NO_DRIVER.into(),
                        explanation: format!("no driver can move its car: {}", m.reason),
                    },
                    plan_id: m.plan_id,
                    at: time,
                }
            };
            (m.order_id, command)
        }
        "DriverTaskAssigned" => {
            let m = fleet_pb::DriverTaskAssigned::decode(payload).map_err(decode)?;
            if m.kind != fleet_pb::TaskKind::Relocation as i32 {
                return Ok(None);
            }
            (
                m.order_id,
                OrderCommand::ResolveNoDriver {
                    plan_id: m.plan_id,
                    at: time,
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

/// The reactor: fleet's plan events, folded into the orders.
pub struct FleetPlan {
    pub handler: Arc<CommandHandler<OrderAggregate>>,
    pub clock: Arc<dyn Clock>,
}

impl React for FleetPlan {
    fn name(&self) -> &str {
        "order-fleet-plan"
    }

    async fn handle(&self, event: &RecordedEvent) -> Reaction {
        fold(&self.handler, self.clock.as_ref(), event).await
    }
}

/// Folds one plan event into its order.
pub async fn fold(handler: &CommandHandler<OrderAggregate>, clock: &dyn Clock, event: &RecordedEvent) -> Reaction {
    let (order_id, command) = match command_at(&event.name, &event.payload, event.meta.time) {
        Ok(Some(c)) => c,
        // A plan event the order does not fold in (PlanPublished, driver tasks, …).
        Ok(None) => return Reaction::Done,
        Err(e) => return Reaction::Skipped(format!("malformed plan event: {e}")),
    };
    // The id becomes a subject token of the order stream: it must be one.
    if !rentops_eventstore::store::is_token(&order_id) {
        return Reaction::Skipped(format!("{} names no valid order id ({order_id:?})", event.name));
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
        Ok(done) => {
            if done.events_appended > 0 && !done.replayed {
                tracing::debug!(sequence = event.sequence, subject = %event.subject, "plan event folded into its order");
            }
            Reaction::Done
        }
        // Fleet knows an order this service does not (or no longer plans it): nothing to fold.
        Err(ExecuteError::Domain(e @ (OrderError::NotFound | OrderError::WrongStatus { .. }))) => {
            Reaction::Skipped(format!("order {order_id}: {e}"))
        }
        Err(ExecuteError::Domain(e)) => Reaction::Skipped(format!("order {order_id}: refused: {e}")),
        // The request id is the fleet event's id, which no other command carries.
        Err(e @ ExecuteError::RequestReused { .. }) => Reaction::Skipped(format!("order {order_id}: {e}")),
        Err(e @ (ExecuteError::Conflict { .. } | ExecuteError::Unavailable(_) | ExecuteError::Store(_))) => {
            Reaction::Retry(format!("order {order_id}: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use rentops_proto::fleet as pb;
    use time::macros::datetime;

    use super::*;

    const AT: time::OffsetDateTime = datetime!(2026-12-01 08:00 UTC);

    #[test]
    fn a_relocation_no_driver_can_take_puts_its_order_at_risk_and_a_driver_resolves_it() {
        let flagged = pb::DriverTaskUnassigned {
            order_id: "O1".into(),
            kind: pb::TaskKind::Relocation as i32,
            reason: "no driver's shift covers the task with time to travel".into(),
            plan_id: "P1".into(),
            ..Default::default()
        };
        let Ok(Some((order, OrderCommand::FlagAtRisk { at_risk, at, .. }))) =
            command_at("DriverTaskUnassigned", &flagged.encode_to_vec(), AT)
        else {
            panic!("a flag")
        };
        assert_eq!((order.as_str(), at_risk.reason.as_str(), at), ("O1", "NO_DRIVER", AT));
        let withdrawn = pb::DriverTaskUnassigned {
            withdrawn: true,
            ..flagged.clone()
        };
        assert!(matches!(
            command_at("DriverTaskUnassigned", &withdrawn.encode_to_vec(), AT),
            Ok(Some((_, OrderCommand::ResolveNoDriver { .. })))
        ));
        let assigned = pb::DriverTaskAssigned {
            order_id: "O1".into(),
            kind: pb::TaskKind::Relocation as i32,
            driver_id: "D1".into(),
            ..Default::default()
        };
        assert!(matches!(
            command_at("DriverTaskAssigned", &assigned.encode_to_vec(), AT),
            Ok(Some((_, OrderCommand::ResolveNoDriver { .. })))
        ));
        // Deliveries and collections are the drivers' business, not the order's.
        let delivery = pb::DriverTaskUnassigned {
            kind: pb::TaskKind::Delivery as i32,
            ..flagged
        };
        assert!(matches!(
            command_at("DriverTaskUnassigned", &delivery.encode_to_vec(), AT),
            Ok(None)
        ));
    }
}
