//! Re-planning a city: the demand and the fleet read from the projections become one `Replan`
//! command on the city's plan aggregate (see `domain::plan` for why `decide` plans).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, TraceContext, trace};
use rentops_planner::PlanOptions;
use rentops_projection::Db;
use rentops_runtime::Clock;
use sqlx::Row;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::VehicleModel;
use crate::domain::city::City;
use crate::domain::plan::*;
use crate::projections::queries::{self, QueryError};
use crate::projections::{from_micros, micros};

#[derive(Debug, Clone)]
pub struct ReplanSettings {
    /// `RENTOPS_FLEET_HORIZON_HOURS`: a plan covers now .. now + horizon.
    pub horizon: time::Duration,
    /// `RENTOPS_FLEET_REPLAN_DEBOUNCE_MS`: how long requests of a city are gathered.
    pub debounce: Duration,
    pub options: PlanOptions,
    /// `RENTOPS_FLEET_HANDOVER_GRACE_MINUTES` (docs/domain.md: 30): an order counts as fulfilled
    /// when its car is handed over no later than pickup + this.
    pub handover_grace: time::Duration,
    /// `RENTOPS_FLEET_LATE_PICKUP_GRACE_HOURS` (24): a confirmed order not picked up yet whose
    /// pickup is further back than this is the desk's (a no-show or a late handover), no longer
    /// the planner's.
    pub late_pickup_grace: time::Duration,
}

impl Default for ReplanSettings {
    fn default() -> Self {
        Self {
            horizon: time::Duration::days(7),
            debounce: Duration::from_millis(300),
            options: PlanOptions::default(),
            handover_grace: time::Duration::minutes(30),
            late_pickup_grace: time::Duration::hours(24),
        }
    }
}

/// The `Replan` input for `city` as of `now`, from the projections.
pub async fn build_input(
    db: &Db,
    city: &City,
    now: OffsetDateTime,
    settings: &ReplanSettings,
    plan_id: String,
    trigger: String,
) -> Result<ReplanInput, QueryError> {
    let horizon_end = now + settings.horizon;
    let demand = queries::demand(db, &city.city, now - settings.late_pickup_grace, horizon_end).await?;
    let vehicles = queries::all_vehicles(db, &city.city).await?;
    let by_order: BTreeMap<&str, &queries::DemandRow> = demand.iter().map(|d| (d.order_id.as_str(), d)).collect();
    // Which car each hire under way has, from the demand itself: the car really handed over
    // (whichever the plan held), or a swap's replacement. The vehicle's own on-hire state
    // follows a moment later, through its reading.
    let on_hire: BTreeMap<&str, &queries::DemandRow> = demand
        .iter()
        .filter(|d| d.status == "PICKED_UP" && !d.on_hire_vehicle_id.is_empty())
        .map(|d| (d.on_hire_vehicle_id.as_str(), d))
        .collect();
    let station_of = |station: &str, address: &str| -> (String, Option<String>) {
        if station.is_empty() {
            (
                city.station_for_address(address).unwrap_or_default(),
                Some(address.to_owned()),
            )
        } else {
            (station.to_owned(), None)
        }
    };
    let mut orders = Vec::new();
    for d in demand.iter().filter(|d| d.status == "CONFIRMED") {
        let Some(model) = VehicleModel::parse(&d.model).ok() else {
            continue;
        };
        let (pickup_station, delivery_address) = station_of(&d.pickup_station, &d.pickup_address);
        let (return_station, collection_address) = station_of(&d.return_station, &d.return_address);
        orders.push(PlanOrder {
            order_id: d.order_id.clone(),
            model,
            pickup_station,
            pickup_at: d.pickup_at,
            return_station,
            return_at: d.return_at,
            delivery_address,
            collection_address,
            swap_from: None,
        });
    }
    let mut plan_vehicles = Vec::new();
    for v in &vehicles {
        if v.retired_at.is_some() {
            continue;
        }
        let mut blocked: Vec<(OffsetDateTime, OffsetDateTime)> = v.maintenance.iter().map(|w| (w.from, w.to)).collect();
        let mut station = v.station.clone();
        let mut available_from = now;
        if let Some(b) = &v.breakdown {
            blocked.push((
                b.at,
                b.expected_repair_until
                    .unwrap_or(horizon_end)
                    .max(now + time::Duration::minutes(1)),
            ));
            // docs/domain.md: a car that breaks down during a hire is swapped: the customer needs
            // another car now, where the breakdown happened.
            if let Some(o) = b.during_order_id.as_deref().and_then(|o| by_order.get(o))
                && o.status == "PICKED_UP"
                // Not swapped yet: the broken car is still the one on hire.
                && o.on_hire_vehicle_id == v.vehicle_id
                && o.return_at > now
                && let Some(model) = VehicleModel::parse(&o.model).ok()
            {
                let here = if city.stations.contains_key(&b.place) {
                    b.place.clone()
                } else {
                    city.station_for_address(&b.place).unwrap_or_default()
                };
                let (return_station, collection_address) = station_of(&o.return_station, &o.return_address);
                orders.push(PlanOrder {
                    order_id: o.order_id.clone(),
                    model,
                    pickup_station: here,
                    pickup_at: ceil_minute(b.at.max(now)),
                    return_station,
                    return_at: o.return_at,
                    delivery_address: None,
                    collection_address,
                    swap_from: Some(v.vehicle_id.clone()),
                });
            }
        } else if let Some(o) = on_hire.get(v.vehicle_id.as_str()).copied().or_else(|| {
            v.on_hire_order_id
                .as_deref()
                .and_then(|o| by_order.get(o).copied())
                // Its reading may lag the demand: a car swapped out of this hire is not on it.
                .filter(|o| o.on_hire_vehicle_id == v.vehicle_id)
        }) {
            // On hire: free again where and when the customer brings it back (as booked),
            // after the turnaround (its charge then is not known yet).
            let (s, _) = station_of(&o.return_station, &o.return_address);
            station = s;
            available_from = (o.return_at + minutes(city.turnaround_minutes)).max(now);
        } else if let Some(back) = v.readings_at {
            // Back from its last hire: it may leave once turned around, longer when its charge
            // was read low (the city's low-charge rule).
            available_from = (back + minutes(city.turnaround_after(v.charge_percent))).max(now);
        }
        plan_vehicles.push(PlanVehicle {
            vehicle_id: v.vehicle_id.clone(),
            plate: v.plate.clone(),
            model: v.model,
            station,
            available_from,
            blocked,
            broken: v.breakdown.is_some(),
        });
    }
    let mut shifts = Vec::new();
    for d in queries::drivers(db, &city.city, "", 10_000).await? {
        for s in d.shifts.iter().filter(|s| s.to > now) {
            shifts.push(PlanShift {
                driver_id: d.driver_id.clone(),
                shift_id: s.shift_id.clone(),
                from: s.from,
                to: s.to,
                station: s.station.clone(),
            });
        }
    }
    let in_demand: std::collections::BTreeSet<&str> = orders.iter().map(|o| o.order_id.as_str()).collect();
    let closed = queries::demand_status(db, &city.city)
        .await?
        .into_iter()
        .filter(|(o, _)| !in_demand.contains(o.as_str()))
        .filter_map(|(o, status)| match status.as_str() {
            "PICKED_UP" | "RETURNED" | "COMPLETED" => Some((o, Closed::HandedOver)),
            "CANCELLED" | "NO_SHOW" => Some((o, Closed::Cancelled)),
            _ => None,
        })
        .collect();
    Ok(ReplanInput {
        city: city.clone(),
        plan_id,
        now,
        horizon_end,
        trigger,
        orders,
        vehicles: plan_vehicles,
        shifts,
        closed,
        options: settings.options.clone(),
    })
}

