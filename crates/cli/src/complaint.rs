//! `rentops complaint …`: the complaint service's commands and queries. A case is opened with
//! what the customer said and what it is about, worked (assign, respond, investigate, wait,
//! resume, root cause), resolved with remedies, closed or reopened; `get` shows it with its SLA
//! clocks and timeline, `list` filters the cases, `analyze` and `hot-spots` read what the
//! complaints of a period say. Answers print as tables (`complaint_views.rs`), or JSON with
//! `--json`.

use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use rentops_kernel::Fen;
use rentops_proto::common::{Money, PageRequest};
use rentops_proto::complaint as pb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use time::OffsetDateTime;

use crate::admin::{self, Operation, ProjectionArgs};
use crate::args::{ConsistencyArgs, PageArgs, parse_non_empty};
use crate::commands::{Connection, Invocation, Pages};
use crate::complaint_views::{AnalysisView, CaseListView, CaseView, HotSpotsView, OpenedView, TaxonomyView};
use crate::errors::Failure;
use crate::fleet_views::FleetCommandView;
use crate::format::{parse_time, timestamp};
use crate::views::View;

#[derive(Debug, Subcommand)]
pub enum ComplaintCommand {
    /// Open a case: the channel, the customer, what it is about, the customer's words. The
    /// severity follows the service standard; every link is checked against what the service
    /// knows.
    Open(OpenArgs),
    /// Give a case to an agent.
    Assign(AssignArgs),
    /// Record the first answer to the customer (stops the first-response clock).
    Respond(RespondArgs),
    /// Start investigating (the case needs an agent).
    Investigate(CaseArg),
    /// Wait on the customer or a third party: the SLA clocks stand still until `resume`.
    Wait(WaitArgs),
    /// Go on with a waiting case.
    Resume(CaseArg),
    /// Record what caused it (a root cause code of `taxonomy`).
    RootCause(RootCauseArgs),
    /// Resolve a case with an explanation and remedies; `--waive` waives the case's violation or
    /// charge on the ledger (a supervisor's decision, acted on by receivables).
    Resolve(ResolveArgs),
    /// The customer accepts the resolution: close the case.
    Close(CaseArg),
    /// Reopen a resolved or closed case; its clocks go on from what they had spent.
    Reopen(ReopenArgs),
    /// Set another severity than the standard's (supervisor), with the reason.
    Severity(SeverityArgs),
    /// Show one case: its links, its SLA clocks now, its timeline.
    Get(GetArgs),
    /// List cases, newest first, filtered and paged.
    List(ListArgs),
    /// The categories, sub-categories (with the severity the standard gives them) and root
    /// causes.
    Taxonomy,
    /// What the complaints of a period say: cases per 1,000 orders by city, channel and model;
    /// top categories and root causes against the period before; repeat complainers and cars;
    /// SLA compliance; keywords; hot spots.
    Analyze(PeriodArgs),
    /// The hot spots raised for periods starting in a range, with their evidence briefs.
    HotSpots(PeriodArgs),
    /// SRE: empty a read model of the complaint service (every one unless --projection) and
    /// replay it from its stream's first event.
    RebuildProjection(ProjectionArgs),
    /// SRE: how far each read model of the complaint service has applied its stream.
    ProjectionStatus(ProjectionArgs),
}

