//! What the complaints say over a period `[from, to)`, read from the projections: cases per
//! 1,000 orders by city, sales channel and model; top categories and root causes with the
//! change on the period before (of the same length); repeat complainers and cars; SLA
//! compliance, escalation rate, first-response and resolution percentiles; keywords per
//! category (`rentops-insight`); and the inputs of the hot-spot scan. Each is one or two plain
//! SQL statements over `cp_cases` (indexed by opening time) and `cp_order_days`.

use std::collections::BTreeMap;

use rentops_insight::{CaseFacts, CategoryCount, Keyword, Keywords};
use rentops_projection::db::micros;
use rentops_projection::{Backend, Db};
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

use super::china_day;
use super::queries::QueryError;

/// The most texts keywords are drawn from: per category, and for the period's background. The
/// newest are taken; segmentation costs about 20 µs a text, so this bounds a query's cost
/// whatever the period's volume.
pub const KEYWORD_TEXTS: i64 = 1_000;
pub const BACKGROUND_TEXTS: i64 = 5_000;

/// A grouping of the rate of cases per 1,000 orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    City,
    Channel,
    Model,
}

impl Dimension {
    /// The column of `cp_cases` and of `cp_order_days`.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Dimension::City => ("city", "city"),
            Dimension::Channel => ("order_channel", "channel"),
            Dimension::Model => ("vehicle_model", "model"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// The city, sales channel or model; '' for cases not linked to an order.
    pub value: String,
    pub cases: i64,
    pub orders: i64,
    /// `cases × 1000 / orders`; `None` without orders.
    pub per_thousand: Option<f64>,
}

pub async fn rates(db: &Db, from: OffsetDateTime, to: OffsetDateTime, dim: Dimension) -> Result<Vec<Rate>, QueryError> {
    let (case_col, order_col) = dim.columns();
    let cases = sqlx::query(AssertSqlSafe(format!(
        "SELECT {case_col}, COUNT(*) FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2 GROUP BY {case_col}"
    )))
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(&db.pool)
    .await?;
    let orders = sqlx::query(AssertSqlSafe(format!(
        "SELECT {order_col}, CAST(SUM(orders) AS BIGINT) FROM cp_order_days WHERE day >= $1 AND day < $2 \
         GROUP BY {order_col}"
    )))
    .bind(china_day(from))
    .bind(china_day(to))
    .fetch_all(&db.pool)
    .await?;
    let mut by: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &cases {
        by.entry(r.try_get(0)?).or_default().0 = r.try_get(1)?;
    }
    for r in &orders {
        by.entry(r.try_get(0)?).or_default().1 = r.try_get(1)?;
    }
    let mut out: Vec<Rate> = by
        .into_iter()
        .map(|(value, (cases, orders))| Rate {
            value,
            cases,
            orders,
            per_thousand: (orders > 0).then(|| cases as f64 * 1000.0 / orders as f64),
        })
        .collect();
    out.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.value.cmp(&b.value)));
    Ok(out)
}

/// A category's or root cause's cases in the period and the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trend {
    pub value: String,
    pub current: i64,
    pub previous: i64,
    /// `(current − previous) × 100 / previous`, rounded toward zero; `None` when there were none
    /// before.
    pub change_percent: Option<i64>,
}

/// The period before `[from, to)`, of the same length.
pub fn previous(from: OffsetDateTime, to: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (from - (to - from), from)
}

async fn counts(
    db: &Db,
    column: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<BTreeMap<String, i64>, QueryError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {column}, COUNT(*) FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2 AND {column} <> '' \
         GROUP BY {column}"
    )))
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// The top `n` values of `column` (`category` or `root_cause`) in the period, with the change.
pub async fn trends(
    db: &Db,
    column: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    n: usize,
) -> Result<Vec<Trend>, QueryError> {
    let now = counts(db, column, from, to).await?;
    let (pf, pt) = previous(from, to);
    let before = counts(db, column, pf, pt).await?;
    let mut out: Vec<Trend> = now
        .iter()
        .map(|(value, &current)| {
            let previous = before.get(value).copied().unwrap_or(0);
            Trend {
                value: value.clone(),
                current,
                previous,
                change_percent: (previous > 0).then(|| (current - previous) * 100 / previous),
            }
        })
        .collect();
    out.sort_by(|a, b| b.current.cmp(&a.current).then_with(|| a.value.cmp(&b.value)));
    out.truncate(n);
    Ok(out)
}

