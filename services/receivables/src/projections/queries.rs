//! Queries over the receivables read models. They read only the projections, never the event
//! log.

use rentops_kernel::EventCodec;
use rentops_ledger::LedgerEvent;
use rentops_projection::Db;
use rentops_projection::db::micros;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

pub use rentops_projection::QueryError;

use super::at;
use crate::domain::custody::{Facts, HireSpan, MoveSpan, PlateSpan};
use crate::domain::ledger::date_text;
use crate::domain::{LedgerAggregate, Status, Step, Violation, ViolationAggregate, ViolationEvent};

/// Everything known about who had a car with `plate_key` around `at`: the plate's spans, the
/// hires of the cars that carried it (or that recorded it), their moves.
pub async fn facts(db: &Db, plate_key: &str, at_time: OffsetDateTime) -> Result<Facts, QueryError> {
    let t = micros(at_time);
    let plates = sqlx::query("SELECT vehicle_id, from_us, to_us FROM rx_plate_spans WHERE plate_key = $1")
        .bind(plate_key.to_owned())
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PlateSpan {
                vehicle_id: r.try_get(0)?,
                from: at(r.try_get(1)?),
                to: r.try_get::<Option<i64>, _>(2)?.map(at),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // The hires that had the moment within them, of these cars or recording this plate.
    let hires = sqlx::query(
        // Two indexed halves, not one OR: a disjunction over two columns reads every span.
        "SELECT s.order_id, h.customer_id, h.customer_phone, h.city, s.vehicle_id, s.plate_key, s.from_us, s.to_us \
         FROM rx_hire_spans s JOIN rx_hires h ON h.order_id = s.order_id \
         WHERE s.plate_key = $1 AND s.from_us <= $2 AND (s.to_us IS NULL OR s.to_us > $2) \
         UNION \
         SELECT s.order_id, h.customer_id, h.customer_phone, h.city, s.vehicle_id, s.plate_key, s.from_us, s.to_us \
         FROM rx_plate_spans p JOIN rx_hire_spans s ON s.vehicle_id = p.vehicle_id \
         JOIN rx_hires h ON h.order_id = s.order_id \
         WHERE p.plate_key = $1 AND s.from_us <= $2 AND (s.to_us IS NULL OR s.to_us > $2)",
    )
    .bind(plate_key.to_owned())
    .bind(t)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(HireSpan {
            order_id: r.try_get(0)?,
            customer_id: r.try_get(1)?,
            customer_phone: r.try_get(2)?,
            city: r.try_get(3)?,
            vehicle_id: r.try_get(4)?,
            plate_key: r.try_get(5)?,
            from: at(r.try_get(6)?),
            to: r.try_get::<Option<i64>, _>(7)?.map(at),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let moves = sqlx::query(
        "SELECT vehicle_id, driver_id, staff_id, departed_us, arrived_us FROM rx_moves \
         WHERE vehicle_id IN (SELECT vehicle_id FROM rx_plate_spans WHERE plate_key = $1) \
         AND departed_us <= $2 AND arrived_us >= $2",
    )
    .bind(plate_key.to_owned())
    .bind(t)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(MoveSpan {
            vehicle_id: r.try_get(0)?,
            driver_id: r.try_get(1)?,
            staff_id: r.try_get(2)?,
            from: at(r.try_get(3)?),
            to: at(r.try_get(4)?),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Facts { plates, hires, moves })
}

/// How many moments one read of [`facts_many`] asks about (three bound values each).
const FACTS_CHUNK: usize = 250;

/// [`facts`] for many (plate key, moment) pairs at once, in their order: three queries per 250
/// pairs instead of three per pair (an import's batch reads who had the car this way).
pub async fn facts_many(db: &Db, wanted: &[(String, OffsetDateTime)]) -> Result<Vec<Facts>, QueryError> {
    let mut out: Vec<Facts> = wanted
        .iter()
        .map(|_| Facts {
            plates: Vec::new(),
            hires: Vec::new(),
            moves: Vec::new(),
        })
        .collect();
    for (c, chunk) in wanted.chunks(FACTS_CHUNK).enumerate() {
        let base = c * FACTS_CHUNK;
        // The moments asked, as a table (k: the index in `wanted`).
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        let asked = format!("WITH q (k, plate_key, t) AS (VALUES {})", values.join(", "));
        let bind = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (i, (key, t)) in chunk.iter().enumerate() {
                q = q.bind((base + i) as i64).bind(key.clone()).bind(micros(*t));
            }
            q
        };
        let index = |k: i64| -> Result<usize, QueryError> {
            usize::try_from(k)
                .ok()
                .filter(|k| *k < wanted.len())
                .ok_or_else(|| QueryError::Corrupt(format!("moment {k} was not asked").into()))
        };
        for r in bind(format!(
            "{asked} SELECT q.k, p.vehicle_id, p.from_us, p.to_us FROM q JOIN rx_plate_spans p ON p.plate_key = q.plate_key"
        ))
        .fetch_all(&db.pool)
        .await?
        {
            out[index(r.try_get(0)?)?].plates.push(PlateSpan {
                vehicle_id: r.try_get(1)?,
                from: at(r.try_get(2)?),
                to: r.try_get::<Option<i64>, _>(3)?.map(at),
            });
        }
        // As in `facts`: two indexed halves, not one OR.
        for r in bind(format!(
            "{asked} SELECT q.k, s.order_id, h.customer_id, h.customer_phone, h.city, s.vehicle_id, s.plate_key, \
             s.from_us, s.to_us FROM q JOIN rx_hire_spans s ON s.plate_key = q.plate_key AND s.from_us <= q.t \
             AND (s.to_us IS NULL OR s.to_us > q.t) JOIN rx_hires h ON h.order_id = s.order_id \
             UNION \
             SELECT q.k, s.order_id, h.customer_id, h.customer_phone, h.city, s.vehicle_id, s.plate_key, s.from_us, \
             s.to_us FROM q JOIN rx_plate_spans p ON p.plate_key = q.plate_key \
             JOIN rx_hire_spans s ON s.vehicle_id = p.vehicle_id AND s.from_us <= q.t \
             AND (s.to_us IS NULL OR s.to_us > q.t) JOIN rx_hires h ON h.order_id = s.order_id"
        ))
        .fetch_all(&db.pool)
        .await?
        {
            out[index(r.try_get(0)?)?].hires.push(HireSpan {
                order_id: r.try_get(1)?,
                customer_id: r.try_get(2)?,
                customer_phone: r.try_get(3)?,
                city: r.try_get(4)?,
                vehicle_id: r.try_get(5)?,
                plate_key: r.try_get(6)?,
                from: at(r.try_get(7)?),
                to: r.try_get::<Option<i64>, _>(8)?.map(at),
            });
        }
        for r in bind(format!(
            "{asked} SELECT q.k, m.vehicle_id, m.driver_id, m.staff_id, m.departed_us, m.arrived_us FROM q \
             JOIN rx_moves m ON m.departed_us <= q.t AND m.arrived_us >= q.t \
             AND m.vehicle_id IN (SELECT p.vehicle_id FROM rx_plate_spans p WHERE p.plate_key = q.plate_key)"
        ))
        .fetch_all(&db.pool)
        .await?
        {
            out[index(r.try_get(0)?)?].moves.push(MoveSpan {
                vehicle_id: r.try_get(1)?,
                driver_id: r.try_get(2)?,
                staff_id: r.try_get(3)?,
                from: at(r.try_get(4)?),
                to: at(r.try_get(5)?),
            });
        }
    }
    Ok(out)
}

/// A hire as the custody model knows it (for a match made by hand).
#[derive(Debug, Clone)]
pub struct Hire {
    pub customer_id: String,
    pub customer_phone: String,
    pub city: String,
    pub vehicle_id: String,
}

pub async fn hire(db: &Db, order_id: &str) -> Result<Option<Hire>, QueryError> {
    let row = sqlx::query(
        "SELECT h.customer_id, h.customer_phone, h.city, \
         COALESCE((SELECT s.vehicle_id FROM rx_hire_spans s WHERE s.order_id = h.order_id ORDER BY s.part DESC LIMIT 1), '') \
         FROM rx_hires h WHERE h.order_id = $1",
    )
    .bind(order_id.to_owned())
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(Hire {
            customer_id: r.try_get(0)?,
            customer_phone: r.try_get(1)?,
            city: r.try_get(2)?,
            vehicle_id: r.try_get(3)?,
        }),
    })
}

/// A violation as the read model holds it.
#[derive(Debug, Clone)]
pub struct ViolationRow {
    pub violation: Violation,
    pub sequence: u64,
}

/// A row's JSON `state` and its `last_sequence`: how the violation and claim rows keep their
/// aggregate's state.
fn state_of<T: serde::de::DeserializeOwned>(r: &sqlx::any::AnyRow) -> Result<(T, u64), QueryError> {
    let json: String = r.try_get("state")?;
    let state = serde_json::from_str(&json).map_err(|e| QueryError::Corrupt(e.into()))?;
    Ok((state, r.try_get::<i64, _>("last_sequence")?.max(0) as u64))
}

fn violation_row(r: &sqlx::any::AnyRow) -> Result<ViolationRow, QueryError> {
    let (violation, sequence) = state_of(r)?;
    Ok(ViolationRow { violation, sequence })
}

pub async fn violation(db: &Db, id: &str) -> Result<Option<ViolationRow>, QueryError> {
    let row = sqlx::query("SELECT state, last_sequence FROM rx_violations WHERE violation_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(violation_row).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct ViolationFilter {
    pub statuses: Vec<Status>,
    pub plate_key: Option<String>,
    pub customer_id: Option<String>,
    pub city: Option<String>,
}

/// Validates a page token without running a query (for the API's argument checks).
pub fn check_page_token(token: &str) -> bool {
    rentops_projection::query::is_page_token(token)
}

/// Violations by offence time (oldest first), keyset-paged by (offence time, id).
pub async fn violations(
    db: &Db,
    filter: &ViolationFilter,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<ViolationRow>, String), QueryError> {
    let mut sql = String::from("SELECT state, last_sequence, offence_us, violation_id FROM rx_violations WHERE 1 = 1");
    let mut n = 0;
    let mut p = |sql: &mut String, clause: &str| {
        n += 1;
        sql.push_str(&clause.replace('?', &format!("${n}")));
    };
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter.statuses.iter().map(|s| format!("'{}'", s.code())).collect();
        sql.push_str(&format!(" AND status IN ({})", list.join(", ")));
    }
    if filter.plate_key.is_some() {
        p(&mut sql, " AND plate_key = ?");
    }
    if filter.customer_id.is_some() {
        p(&mut sql, " AND customer_id = ?");
    }
    if filter.city.is_some() {
        p(&mut sql, " AND city = ?");
    }
    let token = if page_token.is_empty() {
        None
    } else {
        Some(rentops_projection::query::parse_page_token(page_token)?)
    };
    if token.is_some() {
        n += 1;
        let (a, b) = (n, n + 1);
        n += 1;
        sql.push_str(&format!(
            " AND (offence_us > ${a} OR (offence_us = ${a} AND violation_id > ${b}))"
        ));
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY offence_us, violation_id LIMIT ${n}"));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for v in [&filter.plate_key, &filter.customer_id, &filter.city]
        .into_iter()
        .flatten()
    {
        q = q.bind(v.clone());
    }
    if let Some((us, id)) = token {
        q = q.bind(us).bind(id);
    }
    let rows = q.bind(page_size as i64 + 1).fetch_all(&db.pool).await?;
    let more = rows.len() > page_size;
    let mut out = Vec::new();
    let mut next = String::new();
    for r in rows.iter().take(page_size) {
        out.push(violation_row(r)?);
        if more {
            next = rentops_projection::query::page_token(
                r.try_get("offence_us")?,
                &r.try_get::<String, _>("violation_id")?,
            );
        }
    }
    Ok((out, next))
}

/// One event of a violation's timeline.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    pub sequence: u64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub event: ViolationEvent,
}

pub async fn timeline(db: &Db, id: &str) -> Result<Vec<TimelineRow>, QueryError> {
    let rows = sqlx::query(
        "SELECT sequence, name, at_us, actor, payload FROM rx_violation_events WHERE violation_id = $1 ORDER BY sequence",
    )
    .bind(id.to_owned())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(1)?;
            let payload: Vec<u8> = r.try_get(4)?;
            Ok(TimelineRow {
                sequence: r.try_get::<i64, _>(0)?.max(0) as u64,
                at: at(r.try_get(2)?),
                actor: r.try_get(3)?,
                event: ViolationAggregate::decode(&name, &payload).map_err(|e| QueryError::Corrupt(e.into()))?,
            })
        })
        .collect()
}

