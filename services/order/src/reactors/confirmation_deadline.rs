//! The confirmation deadline (docs/domain.md, Confirmation): every order must be contacted within 2 h
//! of placement, or at once when pickup is sooner than 24 h away. A scan over the read model finds
//! orders whose first contact is due and not yet attempted, and marks each overdue with a command
//! whose request id is fixed per order ("contact-overdue"), so however many replicas run the
//! scan, the step happens once: a second replica's command either finds the order already marked
//! (the decision yields nothing) or loses the race on the expected sequence and then finds it so.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta};
use rentops_projection::Db;
use rentops_runtime::Clock;
use tokio_util::sync::CancellationToken;

use crate::domain::{OrderAggregate, OrderCommand};
use crate::projections::queries;

pub const REQUEST_ID: &str = "contact-overdue";

/// Runs one scan; returns how many orders it marked.
pub async fn scan_once(handler: &CommandHandler<OrderAggregate>, db: &Db, clock: &dyn Clock) -> Result<usize, String> {
    let now = clock.now();
    let due = queries::due_first_contacts(db, now, 500)
        .await
        .map_err(|e| e.to_string())?;
    let mut marked = 0;
    for order_id in due {
        let meta = CommandMeta {
            request_id: REQUEST_ID.into(),
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
                tracing::info!(%order_id, "first contact overdue");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%order_id, error = %e, "cannot mark contact overdue; next scan retries"),
        }
    }
    Ok(marked)
}

/// Scans every `interval` until shutdown.
pub async fn run(
    handler: Arc<CommandHandler<OrderAggregate>>,
    db: Db,
    clock: Arc<dyn Clock>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = scan_once(&handler, &db, clock.as_ref()).await {
                    tracing::warn!(error = %e, "confirmation deadline scan failed");
                }
            }
        }
    }
}
