//! The vehicle aggregate (id = vehicle id): a car from registration to retirement.
//!
//! ```text
//! AVAILABLE ──pickup / swap-in reading──▶ ON HIRE ──return / swap-out reading──▶ AVAILABLE
//!     │  └──breakdown──▶ BREAKDOWN ──repair──▶ AVAILABLE       (a breakdown on hire records the order: swap)
//!     └──retire──▶ RETIRED                        maintenance: windows in time, not a state
//! ```

use rentops_kernel::{Aggregate, DecodeError, EventCodec, Plate, Snapshot, SnapshotError, SnapshotFormat};
use rentops_proto::fleet as pb;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::types::*;
/// A vehicle's events, each a domain fact; their wire form is in `super::codec`.
#[derive(Debug, Clone, PartialEq)]
pub enum VehicleEvent {
    VehicleRegistered(VehicleRegistered),
    VehicleMoved(VehicleMoved),
    BreakdownReported(BreakdownReported),
    RepairCompleted(RepairCompleted),
    MaintenanceScheduled(MaintenanceScheduled),
    VehicleRetired(VehicleRetired),
    VehicleReadingRecorded(VehicleReadingRecorded),
    VehiclePlateChanged(VehiclePlateChanged),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VehicleRegistered {
    pub vehicle_id: String,
    pub vin: String,
    pub plate: Plate,
    pub model: VehicleModel,
    pub city: String,
    pub home_station: String,
    pub registered_at: OffsetDateTime,
}

/// The car was driven (by staff) to another station.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleMoved {
    pub vehicle_id: String,
    pub from_station: String,
    pub to_station: String,
    /// When it arrived.
    pub moved_at: OffsetDateTime,
    pub reason: String,
    /// Who drove it; `None` on moves recorded before this was kept.
    pub driven_by: Option<DrivenBy>,
    /// When it left (`moved_at` on moves recorded before this was kept).
    pub departed_at: OffsetDateTime,
    /// The relocation task (by its order) the move carried out.
    pub task_order_id: Option<String>,
}

