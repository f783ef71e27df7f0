//! The confirmation deadline (docs/domain.md, Confirmation): every order must be contacted within 2 h
//! of placement, or at once when pickup is sooner than 24 h away, and a call-back the customer
//! asked for is owed at the time promised. A scan over the read model finds orders whose owed
//! contact is due and not yet marked, and marks each overdue with a command whose request id is
//! fixed per order and deadline ("contact-overdue:<deadline>"), so however many replicas run the
//! scan, each step happens once: a second replica's command either finds the order already marked
//! (the decision yields nothing) or loses the race on the expected sequence and then finds it so.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta};
use rentops_projection::Db;
use rentops_reactor::Scan;
use rentops_runtime::Clock;

use crate::domain::{OrderAggregate, OrderCommand};
use crate::projections::queries::{self, QueryError};

/// The request id of the mark for the contact owed at `due`: one per order and deadline.
pub fn request_id(due: time::OffsetDateTime) -> String {
    format!("contact-overdue:{}", due.unix_timestamp())
}

/// The most orders one pass marks; a full pass asks for another at once.
const BATCH: usize = 500;

/// The scanner: orders whose owed contact is overdue get marked.
pub struct ConfirmationDeadline {
    pub handler: Arc<CommandHandler<OrderAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

impl Scan for ConfirmationDeadline {
    type Error = QueryError;

    fn name(&self) -> &str {
        "order-confirmation-deadline"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        let (found, _) = scan_once(&self.handler, &self.db, self.clock.as_ref()).await?;
        Ok((found == BATCH).then_some(Duration::ZERO))
    }
}

/// Runs one scan; returns how many due orders it found and how many of those it marked.
pub async fn scan_once(
    handler: &CommandHandler<OrderAggregate>,
    db: &Db,
    clock: &dyn Clock,
) -> Result<(usize, usize), QueryError> {
    let now = clock.now();
    let due = queries::due_contacts(db, now, BATCH).await?;
    let found = due.len();
    let mut marked = 0;
    for (order_id, deadline) in due {
        let meta = CommandMeta {
            request_id: request_id(deadline),
            // Its id is derived from what caused it: nobody reuses it by mistake.
            fingerprint: None,
            correlation_id: format!("contact-overdue:{order_id}"),
            causation_id: format!("deadline-scan:{}", now.unix_timestamp()),
            actor: "system:confirmation-deadline".into(),
            time: now,
        };
        match handler
            .execute(&order_id, &meta, &OrderCommand::MarkContactOverdue { now }, false)
            .await
        {
            Ok(done) if done.events_appended > 0 && !done.replayed => {
                marked += 1;
                metrics::counter!("rentops_order_contacts_overdue_total").increment(1);
                tracing::info!(%order_id, %deadline, "contact overdue");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%order_id, error = %e, "cannot mark contact overdue; next scan retries"),
        }
    }
    Ok((found, marked))
}
