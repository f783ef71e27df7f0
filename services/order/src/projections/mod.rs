//! The order service's read model: one row per order (with the folded order as JSON) and one row
//! per event (history, as-of). Applied a batch at a time with multi-row statements, because
//! sqlx's SQLite driver costs ~50 µs per statement (docs/architecture.md, measured limits).

pub mod queries;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use rentops_eventstore::RecordedEvent;
use rentops_kernel::EventCodec;
use rentops_projection::db::{MultiRowSql, execute_overlapped, placeholders};
use rentops_projection::{Backend, Projection, ProjectionError};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use time::OffsetDateTime;

use crate::domain::{Order, OrderAggregate, OrderState, Status};

pub const NAME: &str = "order-orders";

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 200;

pub use rentops_projection::db::{from_micros, micros};

/// Orders the projector remembers having written in its current session, so that a batch need
/// not read them back and parse their JSON. ~1 KB each.
const REMEMBERED_ORDERS: usize = 50_000;

/// What the projector remembers of the rows it wrote in its current consuming session; emptied
/// by `forget` (see [`Projection::forget`] for why that is sound).
struct Remembered {
    orders: LruCache<String, Order>,
    /// Whether `orders` holds every row of the table: true when the session began on an empty
    /// table (a new read model, a rebuild) and nothing has been evicted since. Then an order
    /// not remembered does not exist, and a batch reads nothing back. `None`: not yet known.
    complete: Option<bool>,
}

const ORDERS_INSERT: &str = "INSERT INTO orders (order_id, status, channel, partner_code, channel_order_ref, \
     customer_id, city, requested_model, pickup_at_us, return_at_us, placed_at_us, awaiting_confirmation, \
     contact_due_at_us, next_contact_at_us, contact_attempts, contact_overdue, last_sequence, updated_at_us, state, \
     assigned_vehicle_id, assigned_plate, at_risk, at_risk_reason, reached) VALUES ";

pub struct OrdersProjection {
    /// Picks the placeholder style of the multi-row statements.
    backend: Backend,
    remembered: Mutex<Remembered>,
    /// One row per event: history and as-of queries.
    history_sql: MultiRowSql,
    /// One row per order, upserted: orders that have a row already.
    orders_sql: MultiRowSql,
    /// Orders that have no row yet: a plain insert. The upsert looks each key up before it
    /// inserts, which on the random ids of orders cost PostgreSQL a third to a half more per row.
    new_orders_sql: MultiRowSql,
}

