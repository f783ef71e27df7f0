//! The explicit mapping between the fleet's domain events and their wire messages
//! (`proto/rentops/fleet/v1/events.proto`), one [`WireEvent`] impl per event.
//!
//! Each event's name is written once, as its [`WireEvent::NAME`]: the event enums' `name()` and
//! `decode()` both read it, so the name on the subject, in the event type and in the decoder cannot
//! drift apart. Decoding refuses what the domain cannot hold (a time out of range, an unknown
//! enum value, a plate that does not parse) with a [`DecodeError`] naming the event and the
//! field, so that `evolve` and the projections never have to guess.

use std::collections::BTreeMap;

use prost::Message;
use rentops_kernel::{DecodeError, Plate, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_proto::model::{model_from_pb, model_to_pb};
use rentops_proto::timestamp::to_timestamp;
use time::OffsetDateTime;

use super::city::{
    CityConfigured, CityEvent, LowCharge, StationAdded, TravelTime, TravelTimesSet, TurnaroundSet, UpgradesSet,
};
use super::driver::{DriverEvent, DriverRegistered, ShiftScheduled};
use super::plan::{
    AssignmentReleased, DriverTaskAssigned, DriverTaskUnassigned, OrderAtRisk, PlanEvent, PlanOrdersClosed,
    PlanPublished, TaskKind, VehicleAssigned, VehicleReassigned,
};
use super::plate::{PlateClaimed, PlateEvent, PlateReleased, ReleaseReason};
use super::vehicle::{
    BreakdownReported, DrivenBy, MaintenanceScheduled, ReadingKind, RepairCompleted, Severity, VehicleEvent,
    VehicleMoved, VehiclePlateChanged, VehicleReadingRecorded, VehicleRegistered, VehicleRetired,
};

/// One domain event and its wire message.
pub trait WireEvent: Sized {
    /// The event's name: the message's name in `events.proto`, the subject's last token and
    /// the event type's suffix.
    const NAME: &'static str;
    type Proto: Message + Default;

    fn to_pb(&self) -> Self::Proto;
    fn from_pb(m: Self::Proto) -> Result<Self, DecodeError>;
}

fn encode<E: WireEvent>(event: &E) -> Vec<u8> {
    event.to_pb().encode_to_vec()
}

fn decode<E: WireEvent>(payload: &[u8]) -> Result<E, DecodeError> {
    let m = E::Proto::decode(payload).map_err(|e| DecodeError::malformed(E::NAME, e))?;
    E::from_pb(m)
}

// ---- small values ------------------------------------------------------------------------------

fn ts(at: OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(at))
}

/// A time the event always carries.
fn req_ts(name: &str, field: &str, t: Option<prost_types::Timestamp>) -> Result<OffsetDateTime, DecodeError> {
    rentops_proto::timestamp::event_time(name, field, t.as_ref())
}

fn opt_ts(name: &str, field: &str, t: Option<prost_types::Timestamp>) -> Result<Option<OffsetDateTime>, DecodeError> {
    rentops_proto::timestamp::event_time_opt(name, field, t.as_ref())
}

fn unknown(name: &str, field: &str, value: i32) -> DecodeError {
    DecodeError::invalid(name, field, format!("unknown value {value}"))
}

fn model(name: &str, field: &str, v: i32) -> Result<VehicleModel, DecodeError> {
    model_from_pb(v).ok_or_else(|| unknown(name, field, v))
}