fn minutes(m: u32) -> time::Duration {
    time::Duration::minutes(i64::from(m))
}

/// The plan id of a re-plan: derived from its request id, so a retried decision names the
/// same plan.
pub fn plan_id(request_id: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, request_id.as_bytes()).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ReplanError {
    #[error("city {0} is not configured")]
    NoCity(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The plan aggregate refused the re-plan, or the log could not take it.
    #[error(transparent)]
    Execute(#[from] ExecuteError<PlanError>),
    /// Every decision was overtaken by newer data, 100 times in a row.
    #[error("the re-plan of city {0} did not converge in 100 decisions; try again")]
    NotConverged(String),
}

/// What a re-plan did.
#[derive(Debug, Clone)]
pub struct ReplanDone {
    pub sequence: u64,
    pub events_appended: u32,
    pub state: PlanState,
}

/// Re-plans `city` now under `request_id`: plans, appends, and repeats while a decision had to
/// be split (more than [`MAX_CHANGES`] changes). Records the KPIs as metrics.
#[allow(clippy::too_many_arguments)]
pub async fn replan_city(
    plans: &CommandHandler<PlanAggregate>,
    db: &Db,
    city: &str,
    now: OffsetDateTime,
    settings: &ReplanSettings,
    request_id: &str,
    actor: &str,
    trigger: &str,
) -> Result<ReplanDone, ReplanError> {
    let started = Instant::now();
    let (config, _) = queries::city(db, city)
        .await?
        .ok_or_else(|| ReplanError::NoCity(city.to_owned()))?;
    let plan_id = plan_id(request_id);
    let mut total = 0;
    for part in 0..100u32 {
        let rid = if part == 0 {
            request_id.to_owned()
        } else {
            format!("{request_id}#{part}")
        };
        let input = build_input(db, &config, now, settings, plan_id.clone(), trigger.to_owned()).await?;
        let meta = CommandMeta {
            request_id: rid,
            // Its id is derived from what caused it: nobody reuses it by mistake.
            fingerprint: None,
            correlation_id: request_id.to_owned(),
            causation_id: request_id.to_owned(),
            actor: actor.to_owned(),
            time: now,
        };
        let done = plans
            .execute(city, &meta, &PlanCommand::Replan(Box::new(input)), false)
            .await
            .map_err(ReplanError::Execute)?;
        total += done.events_appended;
        let complete = done.events_appended == 0
            || done.replayed
            || done.state.last.as_ref().is_some_and(|l| l.plan_id == plan_id);
        if complete {
            metrics::histogram!("rentops_fleet_replan_seconds", "city" => city.to_owned())
                .record(started.elapsed().as_secs_f64());
            if let Some(last) = &done.state.last {
                metrics::gauge!("rentops_fleet_plan_fulfilment_rate", "city" => city.to_owned())
                    .set(last.fulfilment_rate);
                metrics::gauge!("rentops_fleet_plan_idle_rate", "city" => city.to_owned()).set(last.idle_rate);
            }
            metrics::gauge!("rentops_fleet_plan_at_risk_orders", "city" => city.to_owned())
                .set(done.state.at_risk.len() as f64);
            return Ok(ReplanDone {
                sequence: done.sequence,
                events_appended: total,
                state: done.state,
            });
        }
    }
    Err(ReplanError::NotConverged(city.to_owned()))
}

/// One pass over the pending requests: re-plans every city whose requests are due. Returns how
/// long to wait until the next city's requests fall due, if some are still gathering.
pub async fn once(
    plans: &CommandHandler<PlanAggregate>,
    db: &Db,
    clock: &dyn Clock,
    settings: &ReplanSettings,
) -> Result<Option<Duration>, ReplanError> {
    let rows =
        sqlx::query("SELECT city, MAX(urgent), MIN(recorded_at_us) FROM replan_requests GROUP BY city ORDER BY city")
            .fetch_all(&db.pool)
            .await
            .map_err(QueryError::from)?;
    let now_us = micros(OffsetDateTime::now_utc());
    let debounce_us = settings.debounce.as_micros() as i64;
    let mut next_wait: Option<Duration> = None;
    for r in rows {
        let city: String = r.get(0);
        let urgent = r.get::<i64, _>(1) == 1;
        let first: i64 = r.get(2);
        if !urgent && now_us - first < debounce_us {
            let wait = Duration::from_micros((debounce_us - (now_us - first)).max(1) as u64);
            next_wait = Some(next_wait.map_or(wait, |w| w.min(wait)));
            continue;
        }
        // Everything asked so far for this city is covered by this one re-plan.
        let requests = sqlx::query(
            "SELECT source, sequence, event_id, reason, traceparent, tracestate FROM replan_requests WHERE city = $1 \
             ORDER BY recorded_at_us, source, sequence",
        )
        .bind(city.clone())
        .fetch_all(&db.pool)
        .await
        .map_err(QueryError::from)?;
        let (mut order_max, mut fleet_max) = (0i64, 0i64);
        let mut newest = (String::new(), String::new());
        let mut traces = Vec::new();
        for q in &requests {
            let source: String = q.get(0);
            let seq: i64 = q.get(1);
            if source == "order" {
                order_max = order_max.max(seq);
            } else {
                fleet_max = fleet_max.max(seq);
            }
            newest = (q.get(2), q.get(3));
            let traceparent: String = q.get(4);
            let tracestate: String = q.get(5);
            if !traceparent.is_empty() {
                traces.push(TraceContext {
                    traceparent,
                    tracestate: (!tracestate.is_empty()).then_some(tracestate),
                });
            }
        }
        // One re-plan answers every change gathered: it continues the newest one's trace and
        // links the others', so each change's trace leads to the plan it got.
        let span = tracing::info_span!("replan", %city, requests = requests.len(), trigger = %newest.1);
        if let Some((newest_trace, others)) = traces.split_last() {
            trace::continue_trace(&span, newest_trace);
            for other in others {
                trace::link_trace(&span, other);
            }
        }
        let request_id = format!("replan:{}", newest.0);
        let result = replan_city(
            plans,
            db,
            &city,
            clock.now(),
            settings,
            &request_id,
            "system:fleet-replan",
            &newest.1,
        )
        .instrument(span)
        .await;
        match result {
            Ok(done) => tracing::info!(%city, events = done.events_appended, trigger = %newest.1, "city re-planned"),
            Err(ReplanError::NoCity(_)) => {
                tracing::info!(%city, "demand or supply changed in a city not configured yet; nothing to plan")
            }
            Err(e @ ReplanError::Execute(ExecuteError::Domain(PlanError::Instance(_)))) => {
                tracing::error!(%city, error = %e, "the city's data cannot be planned; fix the configuration")
            }
            Err(e) => return Err(e),
        }
        sqlx::query(
            "DELETE FROM replan_requests WHERE city = $1 AND ((source = 'order' AND sequence <= $2) OR (source = 'fleet' AND sequence <= $3))",
        )
        .bind(city)
        .bind(order_max)
        .bind(fleet_max)
        .execute(&db.pool)
        .await
        .map_err(QueryError::from)?;
    }
    Ok(next_wait)
}

/// Seconds since a request was recorded, for logs.
pub fn age(recorded_at_us: i64) -> time::Duration {
    OffsetDateTime::now_utc() - from_micros(recorded_at_us)
}