/// The ledger events of one customer, oldest first.
pub async fn ledger_events(db: &Db, customer: &str) -> Result<Vec<LedgerEvent>, QueryError> {
    let rows = sqlx::query("SELECT payload FROM rx_ledger_events WHERE customer_id = $1 ORDER BY sequence")
        .bind(customer.to_owned())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let payload: Vec<u8> = r.try_get(0)?;
            LedgerAggregate::decode("LedgerBooked", &payload).map_err(|e| QueryError::Corrupt(e.into()))
        })
        .collect()
}

/// What is open of each debit item as of the end of `as_of` (a `YYYY-MM-DD` date).
const OPEN_AS_OF: &str = "SELECT i.booking_id AS booking_id, i.customer_id AS customer_id, i.city AS city, \
     i.due AS due, i.order_id AS order_id, i.reference AS reference, \
     CAST(i.amount_fen - COALESCE((SELECT SUM(m.amount_fen) FROM rx_matches m WHERE m.debit_id = i.booking_id \
       AND m.applied_day <= $1 AND (m.released_day IS NULL OR m.released_day > $1)), 0) AS BIGINT) AS open_fen \
     FROM rx_items i WHERE i.booked_day <= $1 AND (i.reversed_day IS NULL OR i.reversed_day > $1)";