/// Who drove a car the company moved: a violation during the move is the company's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrivenBy {
    Driver(String),
    Staff(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownReported {
    pub vehicle_id: String,
    pub at: OffsetDateTime,
    /// A station id of the city, or a free-text address where the car stands.
    pub place: String,
    pub severity: Severity,
    /// None: unknown; the planner then treats the car as blocked until the horizon's end.
    pub expected_repair_until: Option<OffsetDateTime>,
    pub description: String,
    /// The hire the car broke down on: that customer needs a swap.
    pub during_order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepairCompleted {
    pub vehicle_id: String,
    pub at: OffsetDateTime,
    /// Where the repaired car stands now.
    pub station: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceScheduled {
    pub vehicle_id: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VehicleRetired {
    pub vehicle_id: String,
    pub at: OffsetDateTime,
    pub reason: String,
}

/// The car carries another plate from `at` on.
#[derive(Debug, Clone, PartialEq)]
pub struct VehiclePlateChanged {
    pub vehicle_id: String,
    pub from_plate: Plate,
    pub to_plate: Plate,
    pub at: OffsetDateTime,
    pub reason: String,
}

/// Odometer and charge as the order service recorded them at a handover.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleReadingRecorded {
    pub vehicle_id: String,
    pub odometer_km: i64,
    pub charge_percent: u32,
    pub at: OffsetDateTime,
    pub kind: ReadingKind,
    pub order_id: String,
    /// The return station (a return at a station); empty otherwise.
    pub station: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn pb(self) -> i32 {
        (match self {
            Severity::Minor => pb::Severity::Minor,
            Severity::Major => pb::Severity::Major,
            Severity::Critical => pb::Severity::Critical,
        }) as i32
    }

    pub fn from_pb(v: i32) -> Option<Severity> {
        match pb::Severity::try_from(v).ok()? {
            pb::Severity::Unspecified => None,
            pb::Severity::Minor => Some(Severity::Minor),
            pb::Severity::Major => Some(Severity::Major),
            pb::Severity::Critical => Some(Severity::Critical),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub at: OffsetDateTime,
    pub place: String,
    pub severity: Severity,
    pub expected_repair_until: Option<OffsetDateTime>,
    /// The hire the car was on: that customer needs a swap.
    pub during_order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub reason: String,
}

/// A vehicle as its events describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vehicle {
    pub vehicle_id: String,
    pub vin: String,
    /// The dotted form of the kernel's plate (`沪A·D12345`), as registered.
    pub plate: String,
    // The stored JSON keeps its old spelling of models (see the kernel's `stored_json`).
    #[serde(with = "rentops_kernel::vehicle::stored_json")]
    pub model: VehicleModel,
    pub city: String,
    pub home_station: String,
    pub registered_at: OffsetDateTime,
    /// Where it stands; while on hire, where it was handed over.
    pub station: String,
    pub on_hire_order_id: Option<String>,
    pub on_hire_since: Option<OffsetDateTime>,
    pub breakdown: Option<Breakdown>,
    /// Past breakdowns `[at, repaired)`, for the idle rate (not available then).
    pub past_breakdowns: Vec<(OffsetDateTime, OffsetDateTime)>,
    pub maintenance: Vec<Window>,
    pub retired_at: Option<OffsetDateTime>,
    pub odometer_km: i64,
    pub charge_percent: u32,
    pub readings_at: Option<OffsetDateTime>,
}

impl Vehicle {
    /// The state the desk sees at `now` (maintenance is a window in time).
    pub fn state_at(&self, now: OffsetDateTime) -> VehicleStateKind {
        if self.retired_at.is_some() {
            VehicleStateKind::Retired
        } else if self.breakdown.is_some() {
            VehicleStateKind::Breakdown
        } else if self.on_hire_order_id.is_some() {
            VehicleStateKind::OnHire
        } else if self.maintenance.iter().any(|w| w.from <= now && now < w.to) {
            VehicleStateKind::Maintenance
        } else {
            VehicleStateKind::Available
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VehicleStateKind {
    Available,
    OnHire,
    Breakdown,
    Maintenance,
    Retired,
}

impl VehicleStateKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Available => "AVAILABLE",
            Self::OnHire => "ON_HIRE",
            Self::Breakdown => "BREAKDOWN",
            Self::Maintenance => "MAINTENANCE",
            Self::Retired => "RETIRED",
        }
    }

    pub fn pb(self) -> i32 {
        (match self {
            Self::Available => pb::VehicleState::Available,
            Self::OnHire => pb::VehicleState::OnHire,
            Self::Breakdown => pb::VehicleState::Breakdown,
            Self::Maintenance => pb::VehicleState::Maintenance,
            Self::Retired => pb::VehicleState::Retired,
        }) as i32
    }

    pub fn from_pb(v: i32) -> Option<Self> {
        match pb::VehicleState::try_from(v).ok()? {
            pb::VehicleState::Unspecified => None,
            pb::VehicleState::Available => Some(Self::Available),
            pb::VehicleState::OnHire => Some(Self::OnHire),
            pb::VehicleState::Breakdown => Some(Self::Breakdown),
            pb::VehicleState::Maintenance => Some(Self::Maintenance),
            pb::VehicleState::Retired => Some(Self::Retired),
        }
    }
}

pub type VehicleState = Option<Vehicle>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingKind {
    Pickup,
    Return,
    /// Taken out of a hire before its end: replaced during the hire.
    SwapOut,
    /// Put on hire as a replacement during a hire.
    SwapIn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VehicleCommand {
    Register {
        vehicle_id: String,
        vin: String,
        plate: Plate,
        model: VehicleModel,
        city: String,
        home_station: String,
        at: OffsetDateTime,
    },
    Move {
        to_station: String,
        reason: String,
        at: OffsetDateTime,
        driven_by: DrivenBy,
        departed_at: OffsetDateTime,
        task_order_id: Option<String>,
    },
    ReportBreakdown {
        at: OffsetDateTime,
        place: String,
        severity: Severity,
        expected_repair_until: Option<OffsetDateTime>,
        description: String,
    },
    CompleteRepair {
        at: OffsetDateTime,
        station: Option<String>,
        notes: String,
    },
    ScheduleMaintenance {
        from: OffsetDateTime,
        to: OffsetDateTime,
        reason: String,
    },
    Retire {
        at: OffsetDateTime,
        reason: String,
    },
    /// Re-plating: the plate must have been claimed for the car first (see `super::plate`).
    ChangePlate {
        plate: Plate,
        at: OffsetDateTime,
        reason: String,
    },
    /// From the order service's handover events (issued by a reactor).
    RecordReading {
        kind: ReadingKind,
        order_id: String,
        odometer_km: i64,
        charge_percent: u32,
        at: OffsetDateTime,
        station: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VehicleError {
    #[error("vehicle not found")]
    NotFound,
    #[error("vehicle {0} is already registered with other details")]
    AlreadyRegisteredDifferently(String),
    #[error("the vehicle is retired")]
    Retired,
    #[error("the vehicle is on hire (order {0}): record the return first")]
    OnHire(String),
    #[error("the vehicle is already broken down since {}", since(.0))]
    AlreadyBroken(OffsetDateTime),
    #[error("the vehicle is not broken down")]
    NotBroken,
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

pub struct VehicleAggregate;

impl VehicleAggregate {
    pub fn decide(state: &VehicleState, command: &VehicleCommand) -> Result<Vec<VehicleEvent>, VehicleError> {
        use VehicleCommand as C;
        let v = match (state, command) {
            (
                None,
                C::Register {
                    vehicle_id,
                    vin,
                    plate,
                    model,
                    city,
                    home_station,
                    at,
                },
            ) => {
                return Ok(vec![VehicleEvent::VehicleRegistered(VehicleRegistered {
                    vehicle_id: vehicle_id.clone(),
                    vin: vin.clone(),
                    plate: plate.clone(),
                    model: *model,
                    city: city.clone(),
                    home_station: home_station.clone(),
                    registered_at: *at,
                })]);
            }
            (
                Some(v),
                C::Register {
                    vin,
                    plate,
                    model,
                    city,
                    home_station,
                    ..
                },
            ) => {
                // A retried registration with the same facts is a no-op; different facts are a clash.
                let same = v.vin == *vin
                    && v.plate == plate.to_string()
                    && v.model == *model
                    && v.city == *city
                    && v.home_station == *home_station;
                return if same {
                    Ok(vec![])
                } else {
                    Err(VehicleError::AlreadyRegisteredDifferently(v.vehicle_id.clone()))
                };
            }
            (None, _) => return Err(VehicleError::NotFound),
            (Some(v), _) => v,
        };
        let id = v.vehicle_id.clone();
        // Readings are facts from the order service: recorded even on a retired car.
        if let C::RecordReading {
            kind,
            order_id,
            odometer_km,
            charge_percent,
            at,
            station,
        } = command
        {
            return Ok(vec![VehicleEvent::VehicleReadingRecorded(VehicleReadingRecorded {
                vehicle_id: id,
                odometer_km: *odometer_km,
                charge_percent: *charge_percent,
                at: *at,
                kind: *kind,
                order_id: order_id.clone(),
                station: station.clone(),
            })]);
        }
        if v.retired_at.is_some() {
            return Err(VehicleError::Retired);
        }
        match command {
            C::Register { .. } | C::RecordReading { .. } => Ok(vec![]),
            C::Move {
                to_station,
                reason,
                at,
                driven_by,
                departed_at,
                task_order_id,
            } => {
                if let Some(o) = &v.on_hire_order_id {
                    return Err(VehicleError::OnHire(o.clone()));
                }
                if *to_station == v.station {
                    return Ok(vec![]);
                }
                if departed_at > at {
                    return Err(VehicleError::Invalid {
                        field: "departed_at",
                        message: "must not be after moved_at".into(),
                    });
                }
                Ok(vec![VehicleEvent::VehicleMoved(VehicleMoved {
                    vehicle_id: id,
                    from_station: v.station.clone(),
                    to_station: to_station.clone(),
                    moved_at: *at,
                    reason: reason.clone(),
                    driven_by: Some(driven_by.clone()),
                    departed_at: *departed_at,
                    task_order_id: task_order_id.clone(),
                })])
            }
            C::ReportBreakdown {
                at,
                place,
                severity,
                expected_repair_until,
                description,
            } => {
                if let Some(b) = &v.breakdown {
                    return Err(VehicleError::AlreadyBroken(b.at));
                }
                if expected_repair_until.is_some_and(|u| u <= *at) {
                    return Err(VehicleError::Invalid {
                        field: "expected_repair_until",
                        message: "must be after the breakdown".into(),
                    });
                }
                Ok(vec![VehicleEvent::BreakdownReported(BreakdownReported {
                    vehicle_id: id,
                    at: *at,
                    place: place.clone(),
                    severity: *severity,
                    expected_repair_until: *expected_repair_until,
                    description: description.clone(),
                    // docs/domain.md: a car that breaks down during a hire is swapped.
                    during_order_id: v.on_hire_order_id.clone(),
                })])
            }
            C::CompleteRepair { at, station, notes } => {
                let Some(b) = &v.breakdown else {
                    return Err(VehicleError::NotBroken);
                };
                if *at < b.at {
                    return Err(VehicleError::Invalid {
                        field: "at",
                        message: "the repair cannot end before the breakdown".into(),
                    });
                }
                let station = station.clone().unwrap_or_else(|| v.station.clone());
                Ok(vec![VehicleEvent::RepairCompleted(RepairCompleted {
                    vehicle_id: id,
                    at: *at,
                    station,
                    notes: notes.clone(),
                })])
            }
            C::ScheduleMaintenance { from, to, reason } => {
                if to <= from {
                    return Err(VehicleError::Invalid {
                        field: "to",
                        message: "must be after from".into(),
                    });
                }
                if v.maintenance.iter().any(|w| w.from == *from && w.to == *to) {
                    return Ok(vec![]);
                }
                Ok(vec![VehicleEvent::MaintenanceScheduled(MaintenanceScheduled {
                    vehicle_id: id,
                    from: *from,
                    to: *to,
                    reason: reason.clone(),
                })])
            }
            C::ChangePlate { plate, at, reason } => {
                let from = Plate::parse(&v.plate).map_err(|e| VehicleError::Invalid {
                    field: "plate",
                    message: format!("the car's own plate {} does not parse: {e}", v.plate),
                })?;
                if from == *plate {
                    return Ok(vec![]);
                }
                if *at < v.registered_at {
                    return Err(VehicleError::Invalid {
                        field: "at",
                        message: "cannot be before the car was registered".into(),
                    });
                }
                Ok(vec![VehicleEvent::VehiclePlateChanged(VehiclePlateChanged {
                    vehicle_id: id,
                    from_plate: from,
                    to_plate: plate.clone(),
                    at: *at,
                    reason: reason.clone(),
                })])
            }
            C::Retire { at, reason } => {
                if let Some(o) = &v.on_hire_order_id {
                    return Err(VehicleError::OnHire(o.clone()));
                }
                Ok(vec![VehicleEvent::VehicleRetired(VehicleRetired {
                    vehicle_id: id,
                    at: *at,
                    reason: reason.clone(),
                })])
            }
        }
    }

    pub fn evolve(state: VehicleState, event: &VehicleEvent) -> VehicleState {
        use VehicleEvent as E;
        if let E::VehicleRegistered(e) = event {
            return Some(Vehicle {
                vehicle_id: e.vehicle_id.clone(),
                vin: e.vin.clone(),
                plate: e.plate.to_string(),
                model: e.model,
                city: e.city.clone(),
                home_station: e.home_station.clone(),
                registered_at: e.registered_at,
                station: e.home_station.clone(),
                on_hire_order_id: None,
                on_hire_since: None,
                breakdown: None,
                past_breakdowns: vec![],
                maintenance: vec![],
                retired_at: None,
                odometer_km: 0,
                charge_percent: 100,
                readings_at: None,
            });
        }
        let mut v = state?;
        match event {
            E::VehicleRegistered(_) => {}
            E::VehicleMoved(e) => v.station = e.to_station.clone(),
            E::BreakdownReported(e) => {
                v.breakdown = Some(Breakdown {
                    at: e.at,
                    place: e.place.clone(),
                    severity: e.severity,
                    expected_repair_until: e.expected_repair_until,
                    during_order_id: e.during_order_id.clone(),
                });
            }
            E::RepairCompleted(e) => {
                if let Some(b) = v.breakdown.take() {
                    v.past_breakdowns.push((b.at, e.at));
                }
                if !e.station.is_empty() {
                    v.station = e.station.clone();
                }
            }
            E::MaintenanceScheduled(e) => v.maintenance.push(Window {
                from: e.from,
                to: e.to,
                reason: e.reason.clone(),
            }),
            E::VehicleRetired(e) => v.retired_at = Some(e.at),
            E::VehiclePlateChanged(e) => v.plate = e.to_plate.to_string(),
            E::VehicleReadingRecorded(e) => {
                v.odometer_km = e.odometer_km;
                v.charge_percent = e.charge_percent;
                v.readings_at = Some(e.at);
                match e.kind {
                    ReadingKind::Pickup | ReadingKind::SwapIn => {
                        v.on_hire_order_id = Some(e.order_id.clone());
                        v.on_hire_since = Some(e.at);
                    }
                    ReadingKind::Return | ReadingKind::SwapOut => {
                        if v.on_hire_order_id.as_deref() == Some(e.order_id.as_str()) {
                            v.on_hire_order_id = None;
                            v.on_hire_since = None;
                        }
                        if !e.station.is_empty() {
                            v.station = e.station.clone();
                        }
                    }
                }
            }
        }
        Some(v)
    }
}

impl Aggregate for VehicleAggregate {
    const TYPE: &'static str = "vehicle";
    type State = VehicleState;
    type Command = VehicleCommand;
    type Event = VehicleEvent;
    type Error = VehicleError;
    /// A car lives for years of readings, moves and repairs: it loads from a snapshot.
    const SNAPSHOT: Option<SnapshotFormat<VehicleState>> = Some(SnapshotFormat::of::<Self>());

    fn decide(state: &VehicleState, command: &VehicleCommand) -> Result<Vec<VehicleEvent>, VehicleError> {
        Self::decide(state, command)
    }

    fn evolve(state: VehicleState, event: &VehicleEvent) -> VehicleState {
        Self::evolve(state, event)
    }
}

/// The state as JSON (the same serde form the projections store). Bump `VERSION` when a field
/// of `Vehicle` changes meaning, or `evolve` folds an event differently: older snapshots are then
/// ignored and the cars are folded from their events.
impl Snapshot for VehicleAggregate {
    const VERSION: u32 = 1;

    fn encode_state(state: &VehicleState) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(state).map_err(SnapshotError::new)
    }

    fn decode_state(bytes: &[u8]) -> Result<VehicleState, SnapshotError> {
        serde_json::from_slice(bytes).map_err(SnapshotError::new)
    }
}

impl EventCodec for VehicleAggregate {
    type Event = VehicleEvent;

    fn name(event: &VehicleEvent) -> &'static str {
        event.name()
    }

    fn encode(event: &VehicleEvent) -> Vec<u8> {
        event.encode()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<VehicleEvent, DecodeError> {
        VehicleEvent::decode(name, payload)
    }
}

/// A time in a message for people: RFC 3339 (its debug form if it cannot be written so).
fn since(at: &OffsetDateTime) -> String {
    rentops_kernel::timestamp::to_rfc3339(*at).unwrap_or_else(|_| at.to_string())
}
