//! An order event told two ways: a one-line summary for the history table
//! ("outcome=REACHED agent=li", "changed: pickup_at") and its content as JSON for `--json`.
//! The generated messages carry no serde, so the mapping is written out here, field by field.

use order::order_event::Event;
use rentops_proto::order;
use serde_json::{Value, json};

use crate::format::{self, Times};
use crate::views::{LocationView, MoneyView};

/// `key=value`, the value quoted when it has spaces (or is empty) so the line splits cleanly.
fn kv(key: &str, value: &str) -> String {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        format!("{key}={value:?}")
    } else {
        format!("{key}={value}")
    }
}

/// The pairs that are set, joined by spaces.
fn line(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| kv(k, v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The fields an `OrderChanged` names; older events may leave `changed_fields` empty, so fall
/// back to the fields that are set.
fn changed_fields(c: &order::OrderChanged) -> Vec<String> {
    if !c.changed_fields.is_empty() {
        return c.changed_fields.clone();
    }
    [
        ("pickup_location", c.pickup_location.is_some()),
        ("pickup_at", c.pickup_at.is_some()),
        ("return_location", c.return_location.is_some()),
        ("return_at", c.return_at.is_some()),
        ("requested_model", c.requested_model != 0),
        ("add_ons", c.add_ons_changed),
        ("price", c.price.is_some()),
    ]
    .into_iter()
    .filter(|&(_, set)| set)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// One line for the history table.
pub fn summary(event: &Event, times: Times) -> String {
    let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
    let money = |m: &Option<rentops_proto::common::Money>| MoneyView::new(m.as_ref()).map(|m| m.text());
    let location = |l: &Option<order::Location>| LocationView::new(l.as_ref()).map(|l| l.text());
    let text = match event {
        Event::Placed(p) => line(&[
            ("channel", format::channel_name(p.channel)),
            ("partner", non_empty(&p.partner_code)),
            ("ref", non_empty(&p.channel_order_ref)),
            ("city", non_empty(&p.city)),
            ("model", format::model_name(p.requested_model)),
            ("pickup_at", time(&p.pickup_at)),
            ("price", money(&p.price)),
            ("pre_verified", p.pre_verified.then(|| "true".to_owned())),
        ]),
        Event::ContactAttemptRecorded(c) => line(&[
            ("outcome", format::outcome_name(c.outcome)),
            ("agent", non_empty(&c.agent)),
            ("call_back_at", time(&c.call_back_at)),
            ("next_contact_at", time(&c.next_contact_at)),
            ("notes", non_empty(&c.notes)),
        ]),
        Event::ContactOverdue(o) => line(&[("contact_due_at", time(&o.contact_due_at))]),
        Event::Confirmed(c) => line(&[
            ("by_pre_verification", c.by_pre_verification.then(|| "true".to_owned())),
            ("notes", non_empty(&c.notes)),
        ]),
        Event::Changed(c) => {
            let what = format!("changed: {}", changed_fields(c).join(", "));
            let reason = line(&[("reason", non_empty(&c.reason))]);
            if reason.is_empty() {
                what
            } else {
                format!("{what} {reason}")
            }
        }
        Event::Cancelled(c) => line(&[
            ("by", format::cancelled_by_name(c.cancelled_by)),
            ("reason", non_empty(&c.reason)),
        ]),
        Event::PickedUp(p) => line(&[
            ("vehicle", non_empty(&p.vehicle_id)),
            ("plate", non_empty(&p.plate)),
            ("odometer_km", Some(p.odometer_km.to_string())),
            ("charge", Some(format!("{}%", p.charge_percent))),
            ("damage", non_empty(&p.damage_noted)),
            ("planned", non_empty(&p.planned_vehicle_id)),
        ]),
        Event::VehicleSwapped(s) => {
            let car = |r: &Option<order::VehicleReading>, side: &str| {
                r.as_ref().map(|r| {
                    format!(
                        "{side}={} {} {} km {}%",
                        r.vehicle_id, r.plate, r.odometer_km, r.charge_percent
                    )
                })
            };
            [
                car(&s.broken, "out"),
                car(&s.replacement, "in"),
                Some(line(&[
                    ("at", location(&s.location)),
                    ("reason", non_empty(&s.reason)),
                    ("by", non_empty(&s.recorded_by)),
                    ("notes", non_empty(&s.notes)),
                ])),
            ]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
        }
        Event::Returned(r) => line(&[
            ("at", location(&r.return_location)),
            ("odometer_km", Some(r.odometer_km.to_string())),
            ("charge", Some(format!("{}%", r.charge_percent))),
            ("damage", non_empty(&r.damage_noted)),
        ]),
        Event::Completed(_) => String::new(),
        Event::NoShow(n) => line(&[("notes", non_empty(&n.notes))]),
        Event::VehicleAssignmentRecorded(a) => line(&[
            ("plate", non_empty(&a.plate)),
            ("vehicle", non_empty(&a.vehicle_id)),
            ("model", format::model_name(a.model)),
            ("upgrade", a.upgrade.then(|| "true".to_owned())),
            ("replaces", non_empty(&a.replaced_vehicle_id)),
            ("reason", non_empty(&a.reason)),
        ]),
        Event::AssignmentCleared(c) => line(&[("vehicle", non_empty(&c.vehicle_id)), ("reason", non_empty(&c.reason))]),
        Event::FlaggedAtRisk(r) => line(&[
            ("reason", non_empty(&r.reason)),
            ("explanation", non_empty(&r.explanation)),
        ]),
    };
    if text.is_empty() { "-".to_owned() } else { text }
}

/// The event's content for `--json`: every field, times in the chosen offset, money in fen,
/// enums by short name, `null` for what is unset.
pub fn details(event: &Event, times: Times) -> Value {
    let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
    let money = |m: &Option<rentops_proto::common::Money>| MoneyView::new(m.as_ref());
    let location = |l: &Option<order::Location>| LocationView::new(l.as_ref());
    match event {
        Event::Placed(p) => json!({
            "type": "placed",
            "order_id": p.order_id,
            "channel": format::channel_name(p.channel),
            "partner_code": p.partner_code,
            "channel_order_ref": p.channel_order_ref,
            "customer": p.customer.as_ref().map(|c| json!({
                "customer_id": c.customer_id, "name": c.name, "phone": c.phone,
            })),
            "city": p.city,
            "pickup_location": location(&p.pickup_location),
            "pickup_at": time(&p.pickup_at),
            "return_location": location(&p.return_location),
            "return_at": time(&p.return_at),
            "requested_model": format::model_name(p.requested_model),
            "add_ons": p.add_ons,
            "price": money(&p.price),
            "rental_deposit": money(&p.rental_deposit),
            "violation_deposit": money(&p.violation_deposit),
            "placed_at": time(&p.placed_at),
            "pre_verified": p.pre_verified,
            "contact_due_at": time(&p.contact_due_at),
            "notes": p.notes,
        }),
        Event::ContactAttemptRecorded(c) => json!({
            "type": "contact_attempt_recorded",
            "order_id": c.order_id,
            "attempted_at": time(&c.attempted_at),
            "outcome": format::outcome_name(c.outcome),
            "agent": c.agent,
            "notes": c.notes,
            "call_back_at": time(&c.call_back_at),
            "next_contact_at": time(&c.next_contact_at),
        }),
        Event::ContactOverdue(o) => json!({
            "type": "contact_overdue",
            "order_id": o.order_id,
            "contact_due_at": time(&o.contact_due_at),
            "detected_at": time(&o.detected_at),
        }),
        Event::Confirmed(c) => json!({
            "type": "confirmed",
            "order_id": c.order_id,
            "confirmed_at": time(&c.confirmed_at),
            "by_pre_verification": c.by_pre_verification,
            "notes": c.notes,
        }),
        Event::Changed(c) => json!({
            "type": "changed",
            "order_id": c.order_id,
            "changed_at": time(&c.changed_at),
            "changed_fields": changed_fields(c),
            "pickup_location": location(&c.pickup_location),
            "pickup_at": time(&c.pickup_at),
            "return_location": location(&c.return_location),
            "return_at": time(&c.return_at),
            "requested_model": format::model_name(c.requested_model),
            "add_ons": c.add_ons_changed.then(|| c.add_ons.clone()),
            "price": money(&c.price),
            "reason": c.reason,
        }),
        Event::Cancelled(c) => json!({
            "type": "cancelled",
            "order_id": c.order_id,
            "cancelled_at": time(&c.cancelled_at),
            "cancelled_by": format::cancelled_by_name(c.cancelled_by),
            "reason": c.reason,
        }),
        Event::PickedUp(p) => json!({
            "type": "picked_up",
            "order_id": p.order_id,
            "picked_up_at": time(&p.picked_up_at),
            "vehicle_id": p.vehicle_id,
            "plate": p.plate,
            "odometer_km": p.odometer_km,
            "charge_percent": p.charge_percent,
            "damage_noted": p.damage_noted,
            "planned_vehicle_id": non_empty(&p.planned_vehicle_id),
        }),
        Event::VehicleSwapped(s) => {
            let car = |r: &Option<order::VehicleReading>| {
                r.as_ref().map(|r| {
                    json!({
                        "vehicle_id": r.vehicle_id,
                        "plate": r.plate,
                        "odometer_km": r.odometer_km,
                        "charge_percent": r.charge_percent,
                    })
                })
            };
            json!({
                "type": "vehicle_swapped",
                "order_id": s.order_id,
                "swapped_at": time(&s.swapped_at),
                "location": location(&s.location),
                "broken": car(&s.broken),
                "replacement": car(&s.replacement),
                "reason": s.reason,
                "notes": s.notes,
                "recorded_by": s.recorded_by,
            })
        }
        Event::Returned(r) => json!({
            "type": "returned",
            "order_id": r.order_id,
            "returned_at": time(&r.returned_at),
            "return_location": location(&r.return_location),
            "odometer_km": r.odometer_km,
            "charge_percent": r.charge_percent,
            "damage_noted": r.damage_noted,
        }),
        Event::Completed(c) => json!({
            "type": "completed",
            "order_id": c.order_id,
            "completed_at": time(&c.completed_at),
        }),
        Event::NoShow(n) => json!({
            "type": "no_show",
            "order_id": n.order_id,
            "recorded_at": time(&n.recorded_at),
            "notes": n.notes,
        }),
        Event::VehicleAssignmentRecorded(a) => json!({
            "type": "vehicle_assignment_recorded",
            "order_id": a.order_id,
            "vehicle_id": a.vehicle_id,
            "plate": a.plate,
            "model": format::model_name(a.model),
            "upgrade": a.upgrade,
            "plan_id": a.plan_id,
            "assigned_at": time(&a.assigned_at),
            "replaced_vehicle_id": non_empty(&a.replaced_vehicle_id),
            "reason": a.reason,
        }),
        Event::AssignmentCleared(c) => json!({
            "type": "assignment_cleared",
            "order_id": c.order_id,
            "vehicle_id": c.vehicle_id,
            "reason": c.reason,
            "plan_id": c.plan_id,
            "cleared_at": time(&c.cleared_at),
        }),
        Event::FlaggedAtRisk(r) => json!({
            "type": "flagged_at_risk",
            "order_id": r.order_id,
            "reason": r.reason,
            "explanation": r.explanation,
            "plan_id": r.plan_id,
            "flagged_at": time(&r.flagged_at),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Zone;
    use prost_types::Timestamp;
    use rentops_proto::common;

    const CHINA: Times = Times {
        zone: Zone::China,
        whole_seconds: true,
    };
    const UTC: Times = Times {
        zone: Zone::Utc,
        whole_seconds: true,
    };

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn a_call_reads_as_its_outcome_and_agent() {
        let e = Event::ContactAttemptRecorded(order::ContactAttemptRecorded {
            outcome: order::ContactOutcome::CallBackLater as i32,
            agent: "li".into(),
            call_back_at: at(1_796_090_400),
            notes: "in a meeting".into(),
            ..Default::default()
        });
        assert_eq!(
            summary(&e, CHINA),
            r#"outcome=CALL_BACK_LATER agent=li call_back_at=2026-12-01T10:00:00+08:00 notes="in a meeting""#
        );
        let d = details(&e, UTC);
        assert_eq!(
            (d["type"].as_str(), d["call_back_at"].as_str()),
            (Some("contact_attempt_recorded"), Some("2026-12-01T02:00:00Z"))
        );
        assert_eq!(d["attempted_at"], Value::Null);
    }

    #[test]
    fn a_change_names_what_changed() {
        let named = order::OrderChanged {
            changed_fields: vec!["pickup_at".into()],
            pickup_at: at(1_796_090_400),
            ..Default::default()
        };
        assert_eq!(summary(&Event::Changed(named), CHINA), "changed: pickup_at");
        // Without changed_fields, what is set tells.
        let unnamed = order::OrderChanged {
            requested_model: common::VehicleModel::Es8 as i32,
            add_ons_changed: true,
            reason: "upgrade".into(),
            ..Default::default()
        };
        assert_eq!(
            summary(&Event::Changed(unnamed.clone()), CHINA),
            "changed: requested_model, add_ons reason=upgrade"
        );
        let d = details(&Event::Changed(unnamed), CHINA);
        assert_eq!(
            (d["requested_model"].as_str(), d["add_ons"].clone()),
            (Some("ES8"), json!([]))
        );
    }

    #[test]
    fn every_event_has_a_summary_and_details() {
        let events = [
            Event::Placed(order::OrderPlaced {
                channel: order::Channel::App as i32,
                price: Some(common::Money {
                    amount_fen: 45000,
                    currency: "CNY".into(),
                }),
                ..Default::default()
            }),
            Event::ContactOverdue(order::ContactOverdue {
                contact_due_at: at(0),
                ..Default::default()
            }),
            Event::Confirmed(order::OrderConfirmed {
                by_pre_verification: true,
                ..Default::default()
            }),
            Event::Cancelled(order::OrderCancelled {
                cancelled_by: order::CancelledBy::Shortage as i32,
                reason: "no ES8".into(),
                ..Default::default()
            }),
            Event::PickedUp(order::VehiclePickedUp {
                plate: "沪A·D12345".into(),
                odometer_km: 12000,
                charge_percent: 90,
                ..Default::default()
            }),
            Event::Returned(order::VehicleReturned {
                odometer_km: 12400,
                charge_percent: 35,
                ..Default::default()
            }),
            Event::Completed(order::OrderCompleted::default()),
            Event::NoShow(order::OrderNoShow {
                notes: "waited".into(),
                ..Default::default()
            }),
        ];
        let summaries: Vec<String> = events.iter().map(|e| summary(e, CHINA)).collect();
        assert_eq!(
            summaries,
            [
                r#"channel=APP price="450.00 CNY""#,
                "contact_due_at=1970-01-01T08:00:00+08:00",
                "by_pre_verification=true",
                r#"by=SHORTAGE reason="no ES8""#,
                "plate=沪A·D12345 odometer_km=12000 charge=90%",
                "odometer_km=12400 charge=35%",
                "-",
                "notes=waited",
            ]
        );
        for e in &events {
            assert!(details(e, CHINA)["type"].is_string(), "{e:?}");
        }
        assert_eq!(
            details(&events[0], CHINA)["price"],
            json!({"amount_fen": 45000, "currency": "CNY"})
        );
    }
}