/// The SQL of [`open_by_due`]: `$1` the date, `$2` the city when `one_city`.
pub fn open_by_due_sql(one_city: bool) -> String {
    // Sums are cast back to BIGINT: PostgreSQL sums BIGINTs as NUMERIC, which the Any driver
    // does not read.
    format!(
        "SELECT city, due, CAST(SUM(delta_fen) AS BIGINT) FROM rx_open_deltas WHERE day <= $1{} \
         GROUP BY city, due HAVING SUM(delta_fen) <> 0 ORDER BY city, due",
        if one_city { " AND city = $2" } else { "" }
    )
}

/// Open amounts per (city, due date) as of `as_of`, for the ageing report: the sums of the
/// open-amount changes of the days up to it (`rx_open_deltas`, a few rows per city, due date and
/// booking day), not a sum over every item and its matches.
pub async fn open_by_due(
    db: &Db,
    as_of: time::Date,
    city: Option<&str>,
) -> Result<Vec<(String, time::Date, i64)>, QueryError> {
    let mut q = sqlx::query(AssertSqlSafe(open_by_due_sql(city.is_some()))).bind(date_text(as_of));
    if let Some(c) = city {
        q = q.bind(c.to_owned());
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            let due: String = r.try_get(1)?;
            let due = crate::domain::ledger::parse_date(&due)
                .ok_or_else(|| QueryError::Corrupt(format!("due date {due:?}").into()))?;
            Ok((r.try_get(0)?, due, r.try_get(2)?))
        })
        .collect()
}

