//! The fleet service's gRPC API: parse → command → reply, and queries over the read model.
//! Every invalid field is answered INVALID_ARGUMENT naming it; nothing is appended then.

use std::collections::BTreeMap;
use std::sync::Arc;

use rentops_eventstore::CommandHandler;
use rentops_kernel::{Aggregate, EventCodec, Plate};
use rentops_kit::api::{self, DomainStatus};
use rentops_projection::{Checkpoints, Db};
use rentops_proto::common;
use rentops_proto::fleet as pb;
use rentops_runtime::auth::{Caller, Declaration, Role};
use rentops_runtime::{Clock, invalid_argument};
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::domain::city::{City, CityAggregate, CityCommand, CityError, LowCharge};
use crate::domain::driver::{DriverAggregate, DriverCommand, DriverError, Shift};
use crate::domain::plan::{PlanAggregate, reason_code};
use crate::domain::plate::{Holder, PlateAggregate, PlateCommand, PlateError, ReleaseReason};
use crate::domain::vehicle::{
    DrivenBy, Severity, Vehicle, VehicleAggregate, VehicleCommand, VehicleError, VehicleStateKind,
};
use crate::domain::{VehicleModel, model_to_pb, ts};
use crate::projections::kpis;
use crate::projections::queries::{self, QueryError};
use crate::reactors::replan::{self, ReplanError, ReplanSettings};
use crate::validate::{Context, FleetFields, Violations, context, page_size};

const DISPATCH: &[Role] = &[Role::Fleet, Role::Supervisor];
/// A breakdown is often first heard of by the desk, from the customer on the phone.
const BREAKDOWN: &[Role] = &[Role::Fleet, Role::Supervisor, Role::Desk];
const READ: &[Role] = &[Role::Fleet, Role::Supervisor, Role::Desk, Role::Finance, Role::Analyst];

/// Who may call each RPC of `rentops.fleet.v1.FleetService` when callers are authenticated.
pub const POLICY: Declaration = (
    "rentops.fleet.v1.FleetService",
    &[
        ("RegisterVehicle", DISPATCH),
        ("MoveVehicle", DISPATCH),
        ("ReportBreakdown", BREAKDOWN),
        ("CompleteRepair", DISPATCH),
        ("ScheduleMaintenance", DISPATCH),
        ("RetireVehicle", DISPATCH),
        ("ChangePlate", DISPATCH),
        ("RegisterDriver", DISPATCH),
        ("ScheduleShift", DISPATCH),
        ("ConfigureCity", DISPATCH),
        ("AddStation", DISPATCH),
        ("SetTravelTimes", DISPATCH),
        ("SetTurnaround", DISPATCH),
        ("SetUpgrades", DISPATCH),
        ("TriggerReplan", DISPATCH),
        ("PlanInstance", &[Role::Fleet, Role::Supervisor, Role::Analyst]),
        ("GetVehicle", READ),
        ("GetPlateHistory", READ),
        ("ListVehicles", READ),
        ("ListDrivers", READ),
        ("ListDriverTasks", READ),
        ("GetCity", READ),
        ("GetCurrentPlan", READ),
        ("ListAtRiskOrders", READ),
        ("ListPlanHistory", READ),
        ("GetKpis", READ),
    ],
);

pub struct FleetApi {
    pub vehicles: Arc<CommandHandler<VehicleAggregate>>,
    pub drivers: Arc<CommandHandler<DriverAggregate>>,
    pub cities: Arc<CommandHandler<CityAggregate>>,
    pub plans: Arc<CommandHandler<PlanAggregate>>,
    pub plates: Arc<CommandHandler<PlateAggregate>>,
    pub db: Db,
    pub checkpoints: Checkpoints,
    pub clock: Arc<dyn Clock>,
    pub replan: ReplanSettings,
}

impl DomainStatus for VehicleError {
    fn status(self) -> Status {
        match self {
            VehicleError::NotFound => Status::not_found("vehicle not found"),
            e @ VehicleError::AlreadyRegisteredDifferently(_) => Status::already_exists(e.to_string()),
            e @ (VehicleError::Retired
            | VehicleError::OnHire(_)
            | VehicleError::AlreadyBroken(_)
            | VehicleError::NotBroken) => Status::failed_precondition(e.to_string()),
            VehicleError::Invalid { field, message } => invalid_argument(field, message),
        }
    }
}

impl DomainStatus for DriverError {
    fn status(self) -> Status {
        match self {
            DriverError::NotFound => Status::not_found("driver not found"),
            e @ (DriverError::AlreadyRegisteredDifferently(_) | DriverError::ShiftIdTaken(_)) => {
                Status::already_exists(e.to_string())
            }
            e @ DriverError::ShiftOverlaps(_) => Status::failed_precondition(e.to_string()),
            DriverError::Invalid { field, message } => invalid_argument(field, message),
        }
    }
}

impl DomainStatus for CityError {
    fn status(self) -> Status {
        match self {
            CityError::NotFound => Status::not_found("city not configured"),
            CityError::UnknownStation { field, station } => {
                invalid_argument(&field, format!("unknown station {station}"))
            }
            CityError::Invalid { field, message } => invalid_argument(&field, message),
        }
    }
}

impl DomainStatus for PlateError {
    fn status(self) -> Status {
        match self {
            e @ PlateError::InUse { .. } => Status::already_exists(e.to_string()),
            e @ PlateError::Earlier { .. } => Status::failed_precondition(e.to_string()),
        }
    }
}