impl ComplaintCommand {
    /// True for the commands that carry this invocation's request id.
    pub fn is_command(&self) -> bool {
        !matches!(
            self,
            Self::Get(_)
                | Self::List(_)
                | Self::Taxonomy
                | Self::Analyze(_)
                | Self::HotSpots(_)
                | Self::RebuildProjection(_)
                | Self::ProjectionStatus(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    Hotline,
    App,
    MiniProgram,
    Web,
    Weibo,
    Douyin,
    Xiaohongshu,
    #[value(name = "12315")]
    Regulator12315,
    PartnerOta,
}

impl ChannelArg {
    fn code(self) -> &'static str {
        match self {
            Self::Hotline => "HOTLINE",
            Self::App => "APP",
            Self::MiniProgram => "MINI_PROGRAM",
            Self::Web => "WEB",
            Self::Weibo => "WEIBO",
            Self::Douyin => "DOUYIN",
            Self::Xiaohongshu => "XIAOHONGSHU",
            Self::Regulator12315 => "REGULATOR_12315",
            Self::PartnerOta => "PARTNER_OTA",
        }
    }
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    #[arg(long, value_parser = parse_non_empty)]
    pub customer: String,
    /// A category code (`rentops complaint taxonomy`).
    #[arg(long, value_parser = parse_non_empty)]
    pub category: String,
    #[arg(long, value_parser = parse_non_empty)]
    pub sub_category: String,
    /// The customer's words.
    #[arg(long, value_parser = parse_non_empty)]
    pub text: String,
    #[arg(long)]
    pub order: Option<String>,
    #[arg(long)]
    pub vehicle: Option<String>,
    #[arg(long)]
    pub violation: Option<String>,
    #[arg(long)]
    pub claim: Option<String>,
    /// A ledger charge's booking id.
    #[arg(long)]
    pub charge: Option<String>,
    /// When the complaint came in, for cases entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub opened_at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct CaseArg {
    pub case_id: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    pub case_id: String,
    #[arg(long, value_parser = parse_non_empty)]
    pub agent: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct RespondArgs {
    pub case_id: String,
    /// What the customer was told.
    #[arg(long, value_parser = parse_non_empty)]
    pub note: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitOn {
    Customer,
    ThirdParty,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    pub case_id: String,
    #[arg(long, value_enum)]
    pub on: WaitOn,
    /// What the case waits for.
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct RootCauseArgs {
    pub case_id: String,
    #[arg(long = "cause", value_parser = parse_non_empty)]
    pub root_cause: String,
    #[arg(long)]
    pub note: Option<String>,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    pub case_id: String,
    #[arg(long, value_parser = parse_non_empty)]
    pub explanation: String,
    /// Waive the case's violation or charge: all that is open, or --waive-amount of it.
    #[arg(long)]
    pub waive: bool,
    /// Yuan (e.g. 120 or 120.50).
    #[arg(long, value_name = "YUAN", value_parser = parse_yuan, requires = "waive")]
    pub waive_amount: Option<Fen>,
    /// A voucher for the customer, in yuan.
    #[arg(long, value_name = "YUAN", value_parser = parse_yuan)]
    pub voucher: Option<Fen>,
    /// A refund to the customer, in yuan.
    #[arg(long, value_name = "YUAN", value_parser = parse_yuan)]
    pub refund: Option<Fen>,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct ReopenArgs {
    pub case_id: String,
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    P1,
    P2,
    P3,
    P4,
}

#[derive(Debug, Args)]
pub struct SeverityArgs {
    pub case_id: String,
    #[arg(long, value_enum)]
    pub severity: SeverityArg,
    #[arg(long, value_parser = parse_non_empty)]
    pub reason: String,
    /// When it happened, for work entered late [default: now].
    #[arg(long, value_parser = parse_time, value_name = "RFC3339")]
    pub at: Option<OffsetDateTime>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub case_id: String,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// open, investigating, waiting_on_customer, waiting_on_third_party, resolved, closed.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub customer: Option<String>,
    /// Only cases escalated to a supervisor.
    #[arg(long)]
    pub escalated: bool,
    /// Opened at or after (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<OffsetDateTime>,
    /// Opened before (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<OffsetDateTime>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// The period's start (RFC 3339, e.g. 2026-11-02T00:00:00+08:00).
    #[arg(long, value_parser = parse_time)]
    pub from: OffsetDateTime,
    /// Its end, excluded.
    #[arg(long, value_parser = parse_time)]
    pub to: OffsetDateTime,
    /// How many top categories, root causes and keywords (1–50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub top: Option<u32>,
    /// The fewest cases that make a repeat complainer or car [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub repeat_min: Option<u32>,
    #[command(flatten)]
    pub consistency: ConsistencyArgs,
}

/// Yuan typed exactly into fen, more than zero.
fn parse_yuan(s: &str) -> Result<Fen, String> {
    let f = Fen::parse_yuan(s.trim()).map_err(|e| format!("'{s}' is not an amount in yuan: {e}"))?;
    if f <= Fen::ZERO {
        return Err("must be more than zero".into());
    }
    Ok(f)
}

fn money(f: Fen) -> Money {
    Money {
        amount_fen: f.fen(),
        currency: "CNY".to_owned(),
    }
}

fn severity(s: SeverityArg) -> &'static str {
    match s {
        SeverityArg::P1 => "P1",
        SeverityArg::P2 => "P2",
        SeverityArg::P3 => "P3",
        SeverityArg::P4 => "P4",
    }
}

type Client = ComplaintServiceClient<Connection>;

async fn connect(addr: &str, timeout: Duration) -> Result<Client, Failure> {
    Ok(ComplaintServiceClient::new(
        crate::commands::connect("complaint", addr, timeout).await?,
    ))
}

fn render<V: View>(inv: &Invocation, view: &V) -> Result<String, Failure> {
    Ok(inv.printer.render(view)?)
}

fn done(inv: &Invocation, r: tonic::Response<rentops_proto::common::CommandResult>) -> Result<String, Failure> {
    let r = r.into_inner();
    inv.ryw.wrote(r.sequence);
    render(inv, &FleetCommandView::new(&r, &inv.ctx))
}

/// Runs one `rentops complaint` subcommand and returns the text to print.
pub async fn run(addr: &str, timeout: Duration, cmd: &ComplaintCommand, inv: &Invocation) -> Result<String, Failure> {
    match cmd {
        ComplaintCommand::RebuildProjection(a) => {
            return admin::run("complaint", addr, timeout, Operation::Rebuild, a, inv).await;
        }
        ComplaintCommand::ProjectionStatus(a) => {
            return admin::run("complaint", addr, timeout, Operation::Status, a, inv).await;
        }
        _ => {}
    }
    let mut c = connect(addr, timeout).await?;
    let ctx = inv.ctx.proto();
    match cmd {
        ComplaintCommand::RebuildProjection(_) | ComplaintCommand::ProjectionStatus(_) => {
            Err(anyhow!("not a complaint-service call").into())
        }
        ComplaintCommand::Open(a) => {
            let r = c
                .open_case(pb::OpenCaseRequest {
                    context: ctx,
                    channel: a.channel.code().to_owned(),
                    customer_id: a.customer.clone(),
                    order_id: a.order.clone().unwrap_or_default(),
                    vehicle_id: a.vehicle.clone().unwrap_or_default(),
                    violation_id: a.violation.clone().unwrap_or_default(),
                    claim_id: a.claim.clone().unwrap_or_default(),
                    charge_booking_id: a.charge.clone().unwrap_or_default(),
                    category: a.category.clone(),
                    sub_category: a.sub_category.clone(),
                    text: a.text.clone(),
                    opened_at: a.opened_at.map(timestamp),
                })
                .await?
                .into_inner();
            if let Some(res) = &r.result {
                inv.ryw.wrote(res.sequence);
            }
            render(inv, &OpenedView::new(&r, &inv.ctx))
        }
        ComplaintCommand::Assign(a) => done(
            inv,
            c.assign_case(pb::AssignCaseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                agent: a.agent.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Respond(a) => done(
            inv,
            c.record_first_response(pb::RecordFirstResponseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                note: a.note.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Investigate(a) => done(
            inv,
            c.start_investigation(pb::StartInvestigationRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Wait(a) => {
            let request = pb::WaitRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                reason: a.reason.clone(),
                at: a.at.map(timestamp),
            };
            let r = match a.on {
                WaitOn::Customer => c.wait_on_customer(request).await?,
                WaitOn::ThirdParty => c.wait_on_third_party(request).await?,
            };
            done(inv, r)
        }
        ComplaintCommand::Resume(a) => done(
            inv,
            c.resume_case(pb::ResumeCaseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::RootCause(a) => done(
            inv,
            c.set_root_cause(pb::SetRootCauseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                root_cause: a.root_cause.clone(),
                note: a.note.clone().unwrap_or_default(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Resolve(a) => {
            use pb::remedy::Remedy as R;
            let mut remedies = Vec::new();
            if a.waive {
                // The waiver names the case's own customer and violation or charge.
                let case = c
                    .get_case(pb::GetCaseRequest {
                        case_id: a.case_id.clone(),
                        consistency: inv.ryw.consistency(None, false, 0),
                    })
                    .await?
                    .into_inner();
                let links = case.links.unwrap_or_default();
                if links.violation_id.is_empty() && links.charge_booking_id.is_empty() {
                    return Err(anyhow!("--waive: case {} names no violation or charge", a.case_id).into());
                }
                remedies.push(pb::Remedy {
                    remedy: Some(R::Waive(pb::WaiveCharge {
                        customer_id: links.customer_id,
                        violation_id: links.violation_id,
                        charge_booking_id: links.charge_booking_id,
                        amount: a.waive_amount.map(money),
                    })),
                });
            }
            if let Some(v) = a.voucher {
                remedies.push(pb::Remedy {
                    remedy: Some(R::Voucher(money(v))),
                });
            }
            if let Some(v) = a.refund {
                remedies.push(pb::Remedy {
                    remedy: Some(R::Refund(money(v))),
                });
            }
            done(
                inv,
                c.resolve_case(pb::ResolveCaseRequest {
                    context: ctx,
                    case_id: a.case_id.clone(),
                    explanation: a.explanation.clone(),
                    remedies,
                    at: a.at.map(timestamp),
                })
                .await?,
            )
        }
        ComplaintCommand::Close(a) => done(
            inv,
            c.close_case(pb::CloseCaseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Reopen(a) => done(
            inv,
            c.reopen_case(pb::ReopenCaseRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                reason: a.reason.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Severity(a) => done(
            inv,
            c.override_severity(pb::OverrideSeverityRequest {
                context: ctx,
                case_id: a.case_id.clone(),
                severity: severity(a.severity).to_owned(),
                reason: a.reason.clone(),
                at: a.at.map(timestamp),
            })
            .await?,
        ),
        ComplaintCommand::Get(a) => {
            let r = c
                .get_case(pb::GetCaseRequest {
                    case_id: a.case_id.clone(),
                    consistency: inv.consistency(&a.consistency),
                })
                .await?
                .into_inner();
            render(inv, &CaseView::new(&r, inv.times))
        }
        ComplaintCommand::List(a) => {
            let mut view = CaseListView::default();
            let mut token = a.page.page_token.clone().unwrap_or_default();
            let mut pages = Pages::new();
            loop {
                let r = c
                    .list_cases(pb::ListCasesRequest {
                        status: a.status.clone().unwrap_or_default(),
                        severity: a.severity.map(severity).unwrap_or_default().to_owned(),
                        channel: a.channel.map(ChannelArg::code).unwrap_or_default().to_owned(),
                        category: a.category.clone().unwrap_or_default(),
                        agent: a.agent.clone().unwrap_or_default(),
                        customer_id: a.customer.clone().unwrap_or_default(),
                        escalated_only: a.escalated,
                        opened_from: a.from.map(timestamp),
                        opened_to: a.to.map(timestamp),
                        page: Some(PageRequest {
                            page_size: a.page.page_size.unwrap_or(0),
                            page_token: token.clone(),
                        }),
                        consistency: inv.consistency(&a.consistency),
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
        ComplaintCommand::Taxonomy => {
            let r = c.get_taxonomy(pb::GetTaxonomyRequest {}).await?.into_inner();
            render(inv, &TaxonomyView::new(&r))
        }
        ComplaintCommand::Analyze(a) => {
            let r = c
                .analyze_complaints(pb::AnalyzeComplaintsRequest {
                    period_from: Some(timestamp(a.from)),
                    period_to: Some(timestamp(a.to)),
                    top: a.top.unwrap_or(0),
                    repeat_min_cases: a.repeat_min.unwrap_or(0),
                    consistency: inv.consistency(&a.consistency),
                })
                .await?
                .into_inner();
            render(inv, &AnalysisView::new(&r, inv.times))
        }
        ComplaintCommand::HotSpots(a) => {
            let r = c
                .list_hot_spots(pb::ListHotSpotsRequest {
                    period_from: Some(timestamp(a.from)),
                    period_to: Some(timestamp(a.to)),
                    consistency: inv.consistency(&a.consistency),
                })
                .await?
                .into_inner();
            render(inv, &HotSpotsView::new(&r.hot_spots, inv.times))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser as _;

    use super::*;
    use crate::args::{Cli, Command};

    fn parse(args: &[&str]) -> Result<ComplaintCommand, clap::Error> {
        let mut all = vec!["rentops", "complaint"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.command {
            Command::Complaint(c) => c,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn a_case_opens_from_the_regulator_with_its_links() {
        let c = parse(&[
            "open",
            "--channel",
            "12315",
            "--customer",
            "C1",
            "--category",
            "billing",
            "--sub-category",
            "overcharge",
            "--text",
            "多收费",
            "--charge",
            "b-1",
        ])
        .unwrap();
        let ComplaintCommand::Open(a) = &c else { panic!("{c:?}") };
        assert_eq!(a.channel.code(), "REGULATOR_12315");
        assert_eq!(a.charge.as_deref(), Some("b-1"));
        assert!(c.is_command());
        assert!(!parse(&["list", "--escalated"]).unwrap().is_command());
    }

    #[test]
    fn amounts_are_yuan_and_a_waived_amount_needs_the_waiver() {
        let c = parse(&["resolve", "CASE", "--explanation", "ok", "--voucher", "50.5"]).unwrap();
        let ComplaintCommand::Resolve(a) = c else { panic!() };
        assert_eq!(a.voucher, Some(Fen(5050)));
        assert!(parse(&["resolve", "CASE", "--explanation", "ok", "--voucher", "0"]).is_err());
        assert!(parse(&["resolve", "CASE", "--explanation", "ok", "--waive-amount", "10"]).is_err());
        assert!(
            parse(&[
                "resolve",
                "CASE",
                "--explanation",
                "ok",
                "--waive",
                "--waive-amount",
                "10"
            ])
            .is_ok()
        );
        assert!(parse(&["wait", "CASE", "--on", "nobody", "--reason", "x"]).is_err());
    }
}