/// One line of a customer's statement, with the running figures after it.
#[derive(Debug, Clone)]
pub struct StatementRow {
    pub line: rentops_ledger::StatementLine,
    pub line_no: u64,
    pub total_debit: i64,
    pub total_credit: i64,
    pub sequence: i64,
    pub day: String,
}

const STATEMENT_COLUMNS: &str = "sequence, line_no, booked_day, booked_at_us, booking_id, kind, reference, \
     about_booking_id, due, debit_fen, credit_fen, balance_fen, deposit_change_fen, deposit_held_fen, total_debit_fen, \
     total_credit_fen, memo";

fn statement_row(r: &sqlx::any::AnyRow) -> Result<StatementRow, QueryError> {
    let corrupt = |what: String| QueryError::Corrupt(what.into());
    let id = |text: String| -> Result<rentops_ledger::BookingId, QueryError> {
        uuid::Uuid::parse_str(&text)
            .map(rentops_ledger::BookingId)
            .map_err(|_| corrupt(format!("booking id {text:?}")))
    };
    let kind: String = r.try_get("kind")?;
    let reference: String = r.try_get("reference")?;
    let about: String = r.try_get("about_booking_id")?;
    let due: String = r.try_get("due")?;
    let line = rentops_ledger::StatementLine {
        booked_at: at(r.try_get("booked_at_us")?),
        booking: id(r.try_get("booking_id")?)?,
        kind: rentops_ledger::BookingKind::parse(&kind).ok_or_else(|| corrupt(format!("booking kind {kind:?}")))?,
        reference: Some(reference).filter(|t| !t.is_empty()),
        about: if about.is_empty() { None } else { Some(id(about)?) },
        due: if due.is_empty() {
            None
        } else {
            Some(crate::domain::ledger::parse_date(&due).ok_or_else(|| corrupt(format!("due date {due:?}")))?)
        },
        debit: rentops_kernel::Fen(r.try_get("debit_fen")?),
        credit: rentops_kernel::Fen(r.try_get("credit_fen")?),
        balance: rentops_kernel::Fen(r.try_get("balance_fen")?),
        deposit_change: rentops_kernel::Fen(r.try_get("deposit_change_fen")?),
        deposit_held: rentops_kernel::Fen(r.try_get("deposit_held_fen")?),
        memo: r.try_get("memo")?,
    };
    Ok(StatementRow {
        line,
        line_no: r.try_get::<i64, _>("line_no")?.max(0) as u64,
        total_debit: r.try_get("total_debit_fen")?,
        total_credit: r.try_get("total_credit_fen")?,
        sequence: r.try_get("sequence")?,
        day: r.try_get("booked_day")?,
    })
}

