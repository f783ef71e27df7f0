//! The order aggregate's rules, pure: no I/O, no clock, no randomness. Time comes in with each
//! command; ids are derived from the channel's natural key.

pub mod codec;
pub mod order;
pub mod types;

#[cfg(test)]
pub(crate) mod tests;

pub use order::{BookingChanges, NO_DRIVER, Order, OrderAggregate, OrderCommand, OrderError, OrderEvent, OrderState};
pub use types::*;