/// The category counts of the period and the one before, for the hot-spot rule.
pub async fn category_counts(
    db: &Db,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<CategoryCount>, QueryError> {
    let now = counts(db, "category", from, to).await?;
    let (pf, pt) = previous(from, to);
    let before = counts(db, "category", pf, pt).await?;
    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    Ok(now
        .iter()
        .map(|(category, &current)| CategoryCount {
            category: category.clone(),
            current: clamp(current),
            previous: clamp(before.get(category).copied().unwrap_or(0)),
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The customer or the car.
    pub id: String,
    /// The car's model ('' for a customer).
    pub model: String,
    pub cases: i64,
}

/// Customers (`customer_id`) or cars (`vehicle_id`) with at least `min` cases in the period,
/// most first, at most `limit`.
pub async fn repeats(
    db: &Db,
    column: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    min: i64,
    limit: i64,
) -> Result<Vec<Repeat>, QueryError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {column}, MAX(vehicle_model), COUNT(*) FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2 \
         AND {column} <> '' GROUP BY {column} HAVING COUNT(*) >= $3 ORDER BY COUNT(*) DESC, {column} LIMIT $4"
    )))
    .bind(micros(from))
    .bind(micros(to))
    .bind(min)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Repeat {
                id: r.try_get(0)?,
                model: if column == "vehicle_id" {
                    r.try_get(1)?
                } else {
                    String::new()
                },
                cases: r.try_get(2)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaStats {
    pub cases: i64,
    pub escalated: i64,
    /// Clocks stopped in the period's cases, and how many within target.
    pub first_response_stopped: i64,
    pub first_response_met: i64,
    pub resolution_stopped: i64,
    pub resolution_met: i64,
    /// Nearest-rank percentiles of the counted time, seconds: p50, p90.
    pub first_response_p50: Option<i64>,
    pub first_response_p90: Option<i64>,
    pub resolution_p50: Option<i64>,
    pub resolution_p90: Option<i64>,
}

/// The value at nearest rank `⌈p/100 × n⌉` of `column` among the period's stopped clocks.
async fn percentile(
    db: &Db,
    column: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    n: i64,
    p: i64,
) -> Result<Option<i64>, QueryError> {
    if n == 0 {
        return Ok(None);
    }
    let rank = ((p * n + 99) / 100).max(1);
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {column} FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2 AND {column} IS NOT NULL \
         ORDER BY {column} LIMIT 1 OFFSET $3"
    )))
    .bind(micros(from))
    .bind(micros(to))
    .bind(rank - 1)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(r.try_get(0)?),
    })
}

