//! Reactors: another service's events, read from a durable consumer, become commands on this
//! service's aggregates.
//!
//! Each event is handed to [`React::handle`] once it is decoded from its envelope; the handler
//! issues its commands with the event's id as request id, so an event delivered again (after a
//! crash between the command and the acknowledgement) changes nothing twice. The consumer is
//! durable and shared by every replica: the broker gives each event to one of them, and a dead
//! replica's unacknowledged events to another after `ack_wait`. An event that cannot be handled
//! yet is delivered again after a jittered backoff that grows with its deliveries.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use rentops_eventstore::RecordedEvent;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::progress::Progress;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Its commands were issued (or it needed none): acknowledged.
    Done,
    /// It can never be handled (it names something this service does not know): acknowledged,
    /// and logged with the reason so a person can look.
    Skipped(String),
    /// It cannot be handled yet (the log is unreachable, a race was lost): delivered again later.
    Retry(String),
}

/// Turns one service's events into this service's commands.
pub trait React: Send + Sync + 'static {
    /// For logs and metrics, e.g. `order-fleet-plan`.
    fn name(&self) -> &str;

    fn handle(&self, event: &RecordedEvent) -> impl Future<Output = Reaction> + Send;
}

/// Which events a reactor reads, and how.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The other service's stream, e.g. `FLEET`.
    pub stream: String,
    /// The durable consumer's name, shared by every replica of this service.
    pub durable: String,
    pub description: String,
    /// The subjects read, e.g. `rentops.fleet.plan.>`.
    pub filter_subjects: Vec<String>,
    /// How long an event may stay unacknowledged before another replica gets it.
    pub ack_wait: Duration,
    /// Events in flight at once; 1 handles them strictly in stream order.
    pub max_ack_pending: i64,
    /// Waits before an event is delivered again, and before the consumer is opened again.
    pub backoff: Backoff,
}