/// How old a plate claim of a vehicle never registered must be before another vehicle may take
/// the plate: a registration follows its claim within milliseconds, so an older one never will.
const STALE_CLAIM: time::Duration = time::Duration::minutes(5);

/// A registration's or re-plating's answer that changed nothing, so its plate claim must go.
fn refused(s: &Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::InvalidArgument
            | tonic::Code::AlreadyExists
            | tonic::Code::FailedPrecondition
            | tonic::Code::NotFound
    )
}

/// The context of a step a command takes on another aggregate: the caller's, under a request
/// id of its own derived from the caller's (so a retried request repeats the step, not adds one).
fn step(ctx: &Context, step: &str) -> Context {
    Context {
        request_id: format!("{step}:{}", ctx.request_id),
        actor: ctx.actor.clone(),
        correlation_id: ctx.correlation_id.clone(),
        fingerprint: ctx.fingerprint.clone(),
    }
}

impl DomainStatus for crate::domain::plan::PlanError {
    fn status(self) -> Status {
        Status::failed_precondition(self.to_string())
    }
}

fn query_status(e: QueryError) -> Status {
    e.into()
}

impl FleetApi {
    async fn run<A>(
        &self,
        handler: &CommandHandler<A>,
        id: &str,
        ctx: Context,
        command: A::Command,
        create: bool,
    ) -> Result<Response<common::CommandResult>, Status>
    where
        A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>,
        A::Error: DomainStatus,
    {
        let done = api::execute(handler, id, ctx, self.clock.now(), &command, create).await?;
        Ok(Response::new(api::command_result(&done)))
    }

    /// Read-your-writes: waits for the projection to reach `consistency.min_sequence`.
    async fn consistent(&self, c: Option<&common::Consistency>) -> Result<(), Status> {
        self.checkpoints.consistent(c).await
    }

    /// The configured city, or FAILED_PRECONDITION: vehicles and drivers belong to a configured
    /// city. Read from the city aggregate (the write side), not the projection, so a station
    /// added a moment ago is known.
    async fn city(&self, code: &str) -> Result<City, Status> {
        self.cities
            .state(code)
            .await
            .map_err(api::status)?
            .0
            .ok_or_else(|| Status::failed_precondition(format!("city {code} is not configured: ConfigureCity first")))
    }

    async fn city_of(&self, code: Option<String>) -> Result<Option<City>, Status> {
        match code {
            Some(code) => Ok(self.cities.state(&code).await.map_err(api::status)?.0),
            None => Ok(None),
        }
    }

    async fn driver_city(&self, id: &str) -> Result<Option<City>, Status> {
        if !crate::domain::is_id(id) {
            return Ok(None);
        }
        let driver = self.drivers.state(id).await.map_err(api::status)?.0;
        self.city_of(driver.map(|d| d.city)).await
    }

    /// Claims `plate` for `vehicle_id`: refused (ALREADY_EXISTS, naming the vehicle) while
    /// another vehicle carries it. True when the claim is new (so it is undone should the
    /// command it guards be refused).
    async fn claim_plate(
        &self,
        plate: &Plate,
        vehicle_id: &str,
        ctx: &Context,
        at: OffsetDateTime,
    ) -> Result<bool, Status> {
        let key = plate.key();
        let held = self.plates.state(&key).await.map_err(api::status)?.0;
        let holder_id = held
            .and_then(|s| s.holder)
            .map(|(v, _)| v)
            // Cars registered before the registry: the read model knows who carries the plate.
            .or(self.carrier_now(plate).await?)
            .filter(|v| v != vehicle_id);
        let holder = match &holder_id {
            None => None,
            Some(h) => Some(match self.vehicles.state(h).await.map_err(api::status)?.0 {
                None => Holder::NotRegistered,
                Some(v) if v.retired_at.is_some() => Holder::Gone(ReleaseReason::Retired),
                Some(v) if Plate::parse(&v.plate).ok().as_ref() != Some(plate) => Holder::Gone(ReleaseReason::Replated),
                Some(_) => Holder::Carries,
            }),
        };
        let command = PlateCommand::Claim {
            plate: plate.clone(),
            vehicle_id: vehicle_id.to_owned(),
            at,
            now: self.clock.now(),
            holder,
            stale_after: STALE_CLAIM,
        };
        let done = api::execute(&self.plates, &key, step(ctx, "plate-claim"), at, &command, true).await?;
        Ok(done.events_appended > 0)
    }

    /// The vehicle the read model says carries `plate` now, if any.
    async fn carrier_now(&self, plate: &Plate) -> Result<Option<String>, Status> {
        Ok(queries::plate_carriers(&self.db, plate.as_str())
            .await
            .map_err(query_status)?
            .into_iter()
            .rev()
            .find(|c| c.to.is_none())
            .map(|c| c.vehicle_id))
    }

    /// Frees `plate` of `vehicle_id`; a failure is only logged: the claim is then stale, and the
    /// next vehicle to claim the plate takes it over.
    async fn release_plate(
        &self,
        plate: &Plate,
        vehicle_id: &str,
        ctx: &Context,
        at: OffsetDateTime,
        reason: ReleaseReason,
    ) {
        let command = PlateCommand::Release {
            vehicle_id: vehicle_id.to_owned(),
            at,
            reason,
        };
        let label = format!("plate-release-{}", reason.code().to_ascii_lowercase());
        if let Err(e) = api::execute(&self.plates, &plate.key(), step(ctx, &label), at, &command, false).await {
            tracing::warn!(%plate, vehicle_id, error = %e, "could not release the plate; the next claim takes it over");
        }
    }

