//! Value types of the order domain: each parsed once at the edge, valid thereafter. Money,
//! vehicle models, plates and city codes are the kernel's, shared with fleet.

pub use rentops_kernel::{CityCode, CoverTier, Fen, Plate, VehicleModel};
// Models in the stored order JSON keep their old spelling (see the module's documentation).
use rentops_kernel::vehicle::stored_json as model_json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Namespace of order ids: UUID v5 of the channel's natural key, so a retried placement maps to
/// the same order and can never create a twin.
const ORDER_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_3c1e_8d7b_4e5a_9a51_2f1d_0c7e_a001);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    App,
    MiniProgram,
    Web,
    CallCenter,
    Partner,
}

impl Channel {
    pub fn code(self) -> &'static str {
        match self {
            Self::App => "APP",
            Self::MiniProgram => "MINI_PROGRAM",
            Self::Web => "WEB",
            Self::CallCenter => "CALL_CENTER",
            Self::Partner => "PARTNER",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "APP" => Self::App,
            "MINI_PROGRAM" => Self::MiniProgram,
            "WEB" => Self::Web,
            "CALL_CENTER" => Self::CallCenter,
            "PARTNER" => Self::Partner,
            _ => return None,
        })
    }
}

/// The order id for a channel's order reference.
pub fn order_id_for(channel: Channel, partner_code: &str, channel_order_ref: &str) -> Uuid {
    Uuid::new_v5(
        &ORDER_NAMESPACE,
        format!("{}|{}|{}", channel.code(), partner_code, channel_order_ref).as_bytes(),
    )
}

/// A plate in the stored JSON: the dotted form (`沪A·D12345`) as before, and `""` for a
/// handover that names no car (a return: the car is the one handed over), as before.
pub mod plate_json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Plate;

    pub fn serialize<S: Serializer>(p: &Option<Plate>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => p.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Plate>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        Plate::parse(&text).map(Some).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    Station(String),
    Address(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactOutcome {
    Reached,
    NoAnswer,
    WrongNumber,
    CallBackLater,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelledBy {
    Customer,
    Desk,
    /// No car could serve it: a fulfilment failure.
    Shortage,
    Channel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Placed,
    Confirmed,
    PickedUp,
    Returned,
    Completed,
    Cancelled,
    NoShow,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Self::Placed => "PLACED",
            Self::Confirmed => "CONFIRMED",
            Self::PickedUp => "PICKED_UP",
            Self::Returned => "RETURNED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::NoShow => "NO_SHOW",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Placed,
            Self::Confirmed,
            Self::PickedUp,
            Self::Returned,
            Self::Completed,
            Self::Cancelled,
            Self::NoShow,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// What the customer booked: everything a placement carries and a change may alter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub channel: Channel,
    pub partner_code: String,
    pub channel_order_ref: String,
    pub customer: Customer,
    pub city: CityCode,
    pub pickup_location: Location,
    #[serde(with = "time::serde::rfc3339")]
    pub pickup_at: OffsetDateTime,
    pub return_location: Location,
    #[serde(with = "time::serde::rfc3339")]
    pub return_at: OffsetDateTime,
    #[serde(with = "model_json")]
    pub model: VehicleModel,
    pub add_ons: Vec<String>,
    pub price: Fen,
    pub rental_deposit: Fen,
    pub violation_deposit: Fen,
    pub notes: String,
    /// The agreement's cover tier (orders stored before it was recorded read as basic).
    #[serde(default)]
    pub cover: CoverTier,
}

/// A car handed over or taken back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Empty for a return until it is folded onto the order (the car handed over).
    pub vehicle_id: String,
    /// `None` for a return until it is folded onto the order (the car handed over).
    #[serde(with = "plate_json")]
    pub plate: Option<Plate>,
    pub odometer_km: i64,
    pub charge_percent: u32,
    pub damage_noted: String,
    pub location: Option<Location>,
    /// At a pickup: the car fleet's plan held, when another car was handed over (set by the
    /// order, not by the caller). Always `None` on a return.
    #[serde(default)]
    pub planned_vehicle_id: Option<String>,
}

/// A car and its readings at a swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapReading {
    pub vehicle_id: String,
    /// `None` when not known (the car taken out: the order knows it by its vehicle id).
    #[serde(with = "plate_json")]
    pub plate: Option<Plate>,
    pub odometer_km: i64,
    pub charge_percent: u32,
}

/// The car on hire replaced during the hire (docs/domain.md: a breakdown during a hire is
/// swapped): from `at` on, `replacement` is on hire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub location: Option<Location>,
    pub broken: SwapReading,
    pub replacement: SwapReading,
    pub reason: String,
    pub notes: String,
    /// Who recorded it: the command's actor.
    pub recorded_by: String,
}

/// The confirmation policy (configuration, docs/domain.md defaults): contact within `contact_within`
/// of placement, or at once when pickup is sooner than `urgent_within` away; retry an unanswered
/// call after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactPolicy {
    pub contact_within: time::Duration,
    pub urgent_within: time::Duration,
    pub retry_after: time::Duration,
}

impl Default for ContactPolicy {
    fn default() -> Self {
        Self {
            contact_within: time::Duration::hours(2),
            urgent_within: time::Duration::hours(24),
            retry_after: time::Duration::minutes(30),
        }
    }
}

impl ContactPolicy {
    /// When the first contact attempt is due for an order placed at `placed_at`.
    pub fn contact_due(&self, placed_at: OffsetDateTime, pickup_at: OffsetDateTime) -> OffsetDateTime {
        if pickup_at - placed_at < self.urgent_within {
            placed_at
        } else {
            placed_at + self.contact_within
        }
    }
}

/// The car fleet's plan holds for an order (docs/domain.md: `fleet` → `order`, a car assigned or
/// re-assigned). Recorded from fleet's plan events; the order does not choose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedVehicle {
    pub vehicle_id: String,
    /// `None` when fleet's plate is not one the kernel's rule accepts (a car registered under
    /// an older, looser check): the assignment stands on the vehicle id.
    #[serde(with = "plate_json")]
    pub plate: Option<Plate>,
    /// `None` only when fleet's event named a model this code does not know.
    #[serde(default, with = "model_json::option")]
    pub model: Option<VehicleModel>,
    /// A car of a higher class than the requested model (a free upgrade).
    pub upgrade: bool,
}

/// No car can serve the order (fleet's plan): the desk should call the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRisk {
    /// The planner's code, e.g. `NO_COMPATIBLE_MODEL`.
    pub reason: String,
    /// The planner's text for the desk.
    pub explanation: String,
}
