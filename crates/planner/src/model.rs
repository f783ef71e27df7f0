//! The instance and plan files as FORMAT.md describes them (serde types), and their JSON helpers.
//!
//! Times stay the strings of the file here; `problem` parses and validates them once, so that a
//! plan written back keeps the caller's exact text. Unknown JSON fields are ignored (serde's
//! default), because instances carry fields other services add.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PlanError;

/// A planning instance: the fleet, the orders, and optionally the plan in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Instance {
    /// City code; informational only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Start of the horizon the idle rate is measured over (RFC 3339 with offset).
    pub horizon_start: String,
    /// End of that horizon.
    pub horizon_end: String,
    /// Cleaning and hand-over time after every return, before the car may leave again.
    pub turnaround_minutes: i64,
    /// Every station name that the other fields may use.
    pub stations: Vec<String>,
    /// `travel_minutes[a][b]`: driving time from a to b (a missing `a == b` entry means 0).
    pub travel_minutes: BTreeMap<String, BTreeMap<String, i64>>,
    /// `upgrades[m]`: the models that may serve an order for `m` as a free upgrade.
    #[serde(default)]
    pub upgrades: BTreeMap<String, Vec<String>>,
    /// The cars.
    #[serde(default)]
    pub vehicles: Vec<Vehicle>,
    /// The orders to serve.
    #[serde(default)]
    pub orders: Vec<Order>,
    /// The plan in force; moving its assignments costs stability (objective 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_plan: Option<Vec<Assignment>>,
    /// The frozen window: previous assignments picked up before `now + window` stay put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<Frozen>,
}

/// One car.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Vehicle {
    /// Unique id.
    pub id: String,
    /// Its model; decides which orders it may serve.
    pub model: String,
    /// Where it stands at `available_from`.
    pub station: String,
    /// When it may first leave for a pickup.
    pub available_from: String,
    /// Maintenance or breakdown windows: the car can do nothing then.
    #[serde(default)]
    pub blocked: Vec<Window>,
}

/// A time window `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Window {
    /// Start (RFC 3339).
    pub from: String,
    /// End (RFC 3339).
    pub to: String,
}

/// One rental order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Order {
    /// Unique id.
    pub id: String,
    /// The requested model; it or an allowed upgrade fulfils the order.
    pub model: String,
    /// Where the customer takes the car.
    pub pickup_station: String,
    /// When the customer takes the car.
    pub pickup_at: String,
    /// Where the customer brings it back.
    pub return_station: String,
    /// When the customer brings it back.
    pub return_at: String,
}

/// The frozen window (docs/domain.md, "Scheduling"): assignments of `previous_plan` whose pickup is
/// at most `window_minutes` after `now` move only when their car is blocked over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    /// The planning moment (RFC 3339).
    pub now: String,
    /// Length of the frozen window; 120 by default.
    #[serde(default = "default_window")]
    pub window_minutes: i64,
}

fn default_window() -> i64 {
    120
}

/// One order served by one car.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Assignment {
    /// Order id.
    pub order: String,
    /// Vehicle id.
    pub vehicle: String,
}

/// A plan: which car serves which order, and the orders left unserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Plan {
    /// The assignments, by pickup time of the order, then order id.
    pub assignments: Vec<Assignment>,
    /// Orders no car serves, by pickup time, then order id.
    #[serde(default)]
    pub unassigned: Vec<String>,
}

impl Instance {
    /// Reads an instance from JSON text; it is validated only by [`crate::plan`] and
    /// [`crate::check`].
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))
    }

    /// The instance as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and maps cannot fail; fall back to an empty object
        // rather than panic, as the style asks.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl Plan {
    /// Reads a plan from JSON text.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))
    }

    /// The plan as JSON text in FORMAT.md's shape.
    pub fn to_json(&self) -> String {
        // See `Instance::to_json`: serialising strings cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}