/// Empty on the wire is "none".
fn opt_text(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

fn reading_kind_pb(k: ReadingKind) -> i32 {
    (match k {
        ReadingKind::Pickup => pb::ReadingKind::Pickup,
        ReadingKind::Return => pb::ReadingKind::Return,
        ReadingKind::SwapOut => pb::ReadingKind::SwapOut,
        ReadingKind::SwapIn => pb::ReadingKind::SwapIn,
    }) as i32
}

fn reading_kind_from_pb(v: i32) -> Option<ReadingKind> {
    match pb::ReadingKind::try_from(v).ok()? {
        pb::ReadingKind::Unspecified => None,
        pb::ReadingKind::Pickup => Some(ReadingKind::Pickup),
        pb::ReadingKind::Return => Some(ReadingKind::Return),
        pb::ReadingKind::SwapOut => Some(ReadingKind::SwapOut),
        pb::ReadingKind::SwapIn => Some(ReadingKind::SwapIn),
    }
}

pub fn task_kind_pb(k: TaskKind) -> i32 {
    (match k {
        TaskKind::Delivery => pb::TaskKind::Delivery,
        TaskKind::Collection => pb::TaskKind::Collection,
        TaskKind::Relocation => pb::TaskKind::Relocation,
    }) as i32
}

fn task_kind_from_pb(v: i32) -> Option<TaskKind> {
    match pb::TaskKind::try_from(v).ok()? {
        pb::TaskKind::Unspecified => None,
        pb::TaskKind::Delivery => Some(TaskKind::Delivery),
        pb::TaskKind::Collection => Some(TaskKind::Collection),
        pb::TaskKind::Relocation => Some(TaskKind::Relocation),
    }
}

/// A class ladder as the wire's rules (also the API's view of a city), in model order.
pub fn upgrade_rules(ladder: &BTreeMap<VehicleModel, Vec<VehicleModel>>) -> Vec<pb::UpgradeRule> {
    ladder
        .iter()
        .map(|(m, ups)| pb::UpgradeRule {
            model: model_to_pb(*m),
            may_be_served_by: ups.iter().map(|u| model_to_pb(*u)).collect(),
        })
        .collect()
}

// ---- vehicle -----------------------------------------------------------------------------------

impl WireEvent for VehicleRegistered {
    const NAME: &'static str = "VehicleRegistered";
    type Proto = pb::VehicleRegistered;

    fn to_pb(&self) -> pb::VehicleRegistered {
        pb::VehicleRegistered {
            vehicle_id: self.vehicle_id.clone(),
            vin: self.vin.clone(),
            plate: self.plate.to_string(),
            model: model_to_pb(self.model),
            city: self.city.clone(),
            home_station: self.home_station.clone(),
            registered_at: ts(self.registered_at),
        }
    }

    fn from_pb(m: pb::VehicleRegistered) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            plate: Plate::parse(&m.plate).map_err(|e| DecodeError::invalid(name, "plate", e))?,
            model: model(name, "model", m.model)?,
            registered_at: req_ts(name, "registered_at", m.registered_at)?,
            vehicle_id: m.vehicle_id,
            vin: m.vin,
            city: m.city,
            home_station: m.home_station,
        })
    }
}

impl WireEvent for VehicleMoved {
    const NAME: &'static str = "VehicleMoved";
    type Proto = pb::VehicleMoved;

    fn to_pb(&self) -> pb::VehicleMoved {
        pb::VehicleMoved {
            vehicle_id: self.vehicle_id.clone(),
            from_station: self.from_station.clone(),
            to_station: self.to_station.clone(),
            moved_at: ts(self.moved_at),
            reason: self.reason.clone(),
            driver_id: match &self.driven_by {
                Some(DrivenBy::Driver(d)) => d.clone(),
                _ => String::new(),
            },
            staff_id: match &self.driven_by {
                Some(DrivenBy::Staff(s)) => s.clone(),
                _ => String::new(),
            },
            departed_at: ts(self.departed_at),
            task_order_id: self.task_order_id.clone().unwrap_or_default(),
        }
    }

    fn from_pb(m: pb::VehicleMoved) -> Result<Self, DecodeError> {
        let moved_at = req_ts(Self::NAME, "moved_at", m.moved_at)?;
        let driven_by = match (opt_text(m.driver_id), opt_text(m.staff_id)) {
            (Some(d), _) => Some(DrivenBy::Driver(d)),
            (None, Some(s)) => Some(DrivenBy::Staff(s)),
            (None, None) => None,
        };
        Ok(Self {
            departed_at: opt_ts(Self::NAME, "departed_at", m.departed_at)?.unwrap_or(moved_at),
            moved_at,
            vehicle_id: m.vehicle_id,
            from_station: m.from_station,
            to_station: m.to_station,
            reason: m.reason,
            driven_by,
            task_order_id: opt_text(m.task_order_id),
        })
    }
}

impl WireEvent for BreakdownReported {
    const NAME: &'static str = "BreakdownReported";
    type Proto = pb::BreakdownReported;

    fn to_pb(&self) -> pb::BreakdownReported {
        pb::BreakdownReported {
            vehicle_id: self.vehicle_id.clone(),
            at: ts(self.at),
            station_or_address: self.place.clone(),
            severity: self.severity.pb(),
            expected_repair_until: self.expected_repair_until.map(to_timestamp),
            description: self.description.clone(),
            during_order_id: self.during_order_id.clone().unwrap_or_default(),
        }
    }

    fn from_pb(m: pb::BreakdownReported) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            at: req_ts(name, "at", m.at)?,
            severity: Severity::from_pb(m.severity).ok_or_else(|| unknown(name, "severity", m.severity))?,
            expected_repair_until: opt_ts(name, "expected_repair_until", m.expected_repair_until)?,
            vehicle_id: m.vehicle_id,
            place: m.station_or_address,
            description: m.description,
            during_order_id: opt_text(m.during_order_id),
        })
    }
}

