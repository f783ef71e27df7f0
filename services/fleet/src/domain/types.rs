//! Values shared by the fleet's aggregates: models and the class ladder, ids, time on the wire.

use std::collections::BTreeMap;
use std::fmt::Debug;

use rentops_proto::common::VehicleModel;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The vehicle models of docs/domain.md's glossary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Model {
    Et5,
    Et5t,
    Et7,
    Es6,
    Ec6,
    Es7,
    Ec7,
    Es8,
}

impl Model {
    pub const ALL: [Model; 8] = [
        Model::Et5,
        Model::Et5t,
        Model::Et7,
        Model::Es6,
        Model::Ec6,
        Model::Es7,
        Model::Ec7,
        Model::Es8,
    ];

    /// The planner's and the database's name for the model.
    pub fn code(self) -> &'static str {
        match self {
            Model::Et5 => "ET5",
            Model::Et5t => "ET5T",
            Model::Et7 => "ET7",
            Model::Es6 => "ES6",
            Model::Ec6 => "EC6",
            Model::Es7 => "ES7",
            Model::Ec7 => "EC7",
            Model::Es8 => "ES8",
        }
    }

    pub fn from_code(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.code().eq_ignore_ascii_case(s))
    }

    pub fn pb(self) -> i32 {
        (match self {
            Model::Et5 => VehicleModel::Et5,
            Model::Et5t => VehicleModel::Et5t,
            Model::Et7 => VehicleModel::Et7,
            Model::Es6 => VehicleModel::Es6,
            Model::Ec6 => VehicleModel::Ec6,
            Model::Es7 => VehicleModel::Es7,
            Model::Ec7 => VehicleModel::Ec7,
            Model::Es8 => VehicleModel::Es8,
        }) as i32
    }

    pub fn from_pb(v: i32) -> Option<Model> {
        Some(match VehicleModel::try_from(v).ok()? {
            VehicleModel::Unspecified => return None,
            VehicleModel::Et5 => Model::Et5,
            VehicleModel::Et5t => Model::Et5t,
            VehicleModel::Et7 => Model::Et7,
            VehicleModel::Es6 => Model::Es6,
            VehicleModel::Ec6 => Model::Ec6,
            VehicleModel::Es7 => Model::Es7,
            VehicleModel::Ec7 => Model::Ec7,
            VehicleModel::Es8 => Model::Es8,
        })
    }
}

/// The class ladder of the planning examples (crates/planner/tests/data): which models may serve
/// an order for a model as a free upgrade. A city starts with it; `SetUpgrades` replaces it.
pub fn default_ladder() -> BTreeMap<Model, Vec<Model>> {
    use Model::*;
    BTreeMap::from([
        (Et5, vec![Et5t, Et7]),
        (Et5t, vec![Et7]),
        (Et7, vec![]),
        (Es6, vec![Ec6, Es7, Es8]),
        (Ec6, vec![Ec7]),
        (Es7, vec![Es8]),
        (Ec7, vec![]),
        (Es8, vec![]),
    ])
}

/// Default turnaround of a new city (minutes), as in the planning examples.
pub const DEFAULT_TURNAROUND_MINUTES: u32 = 60;
/// docs/domain.md: the frozen window defaults to 2 h before pickup.
pub const DEFAULT_FROZEN_WINDOW_MINUTES: u32 = 120;
/// A driver's default one-way time between a station and a customer's address.
pub const DEFAULT_DELIVERY_MINUTES: u32 = 30;

pub fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

/// A timestamp from the wire, or why not (years 1970..=9999 only: no business date lies outside).
pub fn from_ts(t: &prost_types::Timestamp) -> Result<OffsetDateTime, String> {
    rentops_runtime::validate::from_timestamp(t)
}

/// A timestamp of a decoded event: decoding checked it ([`check_times`]), so the fallback (the
/// epoch, for an unset field) is only ever reached for optional fields.
pub fn at(t: &Option<prost_types::Timestamp>) -> OffsetDateTime {
    t.as_ref()
        .and_then(|t| from_ts(t).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn at_opt(t: &Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    t.as_ref().and_then(|t| from_ts(t).ok())
}

/// Checks that every timestamp of a decoded event is in range (each event enum lists its
/// timestamps through [`Timestamps`]).
pub fn check_times<E: Timestamps>(event: &E) -> Result<(), String> {
    for t in event.timestamps().into_iter().flatten() {
        from_ts(t)?;
    }
    Ok(())
}

/// The timestamps an event carries, for checking at decode time.
pub trait Timestamps {
    fn timestamps(&self) -> Vec<Option<&prost_types::Timestamp>>;
}

/// A subject-token id (vehicle, driver, station, shift): 1..=64 of A–Z, a–z, 0–9, '_' or '-'.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A city code: 2..=8 of A–Z and 0–9 (e.g. SHA).
pub fn is_city(s: &str) -> bool {
    (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
