//! Given / when / then for pure aggregates: `given(history).when(command).then(events)` or
//! `.then_err(error)`, checking *which* error. No I/O: this exercises `decide` and `evolve` only.
//! And [`recorded`]: an event as the log holds it, for tests and benchmarks of projections.

use std::fmt::Debug;

use time::OffsetDateTime;

use crate::aggregate::Aggregate;
use crate::envelope::{EventMeta, RecordedEvent};

/// `event` as `service`'s log holds it at `sequence`: encoded by the aggregate, under its
/// subject, with a test envelope (a fresh event id; `test` as actor, request, correlation and
/// causation).
pub fn recorded<A: Aggregate>(
    service: &str,
    sequence: u64,
    aggregate_id: &str,
    event: &A::Event,
    time: OffsetDateTime,
) -> RecordedEvent {
    let encoded = A::encode(event);
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

pub struct TestHarness<A: Aggregate> {
    state: A::State,
}

/// Starts from the aggregate's history.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> TestHarness<A> {
    let state = history.into_iter().fold(A::State::default(), |s, e| A::evolve(s, &e));
    TestHarness { state }
}

pub struct Decided<A: Aggregate> {
    state: A::State,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> TestHarness<A> {
    pub fn when(self, command: A::Command) -> Decided<A> {
        let result = A::decide(&self.state, &command);
        Decided {
            state: self.state,
            result,
        }
    }

    pub fn state(&self) -> &A::State {
        &self.state
    }
}

impl<A: Aggregate> Decided<A>
where
    A::Event: Debug + PartialEq,
    A::Error: Debug + PartialEq,
{
    /// The command was accepted and produced exactly `expected`; returns the state after them.
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>) -> A::State {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the decision produced other events");
                events.iter().fold(self.state, |s, e| A::evolve(s, e))
            }
            Err(e) => panic!("expected events {expected:?}, the command was refused: {e:?}"),
        }
    }

    /// The command was refused with exactly `expected`.
    #[track_caller]
    pub fn then_err(self, expected: A::Error) {
        match self.result {
            Ok(events) => panic!("expected the error {expected:?}, got events {events:?}"),
            Err(e) => assert_eq!(e, expected, "the command was refused for another reason"),
        }
    }

    /// The command was accepted; returns the events for further checks.
    #[track_caller]
    pub fn then_ok(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("the command was refused: {e:?}"),
        }
    }
}
