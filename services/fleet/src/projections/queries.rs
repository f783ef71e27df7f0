//! Queries over the fleet's read models. They read only the projections, never the event log.

use std::collections::BTreeMap;

use rentops_projection::Db;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

use super::{from_micros, micros};
use crate::domain::city::City;
use crate::domain::driver::Driver;
use crate::domain::vehicle::Vehicle;

pub use rentops_projection::QueryError;

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, QueryError> {
    serde_json::from_str(json).map_err(|e| QueryError::Corrupt(e.into()))
}

pub async fn city(db: &Db, city: &str) -> Result<Option<(City, u64)>, QueryError> {
    let row = sqlx::query("SELECT state, last_sequence FROM cities WHERE city = $1")
        .bind(city.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok((parse(&r.get::<String, _>(0))?, r.get::<i64, _>(1) as u64)))
        .transpose()
}

pub async fn driver_city(db: &Db, id: &str) -> Result<Option<String>, QueryError> {
    let row = sqlx::query("SELECT city FROM drivers WHERE driver_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn vehicle(db: &Db, id: &str) -> Result<Option<(Vehicle, u64)>, QueryError> {
    let row = sqlx::query("SELECT state, last_sequence FROM vehicles WHERE vehicle_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok((parse(&r.get::<String, _>(0))?, r.get::<i64, _>(1) as u64)))
        .transpose()
}

#[derive(Debug, Clone, Default)]
pub struct VehicleFilter {
    pub city: Option<String>,
    pub model: Option<String>,
    pub station: Option<String>,
}

/// Vehicles by id, after `after` (the page token), at most `limit`.
pub async fn vehicles(
    db: &Db,
    f: &VehicleFilter,
    after: &str,
    limit: usize,
) -> Result<Vec<(Vehicle, u64)>, QueryError> {
    let mut sql = String::from("SELECT state, last_sequence FROM vehicles WHERE vehicle_id > $1");
    let mut binds = vec![after.to_owned()];
    for (col, v) in [("city", &f.city), ("model", &f.model), ("station", &f.station)] {
        if let Some(v) = v {
            binds.push(v.clone());
            sql += &format!(" AND {col} = ${}", binds.len());
        }
    }
    sql += &format!(" ORDER BY vehicle_id LIMIT {limit}");
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| Ok((parse(&r.get::<String, _>(0))?, r.get::<i64, _>(1) as u64)))
        .collect()
}

pub async fn all_vehicles(db: &Db, city: &str) -> Result<Vec<Vehicle>, QueryError> {
    let rows = sqlx::query("SELECT state FROM vehicles WHERE city = $1 ORDER BY vehicle_id")
        .bind(city.to_owned())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| parse(&r.get::<String, _>(0))).collect()
}

pub async fn drivers(db: &Db, city: &str, after: &str, limit: usize) -> Result<Vec<Driver>, QueryError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT state FROM drivers WHERE city = $1 AND driver_id > $2 ORDER BY driver_id LIMIT {limit}"
    )))
    .bind(city.to_owned())
    .bind(after.to_owned())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| parse(&r.get::<String, _>(0))).collect()
}

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub order_id: String,
    pub kind: String,
    pub driver_id: String,
    pub shift_id: String,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub station: String,
    pub address: String,
    pub flagged: bool,
    pub reason: String,
    /// A relocation's destination and car (empty otherwise).
    pub to_station: String,
    pub vehicle_id: String,
}

