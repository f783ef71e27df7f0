//! `rentops fleet …`: the fleet service's commands and queries, and `plan`, which plans an
//! instance file (crates/planner/FORMAT.md) on the service or, with `--local`, with the planner
//! library in this process (no server needed): `rentops fleet plan INSTANCE.json > PLAN.json`.
//!
//! Answers print as tables (`fleet_views.rs`), or as JSON with `--json`.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use rentops_proto::common::Consistency;
use rentops_proto::fleet as pb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use time::OffsetDateTime;

use crate::admin::Operation;
use crate::args::parse_non_empty;
use crate::commands::Invocation;
use crate::errors::Failure;
use crate::fleet_views::{
    AtRiskListView, AtRiskView, CurrentPlanView, FleetCommandView, KpisView, PlanHistoryView, PlanReportView,
    PlanSummaryView, PlateHistoryView, ReplanView, VehiclesView,
};
use crate::format::{parse_time, timestamp};
use crate::views::View;

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Plan an instance file and print the plan file (crates/planner/FORMAT.md); KPIs and explanations go to stderr.
    Plan(PlanArgs),
    /// Configure a city (name, default delivery station, delivery minutes, frozen window).
    City(CityArgs),
    /// Add (or change) a station of a city.
    Station(StationArgs),
    /// Set a travel time between two stations (both directions unless --one-way).
    Travel(TravelArgs),
    /// Set a city's turnaround between two rentals.
    Turnaround(TurnaroundArgs),
    /// Register a vehicle.
    Register(RegisterArgs),
    /// Report a breakdown (re-plans the city at once).
    Breakdown(BreakdownArgs),
    /// Record a finished repair.
    Repair(RepairArgs),
    /// Schedule a maintenance window.
    Maintenance(MaintenanceArgs),
    /// Move a vehicle to another station.
    Move(MoveArgs),
    /// Retire a vehicle (its plate may then be issued to another).
    Retire(RetireArgs),
    /// Give a vehicle another plate from now (refused while another vehicle carries it).
    Replate(ReplateArgs),
    /// Which vehicles carried a plate, and when (any spelling of the plate).
    PlateHistory(PlateHistoryArgs),
    /// Register a delivery driver.
    Driver(DriverArgs),
    /// Schedule a driver's shift.
    Shift(ShiftArgs),
    /// Re-plan a city now.
    Replan(CityOnly),
    /// Show the plan in force: summary, assignments, orders at risk, driver tasks.
    ShowPlan(CityOnly),
    /// Orders no car can serve, and why.
    AtRisk(CityOnly),
    /// Plans made for a city, newest first, with their KPIs.
    History(CityOnly),
    /// A city's vehicles with their state, station, charge and odometer.
    Vehicles(CityOnly),
    /// Fulfilment and idle rate per day (and model with --by-model), actual beside planned.
    Kpis(KpiArgs),
    /// SRE: empty a read model of the fleet service (every one unless --projection: the fleet's
    /// own, and the demand it reads from the order stream) and replay it from its stream's first
    /// event, while queries go on being answered. Returns once the replay has started.
    RebuildProjection(crate::admin::ProjectionArgs),
    /// SRE: how far each read model of the fleet service (or the one named) has applied its
    /// stream, whether a rebuild is still replaying, and which replica runs it.
    ProjectionStatus(crate::admin::ProjectionArgs),
}