    async fn vehicle_city(&self, id: &str) -> Result<Option<City>, Status> {
        if !crate::domain::is_id(id) {
            return Ok(None);
        }
        let vehicle = self.vehicles.state(id).await.map_err(api::status)?.0;
        self.city_of(vehicle.map(|v| v.city)).await
    }
}

fn station_known(v: &mut Violations, field: &str, city: Option<&City>, station: &str) {
    if let Some(c) = city
        && !station.is_empty()
        && !c.stations.contains_key(station)
    {
        v.add(field, format!("unknown station {station} in city {}", c.city));
    }
}

pub fn vehicle_pb(v: &Vehicle, sequence: u64, now: OffsetDateTime) -> pb::Vehicle {
    pb::Vehicle {
        vehicle_id: v.vehicle_id.clone(),
        vin: v.vin.clone(),
        plate: v.plate.clone(),
        model: model_to_pb(v.model),
        city: v.city.clone(),
        home_station: v.home_station.clone(),
        station: v.station.clone(),
        state: v.state_at(now).pb(),
        odometer_km: v.odometer_km,
        charge_percent: v.charge_percent,
        on_hire_order_id: v.on_hire_order_id.clone().unwrap_or_default(),
        readings_at: v.readings_at.map(ts),
        sequence,
    }
}

fn summary(city: &str, h: &queries::HistoryRow) -> pb::PlanSummary {
    pb::PlanSummary {
        city: city.to_owned(),
        plan_id: h.plan_id.clone(),
        planned_at: Some(ts(h.planned_at)),
        orders: h.orders,
        fulfilled: h.fulfilled,
        upgrades: h.upgrades,
        relocation_minutes: h.relocation_minutes,
        moved_from_previous: h.moved_from_previous,
        fulfilment_rate: h.fulfilment_rate,
        idle_rate: h.idle_rate,
        proven_optimal: h.proven_optimal,
        upper_bound_fulfilled: h.upper_bound_fulfilled,
        trigger: h.trigger.clone(),
        at_risk: h.at_risk,
        driver_minutes: h.driver_minutes,
    }
}

fn task_pb(t: &queries::TaskRow) -> pb::DriverTask {
    pb::DriverTask {
        order_id: t.order_id.clone(),
        kind: match t.kind.as_str() {
            "COLLECTION" => pb::TaskKind::Collection,
            "RELOCATION" => pb::TaskKind::Relocation,
            _ => pb::TaskKind::Delivery,
        } as i32,
        driver_id: t.driver_id.clone(),
        shift_id: t.shift_id.clone(),
        from: t.from.map(ts),
        to: t.to.map(ts),
        station: t.station.clone(),
        address: t.address.clone(),
        flagged: t.flagged,
        reason: t.reason.clone(),
        to_station: t.to_station.clone(),
        vehicle_id: t.vehicle_id.clone(),
    }
}

fn day(v: &mut Violations, field: &str, s: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s.trim(), format) {
        Ok(d) => Some(d),
        Err(_) => {
            v.add(
                field,
                if s.trim().is_empty() {
                    "required: YYYY-MM-DD"
                } else {
                    "a day as YYYY-MM-DD"
                },
            );
            None
        }
    }
}

/// The most bytes of instance JSON PlanInstance accepts (a 10,000-order city is about 3 MB).
pub const MAX_INSTANCE_BYTES: usize = 32 * 1024 * 1024;

#[tonic::async_trait]
impl pb::fleet_service_server::FleetService for FleetApi {
    async fn register_vehicle(
        &self,
        request: Request<pb::RegisterVehicleRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let vin = v.vin("vin", &r.vin);
        let plate = v.plate("plate", &r.plate);
        let model = v.model("model", r.model, true);
        let code = v.city("city", &r.city);
        let home = v.id("home_station", &r.home_station);
        let city = if is_ok_city(&code) {
            Some(self.city(&code).await?)
        } else {
            None
        };
        station_known(&mut v, "home_station", city.as_ref(), &home);
        let now = self.clock.now();
        let at = v.happened("registered_at", r.registered_at.as_ref(), now);
        let Some(plate) = plate else {
            // The plate's violation is among the others: this answers them all.
            v.finish(())?;
            return Err(Status::invalid_argument("invalid request"));
        };
        let command = v.finish(VehicleCommand::Register {
            vehicle_id: id.clone(),
            vin,
            plate: plate.clone(),
            model: model.unwrap_or(VehicleModel::Et5),
            city: code,
            home_station: home,
            at,
        })?;
        // A registration the vehicle's rules refuse is answered before the plate is touched:
        // a refused command appends nothing.
        let current = self.vehicles.state(&id).await.map_err(api::status)?.0;
        VehicleAggregate::decide(&current, &command).map_err(DomainStatus::status)?;
        // One plate, one car: the plate is claimed first, and given back if the registration
        // is refused after all (another registration of the car came in between).
        let claimed = self.claim_plate(&plate, &id, &ctx, at).await?;
        let undo = step(&ctx, "register");
        match self.run(&self.vehicles, &id, ctx, command, true).await {
            Err(e) if claimed && refused(&e) => {
                self.release_plate(&plate, &id, &undo, at, ReleaseReason::NotRegistered)
                    .await;
                Err(e)
            }
            answer => answer,
        }
    }

