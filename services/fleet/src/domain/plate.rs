//! The plate aggregate (id = [`Plate::key`]): one plate, carried by one vehicle at a time.
//!
//! Violations are matched by plate, so two cars with one plate would make a fine unassignable.
//! A vehicle claims its plate before it is registered or re-plated, and the plate is released
//! when the vehicle is re-plated or retired, so that it may be issued again. Every spelling of a
//! plate (`沪AD00001`, `沪A·D00001`) is one aggregate: the kernel's normalisation makes the key.
//!
//! ```text
//! FREE ──claim(V)──▶ CARRIED BY V ──release(V)──▶ FREE
//!                        │  claim(W), V no longer carries it ──▶ CARRIED BY W
//! ```
//! A claim whose vehicle never came to carry the plate (the registration failed after the
//! claim, or the process died in between), or whose vehicle has since been retired or
//! re-plated (its release was lost), is stale: another vehicle may take the plate over. The
//! caller, which can read the vehicles, tells the aggregate so ([`Holder`]).

use rentops_kernel::{Aggregate, DecodeError, EventCodec, Plate};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A plate's events; their wire form is in `super::codec`.
#[derive(Debug, Clone, PartialEq)]
pub enum PlateEvent {
    PlateClaimed(PlateClaimed),
    PlateReleased(PlateReleased),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlateClaimed {
    pub plate: Plate,
    pub vehicle_id: String,
    /// Since when the vehicle carries it (a car registered after the fact: in the past).
    pub at: OffsetDateTime,
    /// When the claim was made.
    pub claimed_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlateReleased {
    pub plate: Plate,
    pub vehicle_id: String,
    pub at: OffsetDateTime,
    pub reason: ReleaseReason,
}

/// Why a vehicle no longer carries the plate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReleaseReason {
    Retired,
    Replated,
    /// The claim's registration never happened (found stale by a later claim).
    NotRegistered,
}

impl ReleaseReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::Retired => "RETIRED",
            Self::Replated => "REPLATED",
            Self::NotRegistered => "NOT_REGISTERED",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "RETIRED" => Some(Self::Retired),
            "REPLATED" => Some(Self::Replated),
            "NOT_REGISTERED" => Some(Self::NotRegistered),
            _ => None,
        }
    }
}

/// The plate and who carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlateState {
    pub plate: Plate,
    /// The vehicle that claimed it, and since when; `None`: free.
    pub holder: Option<(String, OffsetDateTime)>,
    /// When the holder's claim was made (its `since` may be earlier).
    #[serde(default)]
    pub claimed_at: Option<OffsetDateTime>,
    /// The vehicle and the time of the plate's latest claim or release: its history is in
    /// time order, so a claim may not start before it.
    #[serde(default)]
    pub last: Option<(String, OffsetDateTime)>,
}

/// What the caller found of the vehicle holding the plate, when another vehicle claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// It carries the plate: the claim stands.
    Carries,
    /// It was never registered: the claim is stale if older than the caller's patience.
    NotRegistered,
    /// It is retired, or carries another plate now: its release was lost.
    Gone(ReleaseReason),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlateCommand {
    Claim {
        plate: Plate,
        vehicle_id: String,
        at: OffsetDateTime,
        /// When the claim is made (`at` may be earlier).
        now: OffsetDateTime,
        /// What the holder, if another vehicle, is now; `None` when the caller did not look
        /// (then any holder but `vehicle_id` refuses the claim).
        holder: Option<Holder>,
        /// How old an unregistered holder's claim must be to count as stale: a registration
        /// takes milliseconds after its claim, so a claim this old never became one.
        stale_after: time::Duration,
    },
    Release {
        vehicle_id: String,
        at: OffsetDateTime,
        reason: ReleaseReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    #[error("plate {plate} is carried by vehicle {vehicle_id}")]
    InUse { plate: String, vehicle_id: String },
    #[error(
        "plate {plate} went to or from vehicle {vehicle_id} at {last}; a claim from {at} would overlap its history"
    )]
    Earlier {
        plate: String,
        vehicle_id: String,
        last: OffsetDateTime,
        at: OffsetDateTime,
    },
}

pub type PlateAggregateState = Option<PlateState>;

pub struct PlateAggregate;

