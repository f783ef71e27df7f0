//! Values shared by the fleet's aggregates: ids, time on the wire. Models, the class ladder a
//! city starts with (the planning examples', crates/planner/tests/data) and plates are the
//! kernel's, shared with order; their wire mappings are the proto crate's.

pub use rentops_kernel::{CityCode, Plate, VehicleModel, default_ladder};
pub use rentops_proto::model::{model_from_pb, model_to_pb};
pub use rentops_proto::timestamp::to_timestamp as ts;
use time::OffsetDateTime;

/// Default turnaround of a new city (minutes), as in the planning examples.
pub const DEFAULT_TURNAROUND_MINUTES: u32 = 60;
/// docs/domain.md: the frozen window defaults to 2 h before pickup.
pub const DEFAULT_FROZEN_WINDOW_MINUTES: u32 = 120;
/// A driver's default one-way time between a station and a customer's address.
pub const DEFAULT_DELIVERY_MINUTES: u32 = 30;

/// A timestamp from the wire, or why not (years 1970..=9999 only: no business date lies outside).
pub fn from_ts(t: &prost_types::Timestamp) -> Result<OffsetDateTime, rentops_kernel::TimestampError> {
    rentops_proto::timestamp::from_timestamp(t)
}

/// A timestamp of the order service's wire messages, which the demand projection reads as they
/// are (the fleet's own events decode to domain times in `codec`); the epoch when unset or out of
/// range, as that projection has always read them.
pub fn at(t: &Option<prost_types::Timestamp>) -> OffsetDateTime {
    t.as_ref()
        .and_then(|t| from_ts(t).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A subject-token id (vehicle, driver, station, shift): 1..=64 of A–Z, a–z, 0–9, '_' or '-'.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A city code by the kernel's rule (2..=8 of A–Z and 0–9, e.g. SHA), as given: untrimmed text
/// is not one.
pub fn is_city(s: &str) -> bool {
    s.trim() == s && CityCode::parse(s).is_ok()
}
