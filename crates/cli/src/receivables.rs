//! `rentops receivables …`: the receivables service's commands and queries. Violation records
//! are imported from a vendor's file (`import`, mapped and checked in `receivables_import.rs`);
//! the exceptions queue is worked with `resolve`; the ledger takes payments, waivers, write-offs,
//! refunds and reversals; statements, aging, the overdue list and the collection KPIs read it.
//! Repair claims are opened, given invoice lines and details, confirmed (charged) and adjusted
//! (`claim-…`), and read with `claims` and `claim`.
//!
//! Amounts are typed in yuan (`200`, `200.50`) and read digit by digit into fen, never through
//! a float; they print as yuan with two decimals. Answers print as tables
//! (`receivables_views.rs`), or as JSON with `--json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use rentops_kernel::Fen;
use rentops_proto::common::{CommandContext, Consistency, Money, PageRequest};
use rentops_proto::receivables as pb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use time::OffsetDateTime;
use tonic::codegen::tokio_stream::{self, StreamExt as _};

use crate::admin::{self, Operation, ProjectionArgs};
use crate::args::{ConsistencyArgs, PageArgs, parse_non_empty};
use crate::commands::{Connection, Invocation};
use crate::errors::Failure;
use crate::fleet_views::FleetCommandView;
use crate::format::{parse_time, timestamp};
use crate::receivables_import::{self as import, Format, Mapping};
use crate::receivables_views::{
    AgingView, BookingView, ClaimListView, ClaimResultView, ClaimView, ImportView, KpisView, OverdueListView,
    StatementView, ViolationListView, ViolationView,
};
use crate::views::View;

#[derive(Debug, Subcommand)]
pub enum ReceivablesCommand {
    /// Import violation records from a file (CSV with a header row, or JSON lines) through a
    /// column mapping; running the same file again records nothing twice.
    Import(ImportArgs),
    /// Decide a violation of the exceptions queue: the company's own, a staff member's, bad
    /// data, or a hire's (its renter is then responsible).
    Resolve(ResolveArgs),
    /// Record a customer's payment (finance); a --reference already applied is not applied again.
    Pay(PayArgs),
    /// Waive (part of) a charge (supervisor).
    Waive(ChargeActionArgs),
    /// Write (part of) a charge off as uncollectable (supervisor).
    WriteOff(ChargeActionArgs),
    /// Pay a customer's credit back (finance).
    Refund(RefundArgs),
    /// Reverse a booking (supervisor or finance): what it did to the ledger is undone.
    Reverse(ReverseArgs),
    /// List violations, filtered and paged.
    Violations(ViolationsArgs),
    /// The exceptions queue: violations no hire or move explains, oldest offence first.
    Exceptions(ExceptionsArgs),
    /// Show one violation with its timeline: every event, oldest first.
    Violation(ViolationArgs),
    /// A customer's statement as of a date: every booking with the running balance, and what
    /// is open.
    Statement(StatementArgs),
    /// What is open by how long past due (current, 1–30, 31–60, 61–90, over 90 days), per city.
    Aging(AgingArgs),
    /// Charges past due and still open, most overdue first.
    Overdue(OverdueArgs),
    /// Repair claims, filtered: claim, order, customer, status, cause, invoice total, what is
    /// owed and the charge's booking.
    Claims(ClaimsArgs),
    /// Show one repair claim: its invoice lines, the liability with its derivation, line by
    /// line, and its timeline.
    Claim(ClaimArgs),
    /// Open a repair claim by hand for a hire's damage (a return with damage noted opens one
    /// itself).
    ClaimOpen(ClaimOpenArgs),
    /// Add invoice lines to an open claim.
    ClaimLines(ClaimLinesArgs),
    /// Set an open claim's cause or repair days.
    ClaimDetails(ClaimDetailsArgs),
    /// Confirm a claim's amount (finance): it is charged; prints the liability and the charge.
    ClaimConfirm(ClaimConfirmArgs),
    /// Change a confirmed claim (the final invoice, repair days, an insurer's recovery): the
    /// earlier charge is reversed and the new amount charged.
    ClaimAdjust(ClaimAdjustArgs),
    /// Collection KPIs per city and month of the charge: billed, recovered, recovery rate, days
    /// to recover.
    Kpis(KpisArgs),
    /// SRE: empty a read model of the receivables service (every one unless --projection) and
    /// replay it from its stream's first event, while queries go on being answered.
    RebuildProjection(ProjectionArgs),
    /// SRE: how far each read model of the receivables service (or the one named) has applied
    /// its stream, whether a rebuild is still replaying, and which replica runs it.
    ProjectionStatus(ProjectionArgs),
}

impl ReceivablesCommand {
    /// True for the commands that carry this invocation's request id (and so may be retried with
    /// it). An import derives one request id per batch from the file and tells itself how to
    /// retry; queries and the SRE operations carry none.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Self::Resolve(_)
                | Self::Pay(_)
                | Self::Waive(_)
                | Self::WriteOff(_)
                | Self::Refund(_)
                | Self::Reverse(_)
                | Self::ClaimOpen(_)
                | Self::ClaimLines(_)
                | Self::ClaimDetails(_)
                | Self::ClaimConfirm(_)
                | Self::ClaimAdjust(_)
        )
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("columns").args(["mapping", "vendor"])))]
pub struct ImportArgs {
    /// The file: CSV with a header row (the header is line 1), or one JSON object per line.
    pub file: PathBuf,
    /// How the file is written [default: the mapping file's `format`, else jsonl for .jsonl,
    /// .ndjson and .json files, else csv].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// A column mapping file (TOML; see crates/cli/README.md).
    #[arg(long, value_name = "FILE.toml")]
    pub mapping: Option<PathBuf>,
    /// A built-in mapping: canonical (columns named like the record's fields), jtgl (a
    /// 交管12123-style export: hphm, date, money, fen = points, …) or vendor-b (plateNumber,
    /// violationTime, fineAmount, …) [default: canonical].
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(import::PRESETS))]
    pub vendor: Option<String>,
    /// Records per message (each message is one batch, with its own request id).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=import::MAX_BATCH as i64))]
    pub batch: u32,
    /// The feed or file the records came from, recorded on each [default: the file's name].
    #[arg(long, value_parser = parse_source)]
    pub source: Option<String>,
    /// When the desk received the file, for a backlog entered late: its records are matched,
    /// and their ladders run, as of then [default: now].
    #[arg(long, value_parser = crate::format::parse_time, value_name = "RFC3339")]
    pub received_at: Option<OffsetDateTime>,
    /// Read and check the file and print what would be sent, without sending anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("resolution").required(true).args(["company", "staff", "bad_data", "order"])))]