pub async fn sla(db: &Db, from: OffsetDateTime, to: OffsetDateTime) -> Result<SlaStats, QueryError> {
    let r = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(escalated), 0) AS BIGINT), COUNT(fr_met), \
         CAST(COALESCE(SUM(fr_met), 0) AS BIGINT), COUNT(res_met), CAST(COALESCE(SUM(res_met), 0) AS BIGINT) \
         FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2",
    )
    .bind(micros(from))
    .bind(micros(to))
    .fetch_one(&db.pool)
    .await?;
    let mut s = SlaStats {
        cases: r.try_get(0)?,
        escalated: r.try_get(1)?,
        first_response_stopped: r.try_get(2)?,
        first_response_met: r.try_get(3)?,
        resolution_stopped: r.try_get(4)?,
        resolution_met: r.try_get(5)?,
        ..SlaStats::default()
    };
    if db.backend == Backend::Postgres {
        // The one difference between the backends here: PostgreSQL's ordered-set aggregate
        // gives the nearest-rank percentile (`percentile_disc`: the first value whose cumulative
        // share reaches p) of both columns in one scan, where the portable form sorts the
        // period's rows once per percentile (ADR 0022 has the figures).
        let r = sqlx::query(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY fr_spent_s), \
             percentile_disc(0.9) WITHIN GROUP (ORDER BY fr_spent_s), \
             percentile_disc(0.5) WITHIN GROUP (ORDER BY res_spent_s), \
             percentile_disc(0.9) WITHIN GROUP (ORDER BY res_spent_s) \
             FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_one(&db.pool)
        .await?;
        s.first_response_p50 = r.try_get(0)?;
        s.first_response_p90 = r.try_get(1)?;
        s.resolution_p50 = r.try_get(2)?;
        s.resolution_p90 = r.try_get(3)?;
        return Ok(s);
    }
    s.first_response_p50 = percentile(db, "fr_spent_s", from, to, s.first_response_stopped, 50).await?;
    s.first_response_p90 = percentile(db, "fr_spent_s", from, to, s.first_response_stopped, 90).await?;
    s.resolution_p50 = percentile(db, "res_spent_s", from, to, s.resolution_stopped, 50).await?;
    s.resolution_p90 = percentile(db, "res_spent_s", from, to, s.resolution_stopped, 90).await?;
    Ok(s)
}

async fn texts(
    db: &Db,
    from: OffsetDateTime,
    to: OffsetDateTime,
    category: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, QueryError> {
    let rows =
        match category {
            None => sqlx::query(
                "SELECT text FROM cp_cases WHERE opened_us >= $1 AND opened_us < $2 ORDER BY opened_us DESC LIMIT $3",
            )
            .bind(micros(from))
            .bind(micros(to))
            .bind(limit)
            .fetch_all(&db.pool)
            .await?,
            Some(c) => {
                sqlx::query(
                    "SELECT text FROM cp_cases WHERE category = $3 AND opened_us >= $1 AND opened_us < $2 \
                 ORDER BY opened_us DESC LIMIT $4",
                )
                .bind(micros(from))
                .bind(micros(to))
                .bind(c.to_owned())
                .bind(limit)
                .fetch_all(&db.pool)
                .await?
            }
        };
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// The top `n` keywords of each of `categories` in the period, against the period's texts.
pub async fn keywords(
    db: &Db,
    kw: &Keywords,
    from: OffsetDateTime,
    to: OffsetDateTime,
    categories: &[String],
    n: usize,
) -> Result<Vec<(String, Vec<Keyword>)>, QueryError> {
    let background = texts(db, from, to, None, BACKGROUND_TEXTS).await?;
    let refs: Vec<&str> = background.iter().map(String::as_str).collect();
    let df = kw.document_frequencies(&refs);
    let mut out = Vec::new();
    for c in categories {
        let t = texts(db, from, to, Some(c), KEYWORD_TEXTS).await?;
        let r: Vec<&str> = t.iter().map(String::as_str).collect();
        out.push((c.clone(), kw.top_against(&r, &df, n)));
    }
    Ok(out)
}

/// The facts of `category`'s cases in the period, for an evidence brief (the newest, at most
/// [`KEYWORD_TEXTS`]); with the background texts of the period.
pub async fn facts(
    db: &Db,
    category: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<(Vec<CaseFacts>, Vec<String>), QueryError> {
    let rows = sqlx::query(
        "SELECT c.case_id, c.text, o.station_id, c.vehicle_id, c.vehicle_model, c.channel, c.opened_us \
         FROM cp_cases c LEFT JOIN cp_orders o ON o.order_id = c.order_id \
         WHERE c.category = $3 AND c.opened_us >= $1 AND c.opened_us < $2 ORDER BY c.opened_us DESC LIMIT $4",
    )
    .bind(micros(from))
    .bind(micros(to))
    .bind(category.to_owned())
    .bind(KEYWORD_TEXTS)
    .fetch_all(&db.pool)
    .await?;
    let some = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let facts = rows
        .iter()
        .map(|r| {
            Ok(CaseFacts {
                case_id: r.try_get(0)?,
                text: r.try_get(1)?,
                station: some(r.try_get(2)?),
                vehicle_id: some(r.try_get(3)?),
                model: some(r.try_get(4)?),
                channel: r.try_get(5)?,
                opened_at_unix: r.try_get::<i64, _>(6)? / 1_000_000,
            })
        })
        .collect::<Result<Vec<_>, QueryError>>()?;
    let background = texts(db, from, to, None, BACKGROUND_TEXTS).await?;
    Ok((facts, background))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotSpotRow {
    pub hot_spot_id: String,
    pub category: String,
    pub period_start: OffsetDateTime,
    pub period_end: OffsetDateTime,
    pub current: i64,
    pub previous: i64,
    pub rise_percent: Option<i64>,
    pub brief: Vec<String>,
}

/// The hot spots of periods starting in `[from, to)`.
pub async fn hot_spots(db: &Db, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<HotSpotRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT hot_spot_id, category, period_start_us, period_end_us, current_cases, previous_cases, rise_percent, \
         brief FROM cp_hot_spots WHERE period_start_us >= $1 AND period_start_us < $2 \
         ORDER BY period_start_us, current_cases DESC, category",
    )
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let brief: String = r.try_get(7)?;
            Ok(HotSpotRow {
                hot_spot_id: r.try_get(0)?,
                category: r.try_get(1)?,
                period_start: rentops_projection::db::from_micros(r.try_get(2)?),
                period_end: rentops_projection::db::from_micros(r.try_get(3)?),
                current: r.try_get(4)?,
                previous: r.try_get(5)?,
                rise_percent: r.try_get(6)?,
                brief: serde_json::from_str(&brief).map_err(|e| QueryError::Corrupt(Box::new(e)))?,
            })
        })
        .collect()
}

/// Everything `AnalyzeComplaints` answers for `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub by_city: Vec<Rate>,
    pub by_channel: Vec<Rate>,
    pub by_model: Vec<Rate>,
    pub categories: Vec<Trend>,
    pub root_causes: Vec<Trend>,
    pub repeat_customers: Vec<Repeat>,
    pub repeat_vehicles: Vec<Repeat>,
    pub sla: SlaStats,
    pub keywords: Vec<(String, Vec<Keyword>)>,
    pub hot_spots: Vec<HotSpotRow>,
}

