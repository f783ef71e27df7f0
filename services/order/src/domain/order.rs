//! The order aggregate: one rental from placement to completion (docs/domain.md, 订单承接).
//!
//! ```text
//! PLACED ──confirm──▶ CONFIRMED ──pickup──▶ PICKED_UP ──return──▶ RETURNED ──complete──▶ COMPLETED
//!    │                   │  └──no-show──▶ NO_SHOW     │  ▲
//!    └──cancel───────────┴──cancel──▶ CANCELLED       └──┘ swap (the car on hire replaced)
//! ```
//! Contact attempts are recorded while the order is placed; changes are allowed until pickup.
//! During the hire the car on hire may be swapped (a breakdown): the order then knows, for any
//! moment of the hire, which car the customer had ([`Order::vehicle_on_hire_at`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    Placed {
        order_id: Uuid,
        booking: Booking,
        placed_at: OffsetDateTime,
        pre_verified: bool,
        contact_due_at: OffsetDateTime,
    },
    ContactAttemptRecorded {
        attempted_at: OffsetDateTime,
        outcome: ContactOutcome,
        agent: String,
        notes: String,
        call_back_at: Option<OffsetDateTime>,
        next_contact_at: OffsetDateTime,
    },
    ContactOverdue {
        contact_due_at: OffsetDateTime,
        detected_at: OffsetDateTime,
    },
    Confirmed {
        confirmed_at: OffsetDateTime,
        by_pre_verification: bool,
        notes: String,
    },
    Changed {
        changed_at: OffsetDateTime,
        changes: BookingChanges,
        reason: String,
    },
    Cancelled {
        cancelled_at: OffsetDateTime,
        by: CancelledBy,
        reason: String,
    },
    PickedUp(Handover),
    /// The car on hire was replaced during the hire.
    Swapped(Swap),
    Returned(Handover),
    Completed {
        completed_at: OffsetDateTime,
    },
    NoShow {
        recorded_at: OffsetDateTime,
        notes: String,
    },
    /// Fleet's plan gave the order a car (or another one: `replaced_vehicle_id`).
    VehicleAssignmentRecorded {
        vehicle: AssignedVehicle,
        plan_id: String,
        assigned_at: OffsetDateTime,
        replaced_vehicle_id: Option<String>,
        reason: String,
    },
    /// Fleet's plan released the order's car.
    AssignmentCleared {
        vehicle_id: String,
        reason: String,
        plan_id: String,
        cleared_at: OffsetDateTime,
    },
    /// No car can serve the order.
    FlaggedAtRisk {
        at_risk: AtRisk,
        plan_id: String,
        flagged_at: OffsetDateTime,
    },
}

impl OrderEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Placed { .. } => "OrderPlaced",
            Self::ContactAttemptRecorded { .. } => "ContactAttemptRecorded",
            Self::ContactOverdue { .. } => "ContactOverdue",
            Self::Confirmed { .. } => "OrderConfirmed",
            Self::Changed { .. } => "OrderChanged",
            Self::Cancelled { .. } => "OrderCancelled",
            Self::PickedUp(_) => "VehiclePickedUp",
            Self::Swapped(_) => "VehicleSwapped",
            Self::Returned(_) => "VehicleReturned",
            Self::Completed { .. } => "OrderCompleted",
            Self::NoShow { .. } => "OrderNoShow",
            Self::VehicleAssignmentRecorded { .. } => "VehicleAssignmentRecorded",
            Self::AssignmentCleared { .. } => "AssignmentCleared",
            Self::FlaggedAtRisk { .. } => "OrderFlaggedAtRisk",
        }
    }
}

/// The fields a change may set; `None` leaves a field as it was.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BookingChanges {
    pub pickup_location: Option<Location>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub pickup_at: Option<OffsetDateTime>,
    pub return_location: Option<Location>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub return_at: Option<OffsetDateTime>,
    #[serde(default, with = "rentops_kernel::vehicle::stored_json::option")]
    pub model: Option<VehicleModel>,
    pub add_ons: Option<Vec<String>>,
    pub price: Option<Fen>,
}

