//! The command line of `rentops`: every flag, parsed by clap into typed values, so a bad time, a
//! bad enum or a negative amount is refused with clap's own error before anything is sent.
//!
//! Rules of the business (a confirmation needs a reached call, changes stop at pickup, ...) are
//! the service's to check: it answers with every violated field at once, which we print.

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use rentops_proto::{common, order};
use time::OffsetDateTime;

use crate::format::parse_time;

#[derive(Debug, Parser)]
#[command(
    name = "rentops",
    version,
    about = "Drive the rentops services over gRPC",
    long_about = "Drive the rentops services over gRPC.\n\n\
        Every command prints the sequence it returned: pass it to a query's --min-sequence to read \
        your own write. Times are RFC 3339 (e.g. 2026-12-01T10:00:00+08:00) and print in China \
        time (+08:00) unless --utc; money is integer fen and prints as yuan."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts, before or after the subcommand's name.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// gRPC address of the order service (http://host:port).
    #[arg(
        long,
        global = true,
        env = "RENTOPS_ORDER_ADDR",
        default_value = "http://127.0.0.1:50051",
        value_parser = parse_addr
    )]
    pub order_addr: String,

    /// gRPC address of the fleet service (http://host:port).
    #[arg(
        long,
        global = true,
        env = "RENTOPS_FLEET_ADDR",
        default_value = "http://127.0.0.1:50052",
        value_parser = parse_addr
    )]
    pub fleet_addr: String,

    /// gRPC address of the receivables service (http://host:port).
    #[arg(
        long,
        global = true,
        env = "RENTOPS_RECEIVABLES_ADDR",
        default_value = "http://127.0.0.1:50053",
        value_parser = parse_addr
    )]
    pub receivables_addr: String,

    /// gRPC address of the complaint service (http://host:port).
    #[arg(
        long,
        global = true,
        env = "RENTOPS_COMPLAINT_ADDR",
        default_value = "http://127.0.0.1:50054",
        value_parser = parse_addr
    )]
    pub complaint_addr: String,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print times in UTC instead of China time (+08:00).
    #[arg(long, global = true)]
    pub utc: bool,

    /// Who is acting; recorded on every event [default: $USER, else "cli"].
    #[arg(long, global = true, env = "RENTOPS_ACTOR", value_parser = parse_non_empty)]
    pub actor: Option<String>,

    /// Idempotency key of a command: rerun with the printed one to retry without doing it twice
    /// [default: a fresh UUID v4].
    #[arg(long, global = true, value_parser = parse_request_id)]
    pub request_id: Option<String>,

    /// Give up connecting, or waiting for an answer, after this many seconds.
    #[arg(long, global = true, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_secs: u64,
}

