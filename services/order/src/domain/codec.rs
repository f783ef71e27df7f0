//! The explicit mapping between domain events and their protobuf wire form (`events.proto`),
//! and the kernel's traits that make the order an event-sourced aggregate: the rules
//! ([`Aggregate`]) and the codec ([`EventCodec`]).

use prost::Message;
use rentops_kernel::{Aggregate, DecodeError, EventCodec};
use rentops_proto::common;
pub use rentops_proto::model::{model_from_pb, model_to_pb as model_pb};
use rentops_proto::order as pb;
pub use rentops_proto::timestamp::{from_timestamp as from_ts, to_timestamp as ts, to_timestamp_opt as ts_opt};
use time::OffsetDateTime;
use uuid::Uuid;

use super::order::{BookingChanges, OrderAggregate, OrderCommand, OrderError, OrderEvent, OrderState};
use super::types::*;

impl Aggregate for OrderAggregate {
    const TYPE: &'static str = "order";
    type State = OrderState;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn decide(state: &OrderState, command: &OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        OrderAggregate::decide(state, command)
    }

    fn evolve(state: OrderState, event: &OrderEvent) -> OrderState {
        OrderAggregate::evolve(state, event)
    }
}

impl EventCodec for OrderAggregate {
    type Event = OrderEvent;

    fn name(event: &OrderEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &OrderEvent) -> Vec<u8> {
        encode_event(event)
    }

    fn decode(name: &str, payload: &[u8]) -> Result<OrderEvent, DecodeError> {
        decode_event(name, payload)
    }
}

// ---- small values ------------------------------------------------------------------------------

pub fn money(f: Fen) -> common::Money {
    common::Money {
        amount_fen: f.fen(),
        currency: "CNY".into(),
    }
}

pub fn channel_pb(c: Channel) -> i32 {
    (match c {
        Channel::App => pb::Channel::App,
        Channel::MiniProgram => pb::Channel::MiniProgram,
        Channel::Web => pb::Channel::Web,
        Channel::CallCenter => pb::Channel::CallCenter,
        Channel::Partner => pb::Channel::Partner,
    }) as i32
}

pub fn channel_from_pb(v: i32) -> Option<Channel> {
    Some(match pb::Channel::try_from(v).ok()? {
        pb::Channel::Unspecified => return None,
        pb::Channel::App => Channel::App,
        pb::Channel::MiniProgram => Channel::MiniProgram,
        pb::Channel::Web => Channel::Web,
        pb::Channel::CallCenter => Channel::CallCenter,
        pb::Channel::Partner => Channel::Partner,
    })
}

pub fn outcome_pb(o: ContactOutcome) -> i32 {
    (match o {
        ContactOutcome::Reached => pb::ContactOutcome::Reached,
        ContactOutcome::NoAnswer => pb::ContactOutcome::NoAnswer,
        ContactOutcome::WrongNumber => pb::ContactOutcome::WrongNumber,
        ContactOutcome::CallBackLater => pb::ContactOutcome::CallBackLater,
    }) as i32
}

pub fn outcome_from_pb(v: i32) -> Option<ContactOutcome> {
    Some(match pb::ContactOutcome::try_from(v).ok()? {
        pb::ContactOutcome::Unspecified => return None,
        pb::ContactOutcome::Reached => ContactOutcome::Reached,
        pb::ContactOutcome::NoAnswer => ContactOutcome::NoAnswer,
        pb::ContactOutcome::WrongNumber => ContactOutcome::WrongNumber,
        pb::ContactOutcome::CallBackLater => ContactOutcome::CallBackLater,
    })
}

pub fn cancelled_by_pb(c: CancelledBy) -> i32 {
    (match c {
        CancelledBy::Customer => pb::CancelledBy::Customer,
        CancelledBy::Desk => pb::CancelledBy::Desk,
        CancelledBy::Shortage => pb::CancelledBy::Shortage,
        CancelledBy::Channel => pb::CancelledBy::Channel,
    }) as i32
}

pub fn cancelled_by_from_pb(v: i32) -> Option<CancelledBy> {
    Some(match pb::CancelledBy::try_from(v).ok()? {
        pb::CancelledBy::Unspecified => return None,
        pb::CancelledBy::Customer => CancelledBy::Customer,
        pb::CancelledBy::Desk => CancelledBy::Desk,
        pb::CancelledBy::Shortage => CancelledBy::Shortage,
        pb::CancelledBy::Channel => CancelledBy::Channel,
    })
}

