//! Queries over the order read model. They read only the projection, never the event log.

use rentops_kernel::EventCodec;
use rentops_projection::Db;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

use super::{from_micros, micros};
use crate::domain::{Channel, Order, OrderAggregate, OrderEvent, OrderState, Status};

pub use rentops_projection::QueryError;

/// An order as the read model holds it, with the sequence of the last event folded in.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub order: Order,
    pub sequence: u64,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<Status>,
    pub city: Option<String>,
    pub channel: Option<Channel>,
    pub customer_id: Option<String>,
    pub pickup_from: Option<OffsetDateTime>,
    pub pickup_to: Option<OffsetDateTime>,
    /// Only orders fleet's plan flagged at risk.
    pub at_risk_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub city: Option<String>,
    pub due_before: Option<OffsetDateTime>,
    pub overdue_only: bool,
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub sequence: u64,
    pub event_id: String,
    pub event_type: String,
    pub recorded_at: OffsetDateTime,
    pub actor: String,
    pub request_id: String,
    pub correlation_id: String,
    pub event: OrderEvent,
    pub order_id: String,
}

/// Validates a page token without running a query (for the API's argument checks).
pub fn check_page_token(token: &str) -> bool {
    rentops_projection::query::is_page_token(token)
}

fn row_to_order(row: &sqlx::any::AnyRow) -> Result<OrderRow, QueryError> {
    let json: String = row.try_get("state")?;
    let order: Order = serde_json::from_str(&json).map_err(|e| QueryError::Corrupt(e.into()))?;
    Ok(OrderRow {
        order,
        sequence: row.try_get::<i64, _>("last_sequence")?.max(0) as u64,
        updated_at: from_micros(row.try_get("updated_at_us")?),
    })
}

/// Binds collected in order, for SQL built with `$n` placeholders.
enum Bind {
    Int(i64),
    Text(String),
}

struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }

    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    async fn fetch_all(self, db: &Db) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for b in self.binds {
            q = match b {
                Bind::Int(i) => q.bind(i),
                Bind::Text(s) => q.bind(s),
            };
        }
        q.fetch_all(&db.pool).await
    }
}

pub async fn get(db: &Db, order_id: &str) -> Result<Option<OrderRow>, QueryError> {
    let row = sqlx::query("SELECT state, last_sequence, updated_at_us FROM orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(row_to_order).transpose()
}

/// The order as it stood at `as_of`: its events recorded up to then, folded again.
pub async fn get_as_of(db: &Db, order_id: &str, as_of: OffsetDateTime) -> Result<Option<OrderRow>, QueryError> {
    let history = history(db, order_id).await?;
    let mut state: OrderState = None;
    let mut last = None;
    for h in history.into_iter().filter(|h| h.recorded_at <= as_of) {
        state = OrderAggregate::evolve(state, &h.event);
        last = Some((h.sequence, h.recorded_at));
    }
    Ok(match (state, last) {
        (Some(order), Some((sequence, updated_at))) => Some(OrderRow {
            order,
            sequence,
            updated_at,
        }),
        _ => None,
    })
}

pub async fn history(db: &Db, order_id: &str) -> Result<Vec<HistoryRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT sequence, event_id, event_type, recorded_at_us, actor, request_id, correlation_id, payload, order_id \
         FROM order_events WHERE order_id = $1 ORDER BY sequence",
    )
    .bind(order_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let event_type: String = r.try_get("event_type")?;
            let payload: Vec<u8> = r.try_get("payload")?;
            let event = OrderAggregate::decode(&event_type, &payload).map_err(|e| QueryError::Corrupt(e.into()))?;
            Ok(HistoryRow {
                sequence: r.try_get::<i64, _>("sequence")?.max(0) as u64,
                event_id: r.try_get("event_id")?,
                event_type,
                recorded_at: from_micros(r.try_get("recorded_at_us")?),
                actor: r.try_get("actor")?,
                request_id: r.try_get("request_id")?,
                correlation_id: r.try_get("correlation_id")?,
                order_id: r.try_get("order_id")?,
                event,
            })
        })
        .collect()
}

/// Orders by pickup time, filtered, one page at a time.
pub async fn list(
    db: &Db,
    f: &ListFilter,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<OrderRow>, String), QueryError> {
    let mut sql =
        Sql::new("SELECT state, last_sequence, updated_at_us, pickup_at_us, order_id FROM orders WHERE 1 = 1");
    if !f.statuses.is_empty() {
        let ps: Vec<String> = f
            .statuses
            .iter()
            .map(|s| sql.param(Bind::Text(s.code().into())))
            .collect();
        sql.text.push_str(&format!(" AND status IN ({})", ps.join(", ")));
    }
    if let Some(city) = &f.city {
        let p = sql.param(Bind::Text(city.clone()));
        sql.text.push_str(&format!(" AND city = {p}"));
    }
    if let Some(channel) = f.channel {
        let p = sql.param(Bind::Text(channel.code().into()));
        sql.text.push_str(&format!(" AND channel = {p}"));
    }
    if let Some(customer) = &f.customer_id {
        let p = sql.param(Bind::Text(customer.clone()));
        sql.text.push_str(&format!(" AND customer_id = {p}"));
    }
    if let Some(from) = f.pickup_from {
        let p = sql.param(Bind::Int(micros(from)));
        sql.text.push_str(&format!(" AND pickup_at_us >= {p}"));
    }
    if let Some(to) = f.pickup_to {
        let p = sql.param(Bind::Int(micros(to)));
        sql.text.push_str(&format!(" AND pickup_at_us < {p}"));
    }
    if f.at_risk_only {
        sql.text.push_str(" AND at_risk = 1");
    }
    keyset_page(db, sql, "pickup_at_us", page_size, page_token).await
}

