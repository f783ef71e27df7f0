//! Queries over the complaint read models. They read only the projections, never the event log.

use rentops_projection::Db;
use rentops_projection::db::{from_micros, micros};
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

pub use rentops_projection::QueryError;

use crate::domain::Case;

/// What the service knows of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub customer_id: String,
    pub city: String,
    pub channel: String,
    pub model: String,
    pub vehicle_id: String,
}

pub async fn order(db: &Db, id: &str) -> Result<Option<OrderRow>, QueryError> {
    let row = sqlx::query("SELECT customer_id, city, channel, model, vehicle_id FROM cp_orders WHERE order_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(OrderRow {
            customer_id: r.try_get(0)?,
            city: r.try_get(1)?,
            channel: r.try_get(2)?,
            model: r.try_get(3)?,
            vehicle_id: r.try_get(4)?,
        }),
    })
}

/// A car's model and plate.
pub async fn vehicle(db: &Db, id: &str) -> Result<Option<(String, String)>, QueryError> {
    let row = sqlx::query("SELECT model, plate FROM cp_vehicles WHERE vehicle_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
    })
}

/// A violation's customer ('' while it is not matched to a renter) and car.
pub async fn violation(db: &Db, id: &str) -> Result<Option<(String, String)>, QueryError> {
    let row = sqlx::query("SELECT customer_id, vehicle_id FROM cp_violations WHERE violation_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
    })
}

/// A repair claim's customer.
pub async fn claim(db: &Db, id: &str) -> Result<Option<String>, QueryError> {
    let row = sqlx::query("SELECT customer_id FROM cp_claims WHERE claim_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(r.try_get(0)?),
    })
}

/// A ledger charge's customer.
pub async fn charge(db: &Db, booking_id: &str) -> Result<Option<String>, QueryError> {
    let row = sqlx::query("SELECT customer_id FROM cp_charges WHERE booking_id = $1")
        .bind(booking_id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(r.try_get(0)?),
    })
}

/// A case as the projection has it, with the sequence it was read at.
pub async fn case(db: &Db, id: &str) -> Result<Option<(Case, u64)>, QueryError> {
    let row = sqlx::query("SELECT state, last_sequence FROM cp_cases WHERE case_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let json: String = r.try_get(0)?;
    let state = serde_json::from_str(&json).map_err(|e| QueryError::Corrupt(Box::new(e)))?;
    Ok(Some((state, r.try_get::<i64, _>(1)? as u64)))
}

/// One stored event of a case.
pub struct TimelineRow {
    pub sequence: u64,
    pub name: String,
    pub at: OffsetDateTime,
    pub actor: String,
    pub payload: Vec<u8>,
}

pub async fn timeline(db: &Db, id: &str) -> Result<Vec<TimelineRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT sequence, name, at_us, actor, payload FROM cp_case_events WHERE case_id = $1 ORDER BY sequence",
    )
    .bind(id.to_owned())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TimelineRow {
                sequence: r.try_get::<i64, _>(0)? as u64,
                name: r.try_get(1)?,
                at: from_micros(r.try_get(2)?),
                actor: r.try_get(3)?,
                payload: r.try_get(4)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub channel: Option<String>,
    pub category: Option<String>,
    pub agent: Option<String>,
    pub customer_id: Option<String>,
    pub escalated_only: bool,
    pub opened_from: Option<OffsetDateTime>,
    pub opened_to: Option<OffsetDateTime>,
}

/// A row of the case list.
#[derive(Debug, Clone)]
pub struct CaseListRow {
    pub case_id: String,
    pub customer_id: String,
    pub channel: String,
    pub category: String,
    pub sub_category: String,
    pub severity: String,
    pub status: String,
    pub agent: String,
    pub opened_at: OffsetDateTime,
    pub escalated: bool,
    pub next_due_at: Option<OffsetDateTime>,
}

/// Cases newest first, filtered, keyset-paged by (opened, case id).
pub async fn cases(
    db: &Db,
    filter: &CaseFilter,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<CaseListRow>, String), QueryError> {
    let mut sql = String::from(
        "SELECT case_id, customer_id, channel, category, sub_category, severity, status, agent, opened_us, \
         escalated, next_due_us FROM cp_cases WHERE 1 = 1",
    );
    let mut texts: Vec<String> = Vec::new();
    let mut n = 0;
    for (column, value) in [
        ("status", &filter.status),
        ("severity", &filter.severity),
        ("channel", &filter.channel),
        ("category", &filter.category),
        ("agent", &filter.agent),
        ("customer_id", &filter.customer_id),
    ] {
        if let Some(v) = value {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
            texts.push(v.clone());
        }
    }
    if filter.escalated_only {
        sql.push_str(" AND escalated = 1");
    }
    let mut times: Vec<i64> = Vec::new();
    if let Some(from) = filter.opened_from {
        n += 1;
        sql.push_str(&format!(" AND opened_us >= ${n}"));
        times.push(micros(from));
    }
    if let Some(to) = filter.opened_to {
        n += 1;
        sql.push_str(&format!(" AND opened_us < ${n}"));
        times.push(micros(to));
    }
    let token = if page_token.is_empty() {
        None
    } else {
        Some(rentops_projection::query::parse_page_token(page_token)?)
    };
    if token.is_some() {
        let (a, b) = (n + 1, n + 2);
        n += 2;
        sql.push_str(&format!(
            " AND (opened_us < ${a} OR (opened_us = ${a} AND case_id < ${b}))"
        ));
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY opened_us DESC, case_id DESC LIMIT ${n}"));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for t in texts {
        q = q.bind(t);
    }
    for t in times {
        q = q.bind(t);
    }
    if let Some((us, id)) = token {
        q = q.bind(us).bind(id);
    }
    let rows = q.bind(page_size as i64 + 1).fetch_all(&db.pool).await?;
    let more = rows.len() > page_size;
    let mut out = Vec::new();
    for r in rows.iter().take(page_size) {
        out.push(CaseListRow {
            case_id: r.try_get(0)?,
            customer_id: r.try_get(1)?,
            channel: r.try_get(2)?,
            category: r.try_get(3)?,
            sub_category: r.try_get(4)?,
            severity: r.try_get(5)?,
            status: r.try_get(6)?,
            agent: r.try_get(7)?,
            opened_at: from_micros(r.try_get(8)?),
            escalated: r.try_get::<i64, _>(9)? != 0,
            next_due_at: r.try_get::<Option<i64>, _>(10)?.map(from_micros),
        });
    }
    let next = match (more, out.last()) {
        (true, Some(last)) => rentops_projection::query::page_token(micros(last.opened_at), &last.case_id),
        _ => String::new(),
    };
    Ok((out, next))
}

/// The cases whose next due instant has come, earliest first.
pub async fn due_cases(db: &Db, now: OffsetDateTime, limit: usize) -> Result<Vec<String>, QueryError> {
    let rows = sqlx::query(
        "SELECT case_id FROM cp_cases WHERE next_due_us IS NOT NULL AND next_due_us <= $1 \
         ORDER BY next_due_us, case_id LIMIT $2",
    )
    .bind(micros(now))
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