impl WireEvent for RepairCompleted {
    const NAME: &'static str = "RepairCompleted";
    type Proto = pb::RepairCompleted;

    fn to_pb(&self) -> pb::RepairCompleted {
        pb::RepairCompleted {
            vehicle_id: self.vehicle_id.clone(),
            at: ts(self.at),
            station: self.station.clone(),
            notes: self.notes.clone(),
        }
    }

    fn from_pb(m: pb::RepairCompleted) -> Result<Self, DecodeError> {
        Ok(Self {
            at: req_ts(Self::NAME, "at", m.at)?,
            vehicle_id: m.vehicle_id,
            station: m.station,
            notes: m.notes,
        })
    }
}

impl WireEvent for MaintenanceScheduled {
    const NAME: &'static str = "MaintenanceScheduled";
    type Proto = pb::MaintenanceScheduled;

    fn to_pb(&self) -> pb::MaintenanceScheduled {
        pb::MaintenanceScheduled {
            vehicle_id: self.vehicle_id.clone(),
            from: ts(self.from),
            to: ts(self.to),
            reason: self.reason.clone(),
        }
    }

    fn from_pb(m: pb::MaintenanceScheduled) -> Result<Self, DecodeError> {
        Ok(Self {
            from: req_ts(Self::NAME, "from", m.from)?,
            to: req_ts(Self::NAME, "to", m.to)?,
            vehicle_id: m.vehicle_id,
            reason: m.reason,
        })
    }
}

impl WireEvent for VehicleRetired {
    const NAME: &'static str = "VehicleRetired";
    type Proto = pb::VehicleRetired;

    fn to_pb(&self) -> pb::VehicleRetired {
        pb::VehicleRetired {
            vehicle_id: self.vehicle_id.clone(),
            at: ts(self.at),
            reason: self.reason.clone(),
        }
    }

    fn from_pb(m: pb::VehicleRetired) -> Result<Self, DecodeError> {
        Ok(Self {
            at: req_ts(Self::NAME, "at", m.at)?,
            vehicle_id: m.vehicle_id,
            reason: m.reason,
        })
    }
}

impl WireEvent for VehicleReadingRecorded {
    const NAME: &'static str = "VehicleReadingRecorded";
    type Proto = pb::VehicleReadingRecorded;

    fn to_pb(&self) -> pb::VehicleReadingRecorded {
        pb::VehicleReadingRecorded {
            vehicle_id: self.vehicle_id.clone(),
            odometer_km: self.odometer_km,
            charge_percent: self.charge_percent,
            at: ts(self.at),
            kind: reading_kind_pb(self.kind),
            order_id: self.order_id.clone(),
            station: self.station.clone(),
        }
    }

    fn from_pb(m: pb::VehicleReadingRecorded) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            at: req_ts(name, "at", m.at)?,
            kind: reading_kind_from_pb(m.kind).ok_or_else(|| unknown(name, "kind", m.kind))?,
            vehicle_id: m.vehicle_id,
            odometer_km: m.odometer_km,
            charge_percent: m.charge_percent,
            order_id: m.order_id,
            station: m.station,
        })
    }
}

/// A plate the event always carries.
fn req_plate(name: &str, field: &str, text: &str) -> Result<Plate, DecodeError> {
    Plate::parse(text).map_err(|e| DecodeError::invalid(name, field, e))
}

impl WireEvent for VehiclePlateChanged {
    const NAME: &'static str = "VehiclePlateChanged";
    type Proto = pb::VehiclePlateChanged;

    fn to_pb(&self) -> pb::VehiclePlateChanged {
        pb::VehiclePlateChanged {
            vehicle_id: self.vehicle_id.clone(),
            from_plate: self.from_plate.to_string(),
            to_plate: self.to_plate.to_string(),
            at: ts(self.at),
            reason: self.reason.clone(),
        }
    }

    fn from_pb(m: pb::VehiclePlateChanged) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            from_plate: req_plate(name, "from_plate", &m.from_plate)?,
            to_plate: req_plate(name, "to_plate", &m.to_plate)?,
            at: req_ts(name, "at", m.at)?,
            vehicle_id: m.vehicle_id,
            reason: m.reason,
        })
    }
}