pub fn status_pb(s: Status) -> i32 {
    (match s {
        Status::Placed => pb::OrderStatus::Placed,
        Status::Confirmed => pb::OrderStatus::Confirmed,
        Status::PickedUp => pb::OrderStatus::PickedUp,
        Status::Returned => pb::OrderStatus::Returned,
        Status::Completed => pb::OrderStatus::Completed,
        Status::Cancelled => pb::OrderStatus::Cancelled,
        Status::NoShow => pb::OrderStatus::NoShow,
    }) as i32
}

pub fn status_from_pb(v: i32) -> Option<Status> {
    Some(match pb::OrderStatus::try_from(v).ok()? {
        pb::OrderStatus::Unspecified => return None,
        pb::OrderStatus::Placed => Status::Placed,
        pb::OrderStatus::Confirmed => Status::Confirmed,
        pb::OrderStatus::PickedUp => Status::PickedUp,
        pb::OrderStatus::Returned => Status::Returned,
        pb::OrderStatus::Completed => Status::Completed,
        pb::OrderStatus::Cancelled => Status::Cancelled,
        pb::OrderStatus::NoShow => Status::NoShow,
    })
}

pub fn location_pb(l: &Location) -> pb::Location {
    pb::Location {
        place: Some(match l {
            Location::Station(s) => pb::location::Place::StationId(s.clone()),
            Location::Address(a) => pb::location::Place::Address(a.clone()),
        }),
    }
}

fn location_from_pb(l: Option<&pb::Location>) -> Option<Location> {
    match l?.place.as_ref()? {
        pb::location::Place::StationId(s) => Some(Location::Station(s.clone())),
        pb::location::Place::Address(a) => Some(Location::Address(a.clone())),
    }
}

pub fn customer_pb(c: &Customer) -> pb::Customer {
    pb::Customer {
        customer_id: c.customer_id.clone(),
        name: c.name.clone(),
        phone: c.phone.clone(),
    }
}

// ---- events ------------------------------------------------------------------------------------