    async fn change_plate(
        &self,
        request: Request<pb::ChangePlateRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let plate = v.plate("plate", &r.plate);
        let reason = v.text("reason", &r.reason, 300, false);
        let now = self.clock.now();
        let at = v.happened("at", r.at.as_ref(), now);
        let Some(plate) = plate else {
            v.finish(())?;
            return Err(Status::invalid_argument("invalid request"));
        };
        let command = v.finish(VehicleCommand::ChangePlate {
            plate: plate.clone(),
            at,
            reason,
        })?;
        let before = self
            .vehicles
            .state(&id)
            .await
            .map_err(api::status)?
            .0
            .ok_or_else(|| Status::not_found("vehicle not found"))?;
        // Refused by the vehicle's rules (retired, the time wrong) or its own plate already:
        // answered before the plate registry is touched.
        if VehicleAggregate::decide(&Some(before.clone()), &command)
            .map_err(DomainStatus::status)?
            .is_empty()
        {
            return self.run(&self.vehicles, &id, ctx, command, false).await;
        }
        let claimed = self.claim_plate(&plate, &id, &ctx, at).await?;
        let undo = step(&ctx, "replate");
        let answer = self.run(&self.vehicles, &id, ctx, command, false).await;
        match &answer {
            Err(e) if claimed && refused(e) => {
                self.release_plate(&plate, &id, &undo, at, ReleaseReason::NotRegistered)
                    .await;
            }
            Ok(done) if done.get_ref().events_appended > 0 => {
                if let Ok(old) = Plate::parse(&before.plate) {
                    self.release_plate(&old, &id, &undo, at, ReleaseReason::Replated).await;
                }
            }
            _ => {}
        }
        answer
    }

    async fn move_vehicle(
        &self,
        request: Request<pb::MoveVehicleRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let to = v.id("to_station", &r.to_station);
        let reason = v.text("reason", &r.reason, 300, false);
        let at = v
            .time("moved_at", r.moved_at.as_ref())
            .unwrap_or_else(|| self.clock.now());
        let departed = v.time("departed_at", r.departed_at.as_ref());
        let staff_id = v.text("staff_id", &r.staff_id, 64, false);
        let task_order_id = v.text("task_order_id", &r.task_order_id, 64, false);
        let city = self.vehicle_city(&id).await?;
        station_known(&mut v, "to_station", city.as_ref(), &to);
        // Who drove: a driver of the car's city, else the member of staff named (or calling).
        let driven_by = if r.driver_id.is_empty() {
            DrivenBy::Staff(if staff_id.is_empty() {
                ctx.actor.clone()
            } else {
                staff_id
            })
        } else {
            let driver = v.id("driver_id", &r.driver_id);
            if crate::domain::is_id(&driver) {
                let known = self.drivers.state(&driver).await.map_err(api::status)?.0;
                match (known, &city) {
                    (Some(d), Some(c)) if d.city == c.city => {}
                    (Some(d), _) => v.add(
                        "driver_id",
                        format!("driver {driver} works in {}, not the car's city", d.city),
                    ),
                    (None, _) => v.add("driver_id", format!("no driver {driver}")),
                }
            }
            DrivenBy::Driver(driver)
        };
        // Left when it must have, to arrive then: the city's travel time between the stations.
        let from = if crate::domain::is_id(&id) {
            self.vehicles
                .state(&id)
                .await
                .map_err(api::status)?
                .0
                .map(|v| v.station)
        } else {
            None
        };
        let travel = match (&city, &from) {
            (Some(c), Some(f)) => c.travel(f, &to).unwrap_or(0),
            _ => 0,
        };
        let departed_at = departed.unwrap_or(at - time::Duration::minutes(i64::from(travel)));
        let command = v.finish(VehicleCommand::Move {
            to_station: to,
            reason,
            at,
            driven_by,
            departed_at,
            task_order_id: (!task_order_id.is_empty()).then_some(task_order_id),
        })?;
        self.run(&self.vehicles, &id, ctx, command, false).await
    }

    async fn report_breakdown(
        &self,
        request: Request<pb::ReportBreakdownRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let at = v.time("at", r.at.as_ref()).unwrap_or_else(|| self.clock.now());
        let place = v.text("station_or_address", &r.station_or_address, 300, true);
        let severity = v.enum_value("severity", "severity", r.severity, Severity::from_pb(r.severity));
        let until = v.time("expected_repair_until", r.expected_repair_until.as_ref());
        if until.is_some_and(|u| u <= at) {
            v.add("expected_repair_until", "must be after the breakdown");
        }
        let description = v.text("description", &r.description, 1000, false);
        let command = v.finish(VehicleCommand::ReportBreakdown {
            at,
            place,
            severity: severity.unwrap_or(Severity::Major),
            expected_repair_until: until,
            description,
        })?;
        self.run(&self.vehicles, &id, ctx, command, false).await
    }

    async fn complete_repair(
        &self,
        request: Request<pb::CompleteRepairRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let station = if r.station.trim().is_empty() {
            None
        } else {
            Some(v.id("station", &r.station))
        };
        let notes = v.text("notes", &r.notes, 1000, false);
        let at = v.time("at", r.at.as_ref()).unwrap_or_else(|| self.clock.now());
        let city = self.vehicle_city(&id).await?;
        station_known(&mut v, "station", city.as_ref(), station.as_deref().unwrap_or(""));
        let command = v.finish(VehicleCommand::CompleteRepair { at, station, notes })?;
        self.run(&self.vehicles, &id, ctx, command, false).await
    }

    async fn schedule_maintenance(
        &self,
        request: Request<pb::ScheduleMaintenanceRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let from = v.required_time("from", r.from.as_ref());
        let to = v.required_time("to", r.to.as_ref());
        if r.from.is_some() && r.to.is_some() && to <= from {
            v.add("to", "must be after from");
        }
        let reason = v.text("reason", &r.reason, 300, true);
        let command = v.finish(VehicleCommand::ScheduleMaintenance { from, to, reason })?;
        self.run(&self.vehicles, &id, ctx, command, false).await
    }