/// The whole analysis: the independent queries run at once, each on a connection of its own
/// (the database works on several; one after another they take about the sum of their times).
/// `top` categories, root causes and keywords; repeats from `min` cases, at most 20.
pub async fn report(
    db: &Db,
    kw: &Keywords,
    from: OffsetDateTime,
    to: OffsetDateTime,
    top: usize,
    min: i64,
) -> Result<Report, QueryError> {
    let keywords = async {
        let categories = trends(db, "category", from, to, top).await?;
        let names: Vec<String> = categories.iter().map(|c| c.value.clone()).collect();
        let words = keywords(db, kw, from, to, &names, top).await?;
        Ok::<_, QueryError>((categories, words))
    };
    let (
        (categories, keywords),
        by_city,
        by_channel,
        by_model,
        root_causes,
        repeat_customers,
        repeat_vehicles,
        sla,
        hot_spots,
    ) = futures::try_join!(
        keywords,
        rates(db, from, to, Dimension::City),
        rates(db, from, to, Dimension::Channel),
        rates(db, from, to, Dimension::Model),
        trends(db, "root_cause", from, to, top),
        repeats(db, "customer_id", from, to, min, 20),
        repeats(db, "vehicle_id", from, to, min, 20),
        sla(db, from, to),
        hot_spots(db, from, to),
    )?;
    Ok(Report {
        by_city,
        by_channel,
        by_model,
        categories,
        root_causes,
        repeat_customers,
        repeat_vehicles,
        sla,
        keywords,
        hot_spots,
    })
}