pub fn event_pb(event: &OrderEvent, order_id: &str) -> pb::order_event::Event {
    use pb::order_event::Event as P;
    let id = order_id.to_owned();
    match event {
        OrderEvent::Placed {
            order_id,
            booking: b,
            placed_at,
            pre_verified,
            contact_due_at,
        } => P::Placed(pb::OrderPlaced {
            order_id: order_id.to_string(),
            channel: channel_pb(b.channel),
            partner_code: b.partner_code.clone(),
            channel_order_ref: b.channel_order_ref.clone(),
            customer: Some(customer_pb(&b.customer)),
            city: b.city.to_string(),
            pickup_location: Some(location_pb(&b.pickup_location)),
            pickup_at: Some(ts(b.pickup_at)),
            return_location: Some(location_pb(&b.return_location)),
            return_at: Some(ts(b.return_at)),
            requested_model: model_pb(b.model),
            add_ons: b.add_ons.clone(),
            price: Some(money(b.price)),
            rental_deposit: Some(money(b.rental_deposit)),
            violation_deposit: Some(money(b.violation_deposit)),
            cover_tier: rentops_proto::cover::cover_to_pb(b.cover),
            placed_at: Some(ts(*placed_at)),
            pre_verified: *pre_verified,
            contact_due_at: Some(ts(*contact_due_at)),
            notes: b.notes.clone(),
        }),
        OrderEvent::ContactAttemptRecorded {
            attempted_at,
            outcome,
            agent,
            notes,
            call_back_at,
            next_contact_at,
        } => P::ContactAttemptRecorded(pb::ContactAttemptRecorded {
            order_id: id,
            attempted_at: Some(ts(*attempted_at)),
            outcome: outcome_pb(*outcome),
            agent: agent.clone(),
            notes: notes.clone(),
            call_back_at: ts_opt(*call_back_at),
            next_contact_at: Some(ts(*next_contact_at)),
        }),
        OrderEvent::ContactOverdue {
            contact_due_at,
            detected_at,
        } => P::ContactOverdue(pb::ContactOverdue {
            order_id: id,
            contact_due_at: Some(ts(*contact_due_at)),
            detected_at: Some(ts(*detected_at)),
        }),
        OrderEvent::Confirmed {
            confirmed_at,
            by_pre_verification,
            notes,
        } => P::Confirmed(pb::OrderConfirmed {
            order_id: id,
            confirmed_at: Some(ts(*confirmed_at)),
            by_pre_verification: *by_pre_verification,
            notes: notes.clone(),
        }),
        OrderEvent::Changed {
            changed_at,
            changes: c,
            reason,
        } => P::Changed(pb::OrderChanged {
            order_id: id,
            changed_at: Some(ts(*changed_at)),
            changed_fields: c.field_names().into_iter().map(String::from).collect(),
            pickup_location: c.pickup_location.as_ref().map(location_pb),
            pickup_at: ts_opt(c.pickup_at),
            return_location: c.return_location.as_ref().map(location_pb),
            return_at: ts_opt(c.return_at),
            requested_model: c.model.map(model_pb).unwrap_or_default(),
            add_ons: c.add_ons.clone().unwrap_or_default(),
            price: c.price.map(money),
            reason: reason.clone(),
            add_ons_changed: c.add_ons.is_some(),
        }),
        OrderEvent::Cancelled {
            cancelled_at,
            by,
            reason,
        } => P::Cancelled(pb::OrderCancelled {
            order_id: id,
            cancelled_at: Some(ts(*cancelled_at)),
            cancelled_by: cancelled_by_pb(*by),
            reason: reason.clone(),
        }),
        OrderEvent::PickedUp(h) => P::PickedUp(pb::VehiclePickedUp {
            order_id: id,
            picked_up_at: Some(ts(h.at)),
            vehicle_id: h.vehicle_id.clone(),
            plate: plate_text(h.plate.as_ref()),
            odometer_km: h.odometer_km,
            charge_percent: h.charge_percent,
            damage_noted: h.damage_noted.clone(),
            planned_vehicle_id: h.planned_vehicle_id.clone().unwrap_or_default(),
        }),
        OrderEvent::Swapped(swap) => P::VehicleSwapped(swap_pb(swap, id)),
        OrderEvent::Returned(h) => P::Returned(pb::VehicleReturned {
            order_id: id,
            returned_at: Some(ts(h.at)),
            return_location: h.location.as_ref().map(location_pb),
            odometer_km: h.odometer_km,
            charge_percent: h.charge_percent,
            damage_noted: h.damage_noted.clone(),
        }),
        OrderEvent::Completed { completed_at } => P::Completed(pb::OrderCompleted {
            order_id: id,
            completed_at: Some(ts(*completed_at)),
        }),
        OrderEvent::NoShow { recorded_at, notes } => P::NoShow(pb::OrderNoShow {
            order_id: id,
            recorded_at: Some(ts(*recorded_at)),
            notes: notes.clone(),
        }),
        OrderEvent::VehicleAssignmentRecorded {
            vehicle,
            plan_id,
            assigned_at,
            replaced_vehicle_id,
            reason,
        } => P::VehicleAssignmentRecorded(pb::VehicleAssignmentRecorded {
            order_id: id,
            vehicle_id: vehicle.vehicle_id.clone(),
            plate: plate_text(vehicle.plate.as_ref()),
            model: vehicle.model.map(model_pb).unwrap_or_default(),
            upgrade: vehicle.upgrade,
            plan_id: plan_id.clone(),
            assigned_at: Some(ts(*assigned_at)),
            replaced_vehicle_id: replaced_vehicle_id.clone().unwrap_or_default(),
            reason: reason.clone(),
        }),
        OrderEvent::AssignmentCleared {
            vehicle_id,
            reason,
            plan_id,
            cleared_at,
        } => P::AssignmentCleared(pb::AssignmentCleared {
            order_id: id,
            vehicle_id: vehicle_id.clone(),
            reason: reason.clone(),
            plan_id: plan_id.clone(),
            cleared_at: Some(ts(*cleared_at)),
        }),
        OrderEvent::FlaggedAtRisk {
            at_risk,
            plan_id,
            flagged_at,
        } => P::FlaggedAtRisk(pb::OrderFlaggedAtRisk {
            order_id: id,
            reason: at_risk.reason.clone(),
            explanation: at_risk.explanation.clone(),
            plan_id: plan_id.clone(),
            flagged_at: Some(ts(*flagged_at)),
        }),
    }
}