impl PlateAggregate {
    pub fn decide(state: &PlateAggregateState, command: &PlateCommand) -> Result<Vec<PlateEvent>, PlateError> {
        match command {
            PlateCommand::Claim {
                plate,
                vehicle_id,
                at,
                now,
                holder,
                stale_after,
            } => {
                let claimed = PlateEvent::PlateClaimed(PlateClaimed {
                    plate: plate.clone(),
                    vehicle_id: vehicle_id.clone(),
                    at: *at,
                    claimed_at: *now,
                });
                let current = state.as_ref().and_then(|s| s.holder.as_ref());
                if current.is_some_and(|(v, _)| v == vehicle_id) {
                    return Ok(vec![]);
                }
                if let Some((last_vehicle, last)) = state.as_ref().and_then(|s| s.last.as_ref())
                    && at < last
                {
                    return Err(PlateError::Earlier {
                        plate: plate.to_string(),
                        vehicle_id: last_vehicle.clone(),
                        last: *last,
                        at: *at,
                    });
                }
                let Some((current, since)) = current else {
                    return Ok(vec![claimed]);
                };
                let claimed_at = state.as_ref().and_then(|s| s.claimed_at).unwrap_or(*since);
                let stale = match holder {
                    Some(Holder::Gone(reason)) => Some(*reason),
                    Some(Holder::NotRegistered) if *now - claimed_at >= *stale_after => {
                        Some(ReleaseReason::NotRegistered)
                    }
                    _ => None,
                };
                match stale {
                    Some(reason) => Ok(vec![
                        PlateEvent::PlateReleased(PlateReleased {
                            plate: plate.clone(),
                            vehicle_id: current.clone(),
                            at: *at,
                            reason,
                        }),
                        claimed,
                    ]),
                    None => Err(PlateError::InUse {
                        plate: plate.to_string(),
                        vehicle_id: current.clone(),
                    }),
                }
            }
            PlateCommand::Release { vehicle_id, at, reason } => match state {
                Some(s) if s.holder.as_ref().is_some_and(|(v, _)| v == vehicle_id) => {
                    Ok(vec![PlateEvent::PlateReleased(PlateReleased {
                        plate: s.plate.clone(),
                        vehicle_id: vehicle_id.clone(),
                        at: *at,
                        reason: *reason,
                    })])
                }
                // Not this vehicle's (any more): nothing to release.
                _ => Ok(vec![]),
            },
        }
    }

    pub fn evolve(state: PlateAggregateState, event: &PlateEvent) -> PlateAggregateState {
        match event {
            PlateEvent::PlateClaimed(e) => Some(PlateState {
                plate: e.plate.clone(),
                holder: Some((e.vehicle_id.clone(), e.at)),
                claimed_at: Some(e.claimed_at),
                last: Some((e.vehicle_id.clone(), later(&state, e.at))),
            }),
            // Only the holder's release frees the plate (decide releases no other).
            PlateEvent::PlateReleased(e) => {
                let last = Some((e.vehicle_id.clone(), later(&state, e.at)));
                let (holder, claimed_at) = match state {
                    Some(s) if s.holder.as_ref().is_some_and(|(v, _)| *v != e.vehicle_id) => (s.holder, s.claimed_at),
                    _ => (None, None),
                };
                Some(PlateState {
                    plate: e.plate.clone(),
                    holder,
                    claimed_at,
                    last,
                })
            }
        }
    }
}

/// The later of `at` and the plate's latest change: its history only goes forward.
fn later(state: &PlateAggregateState, at: OffsetDateTime) -> OffsetDateTime {
    state
        .as_ref()
        .and_then(|s| s.last.as_ref())
        .map_or(at, |(_, last)| (*last).max(at))
}

impl Aggregate for PlateAggregate {
    const TYPE: &'static str = "plate";
    type State = PlateAggregateState;
    type Command = PlateCommand;
    type Event = PlateEvent;
    type Error = PlateError;

    fn decide(state: &PlateAggregateState, command: &PlateCommand) -> Result<Vec<PlateEvent>, PlateError> {
        Self::decide(state, command)
    }

    fn evolve(state: PlateAggregateState, event: &PlateEvent) -> PlateAggregateState {
        Self::evolve(state, event)
    }
}

impl EventCodec for PlateAggregate {
    type Event = PlateEvent;

    fn name(event: &PlateEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &PlateEvent) -> Vec<u8> {
        event.encode()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<PlateEvent, DecodeError> {
        PlateEvent::decode(name, payload)
    }
}