pub async fn tasks(db: &Db, city: &str, driver: Option<&str>, flagged_only: bool) -> Result<Vec<TaskRow>, QueryError> {
    let mut sql = String::from(
        "SELECT order_id, kind, driver_id, shift_id, from_us, to_us, station, address, flagged, reason, \
         to_station, vehicle_id FROM driver_tasks WHERE city = $1",
    );
    if driver.is_some() {
        sql += " AND driver_id = $2";
    }
    if flagged_only {
        sql += " AND flagged = 1";
    }
    sql += " ORDER BY from_us, order_id, kind";
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(city.to_owned());
    if let Some(d) = driver {
        q = q.bind(d.to_owned());
    }
    Ok(q.fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| TaskRow {
            order_id: r.get(0),
            kind: r.get(1),
            driver_id: r.get(2),
            shift_id: r.get(3),
            from: r.get::<Option<i64>, _>(4).map(from_micros),
            to: r.get::<Option<i64>, _>(5).map(from_micros),
            station: r.get(6),
            address: r.get(7),
            flagged: r.get::<i64, _>(8) == 1,
            reason: r.get(9),
            to_station: r.get(10),
            vehicle_id: r.get(11),
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct AssignmentRow {
    pub order_id: String,
    pub vehicle_id: String,
    pub plate: String,
    pub model: String,
    pub upgrade: bool,
    pub plan_id: String,
    pub assigned_at: OffsetDateTime,
}

pub async fn assignments(db: &Db, city: &str) -> Result<Vec<AssignmentRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT order_id, vehicle_id, plate, model, upgrade, plan_id, assigned_at_us FROM plan_assignments \
         WHERE city = $1 ORDER BY order_id",
    )
    .bind(city.to_owned())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AssignmentRow {
            order_id: r.get(0),
            vehicle_id: r.get(1),
            plate: r.get(2),
            model: r.get(3),
            upgrade: r.get::<i64, _>(4) == 1,
            plan_id: r.get(5),
            assigned_at: from_micros(r.get(6)),
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct AtRiskRow {
    pub order_id: String,
    pub reason: String,
    pub explanation: String,
    pub plan_id: String,
    pub flagged_at: OffsetDateTime,
}

pub async fn at_risk(db: &Db, city: &str) -> Result<Vec<AtRiskRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT order_id, reason, explanation, plan_id, flagged_at_us FROM plan_at_risk WHERE city = $1 ORDER BY order_id",
    )
    .bind(city.to_owned())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AtRiskRow {
            order_id: r.get(0),
            reason: r.get(1),
            explanation: r.get(2),
            plan_id: r.get(3),
            flagged_at: from_micros(r.get(4)),
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub sequence: u64,
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
    pub at_risk: u32,
    pub driver_minutes: i64,
}

/// Plans of a city, newest first, before sequence `before` (0: from the newest).
pub async fn history(db: &Db, city: &str, before: u64, limit: usize) -> Result<Vec<HistoryRow>, QueryError> {
    let before = if before == 0 { i64::MAX } else { before as i64 };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT sequence, plan_id, planned_at_us, orders, fulfilled, upgrades, relocation_minutes, \
         moved_from_previous, fulfilment_rate, idle_rate, proven_optimal, upper_bound_fulfilled, plan_trigger, at_risk, \
         driver_minutes FROM plan_history WHERE city = $1 AND sequence < $2 ORDER BY sequence DESC LIMIT {limit}"
    )))
    .bind(city.to_owned())
    .bind(before)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryRow {
            sequence: r.get::<i64, _>(0) as u64,
            plan_id: r.get(1),
            planned_at: from_micros(r.get(2)),
            orders: r.get::<i64, _>(3) as u32,
            fulfilled: r.get::<i64, _>(4) as u32,
            upgrades: r.get::<i64, _>(5) as u32,
            relocation_minutes: r.get(6),
            moved_from_previous: r.get::<i64, _>(7) as u32,
            fulfilment_rate: r.get(8),
            idle_rate: r.get(9),
            proven_optimal: r.get::<i64, _>(10) == 1,
            upper_bound_fulfilled: r.get::<i64, _>(11) as u32,
            trigger: r.get(12),
            at_risk: r.get::<i64, _>(13) as u32,
            driver_minutes: r.get(14),
        })
        .collect())
}

/// One order as the demand projection holds it.
#[derive(Debug, Clone)]
pub struct DemandRow {
    pub order_id: String,
    pub status: String,
    pub confirmed: bool,
    pub cancelled_by: String,
    pub model: String,
    pub pickup_station: String,
    pub pickup_address: String,
    pub pickup_at: OffsetDateTime,
    pub return_station: String,
    pub return_address: String,
    pub return_at: OffsetDateTime,
    /// The car handed over at pickup (empty before).
    pub vehicle_id: String,
    pub picked_up_at: Option<OffsetDateTime>,
    pub returned_at: Option<OffsetDateTime>,
    /// The car on hire now (or last): the car handed over, or the last swap's replacement.
    pub on_hire_vehicle_id: String,
}

const DEMAND_COLS: &str = "order_id, status, confirmed, cancelled_by, model, pickup_station, pickup_address, pickup_at_us, \
     return_station, return_address, return_at_us, vehicle_id, picked_up_at_us, returned_at_us, \
     COALESCE(NULLIF(on_hire_vehicle_id, ''), vehicle_id)";

