//! The plan aggregate (id = city code): the assignment of cars to orders and of drivers to
//! delivery / collection tasks for the city over the horizon (docs/domain.md, 排单计划).
//!
//! A re-plan is one command, `Replan`, carrying everything the plan is made from: the city's
//! configuration, the demand (confirmed orders not cancelled and not yet picked up, plus swaps
//! after a breakdown on hire), the fleet (cars with their availability and blocked windows) and
//! the drivers' shifts, all read from the projections by the re-plan reactor.
//!
//! `decide` calls the planner itself (`rentops_planner::plan`): the planner is pure and
//! deterministic, and the previous plan it must keep stable (objective 4) and the frozen window
//! it must honour are *this aggregate's state*. Planning inside `decide` means a decision retried
//! after a lost race (another replica re-planned first) plans again on the fresh state instead of
//! publishing a plan made against a stale one. The cost is CPU on the command path (the planner
//! re-plans a 2,000-order city in well under a second, see crates/planner/RESULTS.md).
//!
//! The decision appends the *changes* against the state (VehicleAssigned, VehicleReassigned,
//! AssignmentReleased, OrderAtRisk, driver tasks) and PlanPublished with the KPIs, as one atomic
//! batch. A batch holds at most 1,000 events: when a re-plan changes more, the decision appends
//! the first [`MAX_CHANGES`] changes without PlanPublished and the reactor runs the command again
//! (its next decision starts from those changes, so it converges); only the last carries
//! PlanPublished.

use std::collections::{BTreeMap, BTreeSet};

use rentops_kernel::{Aggregate, DecodeError, EventCodec};
use rentops_planner::{self as planner, Frozen, Instance, PlanOptions, UnassignedReason};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::city::City;
use super::types::*;
/// The plan's events, each a domain fact; their wire form is in `super::codec`. One re-plan
/// decision appends its changes and then [`PlanPublished`] as one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanEvent {
    VehicleAssigned(VehicleAssigned),
    VehicleReassigned(VehicleReassigned),
    AssignmentReleased(AssignmentReleased),
    OrderAtRisk(OrderAtRisk),
    DriverTaskAssigned(DriverTaskAssigned),
    DriverTaskUnassigned(DriverTaskUnassigned),
    PlanOrdersClosed(PlanOrdersClosed),
    PlanPublished(PlanPublished),
}

/// A delivery (station to the customer's address before pickup), a collection (from the
/// address after the return), or a relocation (the plan's move of a car from one station to
/// another for the order's pickup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskKind {
    Delivery,
    Collection,
    Relocation,
}

impl TaskKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Delivery => "DELIVERY",
            Self::Collection => "COLLECTION",
            Self::Relocation => "RELOCATION",
        }
    }
}

/// The reason an order is at risk while no driver can take its car's relocation: the car is
/// planned, the move is not (the order keeps its car).
pub const NO_DRIVER: &str = "NO_DRIVER";

/// The plate is the text the vehicles' read model shows for the car (the plan copies it, it
/// does not check it).
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleAssigned {
    pub order_id: String,
    pub vehicle_id: String,
    pub plate: String,
    pub model: VehicleModel,
    pub upgrade: bool,
    pub plan_id: String,
    pub assigned_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VehicleReassigned {
    pub order_id: String,
    pub from_vehicle_id: String,
    pub vehicle_id: String,
    pub plate: String,
    pub model: VehicleModel,
    pub upgrade: bool,
    pub plan_id: String,
    pub reason: String,
    pub assigned_at: OffsetDateTime,
}

/// The order no longer holds its car.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentReleased {
    pub order_id: String,
    pub vehicle_id: String,
    pub reason: String,
    pub plan_id: String,
    pub released_at: OffsetDateTime,
}

/// No car can serve the order: `reason` is the planner's code, `explanation` its text.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAtRisk {
    pub order_id: String,
    pub reason: String,
    pub explanation: String,
    pub plan_id: String,
    pub flagged_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriverTaskAssigned {
    pub order_id: String,
    pub kind: TaskKind,
    pub driver_id: String,
    pub shift_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub station: String,
    pub address: String,
    pub plan_id: String,
    /// A relocation's destination (empty otherwise).
    pub to_station: String,
    /// The car a relocation moves (empty otherwise).
    pub vehicle_id: String,
}

