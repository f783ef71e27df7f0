//! The complaint domain, pure: no I/O, no clock.
//!
//! - [`case`]: one complaint case, from opening to closing (`case` aggregate), its severity by
//!   the service standard.
//! - [`sla`]: the SLA policies and clocks: time spent, when the at-risk share and the target
//!   fall, the desk's view.
//! - [`hot_spot`]: a category up sharply period over period, raised once (`hotspot` aggregate).
//! - [`taxonomy`]: categories, sub-categories and root causes (configuration).
//! - [`codec`]: the events' wire mapping.

pub mod case;
pub mod codec;
pub mod hot_spot;
pub mod sla;
pub mod taxonomy;

#[cfg(test)]
mod tests;

pub use case::{
    Case, CaseAggregate, CaseCommand, CaseError, CaseEvent, Channel, CloseReason, Due, Links, Opened, Remedy, Severity,
    Status, WaitingOn, severity_by_standard,
};
pub use sla::{ClockKind, ClockState, ClockView, Policies, Threshold};
pub use taxonomy::{Standard, Taxonomy};

/// The namespace of the ids this service derives, so a retried request names the same case.
pub const CASE_NAMESPACE: uuid::Uuid = uuid::uuid!("8f2d6c1e-4b7a-4c39-9e51-6a0d2f3b7c02");

/// The case a request to open one creates: the same for a retry of the request.
pub fn case_id_for_request(request_id: &str) -> String {
    uuid::Uuid::new_v5(&CASE_NAMESPACE, format!("open-case:{request_id}").as_bytes()).to_string()
}