impl VehicleEvent {
    pub const NAMES: &[&str] = &[
        VehicleRegistered::NAME,
        VehicleMoved::NAME,
        BreakdownReported::NAME,
        RepairCompleted::NAME,
        MaintenanceScheduled::NAME,
        VehicleRetired::NAME,
        VehicleReadingRecorded::NAME,
        VehiclePlateChanged::NAME,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::VehicleRegistered(_) => VehicleRegistered::NAME,
            Self::VehicleMoved(_) => VehicleMoved::NAME,
            Self::BreakdownReported(_) => BreakdownReported::NAME,
            Self::RepairCompleted(_) => RepairCompleted::NAME,
            Self::MaintenanceScheduled(_) => MaintenanceScheduled::NAME,
            Self::VehicleRetired(_) => VehicleRetired::NAME,
            Self::VehicleReadingRecorded(_) => VehicleReadingRecorded::NAME,
            Self::VehiclePlateChanged(_) => VehiclePlateChanged::NAME,
        }
    }

    /// The wire body: the message itself, not a wrapper.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::VehicleRegistered(e) => encode(e),
            Self::VehicleMoved(e) => encode(e),
            Self::BreakdownReported(e) => encode(e),
            Self::RepairCompleted(e) => encode(e),
            Self::MaintenanceScheduled(e) => encode(e),
            Self::VehicleRetired(e) => encode(e),
            Self::VehicleReadingRecorded(e) => encode(e),
            Self::VehiclePlateChanged(e) => encode(e),
        }
    }

    pub fn decode(name: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        match name {
            VehicleRegistered::NAME => decode(payload).map(Self::VehicleRegistered),
            VehicleMoved::NAME => decode(payload).map(Self::VehicleMoved),
            BreakdownReported::NAME => decode(payload).map(Self::BreakdownReported),
            RepairCompleted::NAME => decode(payload).map(Self::RepairCompleted),
            MaintenanceScheduled::NAME => decode(payload).map(Self::MaintenanceScheduled),
            VehicleRetired::NAME => decode(payload).map(Self::VehicleRetired),
            VehicleReadingRecorded::NAME => decode(payload).map(Self::VehicleReadingRecorded),
            VehiclePlateChanged::NAME => decode(payload).map(Self::VehiclePlateChanged),
            other => Err(DecodeError::unknown(other)),
        }
    }
}

// ---- plate -------------------------------------------------------------------------------------

impl WireEvent for PlateClaimed {
    const NAME: &'static str = "PlateClaimed";
    type Proto = pb::PlateClaimed;

    fn to_pb(&self) -> pb::PlateClaimed {
        pb::PlateClaimed {
            plate: self.plate.to_string(),
            vehicle_id: self.vehicle_id.clone(),
            at: ts(self.at),
            claimed_at: ts(self.claimed_at),
        }
    }

    fn from_pb(m: pb::PlateClaimed) -> Result<Self, DecodeError> {
        let at = req_ts(Self::NAME, "at", m.at)?;
        Ok(Self {
            plate: req_plate(Self::NAME, "plate", &m.plate)?,
            at,
            // Claims recorded before this field was: made when they started.
            claimed_at: opt_ts(Self::NAME, "claimed_at", m.claimed_at)?.unwrap_or(at),
            vehicle_id: m.vehicle_id,
        })
    }
}

impl WireEvent for PlateReleased {
    const NAME: &'static str = "PlateReleased";
    type Proto = pb::PlateReleased;

    fn to_pb(&self) -> pb::PlateReleased {
        pb::PlateReleased {
            plate: self.plate.to_string(),
            vehicle_id: self.vehicle_id.clone(),
            at: ts(self.at),
            reason: self.reason.code().to_owned(),
        }
    }

    fn from_pb(m: pb::PlateReleased) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            plate: req_plate(name, "plate", &m.plate)?,
            at: req_ts(name, "at", m.at)?,
            reason: ReleaseReason::parse(&m.reason)
                .ok_or_else(|| DecodeError::invalid(name, "reason", format!("unknown reason {:?}", m.reason)))?,
            vehicle_id: m.vehicle_id,
        })
    }
}

impl PlateEvent {
    pub const NAMES: &[&str] = &[PlateClaimed::NAME, PlateReleased::NAME];

    pub fn name(&self) -> &'static str {
        match self {
            Self::PlateClaimed(_) => PlateClaimed::NAME,
            Self::PlateReleased(_) => PlateReleased::NAME,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::PlateClaimed(e) => encode(e),
            Self::PlateReleased(e) => encode(e),
        }
    }

    pub fn decode(name: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        match name {
            PlateClaimed::NAME => decode(payload).map(Self::PlateClaimed),
            PlateReleased::NAME => decode(payload).map(Self::PlateReleased),
            other => Err(DecodeError::unknown(other)),
        }
    }
}

// ---- driver ------------------------------------------------------------------------------------

impl WireEvent for DriverRegistered {
    const NAME: &'static str = "DriverRegistered";
    type Proto = pb::DriverRegistered;

