//! The fleet's aggregates, pure: no I/O, no clock, no randomness. Time and ids come in with each
//! command.
//!
//! Events, commands and states are domain types (`OffsetDateTime`, `VehicleModel`, `Plate`,
//! enums): each aggregate's event enum has one variant per event, carrying a struct named as the
//! event. [`codec`] maps each of them to and from its wire message in
//! `proto/rentops/fleet/v1/events.proto`, writing each event's name once; decoding refuses what
//! the domain cannot hold, so `evolve` and the projections read the events without failing.

pub mod city;
pub mod codec;
pub mod driver;
pub mod plan;
pub mod plate;
pub mod types;
pub mod vehicle;

#[cfg(test)]
mod tests;

pub use types::*;