impl OrdersProjection {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            remembered: Mutex::new(Remembered {
                orders: LruCache::new(NonZeroUsize::new(REMEMBERED_ORDERS).unwrap_or(NonZeroUsize::MIN)),
                complete: None,
            }),
            history_sql: MultiRowSql::new(
                backend,
                "INSERT INTO order_events (sequence, order_id, event_type, event_id, recorded_at_us, actor, request_id, \
                 correlation_id, causation_id, payload) VALUES ",
                10,
                " ON CONFLICT (sequence) DO NOTHING",
            ),
            orders_sql: MultiRowSql::new(
                backend,
                ORDERS_INSERT,
                24,
                " ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, \
                 requested_model = excluded.requested_model, pickup_at_us = excluded.pickup_at_us, \
                 return_at_us = excluded.return_at_us, awaiting_confirmation = excluded.awaiting_confirmation, \
                 contact_due_at_us = excluded.contact_due_at_us, next_contact_at_us = excluded.next_contact_at_us, \
                 contact_attempts = excluded.contact_attempts, contact_overdue = excluded.contact_overdue, \
                 last_sequence = excluded.last_sequence, updated_at_us = excluded.updated_at_us, \
                 state = excluded.state, assigned_vehicle_id = excluded.assigned_vehicle_id, \
                 assigned_plate = excluded.assigned_plate, at_risk = excluded.at_risk, \
                 at_risk_reason = excluded.at_risk_reason, reached = excluded.reached",
            ),
            new_orders_sql: MultiRowSql::new(backend, ORDERS_INSERT, 24, ""),
        }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The history rows of `events`.
    fn history_statement(&self, events: &[RecordedEvent]) -> Query<'static, Any, AnyArguments> {
        let mut q = self.history_sql.query(events.len());
        for e in events {
            q = q
                .bind(e.sequence as i64)
                .bind(e.meta.aggregate_id.clone())
                .bind(e.name.clone())
                .bind(e.meta.event_id.to_string())
                .bind(micros(e.meta.time))
                .bind(e.meta.actor.clone())
                .bind(e.meta.request_id.clone())
                .bind(e.meta.correlation_id.clone())
                .bind(e.meta.causation_id.clone())
                .bind(e.payload.to_vec());
        }
        q
    }

    /// The rows of `rows` (order id, folded order, last sequence, last event time): inserted if
    /// `new` (no row exists for any of them), else upserted. Once bound, the orders move into the
    /// memory: if the batch does not commit, the projector restarts its session and calls
    /// `forget`.
    fn orders_statement(
        &self,
        new: bool,
        rows: Vec<(&str, Order, u64, OffsetDateTime)>,
    ) -> Result<Query<'static, Any, AnyArguments>, ProjectionError> {
        let sql = if new { &self.new_orders_sql } else { &self.orders_sql };
        let mut q = sql.query(rows.len());
        for (id, o, seq, at) in &rows {
            let b = &o.booking;
            let state = serde_json::to_string(o).map_err(|e| ProjectionError::event(*seq, e))?;
            q = q
                .bind(id.to_string())
                .bind(o.status.code())
                .bind(b.channel.code())
                .bind(b.partner_code.clone())
                .bind(b.channel_order_ref.clone())
                .bind(b.customer.customer_id.clone())
                .bind(b.city.to_string())
                .bind(b.model.code())
                .bind(micros(b.pickup_at))
                .bind(micros(b.return_at))
                .bind(micros(o.placed_at))
                .bind(i64::from(o.status == Status::Placed))
                // The deadline of the contact owed now (the scan's column), or never.
                .bind(o.owed_contact_due().map_or(i64::MAX, micros))
                .bind(o.next_contact_at.map(micros))
                .bind(i64::from(o.contact_attempts))
                .bind(i64::from(o.contact_overdue))
                .bind(*seq as i64)
                .bind(micros(*at))
                .bind(state)
                .bind(
                    o.assigned_vehicle
                        .as_ref()
                        .map(|v| v.vehicle_id.clone())
                        .unwrap_or_default(),
                )
                .bind(
                    o.assigned_vehicle
                        .as_ref()
                        .and_then(|v| v.plate.as_ref())
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                )
                .bind(i64::from(o.at_risk.is_some()))
                .bind(o.at_risk.as_ref().map(|r| r.reason.clone()).unwrap_or_default())
                // Whether a call reached the customer: a placed order whose pickup passed without
                // one has lapsed (the queue leaves it to ListLapsedOrders).
                .bind(i64::from(o.reached));
        }
        let mut remembered = self.remembered();
        for (id, order, _, _) in rows {
            if let Some((evicted, _)) = remembered.orders.push(id.to_owned(), order)
                && evicted != id
            {
                remembered.complete = Some(false);
            }
        }
        Ok(q)
    }
}

/// A batch's orders as its events are folded onto them.
struct Folded<'e> {
    /// Each order the batch touches, as it stands (`None`: not placed, or not yet).
    states: HashMap<String, OrderState>,
    /// The orders that had a row before the batch.
    stored: HashSet<String>,
    /// The orders the batch touched: their last event's sequence and time.
    touched: BTreeMap<&'e str, (u64, OffsetDateTime)>,
}

/// An order's row: its id, the folded order, its last event's sequence and time.
type OrderRow<'e> = (&'e str, Order, u64, OffsetDateTime);