    fn to_pb(&self) -> pb::DriverRegistered {
        pb::DriverRegistered {
            driver_id: self.driver_id.clone(),
            name: self.name.clone(),
            phone: self.phone.clone(),
            city: self.city.clone(),
            registered_at: ts(self.registered_at),
        }
    }

    fn from_pb(m: pb::DriverRegistered) -> Result<Self, DecodeError> {
        Ok(Self {
            registered_at: req_ts(Self::NAME, "registered_at", m.registered_at)?,
            driver_id: m.driver_id,
            name: m.name,
            phone: m.phone,
            city: m.city,
        })
    }
}

impl WireEvent for ShiftScheduled {
    const NAME: &'static str = "ShiftScheduled";
    type Proto = pb::ShiftScheduled;

    fn to_pb(&self) -> pb::ShiftScheduled {
        pb::ShiftScheduled {
            driver_id: self.driver_id.clone(),
            shift_id: self.shift_id.clone(),
            from: ts(self.from),
            to: ts(self.to),
            station: self.station.clone(),
        }
    }

    fn from_pb(m: pb::ShiftScheduled) -> Result<Self, DecodeError> {
        Ok(Self {
            from: req_ts(Self::NAME, "from", m.from)?,
            to: req_ts(Self::NAME, "to", m.to)?,
            driver_id: m.driver_id,
            shift_id: m.shift_id,
            station: m.station,
        })
    }
}

impl DriverEvent {
    pub const NAMES: &[&str] = &[DriverRegistered::NAME, ShiftScheduled::NAME];

    pub fn name(&self) -> &'static str {
        match self {
            Self::DriverRegistered(_) => DriverRegistered::NAME,
            Self::ShiftScheduled(_) => ShiftScheduled::NAME,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::DriverRegistered(e) => encode(e),
            Self::ShiftScheduled(e) => encode(e),
        }
    }

    pub fn decode(name: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        match name {
            DriverRegistered::NAME => decode(payload).map(Self::DriverRegistered),
            ShiftScheduled::NAME => decode(payload).map(Self::ShiftScheduled),
            other => Err(DecodeError::unknown(other)),
        }
    }
}

// ---- city --------------------------------------------------------------------------------------

impl WireEvent for CityConfigured {
    const NAME: &'static str = "CityConfigured";
    type Proto = pb::CityConfigured;

    fn to_pb(&self) -> pb::CityConfigured {
        pb::CityConfigured {
            city: self.city.clone(),
            name: self.name.clone(),
            default_station: self.default_station.clone(),
            delivery_minutes: self.delivery_minutes,
            frozen_window_minutes: self.frozen_window_minutes,
        }
    }

    fn from_pb(m: pb::CityConfigured) -> Result<Self, DecodeError> {
        Ok(Self {
            city: m.city,
            name: m.name,
            default_station: m.default_station,
            delivery_minutes: m.delivery_minutes,
            frozen_window_minutes: m.frozen_window_minutes,
        })
    }
}

impl WireEvent for StationAdded {
    const NAME: &'static str = "StationAdded";
    type Proto = pb::StationAdded;

    fn to_pb(&self) -> pb::StationAdded {
        pb::StationAdded {
            city: self.city.clone(),
            station_id: self.station_id.clone(),
            name: self.name.clone(),
            districts: self.districts.clone(),
        }
    }

    fn from_pb(m: pb::StationAdded) -> Result<Self, DecodeError> {
        Ok(Self {
            city: m.city,
            station_id: m.station_id,
            name: m.name,
            districts: m.districts,
        })
    }
}

impl WireEvent for TravelTimesSet {
    const NAME: &'static str = "TravelTimesSet";
    type Proto = pb::TravelTimesSet;

    fn to_pb(&self) -> pb::TravelTimesSet {
        pb::TravelTimesSet {
            city: self.city.clone(),
            times: self
                .times
                .iter()
                .map(|t| pb::TravelTime {
                    from_station: t.from_station.clone(),
                    to_station: t.to_station.clone(),
                    minutes: t.minutes,
                })
                .collect(),
        }
    }

    fn from_pb(m: pb::TravelTimesSet) -> Result<Self, DecodeError> {
        Ok(Self {
            city: m.city,
            times: m
                .times
                .into_iter()
                .map(|t| TravelTime {
                    from_station: t.from_station,
                    to_station: t.to_station,
                    minutes: t.minutes,
                })
                .collect(),
        })
    }
}

impl WireEvent for TurnaroundSet {
    const NAME: &'static str = "TurnaroundSet";
    type Proto = pb::TurnaroundSet;