// Parsed once per process; boxing the order commands would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Orders: intake, confirmation calls, changes, handover, return; and the queries over them.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Fleet: cities, stations, vehicles, drivers, re-planning, the plan and its KPIs; and
    /// planning an instance file (`plan`, also offline with `--local`).
    #[command(subcommand)]
    Fleet(crate::fleet::FleetCommand),
    /// Receivables: violation records imported and matched to whoever had the car, the
    /// exceptions queue, and the customers' ledger (payments, waivers, statements, aging).
    #[command(subcommand)]
    Receivables(crate::receivables::ReceivablesCommand),
    /// Complaints: cases against the service standard (open, assign, respond, wait, resolve,
    /// close, reopen) with their SLA clocks, and what the complaints of a period say.
    #[command(subcommand)]
    Complaint(crate::complaint::ComplaintCommand),
    /// The event streams, read straight from NATS: `tail` (follow) and `export` (to JSON lines,
    /// CSV or Parquet, resumable), filtered by service, aggregate, aggregate id and event type.
    #[command(subcommand)]
    Events(crate::streams::EventsCommand),
    /// The weekly report: one city's week from the four services as one self-contained HTML
    /// file (charts as inline SVG, nothing loaded from the network).
    Report(rentops_report::ReportArgs),
    /// The demo: sets up a city (stations, travel times, about a hundred cars, drivers and
    /// shifts) and plays a week through the four services, the same for the same seed; ends
    /// with the week's figures.
    Demo(rentops_demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Take an order from a sales channel (a retry with the same channel reference is a no-op).
    Place(PlaceArgs),
    /// Record a confirmation call to the customer and its outcome.
    Call(CallArgs),
    /// Confirm an order (after a call reached the customer, unless the channel pre-verifies).
    Confirm(ConfirmArgs),
    /// Change what was booked; allowed until pickup. Set only what changes.
    Change(ChangeArgs),
    /// Cancel an order, saying who cancelled and why.
    Cancel(CancelArgs),
    /// Record the handover of a car to the customer.
    Pickup(PickupArgs),
    /// Record a swap during the hire: the car on hire (broken down) replaced by another.
    Swap(SwapArgs),
    /// Record the car coming back.
    Return(ReturnArgs),
    /// Close a returned order.
    Complete(CompleteArgs),
    /// Record that the customer never came.
    NoShow(NoShowArgs),
    /// Show one order, now or as it stood at a time.
    Get(GetArgs),
    /// List orders, filtered and paged.
    List(ListArgs),
    /// Show every event of an order, oldest first.
    History(HistoryArgs),
    /// Orders waiting for a confirmation call, most urgent first.
    Queue(QueueArgs),
    /// Orders whose pickup time passed before any call reached the customer: close each with
    /// `no-show` or `cancel`.
    Lapsed(LapsedArgs),
    /// SRE: empty a read model of the order service (every one unless --projection) and replay
    /// it from the stream's first event, while queries go on being answered. Returns once the
    /// replay has started.
    RebuildProjection(crate::admin::ProjectionArgs),
    /// SRE: how far each read model of the order service (or the one named) has applied its
    /// stream, whether a rebuild is still replaying, and which replica runs it.
    ProjectionStatus(crate::admin::ProjectionArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("pickup_location").required(true).args(["pickup_station", "pickup_address"])))]