impl FleetCommand {
    pub fn is_command(&self) -> bool {
        !matches!(
            self,
            Self::Plan(_)
                | Self::ShowPlan(_)
                | Self::AtRisk(_)
                | Self::History(_)
                | Self::Vehicles(_)
                | Self::Kpis(_)
                | Self::PlateHistory(_)
                | Self::RebuildProjection(_)
                | Self::ProjectionStatus(_)
        )
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The instance file (JSON, crates/planner/FORMAT.md).
    pub instance: std::path::PathBuf,
    /// Plan here with the planner library instead of asking the fleet service.
    #[arg(long)]
    pub local: bool,
    /// With --local: also try to prove the plan optimal (a cutting-plane bound; about 1 s more
    /// on 2,000 orders), so that `proven_optimal` and `upper_bound_fulfilled` say how far the
    /// plan can be from the best one.
    #[arg(long, requires = "local")]
    pub prove: bool,
}

#[derive(Debug, Args)]
pub struct CityOnly {
    /// City code, e.g. SHA.
    #[arg(long)]
    pub city: String,
    /// Wait until the view includes this FLEET sequence instead [default: the one your last
    /// fleet command printed].
    #[arg(long)]
    pub min_sequence: Option<u64>,
    /// Do not wait for your last fleet command: read the view as it is now.
    #[arg(long, conflicts_with = "min_sequence")]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct CityArgs {
    #[arg(long)]
    pub city: String,
    #[arg(long, value_parser = parse_non_empty)]
    pub name: String,
    /// Station that delivery / collection addresses are planned from when no station's districts match.
    #[arg(long, default_value = "")]
    pub default_station: String,
    #[arg(long, default_value_t = 0)]
    pub delivery_minutes: u32,
    /// Minutes before pickup within which an assignment stays put (0: none). Unset: the city's
    /// current window, 120 for a new city.
    #[arg(long)]
    pub frozen_window_minutes: Option<u32>,
}

#[derive(Debug, Args)]
pub struct StationArgs {
    #[arg(long)]
    pub city: String,
    #[arg(long = "id")]
    pub station_id: String,
    #[arg(long)]
    pub name: String,
    /// A district whose addresses this station serves (repeat).
    #[arg(long = "district")]
    pub districts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TravelArgs {
    #[arg(long)]
    pub city: String,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub minutes: u32,
    #[arg(long)]
    pub one_way: bool,
}

#[derive(Debug, Args)]
pub struct TurnaroundArgs {
    #[arg(long)]
    pub city: String,
    #[arg(long)]
    pub minutes: u32,
    /// A car last read below this charge (percent) needs --low-charge-extra-minutes more; 0
    /// for no such rule [default: the city's rule stays].
    #[arg(long)]
    pub low_charge_below: Option<u32>,
    #[arg(long)]
    pub low_charge_extra_minutes: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    Et5,
    Et5t,
    Et7,
    Es6,
    Ec6,
    Es7,
    Ec7,
    Es8,
}

impl ModelArg {
    fn pb(self) -> i32 {
        use rentops_proto::common::VehicleModel as M;
        (match self {
            Self::Et5 => M::Et5,
            Self::Et5t => M::Et5t,
            Self::Et7 => M::Et7,
            Self::Es6 => M::Es6,
            Self::Ec6 => M::Ec6,
            Self::Es7 => M::Es7,
            Self::Ec7 => M::Ec7,
            Self::Es8 => M::Es8,
        }) as i32
    }
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    pub vehicle_id: String,
    #[arg(long)]
    pub vin: String,
    #[arg(long)]
    pub plate: String,
    #[arg(long, value_enum, ignore_case = true)]
    pub model: ModelArg,
    #[arg(long)]
    pub city: String,
    #[arg(long)]
    pub station: String,
    /// When the car joined the fleet, for a fleet entered late: its plate history starts then
    /// [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub registered_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    Minor,
    Major,
    Critical,
}

#[derive(Debug, Args)]
pub struct BreakdownArgs {
    pub vehicle_id: String,
    /// A station id, or the address where the car stands.
    #[arg(long = "where")]
    pub place: String,
    #[arg(long, value_enum)]
    pub severity: SeverityArg,
    #[arg(long, value_parser = parse_time)]
    pub repair_until: Option<OffsetDateTime>,
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    pub vehicle_id: String,
    #[arg(long, default_value = "")]
    pub station: String,
    #[arg(long, default_value = "")]
    pub notes: String,
}

#[derive(Debug, Args)]
pub struct MaintenanceArgs {
    pub vehicle_id: String,
    #[arg(long, value_parser = parse_time)]
    pub from: OffsetDateTime,
    #[arg(long, value_parser = parse_time)]
    pub to: OffsetDateTime,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    pub vehicle_id: String,
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// The fleet driver who drove it [default: you, as staff].
    #[arg(long, conflicts_with = "staff")]
    pub driver: Option<String>,
    /// The member of staff who drove it [default: you].
    #[arg(long)]
    pub staff: Option<String>,
    /// The relocation task (by its order id) this move carries out.
    #[arg(long)]
    pub task: Option<String>,
}

#[derive(Debug, Args)]
pub struct RetireArgs {
    pub vehicle_id: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ReplateArgs {
    pub vehicle_id: String,
    /// The new plate, e.g. 沪A·F00009.
    #[arg(long)]
    pub plate: String,
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct PlateHistoryArgs {
    /// The plate, e.g. 沪A·D00001 (the middle dot is optional).
    pub plate: String,
    /// Only the vehicle that carried it at this moment.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
    /// Wait until the view includes this FLEET sequence instead [default: the one your last
    /// fleet command printed].
    #[arg(long)]
    pub min_sequence: Option<u64>,
    /// Do not wait for your last fleet command: read the view as it is now.
    #[arg(long, conflicts_with = "min_sequence")]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct DriverArgs {
    pub driver_id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub phone: String,
    #[arg(long)]
    pub city: String,
}

#[derive(Debug, Args)]
pub struct ShiftArgs {
    pub driver_id: String,
    #[arg(long = "id")]
    pub shift_id: String,
    #[arg(long, value_parser = parse_time)]
    pub from: OffsetDateTime,
    #[arg(long, value_parser = parse_time)]
    pub to: OffsetDateTime,
    #[arg(long)]
    pub station: String,
}

#[derive(Debug, Args)]
pub struct KpiArgs {
    #[arg(long)]
    pub city: String,
    /// First day (YYYY-MM-DD, China time).
    #[arg(long)]
    pub from: String,
    /// Last day (inclusive).
    #[arg(long)]
    pub to: String,
    #[arg(long, value_enum, ignore_case = true)]
    pub model: Option<ModelArg>,
    /// A row per day and model (only the models the city has cars or orders for), instead of
    /// one per day.
    #[arg(long)]
    pub by_model: bool,
    /// Wait until the view includes this FLEET sequence instead [default: the one your last
    /// fleet command printed].
    #[arg(long)]
    pub min_sequence: Option<u64>,
    /// Do not wait for your last fleet command: read the view as it is now.
    #[arg(long, conflicts_with = "min_sequence")]
    pub no_wait: bool,
}

type Client = FleetServiceClient<crate::commands::Connection>;

async fn connect(addr: &str, timeout: Duration) -> Result<Client, Failure> {
    let channel = crate::commands::connect("fleet", addr, timeout).await?;
    Ok(FleetServiceClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024))
}

/// Read-your-writes: `--min-sequence`, nothing with `--no-wait`, else the sequence the last fleet
/// command got back.
fn consistency(inv: &Invocation, min: Option<u64>, no_wait: bool) -> Option<Consistency> {
    inv.ryw.consistency(min, no_wait, 10_000)
}

fn render<V: View>(inv: &Invocation, view: &V) -> Result<String, Failure> {
    Ok(inv.printer.render(view)?)
}

/// `plan`: the plan JSON on stdout (so it can be redirected to a file), the KPIs on stderr.
async fn plan(addr: &str, timeout: Duration, a: &PlanArgs) -> Result<String, Failure> {
    let text = std::fs::read_to_string(&a.instance).with_context(|| format!("cannot read {}", a.instance.display()))?;
    let (plan_json, kpis) = if a.local {
        let instance = rentops_planner::Instance::from_json(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", a.instance.display()))?;
        let options = rentops_planner::PlanOptions {
            prove: a.prove,
            ..rentops_planner::PlanOptions::default()
        };
        let out =
            rentops_planner::plan(&instance, &options).map_err(|e| anyhow::anyhow!("{}: {e}", a.instance.display()))?;
        let r = &out.report;
        (
            out.plan.to_json(),
            PlanReportView {
                orders: r.orders as u32,
                fulfilled: r.fulfilled as u32,
                fulfilment_rate: (r.orders > 0).then_some(r.fulfilment_rate),
                idle_rate: r.idle_rate,
                upgrades: r.upgrades as u32,
                relocation_minutes: r.relocation_minutes,
                proven_optimal: r.proven_optimal,
                upper_bound_fulfilled: r.upper_bound_fulfilled as u32,
                unassigned: out
                    .explanations
                    .iter()
                    .map(|e| (e.order.clone(), e.reason.to_string()))
                    .collect(),
            },
        )
    } else {
        let mut c = connect(addr, timeout).await?;
        let r = c
            .plan_instance(pb::PlanInstanceRequest { instance_json: text })
            .await?
            .into_inner();
        let s = r.summary.unwrap_or_default();
        let report = PlanReportView {
            orders: s.orders,
            fulfilled: s.fulfilled,
            fulfilment_rate: (s.orders > 0).then_some(s.fulfilment_rate),
            idle_rate: s.idle_rate,
            upgrades: s.upgrades,
            relocation_minutes: s.relocation_minutes,
            proven_optimal: s.proven_optimal,
            upper_bound_fulfilled: s.upper_bound_fulfilled,
            unassigned: r
                .explanations
                .iter()
                .map(|e| (e.order_id.clone(), e.explanation.clone()))
                .collect(),
        };
        (r.plan_json, report)
    };
    eprint!("{}", kpis.table());
    Ok(plan_json + "\n")
}

/// Runs one `rentops fleet` subcommand and returns the text to print.
pub async fn run(addr: &str, timeout: Duration, cmd: &FleetCommand, inv: &Invocation) -> Result<String, Failure> {
    match cmd {
        FleetCommand::Plan(a) => return plan(addr, timeout, a).await,
        FleetCommand::RebuildProjection(a) => {
            return crate::admin::run("fleet", addr, timeout, Operation::Rebuild, a, inv).await;
        }
        FleetCommand::ProjectionStatus(a) => {
            return crate::admin::run("fleet", addr, timeout, Operation::Status, a, inv).await;
        }
        _ => {}
    }
    let mut c = connect(addr, timeout).await?;
    let ctx = inv.ctx.proto();
    let r = match cmd {
        FleetCommand::Plan(_) => return Ok(String::new()),
        FleetCommand::RebuildProjection(_) | FleetCommand::ProjectionStatus(_) => {
            return Err(anyhow::anyhow!("an SRE operation is not a fleet-service call").into());
        }
        FleetCommand::City(a) => {
            c.configure_city(pb::ConfigureCityRequest {
                context: ctx,
                city: a.city.clone(),
                name: a.name.clone(),
                default_station: a.default_station.clone(),
                delivery_minutes: a.delivery_minutes,
                frozen_window_minutes: a.frozen_window_minutes,
            })
            .await?
        }
        FleetCommand::Station(a) => {
            c.add_station(pb::AddStationRequest {
                context: ctx,
                city: a.city.clone(),
                station_id: a.station_id.clone(),
                name: a.name.clone(),
                districts: a.districts.clone(),
            })
            .await?
        }
        FleetCommand::Travel(a) => {
            c.set_travel_times(pb::SetTravelTimesRequest {
                context: ctx,
                city: a.city.clone(),
                times: vec![pb::TravelTime {
                    from_station: a.from.clone(),
                    to_station: a.to.clone(),
                    minutes: a.minutes,
                }],
                symmetric: !a.one_way,
            })
            .await?
        }
        FleetCommand::Turnaround(a) => {
            c.set_turnaround(pb::SetTurnaroundRequest {
                context: ctx,
                city: a.city.clone(),
                minutes: a.minutes,
                low_charge_below_percent: a.low_charge_below,
                low_charge_extra_minutes: a.low_charge_extra_minutes,
            })
            .await?
        }
        FleetCommand::Register(a) => {
            c.register_vehicle(pb::RegisterVehicleRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                vin: a.vin.clone(),
                plate: a.plate.clone(),
                model: a.model.pb(),
                city: a.city.clone(),
                home_station: a.station.clone(),
                registered_at: a.registered_at.map(timestamp),
            })
            .await?
        }
        FleetCommand::Breakdown(a) => {
            c.report_breakdown(pb::ReportBreakdownRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                at: None,
                station_or_address: a.place.clone(),
                severity: match a.severity {
                    SeverityArg::Minor => pb::Severity::Minor,
                    SeverityArg::Major => pb::Severity::Major,
                    SeverityArg::Critical => pb::Severity::Critical,
                } as i32,
                expected_repair_until: a.repair_until.map(timestamp),
                description: a.description.clone(),
            })
            .await?
        }
        FleetCommand::Repair(a) => {
            c.complete_repair(pb::CompleteRepairRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                station: a.station.clone(),
                notes: a.notes.clone(),
                at: None,
            })
            .await?
        }
        FleetCommand::Maintenance(a) => {
            c.schedule_maintenance(pb::ScheduleMaintenanceRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                from: Some(timestamp(a.from)),
                to: Some(timestamp(a.to)),
                reason: a.reason.clone(),
            })
            .await?
        }
        FleetCommand::Move(a) => {
            c.move_vehicle(pb::MoveVehicleRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                to_station: a.to.clone(),
                reason: a.reason.clone(),
                moved_at: None,
                driver_id: a.driver.clone().unwrap_or_default(),
                staff_id: a.staff.clone().unwrap_or_default(),
                departed_at: None,
                task_order_id: a.task.clone().unwrap_or_default(),
            })
            .await?
        }
        FleetCommand::Retire(a) => {
            c.retire_vehicle(pb::RetireVehicleRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                reason: a.reason.clone(),
                at: None,
            })
            .await?
        }
        FleetCommand::Replate(a) => {
            c.change_plate(pb::ChangePlateRequest {
                context: ctx,
                vehicle_id: a.vehicle_id.clone(),
                plate: a.plate.clone(),
                reason: a.reason.clone(),
                at: None,
            })
            .await?
        }
        FleetCommand::PlateHistory(a) => {
            let r = c
                .get_plate_history(pb::GetPlateHistoryRequest {
                    plate: a.plate.clone(),
                    at: a.at.map(timestamp),
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                })
                .await?
                .into_inner();
            return render(inv, &PlateHistoryView::new(&r, inv.times));
        }
        FleetCommand::Driver(a) => {
            c.register_driver(pb::RegisterDriverRequest {
                context: ctx,
                driver_id: a.driver_id.clone(),
                name: a.name.clone(),
                phone: a.phone.clone(),
                city: a.city.clone(),
            })
            .await?
        }
        FleetCommand::Shift(a) => {
            c.schedule_shift(pb::ScheduleShiftRequest {
                context: ctx,
                driver_id: a.driver_id.clone(),
                shift_id: a.shift_id.clone(),
                from: Some(timestamp(a.from)),
                to: Some(timestamp(a.to)),
                station: a.station.clone(),
            })
            .await?
        }
        FleetCommand::Replan(a) => {
            let r = c
                .trigger_replan(pb::TriggerReplanRequest {
                    context: ctx,
                    city: a.city.clone(),
                })
                .await?
                .into_inner();
            let result = r.result.unwrap_or_default();
            inv.ryw.wrote(result.sequence);
            return render(
                inv,
                &ReplanView {
                    result: FleetCommandView::new(&result, &inv.ctx),
                    plan: r.plan.as_ref().map(|p| PlanSummaryView::new(p, inv.times)),
                },
            );
        }
        FleetCommand::ShowPlan(a) => {
            let p = c
                .get_current_plan(pb::GetCurrentPlanRequest {
                    city: a.city.clone(),
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                })
                .await?
                .into_inner();
            return render(inv, &CurrentPlanView::new(&p, inv.times));
        }
        FleetCommand::AtRisk(a) => {
            let r = c
                .list_at_risk_orders(pb::ListAtRiskOrdersRequest {
                    city: a.city.clone(),
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                })
                .await?
                .into_inner();
            let at_risk = r.orders.iter().map(|x| AtRiskView::new(x, inv.times)).collect();
            return render(inv, &AtRiskListView { at_risk });
        }
        FleetCommand::History(a) => {
            let r = c
                .list_plan_history(pb::ListPlanHistoryRequest {
                    city: a.city.clone(),
                    page: None,
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                })
                .await?
                .into_inner();
            let view = PlanHistoryView {
                plans: r.plans.iter().map(|p| PlanSummaryView::new(p, inv.times)).collect(),
                next_page_token: r.page.map(|p| p.next_page_token).unwrap_or_default(),
            };
            return render(inv, &view);
        }
        FleetCommand::Vehicles(a) => {
            let r = c
                .list_vehicles(pb::ListVehiclesRequest {
                    city: a.city.clone(),
                    page: Some(rentops_proto::common::PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                    ..Default::default()
                })
                .await?
                .into_inner();
            return render(inv, &VehiclesView::new(&r));
        }
        FleetCommand::Kpis(a) => {
            let r = c
                .get_kpis(pb::GetKpisRequest {
                    city: a.city.clone(),
                    model: a.model.map(ModelArg::pb).unwrap_or(0),
                    from_day: a.from.clone(),
                    to_day: a.to.clone(),
                    consistency: consistency(inv, a.min_sequence, a.no_wait),
                    by_model: a.by_model,
                })
                .await?
                .into_inner();
            return render(inv, &KpisView::new(&r));
        }
    };
    inv.ryw.wrote(r.get_ref().sequence);
    render(inv, &FleetCommandView::new(r.get_ref(), &inv.ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_planning_needs_no_server() {
        // The planner's example, in this checkout: under RENTOPS_WORKSPACE_ROOT when the test
        // command sets it (a shared target dir may hold a binary compiled in another checkout).
        let path = match std::env::var("RENTOPS_WORKSPACE_ROOT") {
            Ok(root) if !root.is_empty() => std::path::PathBuf::from(root),
            _ => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        }
        .join("crates/planner/tests/data/small.json");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt
            .block_on(plan(
                "http://127.0.0.1:1",
                Duration::from_secs(1),
                &PlanArgs {
                    instance: path.clone(),
                    local: true,
                    prove: true,
                },
            ))
            .unwrap();
        let instance = rentops_planner::Instance::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = rentops_planner::Plan::from_json(out.trim()).unwrap();
        assert!(rentops_planner::check(&instance, &plan).is_ok());
    }
}