    fn to_pb(&self) -> pb::TurnaroundSet {
        let rule = self.low_charge.unwrap_or(LowCharge {
            below_percent: 0,
            extra_minutes: 0,
        });
        pb::TurnaroundSet {
            city: self.city.clone(),
            minutes: self.minutes,
            low_charge_below_percent: rule.below_percent,
            low_charge_extra_minutes: rule.extra_minutes,
        }
    }

    fn from_pb(m: pb::TurnaroundSet) -> Result<Self, DecodeError> {
        Ok(Self {
            city: m.city,
            minutes: m.minutes,
            // 0 below: no rule (as every TurnaroundSet before the rule existed says).
            low_charge: (m.low_charge_below_percent > 0).then_some(LowCharge {
                below_percent: m.low_charge_below_percent,
                extra_minutes: m.low_charge_extra_minutes,
            }),
        })
    }
}

impl WireEvent for UpgradesSet {
    const NAME: &'static str = "UpgradesSet";
    type Proto = pb::UpgradesSet;

    fn to_pb(&self) -> pb::UpgradesSet {
        pb::UpgradesSet {
            city: self.city.clone(),
            rules: upgrade_rules(&self.ladder),
        }
    }

    fn from_pb(m: pb::UpgradesSet) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        let mut ladder = BTreeMap::new();
        for (i, r) in m.rules.into_iter().enumerate() {
            let ups = r
                .may_be_served_by
                .iter()
                .enumerate()
                .map(|(j, u)| model(name, &format!("rules[{i}].may_be_served_by[{j}]"), *u))
                .collect::<Result<Vec<_>, _>>()?;
            ladder.insert(model(name, &format!("rules[{i}].model"), r.model)?, ups);
        }
        Ok(Self { city: m.city, ladder })
    }
}

impl CityEvent {
    pub const NAMES: &[&str] = &[
        CityConfigured::NAME,
        StationAdded::NAME,
        TravelTimesSet::NAME,
        TurnaroundSet::NAME,
        UpgradesSet::NAME,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::CityConfigured(_) => CityConfigured::NAME,
            Self::StationAdded(_) => StationAdded::NAME,
            Self::TravelTimesSet(_) => TravelTimesSet::NAME,
            Self::TurnaroundSet(_) => TurnaroundSet::NAME,
            Self::UpgradesSet(_) => UpgradesSet::NAME,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::CityConfigured(e) => encode(e),
            Self::StationAdded(e) => encode(e),
            Self::TravelTimesSet(e) => encode(e),
            Self::TurnaroundSet(e) => encode(e),
            Self::UpgradesSet(e) => encode(e),
        }
    }

    pub fn decode(name: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        match name {
            CityConfigured::NAME => decode(payload).map(Self::CityConfigured),
            StationAdded::NAME => decode(payload).map(Self::StationAdded),
            TravelTimesSet::NAME => decode(payload).map(Self::TravelTimesSet),
            TurnaroundSet::NAME => decode(payload).map(Self::TurnaroundSet),
            UpgradesSet::NAME => decode(payload).map(Self::UpgradesSet),
            other => Err(DecodeError::unknown(other)),
        }
    }
}

// ---- plan --------------------------------------------------------------------------------------

impl WireEvent for VehicleAssigned {
    const NAME: &'static str = "VehicleAssigned";
    type Proto = pb::VehicleAssigned;

    fn to_pb(&self) -> pb::VehicleAssigned {
        pb::VehicleAssigned {
            order_id: self.order_id.clone(),
            vehicle_id: self.vehicle_id.clone(),
            plate: self.plate.clone(),
            model: model_to_pb(self.model),
            upgrade: self.upgrade,
            plan_id: self.plan_id.clone(),
            assigned_at: ts(self.assigned_at),
        }
    }

    fn from_pb(m: pb::VehicleAssigned) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            model: model(name, "model", m.model)?,
            assigned_at: req_ts(name, "assigned_at", m.assigned_at)?,
            order_id: m.order_id,
            vehicle_id: m.vehicle_id,
            plate: m.plate,
            upgrade: m.upgrade,
            plan_id: m.plan_id,
        })
    }
}

impl WireEvent for VehicleReassigned {
    const NAME: &'static str = "VehicleReassigned";
    type Proto = pb::VehicleReassigned;

    fn to_pb(&self) -> pb::VehicleReassigned {
        pb::VehicleReassigned {
            order_id: self.order_id.clone(),
            from_vehicle_id: self.from_vehicle_id.clone(),
            vehicle_id: self.vehicle_id.clone(),
            plate: self.plate.clone(),
            model: model_to_pb(self.model),
            upgrade: self.upgrade,
            plan_id: self.plan_id.clone(),
            reason: self.reason.clone(),
            assigned_at: ts(self.assigned_at),
        }
    }