#[command(group(ArgGroup::new("return_location").required(true).args(["return_station", "return_address"])))]
pub struct PlaceArgs {
    /// Sales channel the order came from.
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    /// The partner's code (A–Z, 0–9, _); required with --channel partner.
    #[arg(long, required_if_eq("channel", "partner"))]
    pub partner_code: Option<String>,
    /// The channel's own reference for the order (with the channel, it identifies the order).
    #[arg(long = "ref", value_name = "CHANNEL_ORDER_REF")]
    pub channel_order_ref: String,
    /// The customer's id in the channel's or our customer records.
    #[arg(long)]
    pub customer_id: String,
    /// The customer's name as the desk addresses them.
    #[arg(long)]
    pub customer_name: String,
    /// The customer's phone, called to confirm the order.
    #[arg(long)]
    pub phone: String,
    /// City code, e.g. SHA.
    #[arg(long)]
    pub city: String,
    /// Pick the car up at this station.
    #[arg(long)]
    pub pickup_station: Option<String>,
    /// Deliver the car to this address instead of a station.
    #[arg(long)]
    pub pickup_address: Option<String>,
    /// When the customer takes the car.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub pickup_at: OffsetDateTime,
    /// Return the car at this station.
    #[arg(long)]
    pub return_station: Option<String>,
    /// Collect the car from this address instead of a station.
    #[arg(long)]
    pub return_address: Option<String>,
    /// When the car comes back.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub return_at: OffsetDateTime,
    /// Requested vehicle model.
    #[arg(long, value_enum, ignore_case = true)]
    pub model: ModelArg,
    /// An add-on (child seat, ...); repeat for several.
    #[arg(long = "add-on", value_name = "ADD_ON")]
    pub add_ons: Vec<String>,
    /// Price in fen (45000 = 450.00 CNY).
    #[arg(long, value_parser = fen)]
    pub price_fen: i64,
    /// Rental deposit in fen [default: none].
    #[arg(long, value_parser = fen)]
    pub rental_deposit_fen: Option<i64>,
    /// Violation deposit in fen [default: none].
    #[arg(long, value_parser = fen)]
    pub violation_deposit_fen: Option<i64>,
    /// The agreement's cover tier: what the renter pays for damage to the car.
    #[arg(long, value_enum, default_value_t = CoverArg::Basic)]
    pub cover: CoverArg,
    /// Anything the desk should know.
    #[arg(long)]
    pub notes: Option<String>,
    /// When the channel took the order [default: when the service receives it].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub placed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// What came of the call.
    #[arg(long, value_enum)]
    pub outcome: OutcomeArg,
    /// When the customer asked to be called back.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub call_back_at: Option<OffsetDateTime>,
    /// What was said.
    #[arg(long)]
    pub notes: Option<String>,
    /// When the call was made [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Notes on the confirmation.
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("changes")
        .required(true)
        .multiple(true)
        .args([
            "pickup_at", "return_at", "pickup_station", "pickup_address", "return_station",
            "return_address", "model", "replace_add_ons", "price_fen",
        ])
))]
pub struct ChangeArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// New pickup time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub pickup_at: Option<OffsetDateTime>,
    /// New return time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub return_at: Option<OffsetDateTime>,
    /// New pickup station.
    #[arg(long, conflicts_with = "pickup_address")]
    pub pickup_station: Option<String>,
    /// New delivery address (instead of a station).
    #[arg(long)]
    pub pickup_address: Option<String>,
    /// New return station.
    #[arg(long, conflicts_with = "return_address")]
    pub return_station: Option<String>,
    /// New collection address (instead of a station).
    #[arg(long)]
    pub return_address: Option<String>,
    /// New requested model.
    #[arg(long, value_enum, ignore_case = true)]
    pub model: Option<ModelArg>,
    /// A new add-on; repeat for several. Needs --replace-add-ons.
    #[arg(long = "add-on", value_name = "ADD_ON", requires = "replace_add_ons")]
    pub add_ons: Vec<String>,
    /// Replace the add-ons with the --add-on values given (none given: remove them all).
    #[arg(long)]
    pub replace_add_ons: bool,
    /// New price in fen.
    #[arg(long, value_parser = fen)]
    pub price_fen: Option<i64>,
    /// Why it changed (the customer's words, a flight delay, ...).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Who cancelled (shortage: no car could serve it, which counts against fulfilment).
    #[arg(long = "by", value_enum)]
    pub cancelled_by: CancelledByArg,
    /// Why, in a few words.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct PickupArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Id of the car handed over.
    #[arg(long)]
    pub vehicle_id: String,
    /// Plate of the car handed over, e.g. 沪A·D12345.
    #[arg(long)]
    pub plate: String,
    /// Odometer reading at handover.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub odometer_km: i64,
    /// State of charge at handover, 0–100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub charge_percent: u32,
    /// Damage seen at handover.
    #[arg(long)]
    pub damage: Option<String>,
    /// When the car was handed over [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct SwapArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Odometer reading of the car taken out.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub from_odometer_km: i64,
    /// State of charge of the car taken out, 0–100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub from_charge_percent: u32,
    /// Id of the car taken out [default: the car on hire; if given, it must be].
    #[arg(long)]
    pub from_vehicle_id: Option<String>,
    /// Id of the replacement handed over.
    #[arg(long)]
    pub vehicle_id: String,
    /// Plate of the replacement, e.g. 沪A·D12345.
    #[arg(long)]
    pub plate: String,
    /// Odometer reading of the replacement.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub odometer_km: i64,
    /// State of charge of the replacement, 0–100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub charge_percent: u32,
    /// Station where the replacement was handed over.
    #[arg(long, conflicts_with = "address")]
    pub station: Option<String>,
    /// Address where the replacement was handed over.
    #[arg(long)]
    pub address: Option<String>,
    /// Why [default: breakdown].
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
    /// When the cars were swapped [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct ReturnArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Odometer reading at return.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub odometer_km: i64,
    /// State of charge at return, 0–100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub charge_percent: u32,
    /// Damage seen at return.
    #[arg(long)]
    pub damage: Option<String>,
    /// Station the car came back to [default: the booked return location].
    #[arg(long, conflicts_with = "address")]
    pub station: Option<String>,
    /// Address the car was collected from.
    #[arg(long)]
    pub address: Option<String>,
    /// When the car came back [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
}