impl BookingChanges {
    pub fn field_names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.pickup_location.is_some() {
            out.push("pickup_location");
        }
        if self.pickup_at.is_some() {
            out.push("pickup_at");
        }
        if self.return_location.is_some() {
            out.push("return_location");
        }
        if self.return_at.is_some() {
            out.push("return_at");
        }
        if self.model.is_some() {
            out.push("requested_model");
        }
        if self.add_ons.is_some() {
            out.push("add_ons");
        }
        if self.price.is_some() {
            out.push("price");
        }
        out
    }

    /// Only the fields that differ from `booking`.
    fn against(self, b: &Booking) -> Self {
        Self {
            pickup_location: self.pickup_location.filter(|v| *v != b.pickup_location),
            pickup_at: self.pickup_at.filter(|v| *v != b.pickup_at),
            return_location: self.return_location.filter(|v| *v != b.return_location),
            return_at: self.return_at.filter(|v| *v != b.return_at),
            model: self.model.filter(|v| *v != b.model),
            add_ons: self.add_ons.filter(|v| *v != b.add_ons),
            price: self.price.filter(|v| *v != b.price),
        }
    }

    fn apply(&self, b: &mut Booking) {
        if let Some(v) = &self.pickup_location {
            b.pickup_location = v.clone();
        }
        if let Some(v) = self.pickup_at {
            b.pickup_at = v;
        }
        if let Some(v) = &self.return_location {
            b.return_location = v.clone();
        }
        if let Some(v) = self.return_at {
            b.return_at = v;
        }
        if let Some(v) = self.model {
            b.model = v;
        }
        if let Some(v) = &self.add_ons {
            b.add_ons = v.clone();
        }
        if let Some(v) = self.price {
            b.price = v;
        }
    }
}

// One command lives for one request; boxing the placement's booking would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    Place {
        order_id: Uuid,
        booking: Booking,
        placed_at: OffsetDateTime,
        pre_verified: bool,
        policy: ContactPolicy,
    },
    RecordContactAttempt {
        at: OffsetDateTime,
        outcome: ContactOutcome,
        agent: String,
        notes: String,
        call_back_at: Option<OffsetDateTime>,
        policy: ContactPolicy,
    },
    /// Issued by the deadline scan: the contact owed (the first call, or a promised call-back)
    /// is overdue as of `now` (if it is). Once the pickup time has passed no call is owed any
    /// more: the order has lapsed, and the desk closes it (no-show or cancel).
    MarkContactOverdue {
        now: OffsetDateTime,
    },
    Confirm {
        at: OffsetDateTime,
        notes: String,
    },
    Change {
        at: OffsetDateTime,
        changes: BookingChanges,
        reason: String,
    },
    Cancel {
        at: OffsetDateTime,
        by: CancelledBy,
        reason: String,
    },
    RecordPickup(Handover),
    /// The car on hire replaced; `broken.vehicle_id` empty means the car on hire.
    RecordSwap(Swap),
    RecordReturn(Handover),
    Complete {
        at: OffsetDateTime,
    },
    MarkNoShow {
        at: OffsetDateTime,
        notes: String,
    },
    /// Issued by the fleet-plan reactor: fleet's plan assigned (or re-assigned) a car.
    RecordAssignment {
        vehicle: AssignedVehicle,
        plan_id: String,
        at: OffsetDateTime,
        replaced_vehicle_id: Option<String>,
        reason: String,
    },
    /// Issued by the fleet-plan reactor: fleet's plan released the order's car.
    ClearAssignment {
        vehicle_id: String,
        reason: String,
        plan_id: String,
        at: OffsetDateTime,
    },
    /// Issued by the fleet-plan reactor: no car can serve the order (or, [`NO_DRIVER`], its car
    /// cannot be moved to it).
    FlagAtRisk {
        at_risk: AtRisk,
        plan_id: String,
        at: OffsetDateTime,
    },
    /// Issued by the fleet-plan reactor: a driver can move the order's car now (or the move is
    /// no longer needed).
    ResolveNoDriver {
        plan_id: String,
        at: OffsetDateTime,
    },
}

/// The at-risk reason of an order whose car is planned but no driver can move it to the pickup
/// in time: unlike the others, the order keeps its car.
pub const NO_DRIVER: &str = "NO_DRIVER";