/// A task no driver can take (flagged), or one no longer needed (`withdrawn`).
#[derive(Debug, Clone, PartialEq)]
pub struct DriverTaskUnassigned {
    pub order_id: String,
    pub kind: TaskKind,
    pub reason: String,
    pub plan_id: String,
    pub previous_driver_id: Option<String>,
    pub withdrawn: bool,
}

/// Orders the plan stops tracking without releasing a car.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOrdersClosed {
    pub order_ids: Vec<String>,
    pub reason: String,
    pub plan_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanPublished {
    pub city: String,
    pub plan_id: String,
    pub planned_at: OffsetDateTime,
    pub orders: u32,
    pub fulfilled: u32,
    pub upgrades: u32,
    pub relocation_minutes: i64,
    pub moved_from_previous: u32,
    pub fulfilment_rate: f64,
    pub idle_rate: f64,
    pub proven_optimal: bool,
    pub upper_bound_fulfilled: u32,
    pub trigger: String,
    /// Minutes of the plan's driver tasks (deliveries, collections, relocations).
    pub driver_minutes: i64,
}

/// Changes per decision; with PlanPublished a batch stays within JetStream's 1,000.
pub const MAX_CHANGES: usize = 999;

/// Travel time used for a station pair the city has not configured: a year, i.e. unreachable
/// (the planner's upper limit for a travel time).
pub const UNREACHABLE_MINUTES: i64 = 525_600;

/// Reason codes of at-risk orders the planner never sees (the booking cannot be planned).
pub const UNKNOWN_STATION: &str = "UNKNOWN_STATION";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    pub vehicle_id: String,
    pub plate: String,
    #[serde(with = "rentops_kernel::vehicle::stored_json")]
    pub model: VehicleModel,
    pub upgrade: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    /// None: flagged, no driver can take it.
    pub driver_id: Option<String>,
    pub shift_id: String,
    pub to: OffsetDateTime,
    pub reason: String,
}

/// The plan in force, as its events describe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanState {
    pub assignments: BTreeMap<String, Assigned>,
    /// order → (reason code, explanation).
    pub at_risk: BTreeMap<String, (String, String)>,
    /// (order, task kind) → task.
    pub tasks: BTreeMap<(String, TaskKind), TaskState>,
    pub last: Option<PlanPublished>,
}