#[derive(Debug, Args)]
pub struct NoShowArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// What happened (how long the desk waited, calls made, ...).
    #[arg(long)]
    pub notes: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    /// Show the order as it stood at this time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub as_of: Option<OffsetDateTime>,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only orders in this status; repeat (or separate with commas) for several.
    #[arg(long = "status", value_enum, value_delimiter = ',')]
    pub statuses: Vec<StatusArg>,
    /// Only orders in this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    /// Only orders from this channel.
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    /// Pickup at or after this time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub pickup_from: Option<OffsetDateTime>,
    /// Pickup before this time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub pickup_to: Option<OffsetDateTime>,
    /// Only this customer's orders.
    #[arg(long)]
    pub customer_id: Option<String>,
    /// Only orders fleet's plan flagged at risk (no car can serve them).
    #[arg(long)]
    pub at_risk: bool,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The order's id, as `place` printed it.
    pub order_id: String,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Only orders in this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    /// Only calls due at or before this time.
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub due_before: Option<OffsetDateTime>,
    /// Only orders whose first-contact deadline has passed.
    #[arg(long)]
    pub overdue_only: bool,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct LapsedArgs {
    /// Only orders in this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// Rows per page, 1–500 [default: the service's, 50].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub page_size: Option<u32>,
    /// Start from this page (the token a previous page printed).
    #[arg(long)]
    pub page_token: Option<String>,
    /// Follow the pages to the end and print every row.
    #[arg(long)]
    pub all: bool,
}

/// Read-your-writes. By default a query waits until the view has applied the sequence the last
/// command to the same service got back (remembered in a small state file, see `state.rs`).
#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// Wait until the view has applied this sequence instead [default: the one your last
    /// command to this service printed].
    #[arg(long, value_name = "SEQUENCE")]
    pub min_sequence: Option<u64>,
    /// Do not wait for your last command: read the view as it is now.
    #[arg(long, conflicts_with = "min_sequence")]
    pub no_wait: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CoverArg {
    /// Up to the deductible per incident, and loss of use.
    Basic,
    /// Nothing for damage (excluded causes aside).
    Full,
}

