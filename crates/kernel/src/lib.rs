//! The domain kernel of rentops: the types and rules every service's pure domain code shares,
//! with no I/O, no clock and no randomness. Services depend on this crate for their `domain/`
//! modules; only their wiring depends on the event log. (The one exception to "no I/O" is
//! [`Calendar::from_file`], which a service calls once at start-up to read an operator's
//! holiday data.)
//!
//! Every parser here returns a typed error that names what is wrong, so a service can turn it
//! into a field violation as it is; nothing panics on any input, and arithmetic that can
//! overflow is checked.
//!
//! Layout, one module per concern:
//!
//! - [`aggregate`]: the pure [`Aggregate`] trait (`decide` / `evolve`), the [`EventCodec`] that
//!   names and (de)serialises events, the typed [`DecodeError`], and [`Snapshot`], through which
//!   a long-lived aggregate lets the event log store its state.
//! - [`money`]: [`Fen`], integer fen with checked arithmetic and exact parsing of yuan.
//! - [`calendar`]: the working-day [`Calendar`] (Chinese holidays and make-up working days as
//!   data per year, embedded and extendable from a file), working-day arithmetic and business
//!   hours over a [`WeeklySchedule`] for SLA clocks.
//! - [`ids`]: parsed ids ([`OrderId`], [`CustomerId`], [`VehicleId`], [`StationId`],
//!   [`CityCode`]), each refusing what it cannot be with an [`IdError`] naming the fault.
//! - [`plate`]: [`Plate`], one normalisation and validation rule for Chinese licence plates.
//! - [`timestamp`]: `OffsetDateTime` to and from unix microseconds, RFC 3339 and a protobuf
//!   timestamp's `(seconds, nanos)`, each checked.
//! - [`vehicle`]: [`VehicleModel`], its [`VehicleClass`] and the default class ladder.
//! - `testing` (feature `testing`): `given(history).when(command).then(events)` /
//!   `.then_err(error)` for services' domain tests. A service turns it on for its tests only:
//!   `rentops-kernel = { workspace = true, features = ["testing"] }` under `[dev-dependencies]`.

pub mod aggregate;
pub mod calendar;
pub mod cover;
pub mod ids;
pub mod money;
pub mod plate;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timestamp;
pub mod vehicle;

pub use aggregate::{Aggregate, DecodeError, EventCodec, Snapshot, SnapshotError, SnapshotFormat};
pub use calendar::{
    Calendar, CalendarDataError, CalendarError, DayHours, DayKind, Holiday, Interval, Notice, ScheduleError,
    WeeklySchedule,
};
pub use cover::CoverTier;
pub use ids::{CityCode, CustomerId, IdError, OrderId, StationId, VehicleId};
pub use money::{Fen, MoneyError};
pub use plate::{Plate, PlateError, PlateKind};
pub use timestamp::TimestampError;
pub use vehicle::{BodyFamily, UnknownModel, VehicleClass, VehicleModel, default_ladder};