    async fn retire_vehicle(
        &self,
        request: Request<pb::RetireVehicleRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("vehicle_id", &r.vehicle_id);
        let reason = v.text("reason", &r.reason, 300, true);
        let at = v.time("at", r.at.as_ref()).unwrap_or_else(|| self.clock.now());
        let command = v.finish(VehicleCommand::Retire { at, reason })?;
        let undo = step(&ctx, "retire");
        let answer = self.run(&self.vehicles, &id, ctx, command, false).await?;
        // A retired car's plate may be issued again.
        if let Some(car) = self.vehicles.state(&id).await.map_err(api::status)?.0
            && car.retired_at.is_some()
            && let Ok(plate) = Plate::parse(&car.plate)
        {
            self.release_plate(&plate, &id, &undo, at, ReleaseReason::Retired).await;
        }
        Ok(answer)
    }

    async fn register_driver(
        &self,
        request: Request<pb::RegisterDriverRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("driver_id", &r.driver_id);
        let name = v.text("name", &r.name, 100, true);
        let phone = v.phone("phone", &r.phone);
        let code = v.city("city", &r.city);
        if is_ok_city(&code) {
            self.city(&code).await?;
        }
        let command = v.finish(DriverCommand::Register {
            driver_id: id.clone(),
            name,
            phone,
            city: code,
            at: self.clock.now(),
        })?;
        self.run(&self.drivers, &id, ctx, command, true).await
    }

    async fn schedule_shift(
        &self,
        request: Request<pb::ScheduleShiftRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.id("driver_id", &r.driver_id);
        let shift_id = v.id("shift_id", &r.shift_id);
        let from = v.required_time("from", r.from.as_ref());
        let to = v.required_time("to", r.to.as_ref());
        if r.from.is_some() && r.to.is_some() && to <= from {
            v.add("to", "must be after from");
        }
        let station = v.id("station", &r.station);
        let city = self.driver_city(&id).await?;
        station_known(&mut v, "station", city.as_ref(), &station);
        let command = v.finish(DriverCommand::ScheduleShift(Shift {
            shift_id,
            from,
            to,
            station,
        }))?;
        self.run(&self.drivers, &id, ctx, command, false).await
    }

    async fn configure_city(
        &self,
        request: Request<pb::ConfigureCityRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        let name = v.text("name", &r.name, 100, true);
        let default_station = if r.default_station.trim().is_empty() {
            String::new()
        } else {
            v.id("default_station", &r.default_station)
        };
        if r.delivery_minutes > 24 * 60 {
            v.add("delivery_minutes", "at most 1440");
        }
        if r.frozen_window_minutes.is_some_and(|m| m > 7 * 24 * 60) {
            v.add("frozen_window_minutes", "at most 10080");
        }
        // Unset keeps what the city has (re-configuring its name does not reset its window); a
        // new city starts with the default. The aggregate decides, on its own state.
        let command = v.finish(CityCommand::Configure {
            city: city.clone(),
            name,
            default_station,
            delivery_minutes: if r.delivery_minutes == 0 {
                crate::domain::DEFAULT_DELIVERY_MINUTES
            } else {
                r.delivery_minutes
            },
            frozen_window_minutes: r.frozen_window_minutes,
        })?;
        self.run(&self.cities, &city, ctx, command, true).await
    }

    async fn add_station(
        &self,
        request: Request<pb::AddStationRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        let station_id = v.id("station_id", &r.station_id);
        let name = v.text("name", &r.name, 100, true);
        if r.districts.len() > 100 {
            v.add("districts", "at most 100");
        }
        let districts = r
            .districts
            .iter()
            .enumerate()
            .map(|(i, d)| v.text(&format!("districts[{i}]"), d, 50, true))
            .collect();
        let command = v.finish(CityCommand::AddStation {
            station_id,
            name,
            districts,
        })?;
        self.run(&self.cities, &city, ctx, command, false).await
    }

