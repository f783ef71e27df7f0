//! The driver aggregate (id = driver id): a delivery driver (运力) and their shifts. Tasks are
//! given to drivers by the plan (see `plan`), within these shifts.

use rentops_kernel::{Aggregate, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A driver's events, each a domain fact; their wire form is in `super::codec`.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverEvent {
    DriverRegistered(DriverRegistered),
    ShiftScheduled(ShiftScheduled),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriverRegistered {
    pub driver_id: String,
    pub name: String,
    pub phone: String,
    pub city: String,
    pub registered_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShiftScheduled {
    pub driver_id: String,
    pub shift_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// Where the shift starts and ends.
    pub station: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub shift_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub station: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    pub driver_id: String,
    pub name: String,
    pub phone: String,
    pub city: String,
    pub shifts: Vec<Shift>,
}

pub type DriverState = Option<Driver>;

#[derive(Debug, Clone, PartialEq)]
pub enum DriverCommand {
    Register {
        driver_id: String,
        name: String,
        phone: String,
        city: String,
        at: OffsetDateTime,
    },
    ScheduleShift(Shift),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("driver not found")]
    NotFound,
    #[error("driver {0} is already registered with other details")]
    AlreadyRegisteredDifferently(String),
    #[error("shift {0} exists with other times or station")]
    ShiftIdTaken(String),
    #[error("the shift overlaps shift {0}")]
    ShiftOverlaps(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

pub struct DriverAggregate;

impl DriverAggregate {
    pub fn decide(state: &DriverState, command: &DriverCommand) -> Result<Vec<DriverEvent>, DriverError> {
        match (state, command) {
            (
                None,
                DriverCommand::Register {
                    driver_id,
                    name,
                    phone,
                    city,
                    at,
                },
            ) => Ok(vec![DriverEvent::DriverRegistered(DriverRegistered {
                driver_id: driver_id.clone(),
                name: name.clone(),
                phone: phone.clone(),
                city: city.clone(),
                registered_at: *at,
            })]),
            (Some(d), DriverCommand::Register { name, phone, city, .. }) => {
                if d.name == *name && d.phone == *phone && d.city == *city {
                    Ok(vec![])
                } else {
                    Err(DriverError::AlreadyRegisteredDifferently(d.driver_id.clone()))
                }
            }
            (None, DriverCommand::ScheduleShift(_)) => Err(DriverError::NotFound),
            (Some(d), DriverCommand::ScheduleShift(s)) => {
                if s.to <= s.from {
                    return Err(DriverError::Invalid {
                        field: "to",
                        message: "must be after from".into(),
                    });
                }
                if s.to - s.from > time::Duration::hours(24) {
                    return Err(DriverError::Invalid {
                        field: "to",
                        message: "a shift lasts at most 24 hours".into(),
                    });
                }
                if let Some(same) = d.shifts.iter().find(|x| x.shift_id == s.shift_id) {
                    return if same == s {
                        Ok(vec![])
                    } else {
                        Err(DriverError::ShiftIdTaken(s.shift_id.clone()))
                    };
                }
                if let Some(o) = d.shifts.iter().find(|x| x.from < s.to && s.from < x.to) {
                    return Err(DriverError::ShiftOverlaps(o.shift_id.clone()));
                }
                Ok(vec![DriverEvent::ShiftScheduled(ShiftScheduled {
                    driver_id: d.driver_id.clone(),
                    shift_id: s.shift_id.clone(),
                    from: s.from,
                    to: s.to,
                    station: s.station.clone(),
                })])
            }
        }
    }

    pub fn evolve(state: DriverState, event: &DriverEvent) -> DriverState {
        match event {
            DriverEvent::DriverRegistered(e) => Some(Driver {
                driver_id: e.driver_id.clone(),
                name: e.name.clone(),
                phone: e.phone.clone(),
                city: e.city.clone(),
                shifts: vec![],
            }),
            DriverEvent::ShiftScheduled(e) => {
                let mut d = state?;
                d.shifts.push(Shift {
                    shift_id: e.shift_id.clone(),
                    from: e.from,
                    to: e.to,
                    station: e.station.clone(),
                });
                d.shifts.sort_by_key(|s| s.from);
                Some(d)
            }
        }
    }
}

impl Aggregate for DriverAggregate {
    const TYPE: &'static str = "driver";
    type State = DriverState;
    type Command = DriverCommand;
    type Event = DriverEvent;
    type Error = DriverError;

    fn decide(state: &DriverState, command: &DriverCommand) -> Result<Vec<DriverEvent>, DriverError> {
        Self::decide(state, command)
    }

    fn evolve(state: DriverState, event: &DriverEvent) -> DriverState {
        Self::evolve(state, event)
    }
}

impl EventCodec for DriverAggregate {
    type Event = DriverEvent;

    fn name(event: &DriverEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &DriverEvent) -> Vec<u8> {
        event.encode()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<DriverEvent, DecodeError> {
        DriverEvent::decode(name, payload)
    }
}
