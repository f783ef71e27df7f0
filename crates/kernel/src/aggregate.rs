//! How a service's domain is written: an aggregate is two pure functions, `decide` (state and
//! command in, events or a broken rule out) and `evolve` (state and event in, state out), and an
//! event codec that names each event and turns it into bytes and back.
//!
//! The two are separate traits because they change for different reasons: the rules are the
//! business's, the codec is the wire's (protobuf in the services, which this crate does not
//! depend on). The event log's command handler needs both, for the same event type.

/// The pure domain side of an event-sourced aggregate. No I/O, no clock, no randomness: time and
/// ids come in with the command, so a decision can be replayed and tested exactly.
///
/// The functions are associated functions, not methods: an aggregate type is only a name for
/// its rules, the state is a plain value.
pub trait Aggregate: Send + Sync + 'static {
    /// The aggregate's subject token in the event log, e.g. `order`.
    const TYPE: &'static str;
    /// What the aggregate knows; `Default` is the state before its first event.
    type State: Default + Clone + Send + Sync + 'static;
    type Command: Send + Sync;
    type Event: Send + Sync;
    /// A business rule the command broke. Kept apart from failures of the machine (the log
    /// unreachable, a lost race), which the event log reports in its own error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The events that `command` causes in `state`, or the rule it breaks. An empty list means
    /// the command changes nothing (e.g. it repeats what already happened).
    fn decide(state: &Self::State, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// The state after `event`. Total: an event that was stored happened, so it cannot be
    /// refused here.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// How the state is written down for snapshots, for an aggregate that opts in (see
    /// [`Snapshot`]): `Some(SnapshotFormat::of::<Self>())`. `None`, the default, means the event
    /// log always folds the aggregate from its events. A constant rather than a trait bound, so
    /// the event log's command handler runs every aggregate the same way and picks snapshots up
    /// where they are declared.
    const SNAPSHOT: Option<SnapshotFormat<Self::State>> = None;
}

/// An aggregate whose state can be stored and read back, so that a cold load of a long-lived
/// aggregate (a vehicle: years of readings) reads a snapshot and only the events after it.
///
/// A snapshot is only ever a shortcut to the state its events fold to: the event log ignores one
/// of another [`VERSION`](Self::VERSION), one that does not decode, and one that claims more than
/// the stream holds, and then folds the events. So `decode_state(encode_state(s))` must equal `s`
/// exactly (test it), and `VERSION` must change whenever the encoding or the meaning of a field
/// changes, including when `evolve` starts to fold an event differently.
pub trait Snapshot: Aggregate {
    /// The format of the encoded state; snapshots of any other version are ignored.
    const VERSION: u32;

    fn encode_state(state: &Self::State) -> Result<Vec<u8>, SnapshotError>;

    fn decode_state(bytes: &[u8]) -> Result<Self::State, SnapshotError>;
}

/// A [`Snapshot`] implementation as plain values, which [`Aggregate::SNAPSHOT`] holds.
pub struct SnapshotFormat<S> {
    pub version: u32,
    pub encode: fn(&S) -> Result<Vec<u8>, SnapshotError>,
    pub decode: fn(&[u8]) -> Result<S, SnapshotError>,
}

impl<S> SnapshotFormat<S> {
    /// The format `A` implements.
    pub const fn of<A: Snapshot<State = S>>() -> Self {
        Self {
            version: A::VERSION,
            encode: A::encode_state,
            decode: A::decode_state,
        }
    }
}

// Derived impls would demand `S: Clone`; the fields are plain values whatever `S` is.
impl<S> Clone for SnapshotFormat<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for SnapshotFormat<S> {}

/// A state that could not be encoded, or bytes that are not a state of this version. The cause
/// (a serde error, usually) is kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("snapshot state: {source}")]
pub struct SnapshotError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl SnapshotError {
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self { source: source.into() }
    }
}

/// The wire form of a set of events. The event's name is written in one place, [`name`](Self::name):
/// the log stores it beside the payload (in the subject and the envelope), and
/// [`decode`](Self::decode) gets it back to know which message the bytes hold.
pub trait EventCodec {
    type Event;

    /// The event's stable name, e.g. `OrderPlaced`. Never reused for another meaning: stored
    /// events are read back by it for as long as the log keeps them.
    fn name(event: &Self::Event) -> &'static str;

    fn encode(event: &Self::Event) -> Vec<u8>;

    /// The event named `name` from its payload, or why the log holds something this code
    /// cannot read.
    fn decode(name: &str, payload: &[u8]) -> Result<Self::Event, DecodeError>;
}

/// A stored event this code cannot read. Each case names the event, so an operator can find the
/// record; the variants tell an unknown event (a newer writer, or a typo in a name) from a
/// payload that is broken or breaks the domain's invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No event of this name is known to the codec.
    #[error("unknown event {name:?}")]
    UnknownEvent { name: String },
    /// The payload is not a well-formed message of the event's type.
    #[error("cannot decode event {name}: {reason}")]
    Malformed { name: String, reason: String },
    /// A field the event always carries is absent.
    #[error("event {name}: {field} is missing")]
    MissingField { name: String, field: String },
    /// A field is present but its value is not valid for the domain (a plate that does not
    /// parse, a time out of range, an unknown enum value).
    #[error("event {name}: {field} is invalid: {reason}")]
    InvalidField {
        name: String,
        field: String,
        reason: String,
    },
}

impl DecodeError {
    pub fn unknown(name: impl Into<String>) -> Self {
        Self::UnknownEvent { name: name.into() }
    }

    pub fn malformed(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Malformed {
            name: name.into(),
            reason: reason.to_string(),
        }
    }

    pub fn missing(name: impl Into<String>, field: impl Into<String>) -> Self {
        Self::MissingField {
            name: name.into(),
            field: field.into(),
        }
    }

    pub fn invalid(name: impl Into<String>, field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::InvalidField {
            name: name.into(),
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// The name of the event that could not be read.
    pub fn event_name(&self) -> &str {
        match self {
            Self::UnknownEvent { name }
            | Self::Malformed { name, .. }
            | Self::MissingField { name, .. }
            | Self::InvalidField { name, .. } => name,
        }
    }
}