    async fn set_travel_times(
        &self,
        request: Request<pb::SetTravelTimesRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        if r.times.is_empty() {
            v.add("times", "required: at least one");
        } else if r.times.len() > 10_000 {
            v.add("times", "at most 10000 per request");
        }
        let times = r
            .times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let a = v.id(&format!("times[{i}].from_station"), &t.from_station);
                let b = v.id(&format!("times[{i}].to_station"), &t.to_station);
                if t.minutes > crate::domain::city::MAX_TRAVEL_MINUTES {
                    v.add(format!("times[{i}].minutes"), "at most 10080");
                }
                (a, b, t.minutes)
            })
            .collect();
        let command = v.finish(CityCommand::SetTravelTimes {
            times,
            symmetric: r.symmetric,
        })?;
        self.run(&self.cities, &city, ctx, command, false).await
    }

    async fn set_turnaround(
        &self,
        request: Request<pb::SetTurnaroundRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        if r.minutes > 24 * 60 {
            v.add("minutes", "at most 1440");
        }
        let low_charge = match (r.low_charge_below_percent, r.low_charge_extra_minutes) {
            (None, None) => None,
            (Some(0), _) => Some(None),
            (Some(below), extra) => {
                if below > 100 {
                    v.add("low_charge_below_percent", "0 to 100 (0 for no low-charge rule)");
                }
                if extra.is_none() {
                    v.add("low_charge_extra_minutes", "required with low_charge_below_percent");
                }
                let extra = extra.unwrap_or(0);
                if extra > 24 * 60 {
                    v.add("low_charge_extra_minutes", "at most 1440");
                }
                Some(Some(LowCharge {
                    below_percent: below,
                    extra_minutes: extra,
                }))
            }
            (None, Some(_)) => {
                v.add("low_charge_below_percent", "required with low_charge_extra_minutes");
                None
            }
        };
        let command = v.finish(CityCommand::SetTurnaround {
            minutes: r.minutes,
            low_charge,
        })?;
        self.run(&self.cities, &city, ctx, command, false).await
    }

    async fn set_upgrades(
        &self,
        request: Request<pb::SetUpgradesRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        let mut ladder = BTreeMap::new();
        for (i, rule) in r.rules.iter().enumerate() {
            let m = v.model(&format!("rules[{i}].model"), rule.model, true);
            let ups: Vec<VehicleModel> = rule
                .may_be_served_by
                .iter()
                .enumerate()
                .filter_map(|(j, u)| v.model(&format!("rules[{i}].may_be_served_by[{j}]"), *u, true))
                .collect();
            if let Some(m) = m {
                if ups.contains(&m) {
                    v.add(format!("rules[{i}].may_be_served_by"), "a model is not its own upgrade");
                }
                if ladder.insert(m, ups).is_some() {
                    v.add(format!("rules[{i}].model"), "listed twice");
                }
            }
        }
        let command = v.finish(CityCommand::SetUpgrades(ladder))?;
        self.run(&self.cities, &city, ctx, command, false).await
    }

    async fn trigger_replan(
        &self,
        request: Request<pb::TriggerReplanRequest>,
    ) -> Result<Response<pb::TriggerReplanResponse>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let city = v.city("city", &r.city);
        v.finish(())?;
        let done = replan::replan_city(
            &self.plans,
            &self.db,
            &city,
            self.clock.now(),
            &self.replan,
            &ctx.request_id,
            &ctx.actor,
            "manual",
        )
        .await
        .map_err(|e| match e {
            ReplanError::NoCity(c) => Status::not_found(format!("city {c} is not configured")),
            ReplanError::Query(q) => query_status(q),
            ReplanError::Execute(e) => api::status(e),
            e @ ReplanError::NotConverged(_) => Status::aborted(e.to_string()),
        })?;
        let plan = done.state.last.as_ref().map(|p| pb::PlanSummary {
            city: p.city.clone(),
            plan_id: p.plan_id.clone(),
            planned_at: Some(ts(p.planned_at)),
            orders: p.orders,
            fulfilled: p.fulfilled,
            upgrades: p.upgrades,
            relocation_minutes: p.relocation_minutes,
            moved_from_previous: p.moved_from_previous,
            fulfilment_rate: p.fulfilment_rate,
            idle_rate: p.idle_rate,
            proven_optimal: p.proven_optimal,
            upper_bound_fulfilled: p.upper_bound_fulfilled,
            trigger: p.trigger.clone(),
            at_risk: done.state.at_risk.len() as u32,
            driver_minutes: p.driver_minutes,
        });
        Ok(Response::new(pb::TriggerReplanResponse {
            result: Some(common::CommandResult {
                aggregate_id: city,
                sequence: done.sequence,
                events_appended: done.events_appended,
            }),
            plan,
        }))
    }

    async fn plan_instance(
        &self,
        request: Request<pb::PlanInstanceRequest>,
    ) -> Result<Response<pb::PlanInstanceResponse>, Status> {
        let r = request.into_inner();
        if r.instance_json.trim().is_empty() {
            return Err(invalid_argument("instance_json", "required"));
        }
        if r.instance_json.len() > MAX_INSTANCE_BYTES {
            return Err(invalid_argument(
                "instance_json",
                format!("at most {MAX_INSTANCE_BYTES} bytes"),
            ));
        }
        let options = self.replan.options.clone();
        // The planner is CPU-bound: off the async workers.
        let outcome = tokio::task::spawn_blocking(move || plan_json(&r.instance_json, &options))
            .await
            .map_err(|e| Status::internal(format!("planner stopped: {e}")))?
            .map_err(|e| invalid_argument("instance_json", e.to_string()))?;
        Ok(Response::new(outcome))
    }

    async fn get_vehicle(&self, request: Request<pb::GetVehicleRequest>) -> Result<Response<pb::Vehicle>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.id("vehicle_id", &r.vehicle_id);
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let (vehicle, seq) = queries::vehicle(&self.db, &id)
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("vehicle not found"))?;
        Ok(Response::new(vehicle_pb(&vehicle, seq, self.clock.now())))
    }

    async fn get_plate_history(
        &self,
        request: Request<pb::GetPlateHistoryRequest>,
    ) -> Result<Response<pb::GetPlateHistoryResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let plate = v.plate("plate", &r.plate);
        let at = v.time("at", r.at.as_ref());
        v.finish(())?;
        let Some(plate) = plate else {
            return Err(Status::invalid_argument("invalid request"));
        };
        self.consistent(r.consistency.as_ref()).await?;
        let carriers = queries::plate_carriers(&self.db, plate.as_str())
            .await
            .map_err(query_status)?
            .into_iter()
            .filter(|c| at.is_none_or(|t| c.from <= t && c.to.is_none_or(|to| t < to)))
            .map(|c| pb::PlateCarrier {
                vehicle_id: c.vehicle_id,
                from: Some(ts(c.from)),
                to: c.to.map(ts),
            })
            .collect();
        Ok(Response::new(pb::GetPlateHistoryResponse {
            plate: plate.to_string(),
            carriers,
        }))
    }

    async fn list_vehicles(
        &self,
        request: Request<pb::ListVehiclesRequest>,
    ) -> Result<Response<pb::ListVehiclesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = (!r.city.trim().is_empty()).then(|| v.city("city", &r.city));
        let model = v.model("model", r.model, false);
        let station = (!r.station.trim().is_empty()).then(|| v.id("station", &r.station));
        let mut states = Vec::new();
        for (i, s) in r.states.iter().enumerate() {
            match VehicleStateKind::from_pb(*s) {
                Some(k) => states.push(k),
                None => v.add(format!("states[{i}]"), format!("unknown state {s}")),
            }
        }
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !token.is_empty() && !crate::domain::is_id(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let filter = queries::VehicleFilter {
            city,
            model: model.map(|m| m.code().to_owned()),
            station,
        };
        let now = self.clock.now();
        // The state filter runs here (maintenance is a window in time), so read on until the
        // page is full or the vehicles run out.
        let mut out = Vec::new();
        let mut after = token;
        let mut next = String::new();
        loop {
            let batch = queries::vehicles(&self.db, &filter, &after, size + 1)
                .await
                .map_err(query_status)?;
            let more = batch.len() > size;
            for (vehicle, seq) in batch.iter().take(size) {
                after = vehicle.vehicle_id.clone();
                if states.is_empty() || states.contains(&vehicle.state_at(now)) {
                    out.push(vehicle_pb(vehicle, *seq, now));
                    if out.len() == size {
                        break;
                    }
                }
            }
            if out.len() == size {
                if more || batch.len() > out.len() {
                    next = after.clone();
                }
                break;
            }
            if !more {
                break;
            }
        }
        Ok(Response::new(pb::ListVehiclesResponse {
            vehicles: out,
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn list_drivers(
        &self,
        request: Request<pb::ListDriversRequest>,
    ) -> Result<Response<pb::ListDriversResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = v.city("city", &r.city);
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !token.is_empty() && !crate::domain::is_id(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let mut drivers = queries::drivers(&self.db, &city, &token, size + 1)
            .await
            .map_err(query_status)?;
        let next = if drivers.len() > size {
            drivers.truncate(size);
            drivers.last().map(|d| d.driver_id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListDriversResponse {
            drivers: drivers
                .into_iter()
                .map(|d| pb::Driver {
                    driver_id: d.driver_id,
                    name: d.name,
                    phone: d.phone,
                    city: d.city,
                    shifts: d
                        .shifts
                        .into_iter()
                        .map(|s| pb::Shift {
                            shift_id: s.shift_id,
                            from: Some(ts(s.from)),
                            to: Some(ts(s.to)),
                            station: s.station,
                        })
                        .collect(),
                })
                .collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn list_driver_tasks(
        &self,
        request: Request<pb::ListDriverTasksRequest>,
    ) -> Result<Response<pb::ListDriverTasksResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = v.city("city", &r.city);
        let driver = (!r.driver_id.trim().is_empty()).then(|| v.id("driver_id", &r.driver_id));
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let tasks = queries::tasks(&self.db, &city, driver.as_deref(), r.flagged_only)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListDriverTasksResponse {
            tasks: tasks.iter().map(task_pb).collect(),
        }))
    }

    async fn get_city(&self, request: Request<pb::GetCityRequest>) -> Result<Response<pb::City>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let code = v.city("city", &r.city);
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let (c, seq) = queries::city(&self.db, &code)
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("city not configured"))?;
        Ok(Response::new(pb::City {
            city: c.city.clone(),
            name: c.name.clone(),
            default_station: c.default_station.clone(),
            delivery_minutes: c.delivery_minutes,
            frozen_window_minutes: c.frozen_window_minutes,
            turnaround_minutes: c.turnaround_minutes,
            low_charge_below_percent: c.low_charge.map_or(0, |r| r.below_percent),
            low_charge_extra_minutes: c.low_charge.map_or(0, |r| r.extra_minutes),
            stations: c
                .stations
                .iter()
                .map(|(id, s)| pb::Station {
                    station_id: id.clone(),
                    name: s.name.clone(),
                    districts: s.districts.clone(),
                })
                .collect(),
            travel_times: c
                .travel
                .iter()
                .flat_map(|(a, row)| {
                    row.iter().map(move |(b, m)| pb::TravelTime {
                        from_station: a.clone(),
                        to_station: b.clone(),
                        minutes: *m,
                    })
                })
                .collect(),
            upgrades: crate::domain::codec::upgrade_rules(&c.upgrades),
            sequence: seq,
        }))
    }

    async fn get_current_plan(
        &self,
        request: Request<pb::GetCurrentPlanRequest>,
    ) -> Result<Response<pb::CurrentPlan>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = v.city("city", &r.city);
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let latest = queries::history(&self.db, &city, 0, 1).await.map_err(query_status)?;
        let assignments = queries::assignments(&self.db, &city).await.map_err(query_status)?;
        let at_risk = queries::at_risk(&self.db, &city).await.map_err(query_status)?;
        let tasks = queries::tasks(&self.db, &city, None, false)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::CurrentPlan {
            summary: latest.first().map(|h| summary(&city, h)),
            assignments: assignments
                .into_iter()
                .map(|a| pb::PlannedAssignment {
                    order_id: a.order_id,
                    vehicle_id: a.vehicle_id,
                    plate: a.plate,
                    model: VehicleModel::parse(&a.model).ok().map(model_to_pb).unwrap_or_default(),
                    upgrade: a.upgrade,
                    plan_id: a.plan_id,
                    assigned_at: Some(ts(a.assigned_at)),
                })
                .collect(),
            at_risk: at_risk.into_iter().map(at_risk_pb).collect(),
            tasks: tasks.iter().map(task_pb).collect(),
        }))
    }

    async fn list_at_risk_orders(
        &self,
        request: Request<pb::ListAtRiskOrdersRequest>,
    ) -> Result<Response<pb::ListAtRiskOrdersResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = v.city("city", &r.city);
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let rows = queries::at_risk(&self.db, &city).await.map_err(query_status)?;
        Ok(Response::new(pb::ListAtRiskOrdersResponse {
            orders: rows.into_iter().map(at_risk_pb).collect(),
        }))
    }

    async fn list_plan_history(
        &self,
        request: Request<pb::ListPlanHistoryRequest>,
    ) -> Result<Response<pb::ListPlanHistoryResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = v.city("city", &r.city);
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        let before = if token.is_empty() {
            0
        } else {
            token.parse::<u64>().unwrap_or_else(|_| {
                v.add("page.page_token", "not a token this service issued");
                0
            })
        };
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let mut rows = queries::history(&self.db, &city, before, size + 1)
            .await
            .map_err(query_status)?;
        let next = if rows.len() > size {
            rows.truncate(size);
            rows.last().map(|h| h.sequence.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListPlanHistoryResponse {
            plans: rows.iter().map(|h| summary(&city, h)).collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn get_kpis(&self, request: Request<pb::GetKpisRequest>) -> Result<Response<pb::GetKpisResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let code = v.city("city", &r.city);
        let model = v.model("model", r.model, false);
        let from = day(&mut v, "from_day", &r.from_day);
        let to = day(&mut v, "to_day", &r.to_day);
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                v.add("to_day", "must not be before from_day");
            } else if (t - f).whole_days() > 91 {
                v.add("to_day", "at most 92 days");
            }
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(invalid_argument("from_day", "required"));
        };
        let city = queries::city(&self.db, &code)
            .await
            .map_err(query_status)?
            .map(|(c, _)| c)
            .ok_or_else(|| Status::not_found("city not configured"))?;
        let rows = kpis::compute(
            &self.db,
            &city,
            model,
            from,
            to,
            self.clock.now(),
            self.replan.handover_grace,
        )
        .await
        .map_err(query_status)?;
        // One row per day unless asked per model; a day's row is over the model asked for, if any.
        let rows: Vec<(time::Date, Option<VehicleModel>, kpis::Kpi)> = if r.by_model {
            rows.into_iter().map(|((d, m), k)| (d, Some(m), k)).collect()
        } else {
            kpis::per_day(&rows, from, to)
                .into_iter()
                .map(|(d, k)| (d, model, k))
                .collect()
        };
        Ok(Response::new(pb::GetKpisResponse {
            city: code,
            rows: rows
                .into_iter()
                .map(|(d, m, k)| pb::KpiRow {
                    day: d.to_string(),
                    model: m.map_or(0, model_to_pb),
                    due_orders: k.due,
                    fulfilled_orders: k.fulfilled,
                    pending_orders: k.pending,
                    fulfilment_rate: k.fulfilment_rate(),
                    on_rent_hours: k.on_rent_hours,
                    available_hours: k.available_hours,
                    idle_rate: k.idle_rate(),
                    planned_orders: k.planned_orders,
                    planned_fulfilled: k.planned_fulfilled,
                    planned_fulfilment_rate: k.planned_fulfilment_rate(),
                    planned_on_rent_hours: k.planned_on_rent_hours,
                    planned_idle_rate: k.planned_idle_rate(),
                })
                .collect(),
        }))
    }
}

