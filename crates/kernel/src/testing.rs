//! Given / when / then for pure aggregates, for services' domain tests:
//! `given(history).when(command).then(events)`, or `.then_err(error)` checking *which* rule was
//! broken. No I/O: this exercises `decide` and `evolve` only. And [`assert_round_trip`] for an
//! [`EventCodec`].
//!
//! Every check is `#[track_caller]`, so a failure points at the test's line, not at this file.
//! Its failures are panics by design (they are test assertions), which is why this module is
//! behind the `testing` feature.

use std::fmt::Debug;

use crate::aggregate::{Aggregate, EventCodec};

/// The aggregate as its history left it, ready for a command.
pub struct TestHarness<A: Aggregate> {
    state: A::State,
}

/// Starts from the aggregate's history: each event is folded with `evolve`, as the log would.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> TestHarness<A> {
    let state = history.into_iter().fold(A::State::default(), |s, e| A::evolve(s, &e));
    TestHarness { state }
}

/// Starts from a state built by hand, for rules whose history would be long to write.
pub fn given_state<A: Aggregate>(state: A::State) -> TestHarness<A> {
    TestHarness { state }
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

/// The outcome of one decision, to be checked with one of the `then` methods.
#[must_use = "a decision is only tested by one of the `then` checks"]
pub struct Decided<A: Aggregate> {
    /// The state the command was decided on; `then` folds the new events over it.
    state: A::State,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Decided<A>
where
    A::Event: Debug + PartialEq,
    A::Error: Debug,
{
    /// The command was accepted and caused exactly `expected`, in that order; returns the state
    /// after them for further checks.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A::State {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the decision caused other events");
                events.iter().fold(self.state, |s, e| A::evolve(s, e))
            }
            Err(e) => panic!("expected the events {expected:?}, but the command was refused: {e:?}"),
        }
    }

    /// The command was accepted and changed nothing (e.g. a repeat of what already happened).
    #[track_caller]
    pub fn then_nothing(self) {
        match self.result {
            Ok(events) => assert!(events.is_empty(), "expected no events, got {events:?}"),
            Err(e) => panic!("expected no events, but the command was refused: {e:?}"),
        }
    }

    /// The command was accepted; returns its events for checks that `then` cannot state (an
    /// id or a computed amount inside them).
    #[track_caller]
    pub fn then_ok(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("the command was refused: {e:?}"),
        }
    }

    /// The command was refused for exactly `expected`: another broken rule fails the test, as
    /// does an accepted command.
    #[track_caller]
    pub fn then_err(self, expected: A::Error)
    where
        A::Error: PartialEq,
    {
        match self.result {
            Ok(events) => panic!("expected the error {expected:?}, but the command caused {events:?}"),
            Err(e) => assert_eq!(e, expected, "the command was refused for another reason"),
        }
    }

    /// The command was refused with an error that `matches` accepts, for errors that carry
    /// details a test does not pin (`|e| matches!(e, OrderError::Unknown { .. })`). `what` says
    /// in the failure message which error was expected.
    #[track_caller]
    pub fn then_err_matching(self, what: &str, matches: impl FnOnce(&A::Error) -> bool) {
        match self.result {
            Ok(events) => panic!("expected {what}, but the command caused {events:?}"),
            Err(e) => assert!(matches(&e), "expected {what}, but the command was refused with {e:?}"),
        }
    }
}

