//! Who had the car: for a plate and a moment, the hire whose renter was driving it, the driver or
//! staff member moving it, or nobody. Pure: the facts (which car carried the plate when, each
//! car's part of each hire, each move) come from the order and fleet services' events through
//! the custody read model, and this decides.
//!
//! Every span is half-open, `[from, to)`: at the pickup instant the renter has the car, at the
//! return instant (and at a swap's instant, for the car taken out) the company has it back; the
//! replacement of a swap is the renter's from the swap's instant.

use time::OffsetDateTime;

use super::violation::{Match, Responsibility, Unmatched, UnmatchedReason};

/// A car carried a plate during `[from, to)` (`to` open while it still does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlateSpan {
    pub vehicle_id: String,
    pub from: OffsetDateTime,
    pub to: Option<OffsetDateTime>,
}

/// A car's part of a hire: from the pickup (or the swap that brought it in) to the return (or
/// the swap that took it out). `plate_key` is the plate the order's event recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HireSpan {
    pub order_id: String,
    pub customer_id: String,
    pub customer_phone: String,
    pub city: String,
    pub vehicle_id: String,
    pub plate_key: String,
    pub from: OffsetDateTime,
    pub to: Option<OffsetDateTime>,
}

/// A move of a car by a driver or a member of staff, from departure to arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveSpan {
    pub vehicle_id: String,
    pub driver_id: String,
    pub staff_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

fn within(at: OffsetDateTime, from: OffsetDateTime, to: Option<OffsetDateTime>) -> bool {
    from <= at && to.is_none_or(|to| at < to)
}

/// The facts about one plate (and the cars that carried it) around one moment.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub plates: Vec<PlateSpan>,
    pub hires: Vec<HireSpan>,
    pub moves: Vec<MoveSpan>,
}

