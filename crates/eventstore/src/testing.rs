//! [`recorded`]: an event as the log holds it, for tests and benchmarks of projections;
//! [`append_one`]: an event appended as another service writes it, for tests of the services
//! that read it. (The given / when / then harness for aggregates is the kernel's,
//! `rentops_kernel::testing`: it needs no event log.)

use rentops_kernel::{Aggregate, EventCodec};
use time::OffsetDateTime;

use crate::envelope::{EventMeta, RecordedEvent};
use crate::store::{AppendError, AppendRequest, EventStore, LoadError, NewEvent};

/// Why [`append_one`] appended nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendOneError {
    #[error("cannot read the aggregate's last sequence: {0}")]
    Load(#[from] LoadError),
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Appends one event `name` (body `payload`) to aggregate `aggregate`/`id` of `store`'s stream,
/// after the aggregate's last event, the way the service owning the stream writes it (a fresh
/// request id, `test` as actor); returns its sequence. Tests of a service that reads another
/// service's stream write that stream with it.
pub async fn append_one(
    store: &EventStore,
    aggregate: &str,
    id: &str,
    name: &'static str,
    payload: Vec<u8>,
    at: OffsetDateTime,
) -> Result<u64, AppendOneError> {
    let expected = store.last_sequence(aggregate, id).await?;
    let request_id = uuid::Uuid::new_v4().to_string();
    let ok = store
        .append(
            &AppendRequest {
                aggregate_type: aggregate,
                aggregate_id: id,
                expected,
                request_id: &request_id,
                fingerprint: None,
                correlation_id: &request_id,
                causation_id: &request_id,
                actor: "test",
                time: at,
            },
            &[NewEvent {
                name,
                payload: payload.into(),
            }],
        )
        .await?;
    Ok(ok.last_sequence)
}

/// `event` as `service`'s log holds it at `sequence`: encoded by the aggregate's codec, under its
/// subject, with a test envelope (a fresh event id; `test` as actor, request, correlation and
/// causation).
pub fn recorded<A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>>(
    service: &str,
    sequence: u64,
    aggregate_id: &str,
    event: &<A as Aggregate>::Event,
    time: OffsetDateTime,
) -> RecordedEvent {
    let encoded = NewEvent::encoded::<A>(event);
    RecordedEvent {
        sequence,
        subject: format!("rentops.{service}.{}.{aggregate_id}.{}", A::TYPE, encoded.name),
        name: encoded.name.to_owned(),
        meta: EventMeta {
            event_id: uuid::Uuid::now_v7(),
            event_type: format!("rentops.{service}.v1.{}", encoded.name),
            source: service.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            time,
            correlation_id: "test".into(),
            causation_id: "test".into(),
            actor: "test".into(),
            request_id: "test".into(),
        },
        fingerprint: None,
        trace: None,
        payload: encoded.payload,
    }
}
