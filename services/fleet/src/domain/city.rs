//! The city aggregate (id = city code): the configuration plans are made from — stations, the
//! station-to-station travel times, turnaround, the class ladder, the frozen window and where
//! delivery orders are planned from. Held as events so that every plan can be explained by the
//! data it was made from. A new city is configured with docs/domain.md's defaults written out as
//! events (turnaround 60 min, the planning examples' ladder), never implied by code.

use std::collections::BTreeMap;

use rentops_kernel::{Aggregate, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

use super::types::*;
/// A city's configuration events, each a domain fact; their wire form is in `super::codec`.
#[derive(Debug, Clone, PartialEq)]
pub enum CityEvent {
    CityConfigured(CityConfigured),
    StationAdded(StationAdded),
    TravelTimesSet(TravelTimesSet),
    TurnaroundSet(TurnaroundSet),
    UpgradesSet(UpgradesSet),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CityConfigured {
    pub city: String,
    pub name: String,
    /// Where delivery / collection orders are planned from when no station serves the
    /// address's district; empty for none.
    pub default_station: String,
    pub delivery_minutes: u32,
    pub frozen_window_minutes: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StationAdded {
    pub city: String,
    pub station_id: String,
    pub name: String,
    /// Districts whose addresses this station serves for delivery and collection.
    pub districts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TravelTime {
    pub from_station: String,
    pub to_station: String,
    pub minutes: u32,
}

/// Sets (or replaces) the given station-to-station times; pairs not named keep their times.
#[derive(Debug, Clone, PartialEq)]
pub struct TravelTimesSet {
    pub city: String,
    pub times: Vec<TravelTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TurnaroundSet {
    pub city: String,
    pub minutes: u32,
    /// Extra time for a car returned with little charge; `None`: no such rule.
    pub low_charge: Option<LowCharge>,
}

/// A car last read below `below_percent` charge needs `extra_minutes` more turnaround before it
/// may leave again (charging takes longer than cleaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowCharge {
    pub below_percent: u32,
    pub extra_minutes: u32,
}

/// Replaces the city's class ladder: model → the models that may serve it as a free upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradesSet {
    pub city: String,
    pub ladder: BTreeMap<VehicleModel, Vec<VehicleModel>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    pub name: String,
    pub districts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct City {
    pub city: String,
    pub name: String,
    pub default_station: String,
    pub delivery_minutes: u32,
    pub frozen_window_minutes: u32,
    pub turnaround_minutes: u32,
    /// (`default`: states stored before the rule existed.)
    #[serde(default)]
    pub low_charge: Option<LowCharge>,
    pub stations: BTreeMap<String, Station>,
    /// from → to → minutes.
    pub travel: BTreeMap<String, BTreeMap<String, u32>>,
    // The stored JSON keeps its old spelling of models (see the kernel's `stored_json`).
    #[serde(with = "rentops_kernel::vehicle::stored_json::ladder")]
    pub upgrades: BTreeMap<VehicleModel, Vec<VehicleModel>>,
}

impl City {
    /// The turnaround a car needs after a return at `charge_percent`: the city's, plus the
    /// low-charge rule's extra when the charge is below its level.
    pub fn turnaround_after(&self, charge_percent: u32) -> u32 {
        let extra = self
            .low_charge
            .filter(|r| charge_percent < r.below_percent)
            .map_or(0, |r| r.extra_minutes);
        self.turnaround_minutes.saturating_add(extra)
    }

    /// Travel minutes from a to b (0 for a == b); None when not configured.
    pub fn travel(&self, a: &str, b: &str) -> Option<u32> {
        if a == b {
            return Some(0);
        }
        self.travel.get(a).and_then(|row| row.get(b)).copied()
    }

    /// The station a delivery / collection address is planned from: the station whose districts
    /// name a district the address contains (the longest such district name wins, then the
    /// station id), else the city's default station. Addresses are free text from the order
    /// service; districts are the desk's way to say which station's drivers serve them.
    pub fn station_for_address(&self, address: &str) -> Option<String> {
        let mut best: Option<(usize, &String)> = None;
        for (id, s) in &self.stations {
            for d in &s.districts {
                if !d.is_empty() && address.contains(d.as_str()) && best.is_none_or(|(len, _)| d.len() > len) {
                    best = Some((d.len(), id));
                }
            }
        }
        best.map(|(_, id)| id.clone())
            .or_else(|| Some(self.default_station.clone()).filter(|s| !s.is_empty()))
    }

    /// Whether `car` may serve an order for `requested` (itself or an allowed upgrade).
    pub fn serves(&self, car: VehicleModel, requested: VehicleModel) -> bool {
        car == requested || self.upgrades.get(&requested).is_some_and(|u| u.contains(&car))
    }
}

pub type CityState = Option<City>;

#[derive(Debug, Clone, PartialEq)]
pub enum CityCommand {
    Configure {
        city: String,
        name: String,
        default_station: String,
        delivery_minutes: u32,
        /// `None`: the city's current window, or the default for a new city; `Some(0)`: none.
        frozen_window_minutes: Option<u32>,
    },
    AddStation {
        station_id: String,
        name: String,
        districts: Vec<String>,
    },
    SetTravelTimes {
        times: Vec<(String, String, u32)>,
        symmetric: bool,
    },
    /// `low_charge` `None`: the city's low-charge rule stays; `Some(None)`: no rule.
    SetTurnaround {
        minutes: u32,
        low_charge: Option<Option<LowCharge>>,
    },
    SetUpgrades(BTreeMap<VehicleModel, Vec<VehicleModel>>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CityError {
    #[error("city not configured")]
    NotFound,
    #[error("{field}: unknown station {station}")]
    UnknownStation { field: String, station: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// At most a week between two stations of one city.
pub const MAX_TRAVEL_MINUTES: u32 = 7 * 24 * 60;

pub struct CityAggregate;

impl CityAggregate {
    pub fn decide(state: &CityState, command: &CityCommand) -> Result<Vec<CityEvent>, CityError> {
        let city = match (state, command) {
            (
                None,
                CityCommand::Configure {
                    city,
                    name,
                    default_station,
                    delivery_minutes,
                    frozen_window_minutes,
                },
            ) => {
                if !default_station.is_empty() {
                    return Err(CityError::UnknownStation {
                        field: "default_station".into(),
                        station: default_station.clone(),
                    });
                }
                return Ok(vec![
                    CityEvent::CityConfigured(CityConfigured {
                        city: city.clone(),
                        name: name.clone(),
                        default_station: String::new(),
                        delivery_minutes: *delivery_minutes,
                        frozen_window_minutes: frozen_window_minutes.unwrap_or(DEFAULT_FROZEN_WINDOW_MINUTES),
                    }),
                    CityEvent::TurnaroundSet(TurnaroundSet {
                        city: city.clone(),
                        minutes: DEFAULT_TURNAROUND_MINUTES,
                        low_charge: None,
                    }),
                    CityEvent::UpgradesSet(UpgradesSet {
                        city: city.clone(),
                        ladder: default_ladder(),
                    }),
                ]);
            }
            (None, _) => return Err(CityError::NotFound),
            (Some(c), _) => c,
        };
        let code = city.city.clone();
        match command {
            CityCommand::Configure {
                name,
                default_station,
                delivery_minutes,
                frozen_window_minutes,
                ..
            } => {
                let frozen_window_minutes = frozen_window_minutes.unwrap_or(city.frozen_window_minutes);
                if !default_station.is_empty() && !city.stations.contains_key(default_station) {
                    return Err(CityError::UnknownStation {
                        field: "default_station".into(),
                        station: default_station.clone(),
                    });
                }
                if city.name == *name
                    && city.default_station == *default_station
                    && city.delivery_minutes == *delivery_minutes
                    && city.frozen_window_minutes == frozen_window_minutes
                {
                    return Ok(vec![]);
                }
                Ok(vec![CityEvent::CityConfigured(CityConfigured {
                    city: code,
                    name: name.clone(),
                    default_station: default_station.clone(),
                    delivery_minutes: *delivery_minutes,
                    frozen_window_minutes,
                })])
            }
            CityCommand::AddStation {
                station_id,
                name,
                districts,
            } => {
                let new = Station {
                    name: name.clone(),
                    districts: districts.clone(),
                };
                if city.stations.get(station_id) == Some(&new) {
                    return Ok(vec![]);
                }
                Ok(vec![CityEvent::StationAdded(StationAdded {
                    city: code,
                    station_id: station_id.clone(),
                    name: name.clone(),
                    districts: districts.clone(),
                })])
            }
            CityCommand::SetTravelTimes { times, symmetric } => {
                let mut out = Vec::new();
                for (i, (a, b, m)) in times.iter().enumerate() {
                    for (field, s) in [("from_station", a), ("to_station", b)] {
                        if !city.stations.contains_key(s) {
                            return Err(CityError::UnknownStation {
                                field: format!("times[{i}].{field}"),
                                station: s.clone(),
                            });
                        }
                    }
                    if *m > MAX_TRAVEL_MINUTES {
                        return Err(CityError::Invalid {
                            field: format!("times[{i}].minutes"),
                            message: format!("at most {MAX_TRAVEL_MINUTES}"),
                        });
                    }
                    if a == b && *m != 0 {
                        return Err(CityError::Invalid {
                            field: format!("times[{i}].minutes"),
                            message: "a station is 0 minutes from itself".into(),
                        });
                    }
                    out.push((a.clone(), b.clone(), *m));
                    if *symmetric && a != b {
                        out.push((b.clone(), a.clone(), *m));
                    }
                }
                out.retain(|(a, b, m)| city.travel(a, b) != Some(*m));
                out.sort();
                out.dedup();
                if out.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![CityEvent::TravelTimesSet(TravelTimesSet {
                    city: code,
                    times: out
                        .into_iter()
                        .map(|(a, b, m)| TravelTime {
                            from_station: a,
                            to_station: b,
                            minutes: m,
                        })
                        .collect(),
                })])
            }
            CityCommand::SetTurnaround { minutes, low_charge } => {
                if *minutes > 24 * 60 {
                    return Err(CityError::Invalid {
                        field: "minutes".into(),
                        message: "at most 1440".into(),
                    });
                }
                let low_charge = low_charge.unwrap_or(city.low_charge);
                if let Some(r) = low_charge {
                    if !(1..=100).contains(&r.below_percent) {
                        return Err(CityError::Invalid {
                            field: "low_charge_below_percent".into(),
                            message: "1 to 100 (0 for no low-charge rule)".into(),
                        });
                    }
                    if r.extra_minutes > 24 * 60 {
                        return Err(CityError::Invalid {
                            field: "low_charge_extra_minutes".into(),
                            message: "at most 1440".into(),
                        });
                    }
                }
                if city.turnaround_minutes == *minutes && city.low_charge == low_charge {
                    return Ok(vec![]);
                }
                Ok(vec![CityEvent::TurnaroundSet(TurnaroundSet {
                    city: code,
                    minutes: *minutes,
                    low_charge,
                })])
            }
            CityCommand::SetUpgrades(ladder) => {
                for (m, ups) in ladder {
                    if ups.contains(m) {
                        return Err(CityError::Invalid {
                            field: "rules".into(),
                            message: format!("{} cannot be its own upgrade", m.code()),
                        });
                    }
                }
                if city.upgrades == *ladder {
                    return Ok(vec![]);
                }
                Ok(vec![CityEvent::UpgradesSet(UpgradesSet {
                    city: code,
                    ladder: ladder.clone(),
                })])
            }
        }
    }

    pub fn evolve(state: CityState, event: &CityEvent) -> CityState {
        if let CityEvent::CityConfigured(e) = event
            && state.is_none()
        {
            return Some(City {
                city: e.city.clone(),
                name: e.name.clone(),
                default_station: e.default_station.clone(),
                delivery_minutes: e.delivery_minutes,
                frozen_window_minutes: e.frozen_window_minutes,
                turnaround_minutes: DEFAULT_TURNAROUND_MINUTES,
                low_charge: None,
                stations: BTreeMap::new(),
                travel: BTreeMap::new(),
                upgrades: BTreeMap::new(),
            });
        }
        let mut c = state?;
        match event {
            CityEvent::CityConfigured(e) => {
                c.name = e.name.clone();
                c.default_station = e.default_station.clone();
                c.delivery_minutes = e.delivery_minutes;
                c.frozen_window_minutes = e.frozen_window_minutes;
            }
            CityEvent::StationAdded(e) => {
                c.stations.insert(
                    e.station_id.clone(),
                    Station {
                        name: e.name.clone(),
                        districts: e.districts.clone(),
                    },
                );
            }
            CityEvent::TravelTimesSet(e) => {
                for t in &e.times {
                    c.travel
                        .entry(t.from_station.clone())
                        .or_default()
                        .insert(t.to_station.clone(), t.minutes);
                }
            }
            CityEvent::TurnaroundSet(e) => {
                c.turnaround_minutes = e.minutes;
                c.low_charge = e.low_charge;
            }
            CityEvent::UpgradesSet(e) => {
                c.upgrades = e.ladder.clone();
            }
        }
        Some(c)
    }
}

impl Aggregate for CityAggregate {
    const TYPE: &'static str = "city";
    type State = CityState;
    type Command = CityCommand;
    type Event = CityEvent;
    type Error = CityError;

    fn decide(state: &CityState, command: &CityCommand) -> Result<Vec<CityEvent>, CityError> {
        Self::decide(state, command)
    }

    fn evolve(state: CityState, event: &CityEvent) -> CityState {
        Self::evolve(state, event)
    }
}

impl EventCodec for CityAggregate {
    type Event = CityEvent;

    fn name(event: &CityEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &CityEvent) -> Vec<u8> {
        event.encode()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<CityEvent, DecodeError> {
        CityEvent::decode(name, payload)
    }
}