/// Why a command was refused. Each maps to one gRPC status in the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("order not found")]
    NotFound,
    #[error("an order with this channel reference already exists with other details (order {0})")]
    AlreadyPlacedDifferently(Uuid),
    #[error("the order cannot be confirmed before a contact attempt has reached the customer")]
    NotReached,
    #[error("cannot {action} an order that is {status:?}")]
    WrongStatus { action: &'static str, status: Status },
    #[error("the order can no longer be changed: pickup time has passed")]
    PickupPassed,
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("the change changes nothing")]
    NothingChanged,
    /// A no-show before the pickup time: the customer may still come.
    #[error("a no-show can only be recorded after the pickup time ({pickup_at})")]
    BeforePickup { pickup_at: OffsetDateTime },
}

/// The same pickup recorded again: the caller's fields match (what the order adds, the planned
/// car, is the order's own).
fn same_pickup(recorded: &Handover, again: &Handover) -> bool {
    Handover {
        planned_vehicle_id: None,
        ..recorded.clone()
    } == Handover {
        planned_vehicle_id: None,
        ..again.clone()
    }
}

/// The same swap recorded again, by whoever: every fact of it matches.
fn same_swap(recorded: &Swap, again: &Swap) -> bool {
    Swap {
        recorded_by: String::new(),
        ..recorded.clone()
    } == Swap {
        recorded_by: String::new(),
        ..again.clone()
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> OrderError {
    OrderError::Invalid {
        field,
        message: message.into(),
    }
}

/// The order as folded from its events. `None` fields stand for what has not happened yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: Uuid,
    pub status: Status,
    pub booking: Booking,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    pub pre_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub contact_due_at: OffsetDateTime,
    pub contact_attempts: u32,
    pub last_outcome: Option<ContactOutcome>,
    pub reached: bool,
    pub contact_overdue: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_contact_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub confirmed_at: Option<OffsetDateTime>,
    pub pickup: Option<Handover>,
    pub ret: Option<Handover>,
    pub cancelled_by: Option<CancelledBy>,
    pub cancel_reason: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The car fleet's plan holds for the order. (`default`: rows stored before this field.)
    #[serde(default)]
    pub assigned_vehicle: Option<AssignedVehicle>,
    /// Set when fleet's plan finds no car for the order; cleared by the next assignment.
    #[serde(default)]
    pub at_risk: Option<AtRisk>,
    /// The swaps during the hire, oldest first.
    #[serde(default)]
    pub swaps: Vec<Swap>,
}

impl Order {
    /// When the contact the desk owes the customer now falls due under the deadline rule
    /// (docs/domain.md, Confirmation): the first call, or a call-back the customer asked for.
    /// `None` when none is owed: the order is past confirmation, the customer was reached, or the
    /// next try follows no promise (after no answer or a wrong number, the desk retries at will).
    pub fn owed_contact_due(&self) -> Option<OffsetDateTime> {
        if self.status != Status::Placed || self.reached {
            return None;
        }
        if self.contact_attempts == 0 {
            return Some(self.contact_due_at);
        }
        match self.last_outcome {
            Some(ContactOutcome::CallBackLater) => self.next_contact_at,
            _ => None,
        }
    }

    /// The car on hire now: the last swap's replacement, else the car handed over; `None` when
    /// the order is not on hire.
    pub fn vehicle_on_hire(&self) -> Option<SwapReading> {
        if self.status != Status::PickedUp {
            return None;
        }
        self.current_car()
    }

    /// The car the customer had at `t`, for any moment of the hire `[pickup, return)`; `None`
    /// outside it. Receivables match a traffic violation to it.
    pub fn vehicle_on_hire_at(&self, t: OffsetDateTime) -> Option<(String, Option<Plate>)> {
        let pickup = self.pickup.as_ref()?;
        if t < pickup.at || self.ret.as_ref().is_some_and(|r| t >= r.at) {
            return None;
        }
        let mut car = (pickup.vehicle_id.clone(), pickup.plate.clone());
        for s in self.swaps.iter().take_while(|s| s.at <= t) {
            car = (s.replacement.vehicle_id.clone(), s.replacement.plate.clone());
        }
        Some(car)
    }

    /// The car the customer holds (or last held): the last swap's replacement, else the car
    /// handed over, with its last readings.
    fn current_car(&self) -> Option<SwapReading> {
        if let Some(s) = self.swaps.last() {
            return Some(s.replacement.clone());
        }
        self.pickup.as_ref().map(|h| SwapReading {
            vehicle_id: h.vehicle_id.clone(),
            plate: h.plate.clone(),
            odometer_km: h.odometer_km,
            charge_percent: h.charge_percent,
        })
    }

    /// Fleet's plan speaks only of orders it still plans: once the car is handed over or the
    /// order is closed, what the plan says of it no longer changes the order.
    fn planned(&self) -> bool {
        matches!(self.status, Status::Placed | Status::Confirmed)
    }
}

/// `None` before placement.
pub type OrderState = Option<Order>;

pub struct OrderAggregate;

impl OrderAggregate {
    pub fn decide(state: &OrderState, command: &OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        use OrderCommand as C;
        if let C::Place {
            order_id,
            booking,
            placed_at,
            pre_verified,
            policy,
        } = command
        {
            return match state {
                // Placing the same order again changes nothing (a retry with a new request id).
                Some(o) if o.booking == *booking => Ok(vec![]),
                Some(o) => Err(OrderError::AlreadyPlacedDifferently(o.order_id)),
                None => {
                    if booking.return_at <= booking.pickup_at {
                        return Err(invalid("return_at", "must be after pickup_at"));
                    }
                    Ok(vec![OrderEvent::Placed {
                        order_id: *order_id,
                        booking: booking.clone(),
                        placed_at: *placed_at,
                        pre_verified: *pre_verified,
                        contact_due_at: policy.contact_due(*placed_at, booking.pickup_at),
                    }])
                }
            };
        }
        let Some(order) = state else {
            return Err(OrderError::NotFound);
        };
        let wrong = |action: &'static str| {
            Err(OrderError::WrongStatus {
                action,
                status: order.status,
            })
        };
        match command {
            C::Place { .. } => Ok(vec![]),
            C::RecordContactAttempt {
                at,
                outcome,
                agent,
                notes,
                call_back_at,
                policy,
            } => {
                if order.status != Status::Placed {
                    return wrong("record a confirmation call on");
                }
                let next_contact_at = match outcome {
                    ContactOutcome::NoAnswer => *at + policy.retry_after,
                    ContactOutcome::CallBackLater => match call_back_at {
                        Some(t) if *t > *at => *t,
                        Some(_) => return Err(invalid("call_back_at", "must be after the attempt")),
                        None => {
                            return Err(invalid(
                                "call_back_at",
                                "required when the customer asks to be called back",
                            ));
                        }
                    },
                    // Wrong number: the desk must find the right one now. Reached: confirm now.
                    ContactOutcome::WrongNumber | ContactOutcome::Reached => *at,
                };
                Ok(vec![OrderEvent::ContactAttemptRecorded {
                    attempted_at: *at,
                    outcome: *outcome,
                    agent: agent.clone(),
                    notes: notes.clone(),
                    call_back_at: if *outcome == ContactOutcome::CallBackLater {
                        *call_back_at
                    } else {
                        None
                    },
                    next_contact_at,
                }])
            }
            C::MarkContactOverdue { now } => {
                // Once per owed contact (the first call, then each promised call-back), and only
                // once it is due.
                let Some(due) = order.owed_contact_due() else {
                    return Ok(vec![]);
                };
                if order.contact_overdue || *now < due || *now >= order.booking.pickup_at {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::ContactOverdue {
                    contact_due_at: due,
                    detected_at: *now,
                }])
            }
            C::Confirm { at, notes } => match order.status {
                Status::Confirmed => Ok(vec![]),
                Status::Placed if order.reached || order.pre_verified => Ok(vec![OrderEvent::Confirmed {
                    confirmed_at: *at,
                    by_pre_verification: !order.reached,
                    notes: notes.clone(),
                }]),
                Status::Placed => Err(OrderError::NotReached),
                _ => wrong("confirm"),
            },
            C::Change { at, changes, reason } => {
                if !matches!(order.status, Status::Placed | Status::Confirmed) {
                    return wrong("change");
                }
                if *at >= order.booking.pickup_at {
                    return Err(OrderError::PickupPassed);
                }
                let changes = changes.clone().against(&order.booking);
                if changes.field_names().is_empty() {
                    return Err(OrderError::NothingChanged);
                }
                let mut after = order.booking.clone();
                changes.apply(&mut after);
                if after.return_at <= after.pickup_at {
                    let field = if changes.return_at.is_some() {
                        "return_at"
                    } else {
                        "pickup_at"
                    };
                    return Err(invalid(field, "pickup must come before return"));
                }
                if changes.pickup_at.is_some() && after.pickup_at <= *at {
                    return Err(invalid("pickup_at", "must be in the future"));
                }
                Ok(vec![OrderEvent::Changed {
                    changed_at: *at,
                    changes,
                    reason: reason.clone(),
                }])
            }
            C::Cancel { at, by, reason } => match order.status {
                Status::Cancelled => Ok(vec![]),
                Status::Placed | Status::Confirmed => Ok(vec![OrderEvent::Cancelled {
                    cancelled_at: *at,
                    by: *by,
                    reason: reason.clone(),
                }]),
                _ => wrong("cancel"),
            },
            C::RecordPickup(h) => {
                // Another car than the plan's is accepted, and recorded as such: fleet learns
                // which car is really out.
                let planned = order
                    .assigned_vehicle
                    .as_ref()
                    .map(|a| a.vehicle_id.clone())
                    .filter(|v| *v != h.vehicle_id);
                let h = Handover {
                    planned_vehicle_id: planned,
                    location: None,
                    ..h.clone()
                };
                match order.status {
                    Status::Confirmed => Ok(vec![OrderEvent::PickedUp(h)]),
                    Status::PickedUp if order.pickup.as_ref().is_some_and(|p| same_pickup(p, &h)) => Ok(vec![]),
                    _ => wrong("hand over the car of"),
                }
            }
            C::RecordSwap(swap) => {
                if order.status != Status::PickedUp {
                    return wrong("swap the car of");
                }
                // Invariants: a picked-up order has its pickup and the car handed over recorded.
                let (Some(pickup), Some(car)) = (&order.pickup, order.current_car()) else {
                    return wrong("swap the car of");
                };
                // The same swap again (a retry with a new request id): nothing to record. It
                // names (or leaves out) the car that swap took out.
                if let Some(last) = order.swaps.last() {
                    let mut again = swap.clone();
                    if again.broken.vehicle_id.is_empty() || again.broken.vehicle_id == last.broken.vehicle_id {
                        again.broken.vehicle_id = last.broken.vehicle_id.clone();
                        again.broken.plate = last.broken.plate.clone();
                    }
                    if same_swap(last, &again) {
                        return Ok(vec![]);
                    }
                }
                let mut swap = swap.clone();
                if swap.broken.vehicle_id.is_empty() {
                    swap.broken.vehicle_id = car.vehicle_id.clone();
                }
                swap.broken.plate = car.plate.clone();
                if swap.broken.vehicle_id != car.vehicle_id {
                    return Err(invalid(
                        "from_vehicle_id",
                        format!("the car on hire is {}, not {}", car.vehicle_id, swap.broken.vehicle_id),
                    ));
                }
                if swap.replacement.vehicle_id == car.vehicle_id {
                    return Err(invalid(
                        "vehicle_id",
                        "the replacement must be another car than the one on hire",
                    ));
                }
                let since = order.swaps.last().map_or(pickup.at, |s| s.at);
                if swap.at < since {
                    return Err(invalid(
                        "swapped_at",
                        "cannot be before the car on hire was handed over",
                    ));
                }
                if swap.broken.odometer_km < car.odometer_km {
                    return Err(invalid(
                        "from_odometer_km",
                        format!(
                            "{} km is less than the {} km read when {} was handed over",
                            swap.broken.odometer_km, car.odometer_km, car.vehicle_id
                        ),
                    ));
                }
                Ok(vec![OrderEvent::Swapped(swap)])
            }
            C::RecordReturn(h) => {
                if order.status != Status::PickedUp {
                    return wrong("take back the car of");
                }
                // Invariant: a picked-up order has its pickup and its car on hire recorded.
                let (Some(p), Some(car)) = (&order.pickup, order.current_car()) else {
                    return wrong("take back the car of");
                };
                let since = order.swaps.last().map_or(p.at, |s| s.at);
                if h.at < since {
                    let what = if order.swaps.is_empty() {
                        "the pickup"
                    } else {
                        "the last swap"
                    };
                    return Err(invalid("returned_at", format!("cannot be before {what}")));
                }
                if h.odometer_km < car.odometer_km {
                    let when = if order.swaps.is_empty() {
                        "at pickup"
                    } else {
                        "when it was swapped in"
                    };
                    return Err(invalid(
                        "odometer_km",
                        format!(
                            "{} km is less than the {} km of {} read {when}",
                            h.odometer_km, car.odometer_km, car.vehicle_id
                        ),
                    ));
                }
                let mut h = h.clone();
                if h.location.is_none() {
                    h.location = Some(order.booking.return_location.clone());
                }
                Ok(vec![OrderEvent::Returned(h)])
            }
            C::Complete { at } => match order.status {
                Status::Returned => Ok(vec![OrderEvent::Completed { completed_at: *at }]),
                Status::Completed => Ok(vec![]),
                _ => wrong("complete"),
            },
            // A placed order too: one that lapsed unconfirmed is closed the same way.
            C::MarkNoShow { at, notes } => match order.status {
                Status::Placed | Status::Confirmed if *at >= order.booking.pickup_at => Ok(vec![OrderEvent::NoShow {
                    recorded_at: *at,
                    notes: notes.clone(),
                }]),
                Status::Placed | Status::Confirmed => Err(OrderError::BeforePickup {
                    pickup_at: order.booking.pickup_at,
                }),
                Status::NoShow => Ok(vec![]),
                _ => wrong("mark as no-show"),
            },
            C::RecordAssignment {
                vehicle,
                plan_id,
                at,
                replaced_vehicle_id,
                reason,
            } => {
                // Already exactly that (a redelivered or repeated plan event): nothing to record.
                let same = order.assigned_vehicle.as_ref() == Some(vehicle) && order.at_risk.is_none();
                // On hire, the plan speaks of the order only to replace its car (a swap
                // planned after a breakdown): the replacement the customer should get.
                let swap_planned = order
                    .vehicle_on_hire()
                    .is_some_and(|car| replaced_vehicle_id.as_deref() == Some(car.vehicle_id.as_str()));
                if !(order.planned() || swap_planned) || same {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::VehicleAssignmentRecorded {
                    vehicle: vehicle.clone(),
                    plan_id: plan_id.clone(),
                    assigned_at: *at,
                    replaced_vehicle_id: replaced_vehicle_id.clone().filter(|v| !v.is_empty()),
                    reason: reason.clone(),
                }])
            }
            C::ClearAssignment {
                vehicle_id,
                reason,
                plan_id,
                at,
            } => {
                // Only the car the order holds can be released; a release of another car is
                // stale (the order was re-assigned since).
                let holds = order
                    .assigned_vehicle
                    .as_ref()
                    .is_some_and(|v| vehicle_id.is_empty() || v.vehicle_id == *vehicle_id);
                if !order.planned() || !holds {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::AssignmentCleared {
                    vehicle_id: vehicle_id.clone(),
                    reason: reason.clone(),
                    plan_id: plan_id.clone(),
                    cleared_at: *at,
                }])
            }
            C::ResolveNoDriver { plan_id, at } => {
                let waiting = order.at_risk.as_ref().is_some_and(|r| r.reason == NO_DRIVER);
                match (&order.assigned_vehicle, waiting && order.planned()) {
                    // The car it keeps, recorded again: that clears the flag.
                    (Some(car), true) => Ok(vec![OrderEvent::VehicleAssignmentRecorded {
                        vehicle: car.clone(),
                        plan_id: plan_id.clone(),
                        assigned_at: *at,
                        replaced_vehicle_id: None,
                        reason: "a driver can move the car".into(),
                    }]),
                    _ => Ok(vec![]),
                }
            }
            C::FlagAtRisk { at_risk, plan_id, at } => {
                let keeps_car = at_risk.reason == NO_DRIVER;
                let same = order.at_risk.as_ref() == Some(at_risk) && (keeps_car || order.assigned_vehicle.is_none());
                // On hire, the plan speaks of the order only when its car broke down: no
                // replacement can reach the customer, and the desk must act.
                let stranded = order.status == Status::PickedUp;
                if !(order.planned() || stranded) || same {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::FlaggedAtRisk {
                    at_risk: at_risk.clone(),
                    plan_id: plan_id.clone(),
                    flagged_at: *at,
                }])
            }
        }
    }

    pub fn evolve(state: OrderState, event: &OrderEvent) -> OrderState {
        use OrderEvent as E;
        if let E::Placed {
            order_id,
            booking,
            placed_at,
            pre_verified,
            contact_due_at,
        } = event
        {
            return Some(Order {
                order_id: *order_id,
                status: Status::Placed,
                booking: booking.clone(),
                placed_at: *placed_at,
                pre_verified: *pre_verified,
                contact_due_at: *contact_due_at,
                contact_attempts: 0,
                last_outcome: None,
                reached: false,
                contact_overdue: false,
                next_contact_at: Some(*contact_due_at),
                confirmed_at: None,
                pickup: None,
                ret: None,
                cancelled_by: None,
                cancel_reason: String::new(),
                closed_at: None,
                assigned_vehicle: None,
                at_risk: None,
                swaps: vec![],
            });
        }
        // Events of an order that was never placed cannot exist in the log; ignore them.
        let mut o = state?;
        match event {
            E::Placed { .. } => {}
            E::ContactAttemptRecorded {
                outcome,
                next_contact_at,
                ..
            } => {
                o.contact_attempts += 1;
                o.last_outcome = Some(*outcome);
                o.reached |= *outcome == ContactOutcome::Reached;
                o.next_contact_at = Some(*next_contact_at);
                // A new contact is owed (or none): whether it is overdue is its own question.
                o.contact_overdue = false;
            }
            E::ContactOverdue { .. } => o.contact_overdue = true,
            E::Confirmed { confirmed_at, .. } => {
                o.status = Status::Confirmed;
                o.confirmed_at = Some(*confirmed_at);
                o.next_contact_at = None;
            }
            E::Changed { changes, .. } => changes.apply(&mut o.booking),
            E::Cancelled {
                cancelled_at,
                by,
                reason,
            } => {
                o.status = Status::Cancelled;
                o.cancelled_by = Some(*by);
                o.cancel_reason = reason.clone();
                o.closed_at = Some(*cancelled_at);
                o.next_contact_at = None;
            }
            E::PickedUp(h) => {
                o.status = Status::PickedUp;
                o.pickup = Some(h.clone());
            }
            E::Swapped(swap) => {
                o.swaps.push(swap.clone());
                o.at_risk = None;
                // The car the order holds is the replacement now; what the plan said of it
                // (the planned swap) is done.
                let planned = o
                    .assigned_vehicle
                    .take()
                    .filter(|a| a.vehicle_id == swap.replacement.vehicle_id);
                o.assigned_vehicle = Some(AssignedVehicle {
                    vehicle_id: swap.replacement.vehicle_id.clone(),
                    plate: swap.replacement.plate.clone(),
                    model: planned.as_ref().and_then(|a| a.model),
                    upgrade: planned.is_some_and(|a| a.upgrade),
                });
            }
            E::Returned(h) => {
                o.status = Status::Returned;
                // The car taken back is the car on hire (handed over, or the last swap's
                // replacement); the event does not repeat it.
                let mut h = h.clone();
                if let Some(car) = o.current_car() {
                    h.vehicle_id = car.vehicle_id.clone();
                    h.plate = car.plate.clone();
                }
                o.ret = Some(h);
            }
            E::Completed { completed_at } => {
                o.status = Status::Completed;
                o.closed_at = Some(*completed_at);
            }
            E::NoShow { recorded_at, .. } => {
                o.status = Status::NoShow;
                o.closed_at = Some(*recorded_at);
            }
            // A car found clears the flag: the order is no longer at risk.
            E::VehicleAssignmentRecorded { vehicle, .. } => {
                o.assigned_vehicle = Some(vehicle.clone());
                o.at_risk = None;
            }
            E::AssignmentCleared { .. } => o.assigned_vehicle = None,
            // No car can serve it: whatever car it held is not its any more — unless the car is
            // planned and only its move has no driver.
            E::FlaggedAtRisk { at_risk, .. } => {
                o.at_risk = Some(at_risk.clone());
                if at_risk.reason != NO_DRIVER {
                    o.assigned_vehicle = None;
                }
            }
        }
        Some(o)
    }
}