fn demand_row(r: &sqlx::any::AnyRow) -> DemandRow {
    DemandRow {
        order_id: r.get(0),
        status: r.get(1),
        confirmed: r.get::<i64, _>(2) == 1,
        cancelled_by: r.get(3),
        model: r.get(4),
        pickup_station: r.get(5),
        pickup_address: r.get(6),
        pickup_at: from_micros(r.get(7)),
        return_station: r.get(8),
        return_address: r.get(9),
        return_at: from_micros(r.get(10)),
        vehicle_id: r.get(11),
        picked_up_at: r.get::<Option<i64>, _>(12).map(from_micros),
        returned_at: r.get::<Option<i64>, _>(13).map(from_micros),
        on_hire_vehicle_id: r.get(14),
    }
}

/// Orders of a city with pickup in `[from, to)`, or still on hire (picked up, not returned).
pub async fn demand(
    db: &Db,
    city: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<DemandRow>, QueryError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DEMAND_COLS} FROM demand_orders WHERE city = $1 AND ((pickup_at_us >= $2 AND pickup_at_us < $3) \
         OR status = 'PICKED_UP') ORDER BY pickup_at_us, order_id"
    )))
    .bind(city.to_owned())
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(demand_row).collect())
}

/// Orders by id (those the plan in force tracks), to learn why one left the demand.
pub async fn demand_status(db: &Db, city: &str) -> Result<BTreeMap<String, String>, QueryError> {
    let rows = sqlx::query(
        "SELECT d.order_id, d.status FROM demand_orders d WHERE d.city = $1 AND (d.order_id IN \
         (SELECT order_id FROM plan_assignments WHERE city = $1) OR d.order_id IN (SELECT order_id FROM plan_at_risk WHERE city = $1))",
    )
    .bind(city.to_owned())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A vehicle carried a plate over `[from, to)` (`to` `None`: it carries it now).
#[derive(Debug, Clone, PartialEq)]
pub struct PlateCarrier {
    pub vehicle_id: String,
    pub from: OffsetDateTime,
    pub to: Option<OffsetDateTime>,
}

/// Who carried `plate` (compact form), oldest first.
pub async fn plate_carriers(db: &Db, plate: &str) -> Result<Vec<PlateCarrier>, QueryError> {
    let rows = sqlx::query(
        "SELECT vehicle_id, from_us, to_us FROM plate_history WHERE plate = $1 ORDER BY from_us, vehicle_id",
    )
    .bind(plate.to_owned())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| PlateCarrier {
            vehicle_id: r.get(0),
            from: from_micros(r.get(1)),
            to: r.get::<Option<i64>, _>(2).map(from_micros),
        })
        .collect())
}

/// One car's part of a hire: on hire for `order_id` over `[from, to)` (`to` `None`: on hire now).
#[derive(Debug, Clone, PartialEq)]
pub struct HireSpan {
    pub order_id: String,
    pub vehicle_id: String,
    pub from: OffsetDateTime,
    pub to: Option<OffsetDateTime>,
    /// When the hire is booked to end (a span still open is expected to last until then).
    pub booked_return_at: OffsetDateTime,
}

/// The cars' parts of hires overlapping `[from, to)` in the city: one per car per hire, so a
/// hire with a swap is two.
pub async fn hire_spans(
    db: &Db,
    city: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<HireSpan>, QueryError> {
    let rows = sqlx::query(
        "SELECT h.order_id, h.vehicle_id, h.from_us, h.to_us, d.return_at_us FROM hire_spans h \
         JOIN demand_orders d ON d.order_id = h.order_id \
         WHERE h.city = $1 AND h.from_us < $3 AND (h.to_us IS NULL OR h.to_us > $2) ORDER BY h.from_us, h.order_id",
    )
    .bind(city.to_owned())
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| HireSpan {
            order_id: r.get(0),
            vehicle_id: r.get(1),
            from: from_micros(r.get(2)),
            to: r.get::<Option<i64>, _>(3).map(from_micros),
            booked_return_at: from_micros(r.get(4)),
        })
        .collect())
}

/// Windows `[from, to)` (open ones end at `None`) when each car of the city was not available.
pub async fn unavailable(db: &Db, city: &str) -> Result<BTreeMap<String, Vec<(i64, Option<i64>)>>, QueryError> {
    let rows = sqlx::query(
        "SELECT w.vehicle_id, w.from_us, w.to_us FROM vehicle_windows w JOIN vehicles v ON v.vehicle_id = w.vehicle_id \
         WHERE v.city = $1",
    )
    .bind(city.to_owned())
    .fetch_all(&db.pool)
    .await?;
    let mut out: BTreeMap<String, Vec<(i64, Option<i64>)>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    Ok(out)
}