impl Subscription {
    pub fn new(stream: &str, durable: &str, filter_subjects: &[&str]) -> Self {
        Self {
            stream: stream.to_owned(),
            durable: durable.to_owned(),
            description: format!("rentops reactor {durable}"),
            filter_subjects: filter_subjects.iter().map(|s| (*s).to_owned()).collect(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error("stream {0} is not there yet")]
    NoStream(String),
    #[error("cannot open consumer {durable}: {message}")]
    Open { durable: String, message: String },
    #[error("the consumer failed: {0}")]
    Consume(String),
    #[error("the consumer's messages ended")]
    Ended,
}

/// Runs `reactor` on `subscription` until `shutdown`, opening the consumer again (after a
/// jittered backoff) whenever it fails; waits for the stream when it does not exist yet.
pub async fn run_reactor<R: React>(
    js: jetstream::Context,
    mut subscription: Subscription,
    reactor: R,
    progress: Progress,
    shutdown: CancellationToken,
) {
    // Every series this reactor records, at 0 from the start: a dashboard shows "0 redeliveries"
    // rather than no data, and an alert over them is defined from the first scrape.
    metrics::counter!("rentops_consumer_redeliveries_total", "reactor" => reactor.name().to_owned()).increment(0);
    for outcome in ["done", "skipped", "retried"] {
        metrics::counter!("rentops_reactor_events_total", "reactor" => reactor.name().to_owned(), "outcome" => outcome)
            .increment(0);
    }
    let mut said_waiting = false;
    loop {
        match consume(&js, &subscription, &reactor, &progress, &shutdown).await {
            Ok(()) => return,
            Err(e @ ConsumeError::NoStream(_)) => {
                if !said_waiting {
                    tracing::info!(reactor = reactor.name(), error = %e, "waiting for the stream");
                    said_waiting = true;
                }
            }
            Err(e) => {
                if matches!(e, ConsumeError::Consume(_) | ConsumeError::Ended) {
                    // It had been consuming: this is a new failure, not one more in a row.
                    subscription.backoff.succeeded();
                }
                said_waiting = false;
                tracing::warn!(reactor = reactor.name(), error = %e, "reactor restarting");
            }
        }
        let wait = subscription.backoff.failed();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn consume<R: React>(
    js: &jetstream::Context,
    s: &Subscription,
    reactor: &R,
    progress: &Progress,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let stream = js
        .get_stream(&s.stream)
        .await
        .map_err(|_| ConsumeError::NoStream(s.stream.clone()))?;
    let (filter_subject, filter_subjects) = match s.filter_subjects.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    let open = |e: &dyn std::fmt::Display| ConsumeError::Open {
        durable: s.durable.clone(),
        message: e.to_string(),
    };
    let consumer = stream
        .get_or_create_consumer(
            &s.durable,
            consumer::pull::Config {
                durable_name: Some(s.durable.clone()),
                description: Some(s.description.clone()),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: s.ack_wait,
                filter_subject,
                filter_subjects,
                max_ack_pending: s.max_ack_pending,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| open(&e))?;
    let mut messages = consumer.messages().await.map_err(|e| open(&e))?;
    tracing::info!(reactor = reactor.name(), stream = %s.stream, durable = %s.durable, "reactor consuming");
    let mut retrying = std::collections::BTreeSet::<u64>::new();
    let mut highest = 0;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let message = next
            .ok_or(ConsumeError::Ended)?
            .map_err(|e| ConsumeError::Consume(e.to_string()))?;
        let info = message.info().map_err(|e| ConsumeError::Consume(e.to_string()))?;
        let (sequence, delivered) = (info.stream_sequence, info.delivered);
        if delivered > 1 {
            metrics::counter!("rentops_consumer_redeliveries_total", "reactor" => reactor.name().to_owned())
                .increment(1);
        }
        let reaction = match RecordedEvent::from_message(
            sequence,
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload.clone(),
        ) {
            Ok(event) => {
                // The reaction and the commands it issues are part of the trace of the command
                // that wrote the event.
                let span = tracing::info_span!(
                    "react",
                    otel.kind = "consumer",
                    reactor = reactor.name(),
                    messaging.system = "nats",
                    messaging.destination.name = %message.subject,
                    messaging.message.id = %event.meta.event_id,
                    rentops.sequence = sequence,
                );
                rentops_eventstore::trace::continue_from(&span, &event);
                reactor.handle(&event).instrument(span).await
            }
            Err(e) => Reaction::Skipped(format!("not a rentops event: {e}")),
        };
        let ack = match &reaction {
            Reaction::Done => AckKind::Ack,
            Reaction::Skipped(why) => {
                tracing::warn!(reactor = reactor.name(), sequence, subject = %message.subject, reason = %why, "event skipped");
                AckKind::Ack
            }
            Reaction::Retry(why) => {
                let wait = s.backoff.delay(u32::try_from(delivered).unwrap_or(u32::MAX));
                tracing::warn!(reactor = reactor.name(), sequence, subject = %message.subject, reason = %why, retry_in = ?wait, "event not handled yet");
                AckKind::Nak(Some(wait))
            }
        };
        let outcome = match &reaction {
            Reaction::Done => "done",
            Reaction::Skipped(_) => "skipped",
            Reaction::Retry(_) => "retried",
        };
        metrics::counter!("rentops_reactor_events_total", "reactor" => reactor.name().to_owned(), "outcome" => outcome)
            .increment(1);
        message
            .ack_with(ack)
            .await
            .map_err(|e| ConsumeError::Consume(e.to_string()))?;
        // The position is the last sequence below which nothing waits for a retry: with more
        // than one event in flight, later ones may be done while an earlier one is not.
        if matches!(reaction, Reaction::Retry(_)) {
            retrying.insert(sequence);
        } else {
            retrying.remove(&sequence);
            highest = highest.max(sequence);
        }
        let position = retrying.first().map_or(highest, |first| highest.min(first - 1));
        progress.handled(position);
    }
}