/// Who had the car with `plate_key` at `at`, or why nobody can be named.
///
/// The car is the one fleet's plate history gives for that moment; when fleet never recorded
/// the plate, the car the hires recorded it on. Then the hire whose span holds the moment (the
/// latest started, should two overlap); else a move in progress; else nobody.
pub fn who_had(plate_key: &str, at: OffsetDateTime, facts: &Facts, now: OffsetDateTime) -> Result<Match, Unmatched> {
    let mut cars: Vec<&str> = facts
        .plates
        .iter()
        .filter(|p| within(at, p.from, p.to))
        .map(|p| p.vehicle_id.as_str())
        .collect();
    let by_plate_history = !cars.is_empty();
    if facts.plates.is_empty() {
        cars = facts
            .hires
            .iter()
            .filter(|h| h.plate_key == plate_key)
            .map(|h| h.vehicle_id.as_str())
            .collect();
    }
    cars.sort_unstable();
    cars.dedup();
    let hire = facts
        .hires
        .iter()
        .filter(|h| cars.contains(&h.vehicle_id.as_str()) && within(at, h.from, h.to))
        .max_by_key(|h| h.from);
    if let Some(h) = hire {
        return Ok(Match {
            responsibility: Responsibility::Renter,
            order_id: h.order_id.clone(),
            customer_id: h.customer_id.clone(),
            customer_phone: h.customer_phone.clone(),
            city: h.city.clone(),
            vehicle_id: h.vehicle_id.clone(),
            person_id: String::new(),
            matched_at: now,
            resolved_by: String::new(),
            reason: String::new(),
        });
    }
    let moving = facts
        .moves
        .iter()
        .filter(|m| cars.contains(&m.vehicle_id.as_str()) && m.from <= at && at <= m.to)
        .max_by_key(|m| m.from);
    if let Some(m) = moving {
        let (responsibility, person) = if m.driver_id.is_empty() {
            (Responsibility::Staff, m.staff_id.clone())
        } else {
            (Responsibility::Driver, m.driver_id.clone())
        };
        return Ok(Match {
            responsibility,
            order_id: String::new(),
            customer_id: String::new(),
            customer_phone: String::new(),
            city: String::new(),
            vehicle_id: m.vehicle_id.clone(),
            person_id: person,
            matched_at: now,
            resolved_by: String::new(),
            reason: String::new(),
        });
    }
    match cars.first() {
        None => Err(Unmatched {
            reason: UnmatchedReason::UnknownPlate,
            vehicle_id: String::new(),
            detail: "no car of the fleet carried this plate then".into(),
            at: now,
        }),
        Some(car) => Err(Unmatched {
            reason: UnmatchedReason::NoHire,
            vehicle_id: (*car).to_owned(),
            detail: if by_plate_history {
                "the car carried the plate then, but no hire and no move had it".into()
            } else {
                "the plate is known only from hires, none of which had the car then".into()
            },
            at: now,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn hire(order: &str, car: &str, from: OffsetDateTime, to: Option<OffsetDateTime>) -> HireSpan {
        HireSpan {
            order_id: order.into(),
            customer_id: format!("C-{order}"),
            customer_phone: "13800000000".into(),
            city: "SHA".into(),
            vehicle_id: car.into(),
            plate_key: format!("PLATE-{car}"),
            from,
            to,
        }
    }

    fn facts() -> Facts {
        let t0 = datetime!(2026-11-01 08:00 UTC);
        Facts {
            plates: vec![PlateSpan {
                vehicle_id: "V1".into(),
                from: t0 - time::Duration::days(30),
                to: None,
            }],
            hires: vec![
                hire("O1", "V1", t0, Some(t0 + time::Duration::hours(10))),
                hire("O2", "V1", t0 + time::Duration::hours(12), None),
            ],
            moves: vec![MoveSpan {
                vehicle_id: "V1".into(),
                driver_id: String::new(),
                staff_id: "S-7".into(),
                from: t0 + time::Duration::hours(10) + time::Duration::minutes(30),
                to: t0 + time::Duration::hours(11),
            }],
        }
    }

    #[test]
    fn a_hire_holds_the_car_from_its_pickup_instant_to_before_its_return_instant() {
        let t0 = datetime!(2026-11-01 08:00 UTC);
        let f = facts();
        let now = t0 + time::Duration::days(20);
        assert_eq!(who_had("P", t0, &f, now).unwrap().order_id, "O1");
        assert_eq!(
            who_had(
                "P",
                t0 + time::Duration::hours(10) - time::Duration::seconds(1),
                &f,
                now
            )
            .unwrap()
            .order_id,
            "O1"
        );
        // The return instant: the car is back.
        let back = who_had("P", t0 + time::Duration::hours(10), &f, now).unwrap_err();
        assert_eq!(back.reason, UnmatchedReason::NoHire);
        assert_eq!(back.vehicle_id, "V1");
        // Between two hires a staff member moved it: the company's.
        let moved = who_had(
            "P",
            t0 + time::Duration::hours(10) + time::Duration::minutes(40),
            &f,
            now,
        )
        .unwrap();
        assert_eq!(moved.responsibility, Responsibility::Staff);
        assert_eq!(moved.person_id, "S-7");
        assert_eq!(
            who_had("P", t0 + time::Duration::hours(12), &f, now).unwrap().order_id,
            "O2"
        );
        // Before the car carried the plate: nobody known.
        let before = who_had("P", t0 - time::Duration::days(31), &f, now).unwrap_err();
        assert_eq!(before.reason, UnmatchedReason::UnknownPlate);
    }

    #[test]
    fn without_fleet_history_the_hires_own_plate_names_the_car() {
        let t0 = datetime!(2026-11-01 08:00 UTC);
        let f = Facts {
            plates: Vec::new(),
            hires: vec![hire("O1", "V1", t0, None), hire("O9", "V9", t0, None)],
            moves: Vec::new(),
        };
        let m = who_had("PLATE-V9", t0 + time::Duration::hours(1), &f, t0).unwrap();
        assert_eq!(m.order_id, "O9");
    }
}
