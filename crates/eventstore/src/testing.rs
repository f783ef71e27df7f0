//! [`recorded`]: an event as the log holds it, for tests and benchmarks of projections. (The
//! given / when / then harness for aggregates is the kernel's, `rentops_kernel::testing`: it
//! needs no event log.)

use rentops_kernel::{Aggregate, EventCodec};
use time::OffsetDateTime;

use crate::envelope::{EventMeta, RecordedEvent};
use crate::store::NewEvent;

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
        payload: encoded.payload,
    }
}