impl<'e> Folded<'e> {
    fn fold(&mut self, events: &'e [RecordedEvent]) -> Result<(), ProjectionError> {
        for e in events {
            let decoded =
                OrderAggregate::decode(&e.name, &e.payload).map_err(|err| ProjectionError::event(e.sequence, err))?;
            let state = self.states.remove(&e.meta.aggregate_id).unwrap_or(None);
            self.states
                .insert(e.meta.aggregate_id.clone(), OrderAggregate::evolve(state, &decoded));
            self.touched.insert(&e.meta.aggregate_id, (e.sequence, e.meta.time));
        }
        Ok(())
    }

    /// The orders the batch touched and placed, in id order, with their last event's sequence
    /// and time: those without a row yet, and those with one. Rows are keyed by the aggregate id
    /// of the stream (the subject), which is what every reader looks orders up by, whatever an
    /// event's body says.
    fn rows(&mut self) -> (Vec<OrderRow<'e>>, Vec<OrderRow<'e>>) {
        let mut states = std::mem::take(&mut self.states);
        std::mem::take(&mut self.touched)
            .into_iter()
            .filter_map(|(id, (seq, at))| states.remove(id).flatten().map(|o| (id, o, seq, at)))
            .partition(|(id, ..)| !self.stored.contains(*id))
    }
}

