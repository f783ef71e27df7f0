//! The receivables domain, pure: no I/O, no clock.
//!
//! - [`violation`]: one traffic violation, its match and its ladder (`violation` aggregate).
//! - [`ladder`]: the dunning ladder's steps, days and notices (configuration).
//! - [`custody`]: who had the car with a plate at a moment.
//! - [`ledger`]: the customers' ledger (`rentops-ledger`) as the `ledger` aggregate.
//! - [`claim`]: a repair claim and what the renter pays for it (`claim` aggregate).
//! - [`codec`], [`claim_codec`]: the events' wire mapping.

pub mod claim;
pub mod claim_codec;
pub mod codec;
pub mod custody;
pub mod ladder;
pub mod ledger;
pub mod violation;

#[cfg(test)]
mod tests;

pub use claim::{ClaimAggregate, Terms};
pub use ladder::{Ladder, Step};
pub use ledger::LedgerAggregate;
pub use violation::{
    Match, Record, Resolution, Responsibility, Status, Unmatched, UnmatchedReason, Violation, ViolationAggregate,
    ViolationCommand, ViolationError, ViolationEvent,
};

/// The namespace of the booking ids this service derives (a violation's charge, a request's
/// booking), so a retried step or request names the same booking.
pub const BOOKING_NAMESPACE: uuid::Uuid = uuid::uuid!("5b0e4a52-2c7e-4a4e-9a55-1f0a3c6d7e01");

/// The ledger booking of `violation_id`'s charge: the same however often the step is tried.
pub fn charge_booking_id(violation_id: &str) -> rentops_ledger::BookingId {
    rentops_ledger::BookingId(uuid::Uuid::new_v5(
        &BOOKING_NAMESPACE,
        format!("violation-charge:{violation_id}").as_bytes(),
    ))
}

/// The booking a command request makes: the same for a retry of the request.
pub fn request_booking_id(customer: &str, request_id: &str) -> rentops_ledger::BookingId {
    rentops_ledger::BookingId(uuid::Uuid::new_v5(
        &BOOKING_NAMESPACE,
        format!("request:{customer}:{request_id}").as_bytes(),
    ))
}