/// A page of `customer`'s statement as of the end of `as_of`: its lines in booking order after
/// the one `page_token` names, and the token of the next page (empty on the last). Bookings are
/// never dated before the one before them, so (day, sequence) is the booking order and the
/// index `rx_statement_lines_day` reads a page straight.
pub async fn statement_page(
    db: &Db,
    customer: &str,
    as_of: time::Date,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<StatementRow>, String), QueryError> {
    let token = if page_token.is_empty() {
        None
    } else {
        let (sequence, day) = rentops_projection::query::parse_page_token(page_token)?;
        if crate::domain::ledger::parse_date(&day).is_none() {
            return Err(QueryError::BadPageToken);
        }
        Some((day, sequence))
    };
    let mut sql =
        format!("SELECT {STATEMENT_COLUMNS} FROM rx_statement_lines WHERE customer_id = $1 AND booked_day <= $2");
    let limit = if token.is_some() {
        sql.push_str(" AND booked_day >= $3 AND (booked_day > $3 OR sequence > $4)");
        "$5"
    } else {
        "$3"
    };
    sql.push_str(&format!(" ORDER BY booked_day, sequence LIMIT {limit}"));
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(customer.to_owned())
        .bind(date_text(as_of));
    if let Some((day, sequence)) = token {
        q = q.bind(day).bind(sequence);
    }
    let rows = q.bind(page_size as i64 + 1).fetch_all(&db.pool).await?;
    let more = rows.len() > page_size;
    let out = rows
        .iter()
        .take(page_size)
        .map(statement_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = match (more, out.last()) {
        (true, Some(last)) => rentops_projection::query::page_token(last.sequence, &last.day),
        _ => String::new(),
    };
    Ok((out, next))
}

/// The last line of `customer`'s statement as of the end of `as_of`: where the statement leaves
/// them, and its running totals, and whether it is their last line of all (nothing was booked
/// for them after the date). `None`: no booking by then.
pub async fn statement_end(
    db: &Db,
    customer: &str,
    as_of: time::Date,
) -> Result<Option<(StatementRow, bool)>, QueryError> {
    let last = sqlx::query(AssertSqlSafe(format!(
        "SELECT {STATEMENT_COLUMNS} FROM rx_statement_lines WHERE customer_id = $1 ORDER BY sequence DESC LIMIT 1"
    )))
    .bind(customer.to_owned())
    .fetch_optional(&db.pool)
    .await?;
    let last = last.as_ref().map(statement_row).transpose()?;
    match last {
        None => return Ok(None),
        Some(l) if l.day <= date_text(as_of) => return Ok(Some((l, true))),
        Some(_) => {}
    }
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {STATEMENT_COLUMNS} FROM rx_statement_lines WHERE customer_id = $1 AND booked_day <= $2 \
         ORDER BY booked_day DESC, sequence DESC LIMIT 1"
    )))
    .bind(customer.to_owned())
    .bind(date_text(as_of))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(statement_row).transpose()?.map(|r| (r, false)))
}

