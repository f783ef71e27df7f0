//! Why an instance cannot be planned: every variant names the offending id or field, so the
//! caller can point a person at the line of the file to fix.

use thiserror::Error;

/// An invalid instance (or unreadable JSON).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The text is not JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A timestamp is not RFC 3339 with an offset.
    #[error("{field}: {value:?} is not an RFC 3339 time with offset")]
    InvalidTime { field: String, value: String },
    /// Planning works in whole minutes; seconds would make the minute arithmetic inexact.
    #[error("{field}: {value:?} is not a whole minute")]
    NotWholeMinute { field: String, value: String },
    /// The horizon ends before it starts.
    #[error("horizon_end is before horizon_start")]
    HorizonReversed,
    /// The same station is listed twice.
    #[error("stations: {0} is listed twice")]
    DuplicateStation(String),
    /// A field names a station that `stations` does not list.
    #[error("{field}: unknown station {station}")]
    UnknownStation { field: String, station: String },
    /// `travel_minutes` lacks a pair of distinct stations.
    #[error("travel_minutes[{from}][{to}] is missing")]
    MissingTravel { from: String, to: String },
    /// A travel time is negative or absurdly long (more than a year).
    #[error("travel_minutes[{from}][{to}] = {minutes} is out of range 0..=525600")]
    TravelOutOfRange { from: String, to: String, minutes: i64 },
    /// The turnaround is negative or absurdly long.
    #[error("turnaround_minutes = {0} is out of range 0..=525600")]
    TurnaroundOutOfRange(i64),
    /// Two vehicles share an id.
    #[error("vehicles: id {0} is used twice")]
    DuplicateVehicle(String),
    /// Two orders share an id.
    #[error("orders: id {0} is used twice")]
    DuplicateOrder(String),
    /// An order asks for a model no vehicle has and `upgrades` does not name.
    #[error("orders[{order}].model: unknown model {model}")]
    UnknownModel { order: String, model: String },
    /// An order returns no later than it is picked up.
    #[error("orders[{order}]: return_at is not after pickup_at")]
    ReturnBeforePickup { order: String },
    /// A blocked window ends before it starts.
    #[error("vehicles[{vehicle}].blocked: a window ends before it starts")]
    BlockedWindowReversed { vehicle: String },
    /// `previous_plan` names an order the instance does not have.
    #[error("previous_plan: unknown order {order}")]
    PreviousUnknownOrder { order: String },
    /// `previous_plan` names a vehicle the instance does not have.
    #[error("previous_plan: order {order} names unknown vehicle {vehicle}")]
    PreviousUnknownVehicle { order: String, vehicle: String },
    /// `previous_plan` assigns the same order twice.
    #[error("previous_plan: order {order} is assigned twice")]
    PreviousDuplicateOrder { order: String },
    /// The frozen window is negative or absurdly long.
    #[error("frozen.window_minutes = {0} is out of range 0..=525600")]
    FrozenWindowOutOfRange(i64),
}