/// The body of one event on the wire: the individual message (not the `OrderEvent` wrapper).
pub fn encode_event(event: &OrderEvent) -> Vec<u8> {
    use pb::order_event::Event as P;
    // The order id inside the body repeats the subject's; the placement carries the real one.
    let order_id = match event {
        OrderEvent::Placed { order_id, .. } => order_id.to_string(),
        _ => String::new(),
    };
    match event_pb(event, &order_id) {
        P::Placed(m) => m.encode_to_vec(),
        P::ContactAttemptRecorded(m) => m.encode_to_vec(),
        P::ContactOverdue(m) => m.encode_to_vec(),
        P::Confirmed(m) => m.encode_to_vec(),
        P::Changed(m) => m.encode_to_vec(),
        P::Cancelled(m) => m.encode_to_vec(),
        P::PickedUp(m) => m.encode_to_vec(),
        P::Returned(m) => m.encode_to_vec(),
        P::Completed(m) => m.encode_to_vec(),
        P::NoShow(m) => m.encode_to_vec(),
        P::VehicleAssignmentRecorded(m) => m.encode_to_vec(),
        P::AssignmentCleared(m) => m.encode_to_vec(),
        P::FlaggedAtRisk(m) => m.encode_to_vec(),
        P::VehicleSwapped(m) => m.encode_to_vec(),
    }
}

/// A swap in its wire form (the event, and the order view's list of swaps).
pub fn swap_pb(swap: &Swap, order_id: String) -> pb::VehicleSwapped {
    let reading = |r: &SwapReading| pb::VehicleReading {
        vehicle_id: r.vehicle_id.clone(),
        plate: plate_text(r.plate.as_ref()),
        odometer_km: r.odometer_km,
        charge_percent: r.charge_percent,
    };
    pb::VehicleSwapped {
        order_id,
        swapped_at: Some(ts(swap.at)),
        location: swap.location.as_ref().map(location_pb),
        broken: Some(reading(&swap.broken)),
        replacement: Some(reading(&swap.replacement)),
        reason: swap.reason.clone(),
        notes: swap.notes.clone(),
        recorded_by: swap.recorded_by.clone(),
    }
}

/// A plate as the wire carries it: the dotted form, empty for none.
fn plate_text(p: Option<&Plate>) -> String {
    p.map(Plate::to_string).unwrap_or_default()
}

fn req_ts(name: &str, field: &str, t: &Option<prost_types::Timestamp>) -> Result<OffsetDateTime, DecodeError> {
    rentops_proto::timestamp::event_time(name, field, t.as_ref())
}

fn opt_ts(name: &str, field: &str, t: &Option<prost_types::Timestamp>) -> Result<Option<OffsetDateTime>, DecodeError> {
    rentops_proto::timestamp::event_time_opt(name, field, t.as_ref())
}

/// A stored plate: empty for none, else one the kernel's rule accepts.
fn opt_plate(name: &str, field: &str, text: &str) -> Result<Option<Plate>, DecodeError> {
    if text.is_empty() {
        return Ok(None);
    }
    Plate::parse(text)
        .map(Some)
        .map_err(|e| DecodeError::invalid(name, field, e))
}

fn fen(m: &Option<common::Money>) -> Fen {
    Fen(m.as_ref().map(|m| m.amount_fen).unwrap_or(0))
}