impl Projection for OrdersProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.order.order.>".into()]
    }

    /// One event is a batch of one: the rows are those of folding it alone.
    async fn apply_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply(tx, std::slice::from_ref(event)).await
    }

    async fn apply(&self, tx: &mut Transaction<'static, Any>, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        // Fold every event of the batch onto the orders' current rows, then write each order once.
        let mut ids: Vec<&str> = events.iter().map(|e| e.meta.aggregate_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut states: HashMap<String, OrderState> = HashMap::new();
        let mut unknown: Vec<&str> = Vec::with_capacity(ids.len());
        if self.remembered().complete.is_none() {
            let empty = sqlx::query("SELECT COUNT(*) FROM (SELECT 1 FROM orders LIMIT 1) AS any_row")
                .fetch_one(&mut **tx)
                .await?
                .get::<i64, _>(0)
                == 0;
            self.remembered().complete = Some(empty);
        }
        let complete = {
            let mut remembered = self.remembered();
            for id in ids {
                match remembered.orders.get(id) {
                    Some(order) => {
                        states.insert(id.to_owned(), Some(order.clone()));
                    }
                    None => unknown.push(id),
                }
            }
            remembered.complete == Some(true)
        };
        if complete {
            // Every existing order is remembered: the others are new.
            unknown.clear();
        }
        // PostgreSQL: plan the look-ups for the table as it is now. A generic plan cached while
        // the table was empty (a new read model, a rebuild) scans it whole for every look-up,
        // which made rebuilds quadratic. Only these statements need it: the multi-row writes
        // below have one plan whatever the table holds, and re-planning each of them cost a
        // sixth of the database's time in a rebuild.
        let custom_plans = self.backend == Backend::Postgres && !unknown.is_empty();
        if custom_plans {
            sqlx::query("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
                .execute(&mut **tx)
                .await?;
        }
        for chunk in unknown.chunks(CHUNK) {
            let sql = format!(
                "SELECT order_id, state FROM orders WHERE order_id IN ({})",
                placeholders(self.backend, chunk.len(), 0)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut **tx).await? {
                let id: String = row.get(0);
                let json: String = row.get(1);
                let order: Order =
                    serde_json::from_str(&json).map_err(|e| ProjectionError::stored_row(format!("order {id}"), e))?;
                states.insert(id, Some(order));
            }
        }
        if custom_plans {
            sqlx::query("SELECT set_config('plan_cache_mode', 'auto', true)")
                .execute(&mut **tx)
                .await?;
        }
        // The database writes while the projector works: the events are folded chunk by chunk as
        // their history rows are bound, each order is serialised as its row is bound, and moved
        // into the memory once bound. Folding a whole batch before the first statement, and
        // remembering the orders after the last, had left the database idle for a sixth of
        // every batch in a rebuild. (Only the first chunk's work comes before anything is sent.)
        let mut folded = Folded {
            stored: states.keys().cloned().collect(),
            states,
            touched: BTreeMap::new(),
        };
        let mut history = events.chunks(CHUNK);
        let mut rows = None;
        let statements = std::iter::from_fn(|| {
            if rows.is_none() {
                if let Some(chunk) = history.next() {
                    let q = self.history_statement(chunk);
                    return Some(folded.fold(chunk).map(|()| q));
                }
                let (new, stored) = folded.rows();
                rows = Some((new.into_iter(), stored.into_iter()));
            }
            let (new, stored) = rows.as_mut()?;
            let chunk: Vec<_> = new.by_ref().take(CHUNK).collect();
            if !chunk.is_empty() {
                return Some(self.orders_statement(true, chunk));
            }
            let chunk: Vec<_> = stored.by_ref().take(CHUNK).collect();
            (!chunk.is_empty()).then(|| self.orders_statement(false, chunk))
        });
        execute_overlapped(tx, statements).await?;
        Ok(())
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["orders", "order_events"]
    }

    fn forget(&self) {
        let mut remembered = self.remembered();
        remembered.orders.clear();
        remembered.complete = None;
    }

    fn fresh(&self) -> Self {
        OrdersProjection::new(self.backend)
    }
}

#[cfg(test)]
mod tests {
    use rentops_eventstore::testing::recorded;
    use rentops_projection::Db;
    use time::macros::datetime;

    use super::*;
    use crate::domain::{Booking, OrderEvent, order_id_for};

    const AT: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

    fn placed(sequence: u64, reference: &str) -> RecordedEvent {
        let booking = Booking {
            channel_order_ref: reference.into(),
            ..crate::domain::tests::booking()
        };
        let id = order_id_for(booking.channel, &booking.partner_code, reference);
        let event = OrderEvent::Placed {
            order_id: id,
            booking,
            placed_at: AT,
            pre_verified: false,
            contact_due_at: AT,
        };
        recorded::<OrderAggregate>("order", sequence, &id.to_string(), &event, AT)
    }

    async fn apply(projection: &OrdersProjection, db: &Db, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut tx = db.begin_write().await?;
        match projection.apply(&mut tx, events).await {
            Ok(()) => Ok(tx.commit().await?),
            // As the projector does: at once, so the lock does not outlive the failure.
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Orders not remembered by a projection that began on an empty table are inserted without
    /// an upsert. Should another writer have stored one meanwhile (two replicas overlapping for
    /// a moment), the batch fails and changes nothing; after `forget` (the projector's restart)
    /// it applies.
    async fn new_orders_on(url: &str) -> anyhow::Result<()> {
        let db = Db::connect(url).await?;
        db.migrate(
            &sqlx::migrate!("./migrations/sqlite"),
            &sqlx::migrate!("./migrations/postgres"),
        )
        .await?;
        let ours = OrdersProjection::new(db.backend);
        apply(&ours, &db, &[placed(1, "APP-1")]).await?;
        let other = OrdersProjection::new(db.backend);
        let second = placed(2, "APP-2");
        apply(&other, &db, std::slice::from_ref(&second)).await?;

        let err = apply(&ours, &db, std::slice::from_ref(&second)).await;
        assert!(matches!(err, Err(ProjectionError::Db(_))), "{err:?}");
        ours.forget();
        apply(&ours, &db, std::slice::from_ref(&second)).await?;

        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT channel_order_ref, last_sequence FROM orders ORDER BY 1")
            .fetch_all(&db.pool)
            .await?;
        assert_eq!(rows, vec![("APP-1".to_owned(), 1), ("APP-2".to_owned(), 2)]);
        let (history,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM order_events")
            .fetch_one(&db.pool)
            .await?;
        assert_eq!(history, 2);
        Ok(())
    }

    #[tokio::test]
    async fn new_orders_sqlite() -> anyhow::Result<()> {
        let sqlite = rentops_testkit::SqliteDatabase::new()?;
        new_orders_on(&sqlite.url).await
    }

    #[tokio::test]
    async fn new_orders_postgres() -> anyhow::Result<()> {
        let pg = rentops_testkit::PgDatabase::new().await?;
        new_orders_on(&pg.url).await
    }
}