impl CoverArg {
    pub fn proto(self) -> rentops_proto::common::CoverTier {
        match self {
            Self::Basic => rentops_proto::common::CoverTier::Basic,
            Self::Full => rentops_proto::common::CoverTier::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    App,
    MiniProgram,
    Web,
    CallCenter,
    Partner,
}

impl ChannelArg {
    pub fn proto(self) -> order::Channel {
        match self {
            Self::App => order::Channel::App,
            Self::MiniProgram => order::Channel::MiniProgram,
            Self::Web => order::Channel::Web,
            Self::CallCenter => order::Channel::CallCenter,
            Self::Partner => order::Channel::Partner,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    #[value(name = "ET5")]
    Et5,
    #[value(name = "ET5T")]
    Et5t,
    #[value(name = "ET7")]
    Et7,
    #[value(name = "ES6")]
    Es6,
    #[value(name = "EC6")]
    Ec6,
    #[value(name = "ES7")]
    Es7,
    #[value(name = "EC7")]
    Ec7,
    #[value(name = "ES8")]
    Es8,
}

impl ModelArg {
    pub fn proto(self) -> common::VehicleModel {
        match self {
            Self::Et5 => common::VehicleModel::Et5,
            Self::Et5t => common::VehicleModel::Et5t,
            Self::Et7 => common::VehicleModel::Et7,
            Self::Es6 => common::VehicleModel::Es6,
            Self::Ec6 => common::VehicleModel::Ec6,
            Self::Es7 => common::VehicleModel::Es7,
            Self::Ec7 => common::VehicleModel::Ec7,
            Self::Es8 => common::VehicleModel::Es8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Reached,
    NoAnswer,
    WrongNumber,
    CallBackLater,
}

impl OutcomeArg {
    pub fn proto(self) -> order::ContactOutcome {
        match self {
            Self::Reached => order::ContactOutcome::Reached,
            Self::NoAnswer => order::ContactOutcome::NoAnswer,
            Self::WrongNumber => order::ContactOutcome::WrongNumber,
            Self::CallBackLater => order::ContactOutcome::CallBackLater,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CancelledByArg {
    Customer,
    Desk,
    Shortage,
    Channel,
}

impl CancelledByArg {
    pub fn proto(self) -> order::CancelledBy {
        match self {
            Self::Customer => order::CancelledBy::Customer,
            Self::Desk => order::CancelledBy::Desk,
            Self::Shortage => order::CancelledBy::Shortage,
            Self::Channel => order::CancelledBy::Channel,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Placed,
    Confirmed,
    PickedUp,
    Returned,
    Completed,
    Cancelled,
    NoShow,
}

impl StatusArg {
    pub fn proto(self) -> order::OrderStatus {
        match self {
            Self::Placed => order::OrderStatus::Placed,
            Self::Confirmed => order::OrderStatus::Confirmed,
            Self::PickedUp => order::OrderStatus::PickedUp,
            Self::Returned => order::OrderStatus::Returned,
            Self::Completed => order::OrderStatus::Completed,
            Self::Cancelled => order::OrderStatus::Cancelled,
            Self::NoShow => order::OrderStatus::NoShow,
        }
    }
}

/// An amount in fen: an integer, never negative (the API refuses negative money).
fn fen(s: &str) -> Result<i64, String> {
    let v: i64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of fen (e.g. 45000 for 450.00 CNY)"))?;
    if v < 0 {
        return Err(format!("{v} is negative; amounts are never negative"));
    }
    Ok(v)
}

/// The service's idempotency key rule: 1–128 printable ASCII characters.
fn parse_request_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a request id is 1–128 printable ASCII characters, no spaces".into());
    }
    Ok(s.to_owned())
}

pub(crate) fn parse_non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s.to_owned())
}

/// Only `http://` works: this build of the client carries no TLS (in the cluster, the mesh
/// encrypts).
pub(crate) fn parse_addr(s: &str) -> Result<String, String> {
    let uri: tonic::transport::Uri = s
        .parse()
        .map_err(|e| format!("'{s}' is not an address ({e}); e.g. http://127.0.0.1:50051"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) => Ok(s.to_owned()),
        (Some("https"), _) => Err("https is not supported by this client; use http://".into()),
        _ => Err(format!("'{s}' needs the form http://host:port")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    /// Splits a command line on spaces; `extra` holds values that contain spaces themselves.
    fn argv<'a>(line: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        ["rentops", "order"]
            .into_iter()
            .chain(line.split_whitespace())
            .chain(extra.iter().copied())
            .collect()
    }

    fn order(line: &str, extra: &[&str]) -> OrderCommand {
        match Cli::try_parse_from(argv(line, extra)) {
            Ok(Cli {
                command: Command::Order(cmd),
                ..
            }) => cmd,
            Ok(other) => panic!("{line:?} parsed as {:?}", other.command),
            Err(e) => panic!("{line:?} should parse: {e}"),
        }
    }

    fn refused(line: &str) -> ErrorKind {
        match Cli::try_parse_from(argv(line, &[])) {
            Ok(cli) => panic!("{line:?} should be refused, got {cli:?}"),
            Err(e) => e.kind(),
        }
    }

    /// A placement with every required flag; each test adds or changes one thing.
    fn place(extra: &str) -> String {
        format!(
            "place --channel app --ref APP-1 --customer-id C1 --customer-name 王小明 --phone 13800000000 \
             --city SHA --pickup-station SHA-PVG --pickup-at 2026-12-01T10:00:00+08:00 \
             --return-station SHA-PVG --return-at 2026-12-03T10:00:00+08:00 --model ES6 --price-fen 45000 {extra}"
        )
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn place_takes_every_field() {
        let line = place(
            "--add-on child-seat --add-on snow-chains --rental-deposit-fen 300000 \
             --violation-deposit-fen 200000 --placed-at 2026-11-20T09:00:00Z --notes",
        );
        let OrderCommand::Place(p) = order(&line, &["late flight"]) else {
            panic!("not place")
        };
        assert_eq!(
            (p.channel, p.channel_order_ref.as_str(), p.model),
            (ChannelArg::App, "APP-1", ModelArg::Es6)
        );
        assert_eq!(
            (p.customer_id.as_str(), p.customer_name.as_str(), p.phone.as_str()),
            ("C1", "王小明", "13800000000")
        );
        assert_eq!(
            (p.pickup_station.as_deref(), p.return_station.as_deref()),
            (Some("SHA-PVG"), Some("SHA-PVG"))
        );
        assert_eq!(p.add_ons, ["child-seat", "snow-chains"]);
        assert_eq!(
            (p.price_fen, p.rental_deposit_fen, p.violation_deposit_fen),
            (45000, Some(300_000), Some(200_000))
        );
        assert_eq!(p.notes.as_deref(), Some("late flight"));
        assert_eq!(p.pickup_at.unix_timestamp(), 1_796_090_400);
        assert_eq!(
            p.placed_at.map(OffsetDateTime::unix_timestamp),
            Some(1_795_136_400 + 8 * 3600)
        );
    }

    #[test]
    fn place_takes_addresses_and_the_model_in_any_case() {
        let line = place("")
            .replace("--model ES6", "--model es8")
            .replace("--return-station SHA-PVG", "");
        let OrderCommand::Place(p) = order(&line, &["--return-address", "上海市浦东新区 世纪大道1号"])
        else {
            panic!("not place")
        };
        assert_eq!(
            (p.model, p.return_address.as_deref()),
            (ModelArg::Es8, Some("上海市浦东新区 世纪大道1号"))
        );
    }

    #[test]
    fn place_refuses_bad_values() {
        assert_eq!(refused(&place("").replace("ES6", "ES9")), ErrorKind::InvalidValue);
        assert_eq!(
            refused(&place("").replace("--channel app", "--channel fax")),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            refused(&place("").replace("2026-12-01T10:00:00+08:00", "2026-12-01T10:00")),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            refused(&place("").replace("45000", "450.00")),
            ErrorKind::ValueValidation
        );
        assert_eq!(refused(&place("--rental-deposit-fen=-5")), ErrorKind::ValueValidation);
        assert_eq!(
            refused(&place("--pickup-address somewhere")),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            refused(&place("--return-address somewhere")),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn place_requires_what_the_service_requires() {
        for flag in [
            "--pickup-station SHA-PVG",
            "--return-station SHA-PVG",
            "--price-fen 45000",
            "--phone 13800000000",
        ] {
            assert_eq!(
                refused(&place("").replace(flag, "")),
                ErrorKind::MissingRequiredArgument,
                "without {flag}"
            );
        }
        // A partner order must say which partner.
        let partner = place("").replace("--channel app", "--channel partner");
        assert_eq!(refused(&partner), ErrorKind::MissingRequiredArgument);
        assert!(
            matches!(order(&partner, &["--partner-code", "CTRIP"]), OrderCommand::Place(p) if p.partner_code.as_deref() == Some("CTRIP"))
        );
    }

    #[test]
    fn call_parses_outcome_and_times() {
        let line = "call o-1 --outcome call-back-later --call-back-at 2026-11-21T18:00:00+08:00 --at 2026-11-21T09:00:00+08:00 --notes";
        let OrderCommand::Call(c) = order(line, &["in a meeting"]) else {
            panic!("not call")
        };
        assert_eq!((c.order_id.as_str(), c.outcome), ("o-1", OutcomeArg::CallBackLater));
        assert!(c.call_back_at.is_some() && c.at.is_some() && c.notes.is_some());
        assert_eq!(refused("call o-1 --outcome busy"), ErrorKind::InvalidValue);
        assert_eq!(refused("call o-1"), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            refused("call o-1 --outcome reached --at yesterday"),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn confirm_complete_and_no_show_take_an_order_id() {
        assert!(
            matches!(order("confirm o-1 --notes ok", &[]), OrderCommand::Confirm(c) if c.notes.as_deref() == Some("ok"))
        );
        assert!(matches!(order("complete o-1", &[]), OrderCommand::Complete(c) if c.order_id == "o-1"));
        assert!(matches!(order("no-show o-1", &[]), OrderCommand::NoShow(c) if c.notes.is_none()));
        assert_eq!(refused("confirm"), ErrorKind::MissingRequiredArgument);
        assert_eq!(refused("complete o-1 o-2"), ErrorKind::UnknownArgument);
    }

    #[test]
    fn change_needs_something_to_change() {
        assert_eq!(refused("change o-1 --reason why"), ErrorKind::MissingRequiredArgument);
        let OrderCommand::Change(c) = order("change o-1 --model ET7 --price-fen 52000", &[]) else {
            panic!("not change")
        };
        assert_eq!(
            (c.model, c.price_fen, c.replace_add_ons),
            (Some(ModelArg::Et7), Some(52000), false)
        );
        // Add-ons only ever replace the whole list, so --add-on needs --replace-add-ons.
        assert_eq!(refused("change o-1 --add-on wifi"), ErrorKind::MissingRequiredArgument);
        let OrderCommand::Change(c) = order("change o-1 --replace-add-ons", &[]) else {
            panic!("not change")
        };
        assert!(c.replace_add_ons && c.add_ons.is_empty());
        assert_eq!(
            refused("change o-1 --pickup-station A --pickup-address B"),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            refused("change o-1 --return-station A --return-address B"),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn cancel_needs_who_and_why() {
        let OrderCommand::Cancel(c) = order("cancel o-1 --by shortage --reason", &["no ES8 left"]) else {
            panic!("not cancel")
        };
        assert_eq!(
            (c.cancelled_by, c.reason.as_str()),
            (CancelledByArg::Shortage, "no ES8 left")
        );
        assert_eq!(refused("cancel o-1 --by shortage"), ErrorKind::MissingRequiredArgument);
        assert_eq!(refused("cancel o-1 --by me --reason x"), ErrorKind::InvalidValue);
    }

    #[test]
    fn pickup_and_return_check_their_readings() {
        let line = "pickup o-1 --vehicle-id V1 --plate 沪A·D12345 --odometer-km 12000 --charge-percent 90 --damage";
        let OrderCommand::Pickup(p) = order(line, &["scratch rear left"]) else {
            panic!("not pickup")
        };
        assert_eq!(
            (p.plate.as_str(), p.odometer_km, p.charge_percent),
            ("沪A·D12345", 12000, 90)
        );
        assert_eq!(p.damage.as_deref(), Some("scratch rear left"));
        let base = "pickup o-1 --vehicle-id V1 --plate P --odometer-km 1";
        assert_eq!(
            refused(&format!("{base} --charge-percent 101")),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            refused(&format!("{base} --charge-percent lots")),
            ErrorKind::ValueValidation
        );
        assert_eq!(refused(base), ErrorKind::MissingRequiredArgument);

        let OrderCommand::Swap(w) = order(
            "swap o-1 --from-odometer-km 1180 --from-charge-percent 30 --vehicle-id V2 --plate 沪AD00002 \
             --odometer-km 3000 --charge-percent 95 --station SHA",
            &[],
        ) else {
            panic!("not swap")
        };
        assert_eq!(
            (
                w.from_odometer_km,
                w.vehicle_id.as_str(),
                w.odometer_km,
                w.station.as_deref()
            ),
            (1180, "V2", 3000, Some("SHA"))
        );
        assert_eq!(w.from_vehicle_id, None, "defaults to the car on hire");
        assert_eq!(
            refused("swap o-1 --from-odometer-km 1 --from-charge-percent 1 --vehicle-id V2 --plate P --odometer-km 1"),
            ErrorKind::MissingRequiredArgument
        );

        let OrderCommand::Return(r) = order(
            "return o-1 --odometer-km 12400 --charge-percent 35 --station SHA-HQ",
            &[],
        ) else {
            panic!("not return")
        };
        assert_eq!(
            (r.odometer_km, r.charge_percent, r.station.as_deref()),
            (12400, 35, Some("SHA-HQ"))
        );
        let both = "return o-1 --odometer-km 1 --charge-percent 1 --station A --address B";
        assert_eq!(refused(both), ErrorKind::ArgumentConflict);
        assert_eq!(
            refused("return o-1 --odometer-km=-1 --charge-percent 1"),
            ErrorKind::ValueValidation
        );
    }

    #[test]
    fn queries_parse_their_filters() {
        let OrderCommand::Get(g) = order("get o-1 --as-of 2026-12-01T00:00:00Z --min-sequence 42", &[]) else {
            panic!("not get")
        };
        assert_eq!(g.consistency.min_sequence, Some(42));
        assert_eq!(g.as_of.map(OffsetDateTime::unix_timestamp), Some(1_796_083_200));

        let line = "list --status placed --status picked-up,no-show --city SHA --channel mini-program \
                    --pickup-from 2026-12-01T00:00:00+08:00 --page-size 20 --all";
        let OrderCommand::List(l) = order(line, &[]) else {
            panic!("not list")
        };
        assert_eq!(l.statuses, [StatusArg::Placed, StatusArg::PickedUp, StatusArg::NoShow]);
        assert_eq!(
            (l.channel, l.page.page_size, l.page.all),
            (Some(ChannelArg::MiniProgram), Some(20), true)
        );
        assert_eq!(refused("list --page-size 501"), ErrorKind::ValueValidation);
        assert_eq!(refused("list --status lost"), ErrorKind::InvalidValue);

        let OrderCommand::History(h) = order("history o-1 --min-sequence 7", &[]) else {
            panic!("not history")
        };
        assert_eq!(h.consistency.min_sequence, Some(7));
        assert_eq!(refused("history o-1 --min-sequence -1"), ErrorKind::UnknownArgument);

        let OrderCommand::Lapsed(l) = order("lapsed --city SHA --no-wait --all", &[]) else {
            panic!("not lapsed")
        };
        assert!(l.consistency.no_wait && l.page.all && l.city.as_deref() == Some("SHA"));
        assert_eq!(
            refused("queue --min-sequence 3 --no-wait"),
            ErrorKind::ArgumentConflict,
            "wait for a sequence, or do not wait"
        );
        let line = "queue --city SHA --overdue-only --due-before 2026-12-01T12:00:00+08:00 --page-token abc";
        let OrderCommand::Queue(q) = order(line, &[]) else {
            panic!("not queue")
        };
        assert!(q.overdue_only && q.due_before.is_some() && !q.page.all);
        assert!(matches!(
            order("rebuild-projection", &[]),
            OrderCommand::RebuildProjection(crate::admin::ProjectionArgs { projection: None })
        ));
        assert!(matches!(
            order("projection-status", &[]),
            OrderCommand::ProjectionStatus(crate::admin::ProjectionArgs { projection: None })
        ));
        let OrderCommand::RebuildProjection(named) = order("rebuild-projection --projection order-orders", &[]) else {
            panic!("not rebuild-projection")
        };
        assert_eq!(named.projection.as_deref(), Some("order-orders"));
        assert_eq!(refused("rebuild-projection --from 5"), ErrorKind::UnknownArgument);
        assert_eq!(refused("projection-status --projection="), ErrorKind::ValueValidation);
        assert_eq!(
            (q.city.as_deref(), q.page.page_token.as_deref()),
            (Some("SHA"), Some("abc"))
        );
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let args = "--json order confirm o-1 --utc --actor li --request-id req-1 --order-addr http://order:50051 \
                    --timeout-secs 3";
        let cli = Cli::try_parse_from(std::iter::once("rentops").chain(args.split_whitespace()));
        let g = cli.unwrap_or_else(|e| panic!("{e}")).global;
        assert!(g.json && g.utc);
        assert_eq!(
            (g.actor.as_deref(), g.request_id.as_deref()),
            (Some("li"), Some("req-1"))
        );
        assert_eq!((g.order_addr.as_str(), g.timeout_secs), ("http://order:50051", 3));
    }

    #[test]
    fn global_flags_are_checked() {
        let long_id = "x".repeat(129);
        assert_eq!(
            refused(&format!("complete o --request-id {long_id}")),
            ErrorKind::ValueValidation
        );
        assert_eq!(refused("complete o --request-id é"), ErrorKind::ValueValidation);
        assert_eq!(
            refused("complete o --order-addr https://x:1"),
            ErrorKind::ValueValidation
        );
        assert_eq!(refused("complete o --order-addr localhost"), ErrorKind::ValueValidation);
        assert_eq!(refused("complete o --timeout-secs 0"), ErrorKind::ValueValidation);
        let spaced = Cli::try_parse_from(argv("complete o --request-id", &["has space"])).map_err(|e| e.kind());
        assert_eq!(spaced.err(), Some(ErrorKind::ValueValidation));
        let blank = Cli::try_parse_from(argv("complete o --actor", &[" "])).map_err(|e| e.kind());
        assert_eq!(blank.err(), Some(ErrorKind::ValueValidation));
    }
}