pub fn decode_event(name: &str, payload: &[u8]) -> Result<OrderEvent, DecodeError> {
    let proto = |e: prost::DecodeError| DecodeError::malformed(name, e);
    let unknown = |field: &str, value: i32| DecodeError::invalid(name, field, format!("unknown value {value}"));
    Ok(match name {
        "OrderPlaced" => {
            let m = pb::OrderPlaced::decode(payload).map_err(proto)?;
            let order_id = Uuid::parse_str(&m.order_id).map_err(|e| DecodeError::invalid(name, "order_id", e))?;
            let c = m.customer.unwrap_or_default();
            OrderEvent::Placed {
                order_id,
                booking: Booking {
                    channel: channel_from_pb(m.channel).ok_or_else(|| unknown("channel", m.channel))?,
                    partner_code: m.partner_code,
                    channel_order_ref: m.channel_order_ref,
                    customer: Customer {
                        customer_id: c.customer_id,
                        name: c.name,
                        phone: c.phone,
                    },
                    city: CityCode::parse(&m.city).map_err(|e| DecodeError::invalid(name, "city", e))?,
                    pickup_location: location_from_pb(m.pickup_location.as_ref())
                        .ok_or_else(|| DecodeError::missing(name, "pickup_location"))?,
                    pickup_at: req_ts(name, "pickup_at", &m.pickup_at)?,
                    return_location: location_from_pb(m.return_location.as_ref())
                        .ok_or_else(|| DecodeError::missing(name, "return_location"))?,
                    return_at: req_ts(name, "return_at", &m.return_at)?,
                    model: model_from_pb(m.requested_model)
                        .ok_or_else(|| unknown("requested_model", m.requested_model))?,
                    add_ons: m.add_ons,
                    price: fen(&m.price),
                    rental_deposit: fen(&m.rental_deposit),
                    violation_deposit: fen(&m.violation_deposit),
                    notes: m.notes,
                    cover: rentops_proto::cover::cover_from_pb(m.cover_tier).ok_or_else(|| {
                        DecodeError::invalid(name, "cover_tier", format!("unknown value {}", m.cover_tier))
                    })?,
                },
                placed_at: req_ts(name, "placed_at", &m.placed_at)?,
                pre_verified: m.pre_verified,
                contact_due_at: req_ts(name, "contact_due_at", &m.contact_due_at)?,
            }
        }
        "ContactAttemptRecorded" => {
            let m = pb::ContactAttemptRecorded::decode(payload).map_err(proto)?;
            let attempted_at = req_ts(name, "attempted_at", &m.attempted_at)?;
            OrderEvent::ContactAttemptRecorded {
                attempted_at,
                outcome: outcome_from_pb(m.outcome).ok_or_else(|| unknown("outcome", m.outcome))?,
                agent: m.agent,
                notes: m.notes,
                call_back_at: opt_ts(name, "call_back_at", &m.call_back_at)?,
                next_contact_at: opt_ts(name, "next_contact_at", &m.next_contact_at)?.unwrap_or(attempted_at),
            }
        }
        "ContactOverdue" => {
            let m = pb::ContactOverdue::decode(payload).map_err(proto)?;
            OrderEvent::ContactOverdue {
                contact_due_at: req_ts(name, "contact_due_at", &m.contact_due_at)?,
                detected_at: req_ts(name, "detected_at", &m.detected_at)?,
            }
        }
        "OrderConfirmed" => {
            let m = pb::OrderConfirmed::decode(payload).map_err(proto)?;
            OrderEvent::Confirmed {
                confirmed_at: req_ts(name, "confirmed_at", &m.confirmed_at)?,
                by_pre_verification: m.by_pre_verification,
                notes: m.notes,
            }
        }
        "OrderChanged" => {
            let m = pb::OrderChanged::decode(payload).map_err(proto)?;
            OrderEvent::Changed {
                changed_at: req_ts(name, "changed_at", &m.changed_at)?,
                changes: BookingChanges {
                    pickup_location: location_from_pb(m.pickup_location.as_ref()),
                    pickup_at: opt_ts(name, "pickup_at", &m.pickup_at)?,
                    return_location: location_from_pb(m.return_location.as_ref()),
                    return_at: opt_ts(name, "return_at", &m.return_at)?,
                    model: model_from_pb(m.requested_model),
                    add_ons: m.add_ons_changed.then_some(m.add_ons),
                    price: m.price.as_ref().map(|p| Fen(p.amount_fen)),
                },
                reason: m.reason,
            }
        }
        "OrderCancelled" => {
            let m = pb::OrderCancelled::decode(payload).map_err(proto)?;
            OrderEvent::Cancelled {
                cancelled_at: req_ts(name, "cancelled_at", &m.cancelled_at)?,
                by: cancelled_by_from_pb(m.cancelled_by).ok_or_else(|| unknown("cancelled_by", m.cancelled_by))?,
                reason: m.reason,
            }
        }
        "VehiclePickedUp" => {
            let m = pb::VehiclePickedUp::decode(payload).map_err(proto)?;
            OrderEvent::PickedUp(Handover {
                at: req_ts(name, "picked_up_at", &m.picked_up_at)?,
                plate: opt_plate(name, "plate", &m.plate)?,
                vehicle_id: m.vehicle_id,
                odometer_km: m.odometer_km,
                charge_percent: m.charge_percent,
                damage_noted: m.damage_noted,
                location: None,
                planned_vehicle_id: (!m.planned_vehicle_id.is_empty()).then_some(m.planned_vehicle_id),
            })
        }
        "VehicleSwapped" => {
            let m = pb::VehicleSwapped::decode(payload).map_err(proto)?;
            let reading = |field: &str, r: Option<pb::VehicleReading>| -> Result<SwapReading, DecodeError> {
                let r = r.ok_or_else(|| DecodeError::missing(name, field))?;
                Ok(SwapReading {
                    plate: opt_plate(name, field, &r.plate)?,
                    vehicle_id: r.vehicle_id,
                    odometer_km: r.odometer_km,
                    charge_percent: r.charge_percent,
                })
            };
            OrderEvent::Swapped(Swap {
                at: req_ts(name, "swapped_at", &m.swapped_at)?,
                location: location_from_pb(m.location.as_ref()),
                broken: reading("broken", m.broken)?,
                replacement: reading("replacement", m.replacement)?,
                reason: m.reason,
                notes: m.notes,
                recorded_by: m.recorded_by,
            })
        }
        "VehicleReturned" => {
            let m = pb::VehicleReturned::decode(payload).map_err(proto)?;
            OrderEvent::Returned(Handover {
                at: req_ts(name, "returned_at", &m.returned_at)?,
                vehicle_id: String::new(),
                plate: None,
                odometer_km: m.odometer_km,
                charge_percent: m.charge_percent,
                damage_noted: m.damage_noted,
                location: location_from_pb(m.return_location.as_ref()),
                planned_vehicle_id: None,
            })
        }
        "OrderCompleted" => {
            let m = pb::OrderCompleted::decode(payload).map_err(proto)?;
            OrderEvent::Completed {
                completed_at: req_ts(name, "completed_at", &m.completed_at)?,
            }
        }
        "OrderNoShow" => {
            let m = pb::OrderNoShow::decode(payload).map_err(proto)?;
            OrderEvent::NoShow {
                recorded_at: req_ts(name, "recorded_at", &m.recorded_at)?,
                notes: m.notes,
            }
        }
        "VehicleAssignmentRecorded" => {
            let m = pb::VehicleAssignmentRecorded::decode(payload).map_err(proto)?;
            OrderEvent::VehicleAssignmentRecorded {
                vehicle: AssignedVehicle {
                    plate: opt_plate(name, "plate", &m.plate)?,
                    vehicle_id: m.vehicle_id,
                    model: model_from_pb(m.model),
                    upgrade: m.upgrade,
                },
                plan_id: m.plan_id,
                assigned_at: req_ts(name, "assigned_at", &m.assigned_at)?,
                replaced_vehicle_id: (!m.replaced_vehicle_id.is_empty()).then_some(m.replaced_vehicle_id),
                reason: m.reason,
            }
        }
        "AssignmentCleared" => {
            let m = pb::AssignmentCleared::decode(payload).map_err(proto)?;
            OrderEvent::AssignmentCleared {
                vehicle_id: m.vehicle_id,
                reason: m.reason,
                plan_id: m.plan_id,
                cleared_at: req_ts(name, "cleared_at", &m.cleared_at)?,
            }
        }
        "OrderFlaggedAtRisk" => {
            let m = pb::OrderFlaggedAtRisk::decode(payload).map_err(proto)?;
            OrderEvent::FlaggedAtRisk {
                at_risk: AtRisk {
                    reason: m.reason,
                    explanation: m.explanation,
                },
                plan_id: m.plan_id,
                flagged_at: req_ts(name, "flagged_at", &m.flagged_at)?,
            }
        }
        other => return Err(DecodeError::unknown(other)),
    })
}
