//! Reactions, written once for every service.
//!
//! - [`events`]: a **reactor** (a process manager) reads another service's events from a durable
//!   consumer and issues commands on this service's aggregates, each with the causing event's id
//!   as its request id, so a redelivered event changes nothing twice.
//! - [`scan`]: a **due-item scanner** runs passes over this service's projection (a deadline
//!   reached, a dunning step due, an outbox row waiting) and issues the commands that are due,
//!   with request ids derived from the item, so several replicas scanning at once produce each
//!   step once.
//! - [`progress`]: both report how far they have got — the last stream sequence handled, the
//!   passes started and finished — so a test waits on that instead of sleeping.
//! - [`backoff`]: retries back off exponentially with full jitter, so replicas that failed
//!   together do not retry together.

pub mod backoff;
pub mod events;
pub mod progress;
pub mod scan;

pub use backoff::Backoff;
pub use events::{React, Reaction, Subscription, run_reactor};
pub use progress::{Position, Progress, ProgressWatch, WaitTimedOut};
pub use scan::{Scan, Schedule, run_scan};