    fn from_pb(m: pb::VehicleReassigned) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            model: model(name, "model", m.model)?,
            assigned_at: req_ts(name, "assigned_at", m.assigned_at)?,
            order_id: m.order_id,
            from_vehicle_id: m.from_vehicle_id,
            vehicle_id: m.vehicle_id,
            plate: m.plate,
            upgrade: m.upgrade,
            plan_id: m.plan_id,
            reason: m.reason,
        })
    }
}

impl WireEvent for AssignmentReleased {
    const NAME: &'static str = "AssignmentReleased";
    type Proto = pb::AssignmentReleased;

    fn to_pb(&self) -> pb::AssignmentReleased {
        pb::AssignmentReleased {
            order_id: self.order_id.clone(),
            vehicle_id: self.vehicle_id.clone(),
            reason: self.reason.clone(),
            plan_id: self.plan_id.clone(),
            released_at: ts(self.released_at),
        }
    }

    fn from_pb(m: pb::AssignmentReleased) -> Result<Self, DecodeError> {
        Ok(Self {
            released_at: req_ts(Self::NAME, "released_at", m.released_at)?,
            order_id: m.order_id,
            vehicle_id: m.vehicle_id,
            reason: m.reason,
            plan_id: m.plan_id,
        })
    }
}

impl WireEvent for OrderAtRisk {
    const NAME: &'static str = "OrderAtRisk";
    type Proto = pb::OrderAtRisk;

    fn to_pb(&self) -> pb::OrderAtRisk {
        pb::OrderAtRisk {
            order_id: self.order_id.clone(),
            reason: self.reason.clone(),
            explanation: self.explanation.clone(),
            plan_id: self.plan_id.clone(),
            flagged_at: ts(self.flagged_at),
        }
    }

    fn from_pb(m: pb::OrderAtRisk) -> Result<Self, DecodeError> {
        Ok(Self {
            flagged_at: req_ts(Self::NAME, "flagged_at", m.flagged_at)?,
            order_id: m.order_id,
            reason: m.reason,
            explanation: m.explanation,
            plan_id: m.plan_id,
        })
    }
}

impl WireEvent for DriverTaskAssigned {
    const NAME: &'static str = "DriverTaskAssigned";
    type Proto = pb::DriverTaskAssigned;

    fn to_pb(&self) -> pb::DriverTaskAssigned {
        pb::DriverTaskAssigned {
            order_id: self.order_id.clone(),
            kind: task_kind_pb(self.kind),
            driver_id: self.driver_id.clone(),
            shift_id: self.shift_id.clone(),
            from: ts(self.from),
            to: ts(self.to),
            station: self.station.clone(),
            address: self.address.clone(),
            plan_id: self.plan_id.clone(),
            to_station: self.to_station.clone(),
            vehicle_id: self.vehicle_id.clone(),
        }
    }

    fn from_pb(m: pb::DriverTaskAssigned) -> Result<Self, DecodeError> {
        let name = Self::NAME;
        Ok(Self {
            kind: task_kind_from_pb(m.kind).ok_or_else(|| unknown(name, "kind", m.kind))?,
            from: req_ts(name, "from", m.from)?,
            to: req_ts(name, "to", m.to)?,
            order_id: m.order_id,
            driver_id: m.driver_id,
            shift_id: m.shift_id,
            station: m.station,
            address: m.address,
            plan_id: m.plan_id,
            to_station: m.to_station,
            vehicle_id: m.vehicle_id,
        })
    }
}

impl WireEvent for DriverTaskUnassigned {
    const NAME: &'static str = "DriverTaskUnassigned";
    type Proto = pb::DriverTaskUnassigned;

    fn to_pb(&self) -> pb::DriverTaskUnassigned {
        pb::DriverTaskUnassigned {
            order_id: self.order_id.clone(),
            kind: task_kind_pb(self.kind),
            reason: self.reason.clone(),
            plan_id: self.plan_id.clone(),
            previous_driver_id: self.previous_driver_id.clone().unwrap_or_default(),
            withdrawn: self.withdrawn,
        }
    }

    fn from_pb(m: pb::DriverTaskUnassigned) -> Result<Self, DecodeError> {
        Ok(Self {
            kind: task_kind_from_pb(m.kind).ok_or_else(|| unknown(Self::NAME, "kind", m.kind))?,
            order_id: m.order_id,
            reason: m.reason,
            plan_id: m.plan_id,
            previous_driver_id: opt_text(m.previous_driver_id),
            withdrawn: m.withdrawn,
        })
    }
}