/// Each event decodes, under its own name, back to itself: the codec loses nothing and names
/// every event it can encode.
#[track_caller]
pub fn assert_round_trip<C: EventCodec>(events: impl IntoIterator<Item = C::Event>)
where
    C::Event: Debug + PartialEq,
{
    for event in events {
        let name = C::name(&event);
        let payload = C::encode(&event);
        match C::decode(name, &payload) {
            Ok(decoded) => assert_eq!(decoded, event, "{name} did not survive encoding"),
            Err(e) => panic!("{name} does not decode from its own encoding: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The harness on a small aggregate of the desk's kind: a deposit that is held, then
    //! released or partly deducted.

    use super::*;
    use crate::aggregate::DecodeError;

    struct Deposit;

    #[derive(Debug, Clone, Default, PartialEq)]
    enum DepositState {
        #[default]
        None,
        Held(i64),
        Settled,
    }

    enum DepositCommand {
        Hold(i64),
        Deduct(i64),
        Release,
    }

    #[derive(Debug, Clone, PartialEq)]
    enum DepositEvent {
        Held(i64),
        Deducted(i64),
        Released,
    }

    #[derive(Debug, PartialEq, thiserror::Error)]
    enum DepositError {
        #[error("no deposit is held")]
        NotHeld,
        #[error("a deposit is already held")]
        AlreadyHeld,
        #[error("the deduction {asked} exceeds the {held} held")]
        ExceedsDeposit { asked: i64, held: i64 },
    }

    impl Aggregate for Deposit {
        const TYPE: &'static str = "deposit";
        type State = DepositState;
        type Command = DepositCommand;
        type Event = DepositEvent;
        type Error = DepositError;

        fn decide(state: &DepositState, command: &DepositCommand) -> Result<Vec<DepositEvent>, DepositError> {
            match (state, command) {
                (DepositState::None | DepositState::Settled, DepositCommand::Hold(a)) => {
                    Ok(vec![DepositEvent::Held(*a)])
                }
                (DepositState::Held(_), DepositCommand::Hold(_)) => Err(DepositError::AlreadyHeld),
                (DepositState::Held(held), DepositCommand::Deduct(a)) if a > held => {
                    Err(DepositError::ExceedsDeposit { asked: *a, held: *held })
                }
                (DepositState::Held(_), DepositCommand::Deduct(a)) => {
                    Ok(vec![DepositEvent::Deducted(*a), DepositEvent::Released])
                }
                (DepositState::Held(_), DepositCommand::Release) => Ok(vec![DepositEvent::Released]),
                // Releasing what was already released is a retry, not an error.
                (DepositState::Settled, DepositCommand::Release) => Ok(vec![]),
                (_, DepositCommand::Deduct(_) | DepositCommand::Release) => Err(DepositError::NotHeld),
            }
        }

        fn evolve(state: DepositState, event: &DepositEvent) -> DepositState {
            match event {
                DepositEvent::Held(a) => DepositState::Held(*a),
                DepositEvent::Deducted(_) => state,
                DepositEvent::Released => DepositState::Settled,
            }
        }
    }

    /// A text codec, enough to exercise the round trip; `Lossy` drops the amount on purpose.
    struct Text;
    struct Lossy;

    impl EventCodec for Text {
        type Event = DepositEvent;

        fn name(event: &DepositEvent) -> &'static str {
            match event {
                DepositEvent::Held(_) => "DepositHeld",
                DepositEvent::Deducted(_) => "DepositDeducted",
                DepositEvent::Released => "DepositReleased",
            }
        }

        fn encode(event: &DepositEvent) -> Vec<u8> {
            match event {
                DepositEvent::Held(a) | DepositEvent::Deducted(a) => a.to_string().into_bytes(),
                DepositEvent::Released => Vec::new(),
            }
        }

        fn decode(name: &str, payload: &[u8]) -> Result<DepositEvent, DecodeError> {
            let amount = || {
                std::str::from_utf8(payload)
                    .map_err(|e| DecodeError::malformed(name, e))?
                    .parse::<i64>()
                    .map_err(|e| DecodeError::invalid(name, "amount", e))
            };
            match name {
                "DepositHeld" => Ok(DepositEvent::Held(amount()?)),
                "DepositDeducted" => Ok(DepositEvent::Deducted(amount()?)),
                "DepositReleased" => Ok(DepositEvent::Released),
                _ => Err(DecodeError::unknown(name)),
            }
        }
    }

    impl EventCodec for Lossy {
        type Event = DepositEvent;

        fn name(event: &DepositEvent) -> &'static str {
            Text::name(event)
        }

        fn encode(_: &DepositEvent) -> Vec<u8> {
            b"0".to_vec()
        }

        fn decode(name: &str, payload: &[u8]) -> Result<DepositEvent, DecodeError> {
            Text::decode(name, payload)
        }
    }

    #[test]
    fn a_deduction_is_recorded_and_releases_the_rest() {
        let state = given::<Deposit>([DepositEvent::Held(200_000)])
            .when(DepositCommand::Deduct(20_000))
            .then([DepositEvent::Deducted(20_000), DepositEvent::Released]);
        assert_eq!(state, DepositState::Settled);
    }

    #[test]
    fn a_deduction_above_the_deposit_is_refused_with_both_amounts() {
        given::<Deposit>([DepositEvent::Held(200_000)])
            .when(DepositCommand::Deduct(300_000))
            .then_err(DepositError::ExceedsDeposit {
                asked: 300_000,
                held: 200_000,
            });
        given::<Deposit>([DepositEvent::Held(200_000)])
            .when(DepositCommand::Deduct(300_000))
            .then_err_matching("ExceedsDeposit", |e| matches!(e, DepositError::ExceedsDeposit { .. }));
    }

    #[test]
    fn releasing_twice_changes_nothing() {
        given::<Deposit>([DepositEvent::Held(1), DepositEvent::Released])
            .when(DepositCommand::Release)
            .then_nothing();
    }

    #[test]
    fn then_ok_hands_back_the_events_and_given_state_skips_the_history() {
        let events = given_state::<Deposit>(DepositState::None)
            .when(DepositCommand::Hold(5))
            .then_ok();
        assert_eq!(events, vec![DepositEvent::Held(5)]);
        assert_eq!(given::<Deposit>(events).state(), &DepositState::Held(5));
    }

    #[test]
    #[should_panic(expected = "refused for another reason")]
    fn then_err_fails_on_another_error() {
        given::<Deposit>([DepositEvent::Held(1)])
            .when(DepositCommand::Hold(2))
            .then_err(DepositError::NotHeld);
    }

    #[test]
    #[should_panic(expected = "expected the error")]
    fn then_err_fails_when_the_command_is_accepted() {
        given::<Deposit>([])
            .when(DepositCommand::Hold(2))
            .then_err(DepositError::NotHeld);
    }

    #[test]
    #[should_panic(expected = "expected NotHeld")]
    fn then_err_matching_fails_on_another_error() {
        given::<Deposit>([DepositEvent::Held(1)])
            .when(DepositCommand::Hold(2))
            .then_err_matching("NotHeld", |e| matches!(e, DepositError::NotHeld));
    }

    #[test]
    #[should_panic(expected = "caused other events")]
    fn then_fails_on_other_events() {
        given::<Deposit>([DepositEvent::Held(1)])
            .when(DepositCommand::Release)
            .then([DepositEvent::Deducted(1)]);
    }

    #[test]
    #[should_panic(expected = "the command was refused")]
    fn then_fails_when_the_command_is_refused() {
        given::<Deposit>([])
            .when(DepositCommand::Release)
            .then([DepositEvent::Released]);
    }

    #[test]
    #[should_panic(expected = "expected no events")]
    fn then_nothing_fails_on_events() {
        given::<Deposit>([]).when(DepositCommand::Hold(1)).then_nothing();
    }

    #[test]
    fn the_codec_round_trips_and_names_what_it_cannot_read() {
        assert_round_trip::<Text>([
            DepositEvent::Held(200_000),
            DepositEvent::Deducted(-1),
            DepositEvent::Released,
        ]);
        assert_eq!(
            Text::decode("DepositFrozen", b""),
            Err(DecodeError::UnknownEvent {
                name: "DepositFrozen".into()
            })
        );
        let err = Text::decode("DepositHeld", b"lots").unwrap_err();
        assert!(matches!(&err, DecodeError::InvalidField { field, .. } if field == "amount"));
        assert_eq!(err.event_name(), "DepositHeld");
    }

    #[test]
    #[should_panic(expected = "did not survive encoding")]
    fn a_lossy_codec_fails_the_round_trip() {
        assert_round_trip::<Lossy>([DepositEvent::Held(200_000)]);
    }
}
