//! The event log of a rentops service, on NATS JetStream.
//!
//! - [`stream`]: creates or updates the service's stream at start, and refuses a server older than
//!   2.12 (the wildcard expected-sequence check and atomic batches need it).
//! - [`store`]: appends one decision's events atomically with the wildcard expected-sequence
//!   check and `Nats-Msg-Id` de-duplication; loads one aggregate's events (batched direct gets
//!   by subject, checked against the stream leader).
//! - [`snapshot`]: the KV bucket of snapshots that long-lived aggregates load from.
//! - [`envelope`]: the CloudEvents binary-mode headers, W3C trace context and the
//!   correlation / causation / actor headers every event carries.
//! - [`aggregate`]: the command handler that runs a domain's aggregate (the traits
//!   `rentops_kernel::Aggregate` and `rentops_kernel::EventCodec`, pure, which domain code
//!   implements without depending on this crate), keeps hot aggregates in memory, retries lost
//!   races and answers retried commands.

pub mod aggregate;
pub mod envelope;
pub mod snapshot;
pub mod store;
pub mod stream;
pub mod testing;
pub mod trace;

pub use aggregate::{CommandHandler, CommandMeta, ExecuteError, Executed, HandlerConfig, LogFailure};
pub use envelope::{EventMeta, RecordedEvent, TraceContext};
pub use snapshot::{RememberedRequest, SnapshotError, SnapshotRecord};
pub use store::{
    AppendError, AppendOk, AppendRequest, EventStore, InvalidAppend, LoadError, Loaded, NewEvent, Unreachable,
};
pub use stream::{StreamError, StreamSettings, connect, ensure_snapshot_bucket, ensure_stream, open};