pub struct ResolveArgs {
    /// The violation's id, as `exceptions` lists it.
    pub violation_id: String,
    /// The company bears it (no ladder runs).
    #[arg(long)]
    pub company: bool,
    /// A member of staff had the car.
    #[arg(long, value_name = "STAFF_ID", value_parser = parse_non_empty)]
    pub staff: Option<String>,
    /// The record is wrong: close it, charged to nobody.
    #[arg(long)]
    pub bad_data: bool,
    /// This hire had the car: its renter is responsible.
    #[arg(long, value_name = "ORDER_ID", value_parser = parse_non_empty)]
    pub order: Option<String>,
    /// Why (required).
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The customer's id.
    pub customer_id: String,
    /// The amount paid, in yuan (200 or 200.50).
    #[arg(value_name = "AMOUNT_YUAN", value_parser = parse_amount)]
    pub amount: Fen,
    /// The payment provider's reference: applied once, however often it is sent.
    #[arg(long, value_parser = parse_non_empty)]
    pub reference: String,
    /// The charge (its booking id, as `statement` shows it) this pays first [default: the
    /// oldest open charges].
    #[arg(long = "charge", value_name = "BOOKING_ID")]
    pub charge_booking_id: Option<String>,
    /// When it was paid [default: when the service records it].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub paid_at: Option<OffsetDateTime>,
    /// A note on the booking [default: "payment <reference>"].
    #[arg(long)]
    pub memo: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChargeActionArgs {
    /// The customer's id.
    pub customer_id: String,
    /// The charge's booking id, as `statement` shows it.
    pub charge_booking_id: String,
    /// How much of it, in yuan.
    #[arg(value_name = "AMOUNT_YUAN", value_parser = parse_amount)]
    pub amount: Fen,
    /// Why (required; recorded as the booking's memo).
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct RefundArgs {
    /// The customer's id.
    pub customer_id: String,
    /// The amount paid back, in yuan.
    #[arg(value_name = "AMOUNT_YUAN", value_parser = parse_amount)]
    pub amount: Fen,
    /// The payout's reference.
    #[arg(long, value_parser = parse_non_empty)]
    pub reference: String,
    /// A note on the booking [default: "refund <reference>"].
    #[arg(long)]
    pub memo: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// The customer's id.
    pub customer_id: String,
    /// The booking to reverse, as `statement` shows it.
    pub booking_id: String,
    /// Why (required).
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ViolationsArgs {
    /// Only violations in this status; repeat (or separate with commas) for several.
    #[arg(long = "status", value_enum, value_delimiter = ',')]
    pub statuses: Vec<ViolationStatusArg>,
    /// Only this plate's (any spelling: 沪AD12345 is 沪A·D12345).
    #[arg(long)]
    pub plate: Option<String>,
    /// Only violations this customer is responsible for.
    #[arg(long = "customer", value_name = "CUSTOMER_ID")]
    pub customer_id: Option<String>,
    /// Only violations of hires in this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ExceptionsArgs {
    /// Only this city's (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ViolationArgs {
    /// The violation's id, as `violations` or `exceptions` list it.
    pub violation_id: String,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct StatementArgs {
    /// The customer's id.
    pub customer_id: String,
    /// The statement as of the end of this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Print the statement as CSV (the service's), for a spreadsheet.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct AgingArgs {
    /// Age what is open as of this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Only this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct OverdueArgs {
    /// Overdue as of this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Only this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ClaimsArgs {
    /// Only claims in this status.
    #[arg(long, value_enum)]
    pub status: Option<ClaimStatusArg>,
    /// Only this hire's.
    #[arg(long = "order", value_name = "ORDER_ID")]
    pub order_id: Option<String>,
    /// Only this customer's.
    #[arg(long = "customer", value_name = "CUSTOMER_ID")]
    pub customer_id: Option<String>,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The claim's id, as `claims` lists it.
    pub claim_id: String,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ClaimOpenArgs {
    /// The hire (its customer, city, car and cover tier come from the order).
    #[arg(value_parser = parse_non_empty)]
    pub order_id: String,
    /// The damage, as noted (required).
    #[arg(long, value_parser = parse_non_empty)]
    pub damage: String,
    /// What caused it [default: the service's, ordinary].
    #[arg(long, value_enum)]
    pub cause: Option<DamageCauseArg>,
    /// An invoice line, KIND:AMOUNT_YUAN:DESCRIPTION[:DOC] (KIND parts, labour or paint; DOC the
    /// invoice it comes from, and may contain ':'); repeat for several.
    #[arg(long = "line", value_name = "KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]", value_parser = parse_line)]
    pub lines: Vec<ClaimLine>,
    /// Days the car is off the road for the repair (loss of use), at most 365.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=MAX_REPAIR_DAYS))]
    pub repair_days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ClaimLinesArgs {
    /// The claim's id.
    pub claim_id: String,
    /// An invoice line, KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]; repeat for several (at least one).
    #[arg(long = "line", value_name = "KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]", value_parser = parse_line, required = true)]
    pub lines: Vec<ClaimLine>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("details").required(true).multiple(true).args(["cause", "repair_days"])))]
pub struct ClaimDetailsArgs {
    /// The claim's id.
    pub claim_id: String,
    /// What caused the damage [default: unchanged].
    #[arg(long, value_enum)]
    pub cause: Option<DamageCauseArg>,
    /// Days the car is off the road for the repair, at most 365 [default: unchanged].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=MAX_REPAIR_DAYS))]
    pub repair_days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ClaimConfirmArgs {
    /// The claim's id.
    pub claim_id: String,
    /// The total you saw (`claim` shows it), in yuan: refused if the amount has changed since.
    #[arg(long, value_name = "YUAN", value_parser = parse_money)]
    pub expected: Option<Fen>,
}

#[derive(Debug, Args)]
pub struct ClaimAdjustArgs {
    /// The claim's id.
    pub claim_id: String,
    /// A line of the final invoice, KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]; repeat for every line:
    /// they replace the earlier ones [default: unchanged].
    #[arg(long = "line", value_name = "KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]", value_parser = parse_line)]
    pub lines: Vec<ClaimLine>,
    /// Days the car was off the road, at most 365 [default: unchanged].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=MAX_REPAIR_DAYS))]
    pub repair_days: Option<u32>,
    /// An insurer's recovery taken off the invoice total, in yuan [default: unchanged].
    #[arg(long, value_name = "YUAN", value_parser = parse_money)]
    pub recovery: Option<Fen>,
    /// Why (required).
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct KpisArgs {
    /// The first month of the charges, YYYY-MM.
    #[arg(long, value_parser = parse_month, value_name = "YYYY-MM")]
    pub from: String,
    /// The last month, YYYY-MM [default: --from].
    #[arg(long, value_parser = parse_month, value_name = "YYYY-MM")]
    pub to: Option<String>,
    /// Only this city (code, e.g. SHA).
    #[arg(long)]
    pub city: Option<String>,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

/// The service refuses more repair days than this.
const MAX_REPAIR_DAYS: i64 = 365;

/// One invoice line as typed: `parts:1200.50:rear bumper:INV-7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLine {
    pub kind: pb::InvoiceLineKind,
    pub amount: Fen,
    pub description: String,
    pub document_ref: Option<String>,
}

impl ClaimLine {
    fn proto(&self) -> pb::InvoiceLineInput {
        pb::InvoiceLineInput {
            kind: self.kind as i32,
            description: self.description.clone(),
            amount: money(self.amount),
            document_ref: self.document_ref.clone().unwrap_or_default(),
        }
    }
}

/// `KIND:AMOUNT_YUAN:DESCRIPTION[:DOC]`: the description cannot contain ':', the document may.
fn parse_line(s: &str) -> Result<ClaimLine, String> {
    let mut parts = s.splitn(4, ':');
    let (Some(kind), Some(amount), Some(description)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "'{s}' is not KIND:AMOUNT_YUAN:DESCRIPTION[:DOC], e.g. parts:1200.50:rear bumper:INV-7"
        ));
    };
    let kind = match kind.trim().to_ascii_lowercase().as_str() {
        "parts" => pb::InvoiceLineKind::Parts,
        "labour" => pb::InvoiceLineKind::Labour,
        "paint" => pb::InvoiceLineKind::Paint,
        other => return Err(format!("'{other}' is not a kind of line: parts, labour or paint")),
    };
    let text = amount.trim();
    let amount = Fen::parse_yuan(text).map_err(|e| format!("the amount: {e}"))?;
    if amount.is_negative() || amount.is_zero() {
        return Err(format!("the amount '{text}' must be more than zero"));
    }
    let description = description.trim();
    if description.is_empty() {
        return Err("the description must not be empty".into());
    }
    let document_ref = parts.next().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
    Ok(ClaimLine {
        kind,
        amount,
        description: description.to_owned(),
        document_ref,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClaimStatusArg {
    /// Being assessed: nothing charged yet.
    Open,
    /// Confirmed and charged.
    Confirmed,
}

impl ClaimStatusArg {
    pub fn proto(self) -> pb::ClaimStatus {
        match self {
            Self::Open => pb::ClaimStatus::Open,
            Self::Confirmed => pb::ClaimStatus::Confirmed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DamageCauseArg {
    /// An accident or wear in ordinary use: the cover tier decides.
    Ordinary,
    /// Excluded: the renter pays the whole cost, whatever the tier.
    DrunkDriving,
    /// Excluded: the renter pays the whole cost.
    UnlicensedDriver,
    /// Excluded: the renter pays the whole cost.
    ProhibitedUse,
}

impl DamageCauseArg {
    pub fn proto(self) -> pb::DamageCause {
        match self {
            Self::Ordinary => pb::DamageCause::Ordinary,
            Self::DrunkDriving => pb::DamageCause::DrunkDriving,
            Self::UnlicensedDriver => pb::DamageCause::UnlicensedDriver,
            Self::ProhibitedUse => pb::DamageCause::ProhibitedUse,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViolationStatusArg {
    /// In the exceptions queue.
    Exception,
    /// Matched; the ladder runs.
    Open,
    /// The fine is on the ledger.
    Charged,
    Collections,
    Handled,
    Voided,
    /// The company's own.
    Company,
    /// Waived by a complaint's resolution before it was charged.
    Waived,
}

impl ViolationStatusArg {
    pub fn proto(self) -> pb::ViolationStatus {
        match self {
            Self::Exception => pb::ViolationStatus::Exception,
            Self::Open => pb::ViolationStatus::Open,
            Self::Charged => pb::ViolationStatus::Charged,
            Self::Collections => pb::ViolationStatus::Collections,
            Self::Handled => pb::ViolationStatus::Handled,
            Self::Voided => pb::ViolationStatus::Voided,
            Self::Company => pb::ViolationStatus::Company,
            Self::Waived => pb::ViolationStatus::Waived,
        }
    }
}

/// An amount typed in yuan, exactly, more than zero.
fn parse_amount(s: &str) -> Result<Fen, String> {
    let fen = import::parse_fine(s)?;
    if fen.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(fen)
}

/// An amount typed in yuan, exactly, zero or more (an expected total, a recovery).
fn parse_money(s: &str) -> Result<Fen, String> {
    import::parse_fine(s).map_err(|e| e.replace("a fine", "an amount").replace("the fine", "the amount"))
}

/// A month, YYYY-MM (the KPIs' `from_month`, `to_month`).
fn parse_month(s: &str) -> Result<String, String> {
    let s = s.trim();
    time::Date::parse(
        &format!("{s}-01"),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
    .filter(|_| s.len() == 7)
    .map(|_| s.to_owned())
    .ok_or_else(|| format!("'{s}' is not a month: write YYYY-MM, e.g. 2026-11"))
}

/// A day, YYYY-MM-DD (the service's `as_of`).
fn parse_date(s: &str) -> Result<String, String> {
    let s = s.trim();
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map(|_| s.to_owned())
        .map_err(|_| format!("'{s}' is not a day: write YYYY-MM-DD, e.g. 2026-12-01"))
}

fn parse_source(s: &str) -> Result<String, String> {
    let s = parse_non_empty(s)?;
    if s.chars().count() > import::MAX_SOURCE_CHARS {
        return Err(format!("at most {} characters", import::MAX_SOURCE_CHARS));
    }
    Ok(s)
}

/// rentops books in CNY.
fn money(f: Fen) -> Option<Money> {
    Some(Money {
        amount_fen: f.fen(),
        currency: "CNY".to_owned(),
    })
}

fn page(p: &PageArgs, token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: p.page_size.unwrap_or(0),
        page_token: token.to_owned(),
    })
}

type Client = ReceivablesServiceClient<Connection>;

async fn connect(addr: &str, timeout: Duration) -> Result<Client, Failure> {
    Ok(ReceivablesServiceClient::new(
        crate::commands::connect("receivables", addr, timeout).await?,
    ))
}

/// Read-your-writes: `--min-sequence`, nothing with `--no-wait`, else the sequence the last
/// receivables command got back (the service's default wait).
fn consistency(inv: &Invocation, c: &ConsistencyArgs) -> Option<Consistency> {
    inv.ryw.consistency(c.min_sequence, c.no_wait, 0)
}

fn render<V: View>(inv: &Invocation, view: &V) -> Result<String, Failure> {
    Ok(inv.printer.render(view)?)
}

/// Runs one `rentops receivables` subcommand and returns the text to print. `request_id` is
/// `--request-id` when given (an import makes its batches' ids from it).
pub async fn run(
    addr: &str,
    timeout: Duration,
    cmd: &ReceivablesCommand,
    inv: &Invocation,
    request_id: Option<&str>,
) -> Result<String, Failure> {
    match cmd {
        ReceivablesCommand::Import(a) => return import(addr, timeout, a, inv, request_id).await,
        ReceivablesCommand::RebuildProjection(a) => {
            return admin::run("receivables", addr, timeout, Operation::Rebuild, a, inv).await;
        }
        ReceivablesCommand::ProjectionStatus(a) => {
            return admin::run("receivables", addr, timeout, Operation::Status, a, inv).await;
        }
        _ => {}
    }
    let mut c = connect(addr, timeout).await?;
    let ctx = inv.ctx.proto();
    let booked = match cmd {
        ReceivablesCommand::Import(_)
        | ReceivablesCommand::RebuildProjection(_)
        | ReceivablesCommand::ProjectionStatus(_) => {
            return Err(anyhow!("not a receivables-service call").into());
        }
        ReceivablesCommand::Resolve(a) => {
            let r = c.resolve_exception(resolve_request(a, ctx)).await?.into_inner();
            inv.ryw.wrote(r.sequence);
            return render(inv, &FleetCommandView::new(&r, &inv.ctx));
        }
        ReceivablesCommand::Pay(a) => c.record_payment(pay_request(a, ctx)).await?,
        ReceivablesCommand::Waive(a) => {
            c.waive_charge(pb::WaiveChargeRequest {
                context: ctx,
                customer_id: a.customer_id.clone(),
                charge_booking_id: a.charge_booking_id.clone(),
                amount: money(a.amount),
                reason: a.reason.clone(),
            })
            .await?
        }
        ReceivablesCommand::WriteOff(a) => {
            c.write_off_charge(pb::WriteOffChargeRequest {
                context: ctx,
                customer_id: a.customer_id.clone(),
                charge_booking_id: a.charge_booking_id.clone(),
                amount: money(a.amount),
                reason: a.reason.clone(),
            })
            .await?
        }
        ReceivablesCommand::Refund(a) => {
            c.refund_credit(pb::RefundCreditRequest {
                context: ctx,
                customer_id: a.customer_id.clone(),
                amount: money(a.amount),
                reference: a.reference.clone(),
                memo: a.memo.clone().unwrap_or_default(),
            })
            .await?
        }
        ReceivablesCommand::Reverse(a) => {
            c.reverse_booking(pb::ReverseBookingRequest {
                context: ctx,
                customer_id: a.customer_id.clone(),
                booking_id: a.booking_id.clone(),
                reason: a.reason.clone(),
            })
            .await?
        }
        ReceivablesCommand::Violations(a) => {
            let mut view = ViolationListView::new("no violations");
            let mut token = a.page.page_token.clone().unwrap_or_default();
            let mut pages = Pages::default();
            loop {
                let r = c
                    .list_violations(pb::ListViolationsRequest {
                        statuses: a.statuses.iter().map(|s| s.proto() as i32).collect(),
                        plate: a.plate.clone().unwrap_or_default(),
                        customer_id: a.customer_id.clone().unwrap_or_default(),
                        city: a.city.clone().unwrap_or_default(),
                        page: page(&a.page, &token),
                        consistency: consistency(inv, &a.consistency),
                    })
                    .await?
                    .into_inner();
                view.extend(&r, inv.times);
                match pages.next(a.page.all, &view.next_page_token)? {
                    Some(next) => token = next,
                    None => return render(inv, &view),
                }
            }
        }
        ReceivablesCommand::Exceptions(a) => {
            let mut view = ViolationListView::new("no exceptions: every violation is matched or decided");
            let mut token = a.page.page_token.clone().unwrap_or_default();
            let mut pages = Pages::default();
            loop {
                let r = c
                    .list_exceptions(pb::ListExceptionsRequest {
                        city: a.city.clone().unwrap_or_default(),
                        page: page(&a.page, &token),
                        consistency: consistency(inv, &a.consistency),
                    })
                    .await?
                    .into_inner();
                view.extend(&r, inv.times);
                match pages.next(a.page.all, &view.next_page_token)? {
                    Some(next) => token = next,
                    None => return render(inv, &view),
                }
            }
        }
        ReceivablesCommand::Violation(a) => {
            let r = c
                .get_violation(pb::GetViolationRequest {
                    violation_id: a.violation_id.clone(),
                    consistency: consistency(inv, &a.consistency),
                })
                .await?
                .into_inner();
            let v = r
                .violation
                .ok_or_else(|| anyhow!("the service answered without a violation"))?;
            return render(inv, &ViolationView::new(&v, inv.times));
        }
        ReceivablesCommand::Statement(a) => {
            // The service answers a page of lines at a time (the first with the open items and
            // the CSV's header): read them all, in order.
            let mut r: Option<pb::GetStatementResponse> = None;
            let mut token = String::new();
            loop {
                let page = c
                    .get_statement(pb::GetStatementRequest {
                        customer_id: a.customer_id.clone(),
                        as_of: a.as_of.clone().unwrap_or_default(),
                        consistency: consistency(inv, &a.consistency),
                        page: Some(PageRequest {
                            page_size: 500,
                            page_token: token,
                        }),
                    })
                    .await?
                    .into_inner();
                token = page.page.clone().unwrap_or_default().next_page_token;
                match r.as_mut() {
                    None => r = Some(page),
                    Some(all) => {
                        all.lines.extend(page.lines);
                        all.csv.push_str(&page.csv);
                    }
                }
                if token.is_empty() {
                    break;
                }
            }
            let r = r.ok_or_else(|| anyhow!("the service answered no statement"))?;
            if a.csv {
                let mut csv = r.csv;
                if !csv.is_empty() && !csv.ends_with('\n') {
                    csv.push('\n');
                }
                return Ok(csv);
            }
            return render(inv, &StatementView::new(&r, inv.times));
        }
        ReceivablesCommand::Aging(a) => {
            let r = c
                .get_aging(pb::GetAgingRequest {
                    as_of: a.as_of.clone().unwrap_or_default(),
                    city: a.city.clone().unwrap_or_default(),
                    consistency: consistency(inv, &a.consistency),
                })
                .await?
                .into_inner();
            return render(inv, &AgingView::new(&r));
        }
        ReceivablesCommand::Overdue(a) => {
            let mut view = OverdueListView::default();
            let mut token = a.page.page_token.clone().unwrap_or_default();
            let mut pages = Pages::default();
            loop {
                let r = c
                    .list_overdue(pb::ListOverdueRequest {
                        as_of: a.as_of.clone().unwrap_or_default(),
                        city: a.city.clone().unwrap_or_default(),
                        page: page(&a.page, &token),
                        consistency: consistency(inv, &a.consistency),
                    })
                    .await?
                    .into_inner();
                view.extend(&r);
                match pages.next(a.page.all, &view.next_page_token)? {
                    Some(next) => token = next,
                    None => return render(inv, &view),
                }
            }
        }
        ReceivablesCommand::Claims(a) => {
            let r = c
                .list_claims(pb::ListClaimsRequest {
                    status: a.status.map_or(0, |s| s.proto() as i32),
                    order_id: a.order_id.clone().unwrap_or_default(),
                    customer_id: a.customer_id.clone().unwrap_or_default(),
                    consistency: consistency(inv, &a.consistency),
                })
                .await?
                .into_inner();
            return render(inv, &ClaimListView::new(&r, inv.times));
        }
        ReceivablesCommand::Claim(a) => {
            let r = c
                .get_claim(pb::GetClaimRequest {
                    claim_id: a.claim_id.clone(),
                    consistency: consistency(inv, &a.consistency),
                })
                .await?
                .into_inner();
            let claim = r.claim.ok_or_else(|| anyhow!("the service answered without a claim"))?;
            return render(inv, &ClaimView::new(&claim, inv.times));
        }
        ReceivablesCommand::ClaimOpen(a) => {
            let r = c.open_claim(open_claim_request(a, ctx)).await?.into_inner();
            return claimed(inv, &r);
        }
        ReceivablesCommand::ClaimLines(a) => {
            let r = c
                .add_claim_lines(pb::AddClaimLinesRequest {
                    context: ctx,
                    claim_id: a.claim_id.clone(),
                    lines: a.lines.iter().map(ClaimLine::proto).collect(),
                })
                .await?
                .into_inner();
            return claimed(inv, &r);
        }
        ReceivablesCommand::ClaimDetails(a) => {
            let r = c.set_claim_details(claim_details_request(a, ctx)).await?.into_inner();
            return claimed(inv, &r);
        }
        ReceivablesCommand::ClaimConfirm(a) => {
            let r = c
                .confirm_claim(pb::ConfirmClaimRequest {
                    context: ctx,
                    claim_id: a.claim_id.clone(),
                    expected_total: a.expected.and_then(money),
                })
                .await?
                .into_inner();
            return claimed(inv, &r);
        }
        ReceivablesCommand::ClaimAdjust(a) => {
            let r = c.adjust_claim(adjust_claim_request(a, ctx)).await?.into_inner();
            return claimed(inv, &r);
        }
        ReceivablesCommand::Kpis(a) => {
            let r = c
                .get_collection_kpis(pb::GetCollectionKpisRequest {
                    from_month: a.from.clone(),
                    to_month: a.to.clone().unwrap_or_default(),
                    city: a.city.clone().unwrap_or_default(),
                    consistency: consistency(inv, &a.consistency),
                })
                .await?
                .into_inner();
            return render(inv, &KpisView::new(&r));
        }
    };
    let r = booked.into_inner();
    inv.ryw.wrote(r.sequence);
    render(inv, &BookingView::new(&r, &inv.ctx, cmd))
}

/// A claim command's answer: its sequence is remembered for the next query.
fn claimed(inv: &Invocation, r: &pb::ClaimResult) -> Result<String, Failure> {
    inv.ryw.wrote(r.sequence);
    render(inv, &ClaimResultView::new(r, &inv.ctx))
}

fn open_claim_request(a: &ClaimOpenArgs, context: Option<CommandContext>) -> pb::OpenClaimRequest {
    pb::OpenClaimRequest {
        context,
        order_id: a.order_id.clone(),
        cause: a.cause.map_or(0, |c| c.proto() as i32),
        damage: a.damage.clone(),
        lines: a.lines.iter().map(ClaimLine::proto).collect(),
        repair_days: a.repair_days.unwrap_or(0),
    }
}

fn claim_details_request(a: &ClaimDetailsArgs, context: Option<CommandContext>) -> pb::SetClaimDetailsRequest {
    pb::SetClaimDetailsRequest {
        context,
        claim_id: a.claim_id.clone(),
        cause: a.cause.map_or(0, |c| c.proto() as i32),
        repair_days: a.repair_days,
    }
}

fn adjust_claim_request(a: &ClaimAdjustArgs, context: Option<CommandContext>) -> pb::AdjustClaimRequest {
    pb::AdjustClaimRequest {
        context,
        claim_id: a.claim_id.clone(),
        lines: a.lines.iter().map(ClaimLine::proto).collect(),
        repair_days: a.repair_days,
        recovery: a.recovery.and_then(money),
        reason: a.reason.clone(),
    }
}

fn resolve_request(a: &ResolveArgs, context: Option<CommandContext>) -> pb::ResolveExceptionRequest {
    use pb::resolve_exception_request::Resolution;
    // clap lets exactly one through.
    let resolution = match (&a.staff, &a.order) {
        (Some(s), _) => Resolution::StaffId(s.clone()),
        (None, Some(o)) => Resolution::OrderId(o.clone()),
        (None, None) if a.bad_data => Resolution::BadData(true),
        (None, None) => Resolution::Company(true),
    };
    pb::ResolveExceptionRequest {
        context,
        violation_id: a.violation_id.clone(),
        resolution: Some(resolution),
        reason: a.reason.clone(),
    }
}

fn pay_request(a: &PayArgs, context: Option<CommandContext>) -> pb::RecordPaymentRequest {
    pb::RecordPaymentRequest {
        context,
        customer_id: a.customer_id.clone(),
        amount: money(a.amount),
        reference: a.reference.clone(),
        charge_booking_id: a.charge_booking_id.clone().unwrap_or_default(),
        paid_at: a.paid_at.map(timestamp),
        memo: a.memo.clone().unwrap_or_default(),
    }
}

/// Page tokens seen while following pages (`--all`), so a token handed back twice cannot loop.
#[derive(Default)]
struct Pages {
    seen: std::collections::HashSet<String>,
}

impl Pages {
    fn next(&mut self, follow: bool, token: &str) -> Result<Option<String>, Failure> {
        if !follow || token.is_empty() {
            return Ok(None);
        }
        if !self.seen.insert(token.to_owned()) {
            return Err(anyhow!("the service returned page token '{token}' twice; stopped following pages").into());
        }
        Ok(Some(token.to_owned()))
    }
}

/// The mapping an import reads its file with: `--mapping`, else `--vendor`, else canonical.
fn mapping(a: &ImportArgs) -> Result<Mapping, Failure> {
    let m = match (&a.mapping, &a.vendor) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read the mapping {}", path.display()))?;
            Mapping::from_toml(&text, &path.display().to_string())
        }
        (None, Some(vendor)) => Mapping::preset(vendor),
        (None, None) => Mapping::preset("canonical"),
    };
    Ok(m.map_err(|e| anyhow!(e))?)
}

/// `import`: reads and checks the file, then streams its batches, with a progress bar on stderr
/// (a terminal only), and prints the summary with every rejected line.
async fn import(
    addr: &str,
    timeout: Duration,
    a: &ImportArgs,
    inv: &Invocation,
    request_id: Option<&str>,
) -> Result<String, Failure> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let mapping = mapping(a)?;
    let format = a
        .format
        .or(mapping.format)
        .unwrap_or_else(|| Format::from_path(&a.file));
    let source = import::source_name(a.source.as_deref(), &a.file);
    let parsed = import::parse(&bytes, format, &mapping, &source).map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
    let digest = import::file_digest(&bytes);
    let batches = import::batches(&parsed.records, a.batch as usize, &digest, request_id).map_err(|e| anyhow!(e))?;
    let mut view = ImportView::new(&a.file, format, &mapping, &source, &parsed, &batches, a.dry_run);
    if a.dry_run || batches.is_empty() {
        return render(inv, &view);
    }

    let total: usize = batches.iter().map(|(_, b)| b.len()).sum();
    let bar = progress(total as u64);
    let shown = bar.clone();
    let actor = inv.ctx.actor.clone();
    let correlation_id = format!("imp-{digest}");
    let count = batches.len();
    let received_at = a.received_at.map(crate::format::timestamp);
    let requests = batches
        .into_iter()
        .map(move |(request_id, records)| pb::ImportViolationsRequest {
            context: Some(CommandContext {
                request_id,
                actor: actor.clone(),
                correlation_id: correlation_id.clone(),
            }),
            records,
            received_at,
        })
        .collect::<Vec<_>>();
    let stream = tokio_stream::iter(requests).map(move |r| {
        // Taken by the transport to send: the service imports each batch as it arrives.
        shown.inc(r.records.len() as u64);
        if shown.position() >= shown.length().unwrap_or(0) {
            shown.set_message("all sent; waiting for the summary");
        }
        r
    });
    // Each batch gets the whole --timeout-secs: a large file takes longer than one call.
    let allowance = timeout.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX));
    let result = match connect(addr, allowance).await {
        Ok(mut c) => c.import_violations(stream).await.map_err(Failure::from),
        Err(e) => Err(e),
    };
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s.into_inner(),
        Err(f) => {
            if f.outcome_unknown() {
                eprintln!(
                    "note: some batches may have been recorded; run the same import again: the same file gives the \
                     same request ids, so nothing is recorded twice"
                );
            }
            return Err(f);
        }
    };
    inv.ryw.wrote(summary.sequence);
    view.absorb(&summary);
    render(inv, &view)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("{spinner} sending [{bar:30}] {pos}/{len} records {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use clap::Parser as _;
    use clap::error::ErrorKind;
    use tonic::{Request, Response, Status, Streaming};

    use super::*;
    use crate::args::{Cli, Command};
    use crate::format::{Times, Zone};
    use crate::requests::Context;
    use crate::views::Printer;

    fn parse(line: &str) -> Result<ReceivablesCommand, ErrorKind> {
        let argv = ["rentops", "receivables"].into_iter().chain(line.split_whitespace());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Receivables(c),
                ..
            }) => Ok(c),
            Ok(other) => panic!("{line:?} parsed as {:?}", other.command),
            Err(e) => Err(e.kind()),
        }
    }

    fn ok(line: &str) -> ReceivablesCommand {
        parse(line).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
    }

    #[test]
    fn amounts_are_yuan_read_exactly_and_more_than_zero() {
        let ReceivablesCommand::Pay(p) = ok("pay C1001 0.1 --reference WX-1") else {
            panic!("not pay")
        };
        assert_eq!(
            (p.customer_id.as_str(), p.amount, p.reference.as_str()),
            ("C1001", Fen(10), "WX-1")
        );
        let ReceivablesCommand::Pay(p) = ok("pay C1001 250 --reference WX-2 --charge b-1") else {
            panic!("not pay")
        };
        assert_eq!((p.amount, p.charge_booking_id.as_deref()), (Fen(25_000), Some("b-1")));
        assert!(parse_amount("-5").is_err());
        for bad in ["0", "1,000.00", "2.001", "abc", "¥5"] {
            assert_eq!(
                parse(&format!("pay C1 {bad} --reference R")).err(),
                Some(ErrorKind::ValueValidation),
                "{bad}"
            );
        }
        assert_eq!(parse("pay C1 10").err(), Some(ErrorKind::MissingRequiredArgument));
        let ReceivablesCommand::Waive(w) = ok("waive C1 b-1 50.5 --reason goodwill") else {
            panic!("not waive")
        };
        assert_eq!((w.charge_booking_id.as_str(), w.amount), ("b-1", Fen(5_050)));
        assert!(matches!(
            ok("write-off C1 b-1 50 --reason gone"),
            ReceivablesCommand::WriteOff(_)
        ));
        assert!(matches!(ok("refund C1 20 --reference R1"), ReceivablesCommand::Refund(r) if r.amount == Fen(2_000)));
        assert!(matches!(
            ok("reverse C1 b-1 --reason typo"),
            ReceivablesCommand::Reverse(_)
        ));
        assert_eq!(parse("waive C1 b-1 50").err(), Some(ErrorKind::MissingRequiredArgument));
    }

    #[test]
    fn resolve_takes_exactly_one_resolution_and_a_reason() {
        let ReceivablesCommand::Resolve(r) = ok("resolve v1 --order o-9 --reason seen-on-cctv") else {
            panic!("not resolve")
        };
        let req = resolve_request(&r, None);
        assert_eq!(
            req.resolution,
            Some(pb::resolve_exception_request::Resolution::OrderId("o-9".into()))
        );
        for (line, want) in [
            ("--company", pb::resolve_exception_request::Resolution::Company(true)),
            ("--bad-data", pb::resolve_exception_request::Resolution::BadData(true)),
            (
                "--staff S7",
                pb::resolve_exception_request::Resolution::StaffId("S7".into()),
            ),
        ] {
            let ReceivablesCommand::Resolve(r) = ok(&format!("resolve v1 {line} --reason x")) else {
                panic!("not resolve")
            };
            assert_eq!(resolve_request(&r, None).resolution, Some(want), "{line}");
        }
        assert_eq!(
            parse("resolve v1 --reason x").err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            parse("resolve v1 --company").err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            parse("resolve v1 --company --bad-data --reason x").err(),
            Some(ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn queries_parse_their_filters_and_dates() {
        let ReceivablesCommand::Violations(v) =
            ok("violations --status open,charged --status exception --plate 沪AD12345 --customer C1 --city SHA --all")
        else {
            panic!("not violations")
        };
        assert_eq!(
            v.statuses,
            [
                ViolationStatusArg::Open,
                ViolationStatusArg::Charged,
                ViolationStatusArg::Exception
            ]
        );
        assert!(v.page.all && v.customer_id.as_deref() == Some("C1"));
        let ReceivablesCommand::Statement(s) = ok("statement C1 --as-of 2026-12-01 --csv --no-wait") else {
            panic!("not statement")
        };
        assert_eq!(
            (s.as_of.as_deref(), s.csv, s.consistency.no_wait),
            (Some("2026-12-01"), true, true)
        );
        assert_eq!(
            parse("statement C1 --as-of 2026-13-01").err(),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(parse("aging --as-of yesterday").err(), Some(ErrorKind::ValueValidation));
        assert!(matches!(ok("aging --city SHA"), ReceivablesCommand::Aging(a) if a.city.as_deref() == Some("SHA")));
        assert!(
            matches!(ok("overdue --as-of 2026-12-31 --page-size 20"), ReceivablesCommand::Overdue(o) if o.page.page_size == Some(20))
        );
        assert!(matches!(ok("exceptions --city SHA"), ReceivablesCommand::Exceptions(_)));
        assert!(
            matches!(ok("violation v1 --min-sequence 9"), ReceivablesCommand::Violation(v) if v.consistency.min_sequence == Some(9))
        );
        assert_eq!(parse("violations --status lost").err(), Some(ErrorKind::InvalidValue));
        assert!(matches!(
            ok("projection-status"),
            ReceivablesCommand::ProjectionStatus(_)
        ));
    }

    #[test]
    fn import_takes_a_mapping_or_a_vendor_not_both() {
        let ReceivablesCommand::Import(i) = ok("import f.csv --vendor jtgl --batch 200 --source 12123") else {
            panic!("not import")
        };
        assert_eq!(
            (i.vendor.as_deref(), i.batch, i.source.as_deref()),
            (Some("jtgl"), 200, Some("12123"))
        );
        assert_eq!(parse("import f.csv --vendor acme").err(), Some(ErrorKind::InvalidValue));
        assert_eq!(
            parse("import f.csv --vendor jtgl --mapping m.toml").err(),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            parse("import f.csv --batch 1001").err(),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(parse("import f.csv --batch 0").err(), Some(ErrorKind::ValueValidation));
        assert_eq!(parse("import f.csv --format xml").err(), Some(ErrorKind::InvalidValue));
        assert!(!ok("import f.csv").is_command() && ok("pay C1 1 --reference R").is_command());
    }

    #[test]
    fn claim_lines_read_kind_yuan_description_and_document() {
        assert_eq!(
            parse_line("parts:1200.50:rear bumper:INV-7:p2"),
            Ok(ClaimLine {
                kind: pb::InvoiceLineKind::Parts,
                amount: Fen(120_050),
                description: "rear bumper".into(),
                document_ref: Some("INV-7:p2".into()),
            })
        );
        let paint = parse_line("Paint:300:door").unwrap();
        assert_eq!(
            (paint.kind, paint.amount, paint.document_ref),
            (pb::InvoiceLineKind::Paint, Fen(30_000), None)
        );
        for bad in [
            "parts:100",
            "glass:100:windscreen",
            "labour:0:fitting",
            "labour:-5:fitting",
            "labour:1,000:fitting",
            "labour:10.001:fitting",
            "labour:10: ",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        let ReceivablesCommand::ClaimOpen(o) = ok(
            "claim-open o-1 --damage scratch --cause drunk-driving --line parts:1200:bumper:INV-7 --line labour:300.5:fitting --repair-days 3",
        ) else {
            panic!("not claim-open")
        };
        let req = open_claim_request(&o, None);
        assert_eq!(
            (req.order_id.as_str(), req.damage.as_str(), req.cause, req.repair_days),
            ("o-1", "scratch", pb::DamageCause::DrunkDriving as i32, 3)
        );
        assert_eq!(
            req.lines
                .iter()
                .map(|l| (l.kind, l.amount.as_ref().unwrap().amount_fen, l.document_ref.as_str()))
                .collect::<Vec<_>>(),
            [
                (pb::InvoiceLineKind::Parts as i32, 120_000, "INV-7"),
                (pb::InvoiceLineKind::Labour as i32, 30_050, "")
            ]
        );
        // Unset: the service's default cause, no lines yet, no repair days.
        let ReceivablesCommand::ClaimOpen(o) = ok("claim-open o-1 --damage dent") else {
            panic!("not claim-open")
        };
        let req = open_claim_request(&o, None);
        assert_eq!((req.cause, req.lines.len(), req.repair_days), (0, 0, 0));
        assert_eq!(parse("claim-open o-1").err(), Some(ErrorKind::MissingRequiredArgument));
        assert_eq!(
            parse("claim-open o-1 --damage x --cause storm").err(),
            Some(ErrorKind::InvalidValue)
        );
        assert_eq!(
            parse("claim-open o-1 --damage x --line glass:1:pane").err(),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            parse("claim-open o-1 --damage x --repair-days 366").err(),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            parse("claim-lines cl-1").err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert!(matches!(
            ok("claim-lines cl-1 --line paint:80:wing --line parts:20:clip"),
            ReceivablesCommand::ClaimLines(l) if l.lines.len() == 2
        ));
    }

    #[test]
    fn claim_details_confirm_and_adjust_send_only_what_is_given() {
        let ReceivablesCommand::ClaimDetails(d) = ok("claim-details cl-1 --repair-days 0") else {
            panic!("not claim-details")
        };
        let req = claim_details_request(&d, None);
        assert_eq!((req.cause, req.repair_days), (0, Some(0)));
        let ReceivablesCommand::ClaimDetails(d) = ok("claim-details cl-1 --cause unlicensed-driver") else {
            panic!("not claim-details")
        };
        let req = claim_details_request(&d, None);
        assert_eq!(
            (req.cause, req.repair_days),
            (pb::DamageCause::UnlicensedDriver as i32, None)
        );
        assert_eq!(
            parse("claim-details cl-1").err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        let ReceivablesCommand::ClaimConfirm(c) = ok("claim-confirm cl-1 --expected 1500.5") else {
            panic!("not claim-confirm")
        };
        assert_eq!(c.expected, Some(Fen(150_050)));
        assert!(matches!(ok("claim-confirm cl-1"), ReceivablesCommand::ClaimConfirm(c) if c.expected.is_none()));
        assert_eq!(
            parse("claim-confirm cl-1 --expected=-3").err(),
            Some(ErrorKind::ValueValidation)
        );
        let ReceivablesCommand::ClaimAdjust(a) = ok("claim-adjust cl-1 --recovery 0 --reason insurer-declined") else {
            panic!("not claim-adjust")
        };
        let req = adjust_claim_request(&a, None);
        assert_eq!(
            (
                req.lines.len(),
                req.repair_days,
                req.recovery.map(|m| m.amount_fen),
                req.reason.as_str()
            ),
            (0, None, Some(0), "insurer-declined")
        );
        let ReceivablesCommand::ClaimAdjust(a) =
            ok("claim-adjust cl-1 --line parts:900:bumper:FINAL-1 --repair-days 5 --reason final-invoice")
        else {
            panic!("not claim-adjust")
        };
        let req = adjust_claim_request(&a, None);
        assert_eq!((req.lines.len(), req.repair_days, req.recovery), (1, Some(5), None));
        assert_eq!(
            parse("claim-adjust cl-1 --repair-days 5").err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        for line in [
            "claim-open o-1 --damage x",
            "claim-lines c --line parts:1:x",
            "claim-details c --repair-days 1",
            "claim-confirm c",
            "claim-adjust c --reason r",
        ] {
            assert!(ok(line).is_command(), "{line}");
        }
        assert!(!ok("claims").is_command() && !ok("claim c").is_command() && !ok("kpis --from 2026-11").is_command());
    }

    #[test]
    fn claims_and_kpis_parse_their_filters_and_months() {
        let ReceivablesCommand::Claims(c) = ok("claims --status confirmed --order o-1 --customer C1 --no-wait") else {
            panic!("not claims")
        };
        assert_eq!(
            (
                c.status,
                c.order_id.as_deref(),
                c.customer_id.as_deref(),
                c.consistency.no_wait
            ),
            (Some(ClaimStatusArg::Confirmed), Some("o-1"), Some("C1"), true)
        );
        assert_eq!(parse("claims --status lost").err(), Some(ErrorKind::InvalidValue));
        assert!(
            matches!(ok("claim cl-1 --min-sequence 4"), ReceivablesCommand::Claim(c) if c.consistency.min_sequence == Some(4))
        );
        let ReceivablesCommand::Kpis(k) = ok("kpis --from 2026-09 --to 2026-11 --city SHA") else {
            panic!("not kpis")
        };
        assert_eq!(
            (k.from.as_str(), k.to.as_deref(), k.city.as_deref()),
            ("2026-09", Some("2026-11"), Some("SHA"))
        );
        assert_eq!(parse("kpis").err(), Some(ErrorKind::MissingRequiredArgument));
        for bad in ["2026-13", "2026-1", "2026-11-01", "nov"] {
            assert_eq!(
                parse(&format!("kpis --from {bad}")).err(),
                Some(ErrorKind::ValueValidation),
                "{bad}"
            );
        }
    }

    /// A receivables service that keeps the import batches and claim requests it is sent and
    /// answers them. Served by hand (not through the generated trait), so it answers the methods
    /// it names only and `UNIMPLEMENTED` to every other, whatever the API grows.
    #[derive(Clone, Default)]
    struct Fake {
        batches: Arc<Mutex<Vec<pb::ImportViolationsRequest>>>,
        opened: Arc<Mutex<Vec<pb::OpenClaimRequest>>>,
        confirmed: Arc<Mutex<Vec<pb::ConfirmClaimRequest>>>,
        kpis: Arc<Mutex<Vec<pb::GetCollectionKpisRequest>>>,
    }

    /// The liability the fake computes: the invoice total, less a 500.00 deductible, plus a
    /// 30.00 admin fee.
    fn fake_liability(lines: &[pb::InvoiceLineInput]) -> pb::Liability {
        let invoice: i64 = lines
            .iter()
            .filter_map(|l| l.amount.as_ref())
            .map(|m| m.amount_fen)
            .sum();
        let repair = invoice.min(50_000);
        pb::Liability {
            invoice_total_fen: invoice,
            repair_fen: repair,
            admin_fee_fen: 3_000,
            total_fen: repair + 3_000,
            deductible_fen: 50_000,
            derivation: vec![
                format!("invoice total {invoice}"),
                format!("capped at the deductible: {repair}"),
                "admin fee 3000".into(),
            ],
            ..Default::default()
        }
    }

    impl Fake {
        fn open_claim(&self, r: pb::OpenClaimRequest) -> Result<pb::ClaimResult, Status> {
            let liability = fake_liability(&r.lines);
            self.opened.lock().unwrap().push(r);
            Ok(pb::ClaimResult {
                claim_id: "cl-1".into(),
                sequence: 30,
                events_appended: 1,
                liability: Some(liability),
                ..Default::default()
            })
        }

        /// Confirms at 530.00 CNY; another expected total is refused as the service does.
        fn confirm_claim(&self, r: pb::ConfirmClaimRequest) -> Result<pb::ClaimResult, Status> {
            let expected = r.expected_total.as_ref().map(|m| m.amount_fen);
            self.confirmed.lock().unwrap().push(r);
            if expected.is_some_and(|e| e != 53_000) {
                return Err(Status::invalid_argument(
                    "expected_total: the amount is now 530.00, not the 500.00 confirmed",
                ));
            }
            Ok(pb::ClaimResult {
                claim_id: "cl-1".into(),
                sequence: 31,
                events_appended: 2,
                charge_booking_id: "b-claim-1".into(),
                liability: Some(pb::Liability {
                    total_fen: 53_000,
                    derivation: vec!["total 53000".into()],
                    ..Default::default()
                }),
            })
        }

        fn collection_kpis(&self, r: pb::GetCollectionKpisRequest) -> Result<pb::GetCollectionKpisResponse, Status> {
            self.kpis.lock().unwrap().push(r);
            Ok(pb::GetCollectionKpisResponse {
                kpis: vec![
                    pb::CollectionKpi {
                        city: "SHA".into(),
                        month: "2026-11".into(),
                        charges: 8,
                        billed_fen: 400_000,
                        recovered_fen: 350_200,
                        recovery_rate_bp: 8755,
                        recovered_charges: 6,
                        mean_days_to_recover: 12.25,
                    },
                    pb::CollectionKpi {
                        city: "SHA".into(),
                        month: "2026-12".into(),
                        ..Default::default()
                    },
                ],
            })
        }

        /// The first import counts every record new, later ones duplicates; a record without a
        /// plate is refused, naming its place in the batch as the service does.
        async fn import(
            &self,
            r: Request<Streaming<pb::ImportViolationsRequest>>,
        ) -> Result<Response<pb::ImportSummary>, Status> {
            let mut stream = r.into_inner();
            let mut summary = pb::ImportSummary::default();
            let seen = self.batches.lock().unwrap().len();
            while let Some(batch) = stream.message().await? {
                for (i, record) in batch.records.iter().enumerate() {
                    summary.received += 1;
                    if record.plate.is_empty() {
                        summary.rejected.push(pb::Rejection {
                            line: record.line,
                            field: format!("records[{i}].plate"),
                            reason: "required".into(),
                        });
                    } else if seen > 0 {
                        summary.duplicates += 1;
                    } else {
                        summary.new += 1;
                        summary.exceptions += 1;
                    }
                }
                summary.sequence += 10;
                self.batches.lock().unwrap().push(batch);
            }
            Ok(Response::new(summary))
        }
    }

    struct ImportMethod(Fake);

    impl tonic::server::ClientStreamingService<pb::ImportViolationsRequest> for ImportMethod {
        type Response = pb::ImportSummary;
        type Future = tonic::codegen::BoxFuture<Response<pb::ImportSummary>, Status>;

        fn call(&mut self, r: Request<Streaming<pb::ImportViolationsRequest>>) -> Self::Future {
            let fake = self.0.clone();
            Box::pin(async move { fake.import(r).await })
        }
    }

    /// One unary method of the fake: the request to the fake's answer.
    struct UnaryMethod<Req, Resp>(Fake, fn(&Fake, Req) -> Result<Resp, Status>);

    impl<Req: Send + 'static, Resp: Send + 'static> tonic::codegen::Service<Request<Req>> for UnaryMethod<Req, Resp> {
        type Response = Response<Resp>;
        type Error = Status;
        type Future = tonic::codegen::BoxFuture<Response<Resp>, Status>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Status>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, r: Request<Req>) -> Self::Future {
            let answer = (self.1)(&self.0, r.into_inner()).map(Response::new);
            Box::pin(async move { answer })
        }
    }

    fn grpc<T, U>() -> tonic::server::Grpc<tonic_prost::ProstCodec<T, U>>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
    {
        tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
    }

    impl tonic::server::NamedService for Fake {
        const NAME: &'static str = "rentops.receivables.v1.ReceivablesService";
    }

    impl tonic::codegen::Service<tonic::codegen::http::Request<tonic::body::Body>> for Fake {
        type Response = tonic::codegen::http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: tonic::codegen::http::Request<tonic::body::Body>) -> Self::Future {
            let fake = self.clone();
            Box::pin(async move {
                let method = req.uri().path().rsplit('/').next().unwrap_or_default().to_owned();
                Ok(match method.as_str() {
                    "ImportViolations" => grpc().client_streaming(ImportMethod(fake), req).await,
                    "OpenClaim" => grpc().unary(UnaryMethod(fake, Fake::open_claim), req).await,
                    "ConfirmClaim" => grpc().unary(UnaryMethod(fake, Fake::confirm_claim), req).await,
                    "GetCollectionKpis" => grpc().unary(UnaryMethod(fake, Fake::collection_kpis), req).await,
                    _ => Status::unimplemented("not in the fake").into_http(),
                })
            })
        }
    }

    async fn serve(fake: Fake) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(fake)
                .serve_with_incoming(incoming),
        );
        format!("http://{addr}")
    }

    fn invocation() -> Invocation {
        Invocation {
            ctx: Context::new(None, Some("li".into()), None),
            times: Times::new(Zone::China, true),
            printer: Printer { json: true },
            ryw: Default::default(),
        }
    }

    #[tokio::test]
    async fn an_import_streams_batches_with_ids_from_the_file_and_a_rerun_sends_the_same() {
        let dir = std::env::temp_dir().join(format!("rentops-cli-import-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jtgl-1103.csv");
        std::fs::write(
            &file,
            "hphm,date,address,code,money,fen\n\
             沪AD00001,2026-11-03 08:15:00,世纪大道,1039,200,3\n\
             沪AD00002,2026-11-03 09:15:00,世纪大道,1039,200.50,0\n\
             沪AD00003,2026-11-03 10:15:00,世纪大道,1039,1,000.00,0\n\
             ,2026-11-03 11:15:00,世纪大道,1039,50,0\n",
        )
        .unwrap();
        let fake = Fake::default();
        let addr = serve(fake.clone()).await;
        let args = |line: &str| match ok(&format!("import {} {line}", file.display())) {
            ReceivablesCommand::Import(i) => i,
            _ => panic!("not import"),
        };
        let inv = invocation();
        let out = import(
            &addr,
            Duration::from_secs(5),
            &args("--vendor jtgl --batch 2"),
            &inv,
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (
                &json["received"],
                &json["new"],
                &json["exceptions"],
                &json["not_sent"],
                &json["sequence"]
            ),
            (
                &serde_json::json!(3),
                &serde_json::json!(2),
                &serde_json::json!(2),
                &serde_json::json!(1),
                &serde_json::json!(20)
            )
        );
        // One rejection of the CLI's (not sent) and one of the service's, by line.
        assert_eq!(
            json["rejected"],
            serde_json::json!([
                {"line": 4, "field": "record", "reason": "has 7 fields where the header has 6: a value with the delimiter in it needs quotes", "checked_by": "cli"},
                {"line": 5, "field": "plate", "reason": "required", "checked_by": "service"},
            ])
        );
        assert_eq!(inv.ryw.written.get(), Some(20));
        let first: Vec<(String, usize)> = fake
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(|b| (b.context.as_ref().unwrap().request_id.clone(), b.records.len()))
            .collect();
        assert_eq!(first.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [2, 1]);
        let sent = fake.batches.lock().unwrap()[0].clone();
        let ctx = sent.context.unwrap();
        assert_eq!(ctx.actor, "li");
        assert_eq!(
            (
                sent.records[0].line,
                sent.records[0].source.as_str(),
                sent.records[1].fine.as_ref().unwrap().amount_fen
            ),
            (2, "jtgl-1103.csv", 20_050)
        );

        // The same file again: the same request ids, batch by batch.
        let out = import(
            &addr,
            Duration::from_secs(5),
            &args("--vendor jtgl --batch 2"),
            &invocation(),
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["duplicates"], serde_json::json!(2));
        let again: Vec<String> = fake.batches.lock().unwrap()[2..]
            .iter()
            .map(|b| b.context.as_ref().unwrap().request_id.clone())
            .collect();
        assert_eq!(again, first.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());

        // A dry run sends nothing.
        let out = import(
            "http://127.0.0.1:1",
            Duration::from_secs(1),
            &args("--vendor jtgl --dry-run"),
            &invocation(),
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (&json["records"], &json["dry_run"]),
            (&serde_json::json!(3), &serde_json::json!(true))
        );
        assert_eq!(fake.batches.lock().unwrap().len(), 4);

        // A header the mapping cannot read stops before anything is sent.
        let err = import(
            &addr,
            Duration::from_secs(1),
            &args("--vendor vendor-b"),
            &invocation(),
            None,
        )
        .await
        .unwrap_err();
        assert!(err.report().contains("plateNumber"), "{}", err.report());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_claim_is_opened_and_confirmed_and_the_kpis_wait_for_the_last_command() {
        let fake = Fake::default();
        let addr = serve(fake.clone()).await;
        let inv = invocation();
        let cmd = ok("claim-open o-1 --damage scratch --line parts:400:bumper:INV-7 --line labour:300:fitting");
        let out = run(&addr, Duration::from_secs(5), &cmd, &inv, None).await.unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (&json["claim_id"], &json["sequence"], &json["liability"]["total_fen"]),
            (
                &serde_json::json!("cl-1"),
                &serde_json::json!(30),
                &serde_json::json!(53_000)
            )
        );
        assert_eq!(json["liability"]["derivation"][1], "capped at the deductible: 50000");
        assert_eq!(inv.ryw.written.get(), Some(30));
        let sent = fake.opened.lock().unwrap()[0].clone();
        assert_eq!(
            (
                sent.context.unwrap().actor.as_str(),
                sent.order_id.as_str(),
                sent.lines.len()
            ),
            ("li", "o-1", 2)
        );

        // Confirmed at what finance saw; a stale total is refused, and the error says why.
        let inv = invocation();
        let out = run(
            &addr,
            Duration::from_secs(5),
            &ok("claim-confirm cl-1 --expected 530"),
            &inv,
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (&json["charge_booking_id"], &json["liability"]["total_fen"]),
            (&serde_json::json!("b-claim-1"), &serde_json::json!(53_000))
        );
        assert_eq!(inv.ryw.written.get(), Some(31));
        let err = run(
            &addr,
            Duration::from_secs(5),
            &ok("claim-confirm cl-1 --expected 500"),
            &invocation(),
            None,
        )
        .await
        .unwrap_err();
        assert!(
            err.report().contains("INVALID_ARGUMENT: expected_total"),
            "{}",
            err.report()
        );
        assert_eq!(
            fake.confirmed.lock().unwrap()[1]
                .expected_total
                .as_ref()
                .map(|m| m.amount_fen),
            Some(50_000)
        );

        // The next invocation's query waits for the sequence the last command got back.
        let mut inv = invocation();
        inv.ryw.remembered = Some(31);
        let out = run(
            &addr,
            Duration::from_secs(5),
            &ok("kpis --from 2026-11 --to 2026-12 --city SHA"),
            &inv,
            None,
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["kpis"][0]["recovery_rate_bp"], 8755);
        assert_eq!(json["kpis"][1]["mean_days_to_recover"], serde_json::Value::Null);
        let asked = fake.kpis.lock().unwrap()[0].clone();
        assert_eq!(
            (
                asked.from_month.as_str(),
                asked.to_month.as_str(),
                asked.city.as_str(),
                asked.consistency.map(|c| c.min_sequence)
            ),
            ("2026-11", "2026-12", "SHA", Some(31))
        );
    }
}