fn is_ok_city(code: &str) -> bool {
    crate::domain::is_city(code)
}

fn at_risk_pb(a: queries::AtRiskRow) -> pb::AtRiskOrder {
    pb::AtRiskOrder {
        order_id: a.order_id,
        reason: a.reason,
        explanation: a.explanation,
        plan_id: a.plan_id,
        flagged_at: Some(ts(a.flagged_at)),
    }
}

/// Plans an instance file's text: the plan JSON, its KPIs and why each unserved order is unserved.
pub fn plan_json(
    text: &str,
    options: &rentops_planner::PlanOptions,
) -> Result<pb::PlanInstanceResponse, rentops_planner::PlanError> {
    let instance = rentops_planner::Instance::from_json(text)?;
    let out = rentops_planner::plan(&instance, options)?;
    let r = &out.report;
    Ok(pb::PlanInstanceResponse {
        plan_json: out.plan.to_json(),
        summary: Some(pb::PlanSummary {
            city: instance.city.clone().unwrap_or_default(),
            plan_id: String::new(),
            planned_at: None,
            orders: r.orders as u32,
            fulfilled: r.fulfilled as u32,
            upgrades: r.upgrades as u32,
            relocation_minutes: r.relocation_minutes,
            moved_from_previous: r.moved_from_previous as u32,
            fulfilment_rate: r.fulfilment_rate,
            idle_rate: r.idle_rate,
            proven_optimal: r.proven_optimal,
            upper_bound_fulfilled: r.upper_bound_fulfilled as u32,
            trigger: "PlanInstance".into(),
            at_risk: out.plan.unassigned.len() as u32,
            // A bare instance has no drivers.
            driver_minutes: 0,
        }),
        explanations: out
            .explanations
            .iter()
            .map(|e| pb::Explanation {
                order_id: e.order.clone(),
                reason: reason_code(e.reason).into(),
                explanation: e.reason.to_string(),
            })
            .collect(),
    })
}