/// Fetches one page of `sql` (its filters written) in `(key, order_id)` order, after the
/// position `page_token` names: the next page's token is set when more rows follow.
async fn keyset_page(
    db: &Db,
    mut sql: Sql,
    key: &'static str,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<OrderRow>, String), QueryError> {
    if !page_token.is_empty() {
        let (us, id) = rentops_projection::query::parse_page_token(page_token)?;
        let a = sql.param(Bind::Int(us));
        let b = sql.param(Bind::Int(us));
        let c = sql.param(Bind::Text(id));
        sql.text
            .push_str(&format!(" AND ({key} > {a} OR ({key} = {b} AND order_id > {c}))"));
    }
    let limit = sql.param(Bind::Int(page_size as i64 + 1));
    sql.text.push_str(&format!(" ORDER BY {key}, order_id LIMIT {limit}"));
    let rows = sql.fetch_all(db).await?;
    page(rows, page_size, key)
}

fn page(rows: Vec<sqlx::any::AnyRow>, page_size: usize, key: &str) -> Result<(Vec<OrderRow>, String), QueryError> {
    let more = rows.len() > page_size;
    let mut out = Vec::with_capacity(rows.len().min(page_size));
    let mut token = String::new();
    for (i, r) in rows.iter().enumerate() {
        if i == page_size {
            break;
        }
        out.push(row_to_order(r)?);
        if more && i + 1 == page_size {
            let us: i64 = r.try_get::<Option<i64>, _>(key)?.unwrap_or(0);
            let id: String = r.try_get("order_id")?;
            token = rentops_projection::query::page_token(us, &id);
        }
    }
    Ok((out, token))
}

/// Orders waiting for confirmation as of `now`, the most urgent call first: not those that
/// lapsed (pickup time passed, nobody reached), which [`lapsed`] lists.
pub async fn confirmation_queue(
    db: &Db,
    f: &QueueFilter,
    now: OffsetDateTime,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<OrderRow>, String), QueryError> {
    let mut sql = Sql::new(
        "SELECT state, last_sequence, updated_at_us, next_contact_at_us, order_id FROM orders WHERE awaiting_confirmation = 1",
    );
    let p = sql.param(Bind::Int(micros(now)));
    sql.text.push_str(&format!(" AND (reached = 1 OR pickup_at_us > {p})"));
    if let Some(city) = &f.city {
        let p = sql.param(Bind::Text(city.clone()));
        sql.text.push_str(&format!(" AND city = {p}"));
    }
    if let Some(due) = f.due_before {
        let p = sql.param(Bind::Int(micros(due)));
        sql.text.push_str(&format!(" AND next_contact_at_us <= {p}"));
    }
    if f.overdue_only {
        sql.text.push_str(" AND contact_overdue = 1");
    }
    keyset_page(db, sql, "next_contact_at_us", page_size, page_token).await
}

/// Placed orders whose pickup time has passed by `now` without a call that reached the
/// customer: the desk closes them (no-show, cancel). Oldest pickup first, one page at a time.
pub async fn lapsed(
    db: &Db,
    city: Option<&str>,
    now: OffsetDateTime,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<OrderRow>, String), QueryError> {
    let mut sql = Sql::new(
        "SELECT state, last_sequence, updated_at_us, pickup_at_us, order_id FROM orders \
         WHERE awaiting_confirmation = 1 AND reached = 0",
    );
    let p = sql.param(Bind::Int(micros(now)));
    sql.text.push_str(&format!(" AND pickup_at_us <= {p}"));
    if let Some(city) = city {
        let p = sql.param(Bind::Text(city.to_owned()));
        sql.text.push_str(&format!(" AND city = {p}"));
    }
    keyset_page(db, sql, "pickup_at_us", page_size, page_token).await
}

/// Orders whose owed contact (the first call, or a promised call-back) is due by `now` and not
/// yet marked overdue, with that deadline: the deadline scan's work, most overdue first. Not
/// those whose pickup time has passed: they lapsed, and no call is owed any more.
pub async fn due_contacts(
    db: &Db,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(String, OffsetDateTime)>, QueryError> {
    let rows = sqlx::query(
        "SELECT order_id, contact_due_at_us FROM orders WHERE awaiting_confirmation = 1 AND contact_overdue = 0 \
         AND contact_due_at_us <= $1 AND pickup_at_us > $2 ORDER BY contact_due_at_us, order_id LIMIT $3",
    )
    .bind(micros(now))
    .bind(micros(now))
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, from_micros(r.try_get::<i64, _>(1)?))))
        .collect()
}