impl WireEvent for PlanOrdersClosed {
    const NAME: &'static str = "PlanOrdersClosed";
    type Proto = pb::PlanOrdersClosed;

    fn to_pb(&self) -> pb::PlanOrdersClosed {
        pb::PlanOrdersClosed {
            order_ids: self.order_ids.clone(),
            reason: self.reason.clone(),
            plan_id: self.plan_id.clone(),
        }
    }

    fn from_pb(m: pb::PlanOrdersClosed) -> Result<Self, DecodeError> {
        Ok(Self {
            order_ids: m.order_ids,
            reason: m.reason,
            plan_id: m.plan_id,
        })
    }
}

impl WireEvent for PlanPublished {
    const NAME: &'static str = "PlanPublished";
    type Proto = pb::PlanPublished;

    fn to_pb(&self) -> pb::PlanPublished {
        pb::PlanPublished {
            city: self.city.clone(),
            plan_id: self.plan_id.clone(),
            planned_at: ts(self.planned_at),
            orders: self.orders,
            fulfilled: self.fulfilled,
            upgrades: self.upgrades,
            relocation_minutes: self.relocation_minutes,
            moved_from_previous: self.moved_from_previous,
            fulfilment_rate: self.fulfilment_rate,
            idle_rate: self.idle_rate,
            proven_optimal: self.proven_optimal,
            upper_bound_fulfilled: self.upper_bound_fulfilled,
            trigger: self.trigger.clone(),
            driver_minutes: self.driver_minutes,
        }
    }

    fn from_pb(m: pb::PlanPublished) -> Result<Self, DecodeError> {
        Ok(Self {
            planned_at: req_ts(Self::NAME, "planned_at", m.planned_at)?,
            city: m.city,
            plan_id: m.plan_id,
            orders: m.orders,
            fulfilled: m.fulfilled,
            upgrades: m.upgrades,
            relocation_minutes: m.relocation_minutes,
            moved_from_previous: m.moved_from_previous,
            fulfilment_rate: m.fulfilment_rate,
            idle_rate: m.idle_rate,
            proven_optimal: m.proven_optimal,
            upper_bound_fulfilled: m.upper_bound_fulfilled,
            trigger: m.trigger,
            driver_minutes: m.driver_minutes,
        })
    }
}

impl PlanEvent {
    pub const NAMES: &[&str] = &[
        VehicleAssigned::NAME,
        VehicleReassigned::NAME,
        AssignmentReleased::NAME,
        OrderAtRisk::NAME,
        DriverTaskAssigned::NAME,
        DriverTaskUnassigned::NAME,
        PlanOrdersClosed::NAME,
        PlanPublished::NAME,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::VehicleAssigned(_) => VehicleAssigned::NAME,
            Self::VehicleReassigned(_) => VehicleReassigned::NAME,
            Self::AssignmentReleased(_) => AssignmentReleased::NAME,
            Self::OrderAtRisk(_) => OrderAtRisk::NAME,
            Self::DriverTaskAssigned(_) => DriverTaskAssigned::NAME,
            Self::DriverTaskUnassigned(_) => DriverTaskUnassigned::NAME,
            Self::PlanOrdersClosed(_) => PlanOrdersClosed::NAME,
            Self::PlanPublished(_) => PlanPublished::NAME,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::VehicleAssigned(e) => encode(e),
            Self::VehicleReassigned(e) => encode(e),
            Self::AssignmentReleased(e) => encode(e),
            Self::OrderAtRisk(e) => encode(e),
            Self::DriverTaskAssigned(e) => encode(e),
            Self::DriverTaskUnassigned(e) => encode(e),
            Self::PlanOrdersClosed(e) => encode(e),
            Self::PlanPublished(e) => encode(e),
        }
    }

    pub fn decode(name: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        match name {
            VehicleAssigned::NAME => decode(payload).map(Self::VehicleAssigned),
            VehicleReassigned::NAME => decode(payload).map(Self::VehicleReassigned),
            AssignmentReleased::NAME => decode(payload).map(Self::AssignmentReleased),
            OrderAtRisk::NAME => decode(payload).map(Self::OrderAtRisk),
            DriverTaskAssigned::NAME => decode(payload).map(Self::DriverTaskAssigned),
            DriverTaskUnassigned::NAME => decode(payload).map(Self::DriverTaskUnassigned),
            PlanOrdersClosed::NAME => decode(payload).map(Self::PlanOrdersClosed),
            PlanPublished::NAME => decode(payload).map(Self::PlanPublished),
            other => Err(DecodeError::unknown(other)),
        }
    }
}
