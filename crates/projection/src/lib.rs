//! The read side: checkpointed JetStream consumers that apply a service's events to its own
//! database (SQLite embedded, PostgreSQL in production) through one sqlx code path.
//!
//! - [`db`]: connecting to either backend, migrations, `$n` placeholder helpers.
//! - [`projector`]: the consumer loop. Each batch is applied in one transaction that also moves
//!   the checkpoint, so every event takes effect exactly once even when redelivered.
//! - [`shadow`]: a rebuild replays from sequence 1 into a view beside the live one, which keeps
//!   answering queries until the new one replaces it in one transaction.
//! - [`lease`]: one replica at a time runs a projector (a JetStream KV key with a TTL).
//! - [`deferred`]: the rebuild-under-way marker; indexes an older in-place rebuild set aside.
//! - [`checkpoint`]: read-your-writes — wait until a projection has reached a sequence, or has
//!   nothing left to apply up to it.
//! - [`rows`]: what a projection's `apply_event` needs: the event's error, its protobuf body,
//!   a row's JSON state read back.
//! - [`admin`]: `rentops.admin.v1.ProjectionAdmin`, the SRE API (status, rebuild) every service
//!   serves over its projectors.

pub mod admin;
pub mod checkpoint;
pub mod db;
pub mod deferred;
pub mod lease;
pub mod projector;
pub mod query;
pub mod rows;
pub mod shadow;

pub use admin::ProjectionAdminApi;
pub use checkpoint::{Checkpoints, WaitError};
pub use db::{Backend, Db, DbError};
pub use lease::{Lease, LeaseError, LeaseSettings};
pub use projector::{Projection, ProjectionError, Projector, ProjectorHandle, ProjectorSettings, RebuildError};
pub use query::QueryError;