/// `customer`'s debits (charges, refunds) open at the end of `as_of`, oldest due first, then in
/// booking order: each item's last open-amount change on or before the date. `after_last`: the
/// date is on or after the customer's last booking, so what is open then is what is open now
/// (`rx_items.open_fen`), read without looking at the changes.
pub async fn open_items(
    db: &Db,
    customer: &str,
    as_of: time::Date,
    after_last: bool,
) -> Result<Vec<rentops_ledger::OpenItem>, QueryError> {
    let sql = if after_last {
        "SELECT booking_id, kind, due, order_id, city, amount_fen, open_fen FROM rx_items \
         WHERE customer_id = $1 AND booked_day <= $2 AND open_fen > 0 ORDER BY due, sequence"
    } else {
        "SELECT booking_id, kind, due, order_id, city, amount_fen, open_fen FROM (\
         SELECT i.booking_id AS booking_id, i.kind AS kind, i.due AS due, i.order_id AS order_id, i.city AS city, \
         i.amount_fen AS amount_fen, i.sequence AS sequence, \
         (SELECT c.open_fen FROM rx_item_changes c WHERE c.booking_id = i.booking_id AND c.day <= $2 \
          ORDER BY c.day DESC LIMIT 1) AS open_fen \
         FROM rx_items i WHERE i.customer_id = $1 AND i.booked_day <= $2) o \
         WHERE open_fen > 0 ORDER BY due, sequence"
    };
    let rows = sqlx::query(sql)
        .bind(customer.to_owned())
        .bind(date_text(as_of))
        .fetch_all(&db.pool)
        .await?;
    let corrupt = |what: String| QueryError::Corrupt(what.into());
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let due: String = r.try_get(2)?;
            let order: String = r.try_get(3)?;
            let city: String = r.try_get(4)?;
            Ok(rentops_ledger::OpenItem {
                booking: uuid::Uuid::parse_str(&id)
                    .map(rentops_ledger::BookingId)
                    .map_err(|_| corrupt(format!("booking id {id:?}")))?,
                kind: rentops_ledger::BookingKind::parse(&kind)
                    .ok_or_else(|| corrupt(format!("booking kind {kind:?}")))?,
                due: crate::domain::ledger::parse_date(&due).ok_or_else(|| corrupt(format!("due date {due:?}")))?,
                order: if order.is_empty() {
                    None
                } else {
                    Some(rentops_kernel::OrderId::parse(&order).map_err(|_| corrupt(format!("order id {order:?}")))?)
                },
                city: if city.is_empty() {
                    None
                } else {
                    Some(rentops_kernel::CityCode::parse(&city).map_err(|_| corrupt(format!("city {city:?}")))?)
                },
                amount: rentops_kernel::Fen(r.try_get(5)?),
                open: rentops_kernel::Fen(r.try_get(6)?),
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct OverdueRow {
    pub customer_id: String,
    pub booking_id: String,
    pub due: time::Date,
    pub open_fen: i64,
    pub city: String,
    pub order_id: String,
    pub reference: String,
}

/// Charges due before `as_of` and still open then, most overdue first, keyset-paged by (due,
/// booking).
pub async fn overdue(
    db: &Db,
    as_of: time::Date,
    city: Option<&str>,
    page_size: usize,
    page_token: &str,
) -> Result<(Vec<OverdueRow>, String), QueryError> {
    let mut sql = format!("SELECT * FROM ({OPEN_AS_OF}) o WHERE open_fen > 0 AND due < $1");
    let mut n = 1;
    if city.is_some() {
        n += 1;
        sql.push_str(&format!(" AND city = ${n}"));
    }
    let token = if page_token.is_empty() {
        None
    } else {
        let (due, id) = page_token.split_once('~').ok_or(QueryError::BadPageToken)?;
        if crate::domain::ledger::parse_date(due).is_none() || id.is_empty() || id.len() > 64 {
            return Err(QueryError::BadPageToken);
        }
        Some((due.to_owned(), id.to_owned()))
    };
    if token.is_some() {
        let (a, b) = (n + 1, n + 2);
        n += 2;
        sql.push_str(&format!(" AND (due > ${a} OR (due = ${a} AND booking_id > ${b}))"));
    }
    sql.push_str(&format!(" ORDER BY due, booking_id LIMIT ${}", n + 1));
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(date_text(as_of));
    if let Some(c) = city {
        q = q.bind(c.to_owned());
    }
    if let Some((due, id)) = token {
        q = q.bind(due).bind(id);
    }
    let rows = q.bind(page_size as i64 + 1).fetch_all(&db.pool).await?;
    let more = rows.len() > page_size;
    let mut out = Vec::new();
    for r in rows.iter().take(page_size) {
        let due: String = r.try_get("due")?;
        out.push(OverdueRow {
            customer_id: r.try_get("customer_id")?,
            booking_id: r.try_get("booking_id")?,
            due: crate::domain::ledger::parse_date(&due)
                .ok_or_else(|| QueryError::Corrupt(format!("due date {due:?}").into()))?,
            open_fen: r.try_get("open_fen")?,
            city: r.try_get("city")?,
            order_id: r.try_get("order_id")?,
            reference: r.try_get("reference")?,
        });
    }
    let next = match (more, out.last()) {
        (true, Some(last)) => format!("{}~{}", date_text(last.due), last.booking_id),
        _ => String::new(),
    };
    Ok((out, next))
}

/// Violations whose next ladder step is due at `now`, soonest first (at most `limit`).
pub async fn due_steps(db: &Db, now: OffsetDateTime, limit: usize) -> Result<Vec<(String, Step)>, QueryError> {
    let rows = sqlx::query(
        "SELECT violation_id, next_step FROM rx_violations WHERE next_due_us IS NOT NULL AND next_due_us <= $1 \
         ORDER BY next_due_us, violation_id LIMIT $2",
    )
    .bind(micros(now))
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let code: Option<String> = r.try_get(1)?;
            let step = code
                .as_deref()
                .and_then(Step::parse)
                .ok_or_else(|| QueryError::Corrupt(format!("step {code:?}").into()))?;
            Ok((r.try_get(0)?, step))
        })
        .collect()
}

/// A change in who had a car, for the rematch scan.
#[derive(Debug, Clone)]
pub struct Recheck {
    pub stream: String,
    pub sequence: i64,
    pub part: i64,
    pub vehicle_id: String,
    pub plate_key: String,
    pub from_us: i64,
    pub to_us: Option<i64>,
}

pub async fn rechecks(db: &Db, limit: usize) -> Result<Vec<Recheck>, QueryError> {
    let rows = sqlx::query(
        "SELECT stream, sequence, part, vehicle_id, plate_key, from_us, to_us FROM rx_recheck \
         ORDER BY stream, sequence, part LIMIT $1",
    )
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Recheck {
                stream: r.try_get(0)?,
                sequence: r.try_get(1)?,
                part: r.try_get(2)?,
                vehicle_id: r.try_get(3)?,
                plate_key: r.try_get(4)?,
                from_us: r.try_get(5)?,
                to_us: r.try_get(6)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The violations a change may explain differently: the plate's (or the car's plates') from
/// the change on, still open to an automatic match.
pub async fn affected(db: &Db, r: &Recheck) -> Result<Vec<(String, String, OffsetDateTime)>, QueryError> {
    let mut sql = String::from(
        "SELECT violation_id, plate_key, offence_us FROM rx_violations WHERE rematchable = 1 \
         AND (plate_key = $1 OR plate_key IN (SELECT plate_key FROM rx_plate_spans WHERE vehicle_id = $2)) \
         AND offence_us >= $3",
    );
    if r.to_us.is_some() {
        sql.push_str(" AND offence_us <= $4");
    }
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(r.plate_key.clone())
        .bind(r.vehicle_id.clone())
        .bind(r.from_us);
    if let Some(to) = r.to_us {
        q = q.bind(to);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, at(row.try_get(2)?))))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn done_recheck(db: &Db, r: &Recheck) -> Result<(), QueryError> {
    sqlx::query("DELETE FROM rx_recheck WHERE stream = $1 AND sequence = $2 AND part = $3")
        .bind(r.stream.clone())
        .bind(r.sequence)
        .bind(r.part)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Hires whose car is out (or came back less than `release_after` ago) with a violation deposit
/// and no hold booked yet: (order, customer, amount).
pub async fn holds_to_take(
    db: &Db,
    returned_after: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(String, String, i64)>, QueryError> {
    let rows = sqlx::query(
        "SELECT h.order_id, h.customer_id, h.violation_deposit_fen FROM rx_hires h \
         WHERE h.picked_up_us IS NOT NULL AND h.violation_deposit_fen > 0 \
         AND NOT EXISTS (SELECT 1 FROM rx_holds d WHERE d.order_id = h.order_id) \
         AND (h.returned_us IS NULL OR h.returned_us > $1) ORDER BY h.order_id LIMIT $2",
    )
    .bind(micros(returned_after))
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Unresolved holds of hires returned on or before `returned_by` none of whose violations is
/// still on its ladder before the charge, with no repair claim still being assessed (or about
/// to be opened from the return): (order, customer, hold booking).
pub async fn holds_to_settle(
    db: &Db,
    returned_by: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(String, String, String)>, QueryError> {
    let rows = sqlx::query(
        "SELECT d.order_id, d.customer_id, d.booking_id FROM rx_holds d JOIN rx_hires h ON h.order_id = d.order_id \
         WHERE d.resolved = 0 AND h.returned_us IS NOT NULL AND h.returned_us <= $1 \
         AND NOT EXISTS (SELECT 1 FROM rx_violations v WHERE v.order_id = d.order_id AND v.status = 'OPEN') \
         AND NOT EXISTS (SELECT 1 FROM rx_claims c WHERE c.order_id = d.order_id AND c.status = 'OPEN') \
         AND NOT EXISTS (SELECT 1 FROM rx_damage g WHERE g.order_id = d.order_id) \
         ORDER BY d.order_id LIMIT $2",
    )
    .bind(micros(returned_by))
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A hire as a claim needs it: (customer, city, cover tier code, the car last on hire).
pub async fn claim_hire(db: &Db, order_id: &str) -> Result<Option<(String, String, String, String)>, QueryError> {
    let row = sqlx::query(
        "SELECT h.customer_id, h.city, h.cover_tier, \
         COALESCE((SELECT s.vehicle_id FROM rx_hire_spans s WHERE s.order_id = h.order_id ORDER BY s.part DESC LIMIT 1), '') \
         FROM rx_hires h WHERE h.order_id = $1",
    )
    .bind(order_id.to_owned())
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)),
    })
}

/// Damage noted at returns, waiting for its claim: (order, damage, returned at).
pub async fn damage_reports(db: &Db, limit: usize) -> Result<Vec<(String, String, OffsetDateTime)>, QueryError> {
    let rows =
        sqlx::query("SELECT order_id, damage, returned_us FROM rx_damage ORDER BY returned_us, order_id LIMIT $1")
            .bind(limit as i64)
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, at(r.try_get(2)?))))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn damage_done(db: &Db, order_id: &str) -> Result<(), QueryError> {
    sqlx::query("DELETE FROM rx_damage WHERE order_id = $1")
        .bind(order_id.to_owned())
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ClaimRow {
    pub claim_id: String,
    pub claim: crate::domain::claim::Claim,
    pub sequence: u64,
}

fn claim_row(r: &sqlx::any::AnyRow) -> Result<ClaimRow, QueryError> {
    let (claim, sequence) = state_of(r)?;
    Ok(ClaimRow {
        claim_id: r.try_get("claim_id")?,
        claim,
        sequence,
    })
}

pub async fn claim(db: &Db, id: &str) -> Result<Option<ClaimRow>, QueryError> {
    let row = sqlx::query("SELECT claim_id, state, last_sequence FROM rx_claims WHERE claim_id = $1")
        .bind(id.to_owned())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(claim_row).transpose()
}

/// Claims by status, order or customer (any of them may be empty), oldest first, at most 500.
pub async fn claims(
    db: &Db,
    status: Option<&str>,
    order_id: &str,
    customer_id: &str,
) -> Result<Vec<ClaimRow>, QueryError> {
    let mut sql = String::from("SELECT claim_id, state, last_sequence FROM rx_claims WHERE 1 = 1");
    let mut binds = Vec::new();
    for (column, value) in [
        ("status", status.unwrap_or_default()),
        ("order_id", order_id),
        ("customer_id", customer_id),
    ] {
        if !value.is_empty() {
            binds.push(value.to_owned());
            sql.push_str(&format!(" AND {column} = ${}", binds.len()));
        }
    }
    sql.push_str(" ORDER BY opened_us, claim_id LIMIT 500");
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter().map(claim_row).collect()
}

/// One event of a claim's timeline: (sequence, at, actor, event name).
pub async fn claim_timeline(db: &Db, id: &str) -> Result<Vec<(u64, OffsetDateTime, String, String)>, QueryError> {
    let rows =
        sqlx::query("SELECT sequence, at_us, actor, name FROM rx_claim_events WHERE claim_id = $1 ORDER BY sequence")
            .bind(id.to_owned())
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>(0)?.max(0) as u64,
                at(r.try_get(1)?),
                r.try_get(2)?,
                r.try_get(3)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// One charge for the collection KPIs: (city, booked day, amount, recovered by payments and
/// deposit deductions, the day the last of that was applied).
pub type ChargeRecovery = (String, time::Date, i64, i64, Option<time::Date>);

/// The charges booked in `[from, to)` (not reversed) and what payments and deposit deductions
/// recovered of each (waivers and write-offs are not recoveries).
pub async fn charge_recoveries(
    db: &Db,
    from: time::Date,
    to: time::Date,
    city: Option<&str>,
) -> Result<Vec<ChargeRecovery>, QueryError> {
    let recovering = "m.booking_kind IN ('payment', 'deposit_deduction') AND m.released_day IS NULL";
    let sql = format!(
        "SELECT i.city, i.booked_day, i.amount_fen, \
         CAST(COALESCE(SUM(CASE WHEN {recovering} THEN m.amount_fen ELSE 0 END), 0) AS BIGINT), \
         MAX(CASE WHEN {recovering} THEN m.applied_day END) \
         FROM rx_items i LEFT JOIN rx_matches m ON m.debit_id = i.booking_id \
         WHERE i.kind = 'charge' AND i.reversed_day IS NULL AND i.booked_day >= $1 AND i.booked_day < $2{} \
         GROUP BY i.booking_id, i.city, i.booked_day, i.amount_fen",
        if city.is_some() { " AND i.city = $3" } else { "" }
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(date_text(from))
        .bind(date_text(to));
    if let Some(c) = city {
        q = q.bind(c.to_owned());
    }
    let rows = q.fetch_all(&db.pool).await?;
    let day = |text: String| {
        crate::domain::ledger::parse_date(&text).ok_or_else(|| QueryError::Corrupt(format!("date {text:?}").into()))
    };
    rows.iter()
        .map(|r| {
            let last: Option<String> = r.try_get(4)?;
            Ok((
                r.try_get(0)?,
                day(r.try_get(1)?)?,
                r.try_get(2)?,
                r.try_get(3)?,
                last.map(day).transpose()?,
            ))
        })
        .collect()
}