/// One order of the demand, as the reactor read it from the demand projection.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOrder {
    pub order_id: String,
    pub model: VehicleModel,
    pub pickup_station: String,
    pub pickup_at: OffsetDateTime,
    pub return_station: String,
    pub return_at: OffsetDateTime,
    /// Pickup at an address: a driver delivers the car from `pickup_station`.
    pub delivery_address: Option<String>,
    /// Return at an address: a driver collects the car to `return_station`.
    pub collection_address: Option<String>,
    /// A swap during a hire: the car that broke down under the customer.
    pub swap_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanVehicle {
    pub vehicle_id: String,
    pub plate: String,
    pub model: VehicleModel,
    pub station: String,
    pub available_from: OffsetDateTime,
    /// Maintenance and breakdown windows `[from, to)`.
    pub blocked: Vec<(OffsetDateTime, OffsetDateTime)>,
    pub broken: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanShift {
    pub driver_id: String,
    pub shift_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub station: String,
}

/// Why an order of the plan left the demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Picked up (or later): the order service knows which car; the plan stops tracking it.
    HandedOver,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct ReplanInput {
    pub city: City,
    pub plan_id: String,
    pub now: OffsetDateTime,
    pub horizon_end: OffsetDateTime,
    /// What caused the re-plan (e.g. `order:OrderConfirmed`, `fleet:BreakdownReported`, `manual`).
    pub trigger: String,
    pub orders: Vec<PlanOrder>,
    pub vehicles: Vec<PlanVehicle>,
    pub shifts: Vec<PlanShift>,
    /// Orders of the current plan that left the demand, and why (unknown: released).
    pub closed: BTreeMap<String, Closed>,
    pub options: PlanOptions,
}

#[derive(Debug, Clone)]
pub enum PlanCommand {
    Replan(Box<ReplanInput>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The data could not be planned (a configuration the planner refuses); names the field.
    #[error("the city's data cannot be planned: {0}")]
    Instance(String),
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting a valid OffsetDateTime in years 1970..=9999 cannot fail.
    t.format(&Rfc3339).unwrap_or_default()
}

/// Planning works in whole minutes: earlier for a pickup or a window's start, later for a
/// return or a window's end, so a rounded plan is feasible for the real times.
pub fn floor_minute(t: OffsetDateTime) -> OffsetDateTime {
    t - time::Duration::seconds(t.unix_timestamp().rem_euclid(60)) - time::Duration::nanoseconds(t.nanosecond() as i64)
}

pub fn ceil_minute(t: OffsetDateTime) -> OffsetDateTime {
    let f = floor_minute(t);
    if f == t { t } else { f + time::Duration::minutes(1) }
}

pub fn reason_code(r: UnassignedReason) -> &'static str {
    match r {
        UnassignedReason::NoCompatibleModel => "NO_COMPATIBLE_MODEL",
        UnassignedReason::AllCompatibleBlocked => "ALL_COMPATIBLE_BLOCKED",
        UnassignedReason::TooFar => "TOO_FAR",
        UnassignedReason::Capacity => "CAPACITY",
    }
}

/// The planner's instance for `input`, with the plan in force (`state`) as `previous_plan` and
/// the frozen window; and the orders it could not take (unknown stations) with their reasons.
pub fn instance(state: &PlanState, input: &ReplanInput) -> (Instance, BTreeMap<String, (String, String)>) {
    let c = &input.city;
    let stations: Vec<String> = c.stations.keys().cloned().collect();
    let mut travel: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for a in &stations {
        let row = travel.entry(a.clone()).or_default();
        for b in &stations {
            row.insert(b.clone(), c.travel(a, b).map(i64::from).unwrap_or(UNREACHABLE_MINUTES));
        }
    }
    let mut upgrades: BTreeMap<String, Vec<String>> = VehicleModel::ALL
        .iter()
        .map(|m| (m.code().to_owned(), vec![]))
        .collect();
    for (m, ups) in &c.upgrades {
        upgrades.insert(m.code().to_owned(), ups.iter().map(|u| u.code().to_owned()).collect());
    }
    let now = floor_minute(input.now);
    let known = |s: &str| c.stations.contains_key(s);
    let mut unplannable = BTreeMap::new();
    let mut orders = Vec::new();
    for o in &input.orders {
        let bad = [&o.pickup_station, &o.return_station].into_iter().find(|s| !known(s));
        if let Some(s) = bad {
            let what = if s.is_empty() {
                "no station serves the delivery address (configure the city's default station)".to_string()
            } else {
                format!("station {s} is not configured in city {}", c.city)
            };
            unplannable.insert(o.order_id.clone(), (UNKNOWN_STATION.to_owned(), what));
            continue;
        }
        let (p, r) = (floor_minute(o.pickup_at), ceil_minute(o.return_at));
        orders.push(planner::Order {
            id: o.order_id.clone(),
            model: o.model.code().to_owned(),
            pickup_station: o.pickup_station.clone(),
            pickup_at: rfc3339(p),
            return_station: o.return_station.clone(),
            return_at: rfc3339(if r > p { r } else { p + time::Duration::minutes(1) }),
        });
    }
    let vehicles: Vec<planner::Vehicle> = input
        .vehicles
        .iter()
        .filter(|v| known(&v.station))
        .map(|v| planner::Vehicle {
            id: v.vehicle_id.clone(),
            model: v.model.code().to_owned(),
            station: v.station.clone(),
            available_from: rfc3339(ceil_minute(v.available_from.max(input.now))),
            blocked: v
                .blocked
                .iter()
                .filter(|(_, to)| *to > input.now)
                .map(|(f, t)| planner::Window {
                    from: rfc3339(floor_minute(*f)),
                    to: rfc3339(ceil_minute(*t)),
                })
                .collect(),
        })
        .collect();
    let order_ids: BTreeSet<&str> = orders.iter().map(|o| o.id.as_str()).collect();
    let vehicle_ids: BTreeSet<&str> = vehicles.iter().map(|v| v.id.as_str()).collect();
    let mut previous: BTreeMap<String, String> = state
        .assignments
        .iter()
        .filter(|(o, a)| order_ids.contains(o.as_str()) && vehicle_ids.contains(a.vehicle_id.as_str()))
        .map(|(o, a)| (o.clone(), a.vehicle_id.clone()))
        .collect();
    for o in &input.orders {
        if let Some(v) = &o.swap_from
            && order_ids.contains(o.order_id.as_str())
            && vehicle_ids.contains(v.as_str())
        {
            previous.entry(o.order_id.clone()).or_insert_with(|| v.clone());
        }
    }
    let horizon_end = ceil_minute(input.horizon_end.max(input.now + time::Duration::minutes(1)));
    let inst = Instance {
        city: Some(c.city.clone()),
        horizon_start: rfc3339(now),
        horizon_end: rfc3339(horizon_end),
        turnaround_minutes: i64::from(c.turnaround_minutes),
        stations,
        travel_minutes: travel,
        upgrades,
        vehicles,
        orders,
        previous_plan: Some(
            previous
                .into_iter()
                .map(|(order, vehicle)| planner::Assignment { order, vehicle })
                .collect(),
        ),
        frozen: Some(Frozen {
            now: rfc3339(now),
            window_minutes: i64::from(c.frozen_window_minutes),
        }),
    };
    (inst, unplannable)
}

struct Task {
    order_id: String,
    kind: TaskKind,
    from: OffsetDateTime,
    to: OffsetDateTime,
    /// Where the driver starts the task.
    station: String,
    /// Where the driver ends it: `station` again for a delivery or a collection (back from
    /// the address), the destination for a relocation.
    end_station: String,
    address: String,
    vehicle_id: String,
}

/// Delivery and collection tasks go to drivers within their shifts (docs/domain.md): a driver takes
/// a task when a shift of theirs starts early enough to travel from the shift's station to the
/// task's station, ends late enough to come back, and the driver's other tasks leave time to
/// travel between them. Greedy in task order; the driver who had the task keeps it when able
/// (stability), else the one with the fewest tasks, then by id.
fn assign_tasks(input: &ReplanInput, state: &PlanState, tasks: &[Task]) -> BTreeMap<(String, TaskKind), TaskState> {
    let c = &input.city;
    // Per driver: the tasks taken, as (from, to, start station, end station).
    #[allow(clippy::type_complexity)]
    let mut busy: BTreeMap<&str, Vec<(OffsetDateTime, OffsetDateTime, &str, &str)>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for t in tasks {
        let prev = state
            .tasks
            .get(&(t.order_id.clone(), t.kind))
            .and_then(|s| s.driver_id.clone());
        let mut best: Option<(bool, usize, &PlanShift)> = None;
        for s in &input.shifts {
            let (Some(go), Some(back)) = (c.travel(&s.station, &t.station), c.travel(&t.end_station, &s.station))
            else {
                continue;
            };
            if s.from + time::Duration::minutes(go.into()) > t.from
                || t.to + time::Duration::minutes(back.into()) > s.to
            {
                continue;
            }
            let list = busy.get(s.driver_id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let free = list.iter().all(|(bf, bt, start, end)| {
                let after = c
                    .travel(end, &t.station)
                    .is_some_and(|m| *bt + time::Duration::minutes(m.into()) <= t.from);
                let before = c
                    .travel(&t.end_station, start)
                    .is_some_and(|m| t.to + time::Duration::minutes(m.into()) <= *bf);
                after || before
            });
            if !free {
                continue;
            }
            let key = (prev.as_deref() != Some(s.driver_id.as_str()), list.len(), s);
            let better = match &best {
                None => true,
                Some(b) => {
                    (key.0, key.1, &key.2.driver_id, &key.2.shift_id) < (b.0, b.1, &b.2.driver_id, &b.2.shift_id)
                }
            };
            if better {
                best = Some(key);
            }
        }
        let task = match best {
            Some((_, _, s)) => {
                busy.entry(s.driver_id.as_str()).or_default().push((
                    t.from,
                    t.to,
                    t.station.as_str(),
                    t.end_station.as_str(),
                ));
                TaskState {
                    driver_id: Some(s.driver_id.clone()),
                    shift_id: s.shift_id.clone(),
                    to: t.to,
                    reason: String::new(),
                }
            }
            None => TaskState {
                driver_id: None,
                shift_id: String::new(),
                to: t.to,
                reason: if input.shifts.is_empty() {
                    "no driver has a shift in the city".into()
                } else {
                    "no driver's shift covers the task with time to travel".into()
                },
            },
        };
        out.insert((t.order_id.clone(), t.kind), task);
    }
    out
}

/// The plan's relocations as driver tasks: each car's chain of orders, in pickup order, from
/// where the car stands; where an order's pickup station is not where the car is then, a driver
/// drives it there, leaving `travel` before the pickup.
fn relocations(
    input: &ReplanInput,
    assignments: &[planner::Assignment],
    vehicles: &BTreeMap<&str, &PlanVehicle>,
    orders: &BTreeMap<&str, &PlanOrder>,
) -> Vec<Task> {
    let c = &input.city;
    let mut chains: BTreeMap<&str, Vec<&PlanOrder>> = BTreeMap::new();
    for a in assignments {
        if let Some(o) = orders.get(a.order.as_str()) {
            chains.entry(a.vehicle.as_str()).or_default().push(o);
        }
    }
    let mut out = Vec::new();
    for (vehicle, mut chain) in chains {
        let Some(v) = vehicles.get(vehicle) else {
            continue;
        };
        chain.sort_by(|a, b| (a.pickup_at, &a.order_id).cmp(&(b.pickup_at, &b.order_id)));
        let mut here = v.station.as_str();
        for o in chain {
            if o.pickup_station != here
                && !here.is_empty()
                && let Some(m) = c.travel(here, &o.pickup_station)
            {
                out.push(Task {
                    order_id: o.order_id.clone(),
                    kind: TaskKind::Relocation,
                    from: o.pickup_at - time::Duration::minutes(i64::from(m)),
                    to: o.pickup_at,
                    station: here.to_owned(),
                    end_station: o.pickup_station.clone(),
                    address: String::new(),
                    vehicle_id: vehicle.to_owned(),
                });
            }
            here = o.return_station.as_str();
        }
    }
    out
}

pub struct PlanAggregate;

impl PlanAggregate {
    pub fn decide(state: &PlanState, command: &PlanCommand) -> Result<Vec<PlanEvent>, PlanError> {
        let PlanCommand::Replan(input) = command;
        let input = input.as_ref();
        let (inst, unplannable) = instance(state, input);
        let outcome = planner::plan(&inst, &input.options).map_err(|e| PlanError::Instance(e.to_string()))?;
        let now = input.now;
        let plan_id = input.plan_id.clone();
        let vehicles: BTreeMap<&str, &PlanVehicle> =
            input.vehicles.iter().map(|v| (v.vehicle_id.as_str(), v)).collect();
        let orders: BTreeMap<&str, &PlanOrder> = input.orders.iter().map(|o| (o.order_id.as_str(), o)).collect();
        let mut events = Vec::new();

        // Cars: new and moved assignments, in pickup order.
        let mut assigned_now: BTreeMap<&str, &str> = BTreeMap::new();
        for a in &outcome.plan.assignments {
            assigned_now.insert(a.order.as_str(), a.vehicle.as_str());
            let (Some(v), Some(o)) = (vehicles.get(a.vehicle.as_str()), orders.get(a.order.as_str())) else {
                continue;
            };
            let upgrade = v.model != o.model;
            let before = state
                .assignments
                .get(&a.order)
                .map(|x| x.vehicle_id.clone())
                .or_else(|| o.swap_from.clone());
            match before {
                None => events.push(PlanEvent::VehicleAssigned(VehicleAssigned {
                    order_id: a.order.clone(),
                    vehicle_id: v.vehicle_id.clone(),
                    plate: v.plate.clone(),
                    model: v.model,
                    upgrade,
                    plan_id: plan_id.clone(),
                    assigned_at: now,
                })),
                Some(from) if from != a.vehicle || !state.assignments.contains_key(&a.order) => {
                    let broken = vehicles.get(from.as_str()).is_some_and(|f| f.broken);
                    let reason = if o.swap_from.as_deref() == Some(from.as_str()) {
                        format!("swap: {from} broke down during the hire")
                    } else if broken {
                        format!("breakdown of {from}")
                    } else {
                        "re-planned".to_owned()
                    };
                    events.push(PlanEvent::VehicleReassigned(VehicleReassigned {
                        order_id: a.order.clone(),
                        from_vehicle_id: from,
                        vehicle_id: v.vehicle_id.clone(),
                        plate: v.plate.clone(),
                        model: v.model,
                        upgrade,
                        plan_id: plan_id.clone(),
                        reason,
                        assigned_at: now,
                    }));
                }
                Some(_) => {}
            }
        }

        // Orders without a car: why, from the planner or from the booking itself.
        let mut risk: BTreeMap<String, (String, String)> = unplannable;
        for e in &outcome.explanations {
            risk.insert(
                e.order.clone(),
                (reason_code(e.reason).to_owned(), e.reason.to_string()),
            );
        }

        // Orders of the plan in force that lost their car.
        let mut closed = Vec::new();
        for (order, a) in &state.assignments {
            if assigned_now.contains_key(order.as_str()) {
                continue;
            }
            let reason = match (input.closed.get(order), risk.get(order)) {
                (Some(Closed::HandedOver), _) => {
                    closed.push(order.clone());
                    continue;
                }
                (Some(Closed::Cancelled), _) => "order cancelled".to_owned(),
                (None, Some((_, why))) => format!("no car can serve it: {why}"),
                (None, None) => {
                    "no longer in the plan's demand (not confirmed, changed or outside the horizon)".to_owned()
                }
            };
            events.push(PlanEvent::AssignmentReleased(AssignmentReleased {
                order_id: order.clone(),
                vehicle_id: a.vehicle_id.clone(),
                reason,
                plan_id: plan_id.clone(),
                released_at: now,
            }));
        }
        for (order, (code, why)) in &risk {
            if state.at_risk.get(order) == Some(&(code.clone(), why.clone())) {
                continue;
            }
            events.push(PlanEvent::OrderAtRisk(OrderAtRisk {
                order_id: order.clone(),
                reason: code.clone(),
                explanation: why.clone(),
                plan_id: plan_id.clone(),
                flagged_at: now,
            }));
        }
        for order in state.at_risk.keys() {
            if !risk.contains_key(order) && !assigned_now.contains_key(order.as_str()) {
                closed.push(order.clone());
            }
        }

        // Drivers: delivery and collection tasks of the orders that have a car.
        let d = time::Duration::minutes(i64::from(input.city.delivery_minutes));
        let mut tasks = Vec::new();
        for a in &outcome.plan.assignments {
            let Some(o) = orders.get(a.order.as_str()) else {
                continue;
            };
            if let Some(addr) = &o.delivery_address {
                tasks.push(Task {
                    order_id: o.order_id.clone(),
                    kind: TaskKind::Delivery,
                    from: o.pickup_at - d,
                    to: o.pickup_at + d,
                    station: o.pickup_station.clone(),
                    end_station: o.pickup_station.clone(),
                    address: addr.clone(),
                    vehicle_id: String::new(),
                });
            }
            if let Some(addr) = &o.collection_address {
                tasks.push(Task {
                    order_id: o.order_id.clone(),
                    kind: TaskKind::Collection,
                    from: o.return_at - d,
                    to: o.return_at + d,
                    station: o.return_station.clone(),
                    end_station: o.return_station.clone(),
                    address: addr.clone(),
                    vehicle_id: String::new(),
                });
            }
        }
        tasks.extend(relocations(input, &outcome.plan.assignments, &vehicles, &orders));
        // Tasks already under way keep their driver.
        tasks.retain(|t| t.from > now);
        tasks.sort_by(|a, b| (a.from, &a.order_id, a.kind).cmp(&(b.from, &b.order_id, b.kind)));
        let new_tasks = assign_tasks(input, state, &tasks);
        let driver_minutes: i64 = tasks.iter().map(|t| (t.to - t.from).whole_minutes()).sum();
        for t in &tasks {
            let key = (t.order_id.clone(), t.kind);
            let (Some(new), old) = (new_tasks.get(&key), state.tasks.get(&key)) else {
                continue;
            };
            if old == Some(new) {
                continue;
            }
            match &new.driver_id {
                Some(driver) => {
                    if old.is_some_and(|o| o.driver_id.as_ref() == Some(driver) && o.shift_id == new.shift_id) {
                        continue;
                    }
                    events.push(PlanEvent::DriverTaskAssigned(DriverTaskAssigned {
                        order_id: t.order_id.clone(),
                        kind: t.kind,
                        driver_id: driver.clone(),
                        shift_id: new.shift_id.clone(),
                        from: t.from,
                        to: t.to,
                        station: t.station.clone(),
                        address: t.address.clone(),
                        plan_id: plan_id.clone(),
                        to_station: if t.kind == TaskKind::Relocation {
                            t.end_station.clone()
                        } else {
                            String::new()
                        },
                        vehicle_id: t.vehicle_id.clone(),
                    }))
                }
                None => {
                    if old.is_some_and(|o| o.driver_id.is_none() && o.reason == new.reason) {
                        continue;
                    }
                    events.push(PlanEvent::DriverTaskUnassigned(DriverTaskUnassigned {
                        order_id: t.order_id.clone(),
                        kind: t.kind,
                        reason: new.reason.clone(),
                        plan_id: plan_id.clone(),
                        previous_driver_id: old.and_then(|o| o.driver_id.clone()),
                        withdrawn: false,
                    }))
                }
            }
        }
        let closed_set: BTreeSet<&String> = closed.iter().collect();
        for ((order, kind), old) in &state.tasks {
            if old.to > now && !new_tasks.contains_key(&(order.clone(), *kind)) && !closed_set.contains(order) {
                events.push(PlanEvent::DriverTaskUnassigned(DriverTaskUnassigned {
                    order_id: order.clone(),
                    kind: *kind,
                    reason: "the task is no longer needed".into(),
                    plan_id: plan_id.clone(),
                    previous_driver_id: old.driver_id.clone(),
                    withdrawn: true,
                }));
            }
        }
        if !closed.is_empty() {
            events.push(PlanEvent::PlanOrdersClosed(PlanOrdersClosed {
                order_ids: closed,
                reason: "handed over, or left the demand while at risk".into(),
                plan_id: plan_id.clone(),
            }));
        }

        if events.len() > MAX_CHANGES {
            events.truncate(MAX_CHANGES);
            return Ok(events);
        }
        let r = &outcome.report;
        let published = PlanPublished {
            city: input.city.city.clone(),
            plan_id,
            planned_at: now,
            orders: (r.orders + risk.len() - outcome.explanations.len()) as u32,
            fulfilled: r.fulfilled as u32,
            upgrades: r.upgrades as u32,
            relocation_minutes: r.relocation_minutes,
            moved_from_previous: r.moved_from_previous as u32,
            fulfilment_rate: if r.orders + risk.len() - outcome.explanations.len() == 0 {
                1.0
            } else {
                r.fulfilled as f64 / (r.orders + risk.len() - outcome.explanations.len()) as f64
            },
            idle_rate: r.idle_rate,
            proven_optimal: r.proven_optimal,
            upper_bound_fulfilled: r.upper_bound_fulfilled as u32,
            trigger: input.trigger.clone(),
            driver_minutes,
        };
        let same_kpis = state.last.as_ref().is_some_and(|l| {
            l.orders == published.orders
                && l.fulfilled == published.fulfilled
                && l.upgrades == published.upgrades
                && l.relocation_minutes == published.relocation_minutes
                && l.driver_minutes == published.driver_minutes
                && l.upper_bound_fulfilled == published.upper_bound_fulfilled
        });
        // A re-plan that changes nothing publishes nothing (a burst of triggers stays quiet),
        // unless someone asked for it.
        if !events.is_empty() || !same_kpis || input.trigger == "manual" {
            events.push(PlanEvent::PlanPublished(published));
        }
        Ok(events)
    }

    pub fn evolve(mut state: PlanState, event: &PlanEvent) -> PlanState {
        match event {
            PlanEvent::VehicleAssigned(e) => {
                state.at_risk.remove(&e.order_id);
                state.assignments.insert(
                    e.order_id.clone(),
                    Assigned {
                        vehicle_id: e.vehicle_id.clone(),
                        plate: e.plate.clone(),
                        model: e.model,
                        upgrade: e.upgrade,
                    },
                );
            }
            PlanEvent::VehicleReassigned(e) => {
                state.at_risk.remove(&e.order_id);
                state.assignments.insert(
                    e.order_id.clone(),
                    Assigned {
                        vehicle_id: e.vehicle_id.clone(),
                        plate: e.plate.clone(),
                        model: e.model,
                        upgrade: e.upgrade,
                    },
                );
            }
            PlanEvent::AssignmentReleased(e) => {
                state.assignments.remove(&e.order_id);
            }
            PlanEvent::OrderAtRisk(e) => {
                state.assignments.remove(&e.order_id);
                state
                    .at_risk
                    .insert(e.order_id.clone(), (e.reason.clone(), e.explanation.clone()));
            }
            PlanEvent::DriverTaskAssigned(e) => {
                state.tasks.insert(
                    (e.order_id.clone(), e.kind),
                    TaskState {
                        driver_id: Some(e.driver_id.clone()),
                        shift_id: e.shift_id.clone(),
                        to: e.to,
                        reason: String::new(),
                    },
                );
            }
            PlanEvent::DriverTaskUnassigned(e) => {
                let key = (e.order_id.clone(), e.kind);
                if e.withdrawn {
                    state.tasks.remove(&key);
                } else {
                    let to = state
                        .tasks
                        .get(&key)
                        .map(|t| t.to)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    state.tasks.insert(
                        key,
                        TaskState {
                            driver_id: None,
                            shift_id: String::new(),
                            // The epoch for a task flagged from the start: it is planned afresh
                            // each time while its order needs it.
                            to,
                            reason: e.reason.clone(),
                        },
                    );
                }
            }
            PlanEvent::PlanOrdersClosed(e) => {
                for o in &e.order_ids {
                    state.assignments.remove(o);
                    state.at_risk.remove(o);
                    state.tasks.retain(|(order, _), _| order != o);
                }
            }
            PlanEvent::PlanPublished(e) => state.last = Some(e.clone()),
        }
        state
    }
}

impl Aggregate for PlanAggregate {
    const TYPE: &'static str = "plan";
    type State = PlanState;
    type Command = PlanCommand;
    type Event = PlanEvent;
    type Error = PlanError;

    fn decide(state: &PlanState, command: &PlanCommand) -> Result<Vec<PlanEvent>, PlanError> {
        Self::decide(state, command)
    }

    fn evolve(state: PlanState, event: &PlanEvent) -> PlanState {
        Self::evolve(state, event)
    }
}

impl EventCodec for PlanAggregate {
    type Event = PlanEvent;

    fn name(event: &PlanEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &PlanEvent) -> Vec<u8> {
        event.encode()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<PlanEvent, DecodeError> {
        PlanEvent::decode(name, payload)
    }
}
