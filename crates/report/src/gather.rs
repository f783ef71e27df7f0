//! The week from the four services' queries into a [`Week`]. Only queries, never a command; and
//! where no query answers a figure directly it is computed here from what the queries return
//! (each such figure says so where it is computed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration as StdDuration;

use anyhow::anyhow;
use rentops_kernel::Fen;
use rentops_proto::common::{self, PageRequest};
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_proto::{complaint as cpb, fleet as fpb, order as opb, receivables as rpb};
use time::{Date, Duration, OffsetDateTime};

use crate::Endpoints;
use crate::text::CHINA;
use crate::week::{
    AtRisk, CollectionWeek, ComplaintWeek, Example, ExceptionRow, FleetWeek, HotSpot, Keyword, Kpi, MonthRecovery,
    OrderWeek, Rate, Sla, Swap, Trend, ViolationWeek, Week,
};

/// The largest page every service serves.
const PAGE: u32 = 500;
/// Hires are looked at from this long before the week, for the swaps recorded in it.
const HIRE_LOOKBACK_DAYS: i64 = 30;

type Conn = rentops_proto::client::Connection;

/// What to gather.
pub struct Request<'a> {
    pub city: &'a str,
    pub monday: Date,
    /// Keywords per category, categories and root causes shown.
    pub top: u32,
    /// How long one call may take.
    pub timeout: StdDuration,
}

/// Connects to `service` at `addr`; a service that cannot be reached is named with its address.
async fn connect(service: &str, addr: &str, timeout: StdDuration) -> anyhow::Result<Conn> {
    rentops_proto::client::connect(service, addr, StdDuration::from_secs(5).min(timeout), timeout).await
}

/// A failed call, named by service, address and method.
fn failed(service: &str, addr: &str, method: &str) -> impl FnOnce(tonic::Status) -> anyhow::Error {
    let what = format!("the {service} service at {addr} refused {method}");
    move |s| anyhow!("{what}: {:?}: {}", s.code(), s.message())
}

fn page(token: String) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: PAGE,
        page_token: token,
    })
}

fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    rentops_proto::timestamp::to_timestamp(t)
}

fn from_ts(t: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
    t.and_then(|t| rentops_proto::timestamp::from_timestamp(t).ok())
}

/// The short name of a wire enum ("ES6" for VEHICLE_MODEL_ES6); '' for unspecified.
fn short(full: &str, prefix: &str) -> String {
    if full.ends_with("_UNSPECIFIED") {
        return String::new();
    }
    full.strip_prefix(prefix).unwrap_or(full).to_owned()
}

fn model_name(v: i32) -> String {
    common::VehicleModel::try_from(v).map_or_else(
        |_| format!("UNKNOWN({v})"),
        |m| short(m.as_str_name(), "VEHICLE_MODEL_"),
    )
}

/// A plate compared without its optional middle dot.
fn plate_key(p: &str) -> String {
    p.chars().filter(|c| *c != '·' && !c.is_whitespace()).collect()
}

/// The week `[monday 00:00, next monday 00:00)` in China time.
pub fn bounds(monday: Date) -> (OffsetDateTime, OffsetDateTime) {
    let from = monday.midnight().assume_offset(CHINA);
    (from, from + Duration::days(7))
}

/// Reads the whole week from the four services.
pub async fn gather(req: &Request<'_>, ep: &Endpoints) -> anyhow::Result<Week> {
    let t = req.timeout;
    // Connect to all four first, so a service that is down fails the report before any work,
    // and every service that is down is named at once.
    let (order, fleet, rx, cp) = tokio::join!(
        connect("order", &ep.order, t),
        connect("fleet", &ep.fleet, t),
        connect("receivables", &ep.receivables, t),
        connect("complaint", &ep.complaint, t),
    );
    let (order, fleet, rx, cp) = match (order, fleet, rx, cp) {
        (Ok(o), Ok(f), Ok(r), Ok(c)) => (o, f, r, c),
        (o, f, r, c) => {
            let errors: Vec<String> = [o.err(), f.err(), r.err(), c.err()]
                .into_iter()
                .flatten()
                .map(|e| format!("{e:#}"))
                .collect();
            return Err(anyhow!("{}", errors.join("; ")));
        }
    };
    let mut order = OrderServiceClient::new(order);
    let mut fleet = FleetServiceClient::new(fleet);
    let mut rx = ReceivablesServiceClient::new(rx);
    let mut cp = ComplaintServiceClient::new(cp);
    let generated_at = OffsetDateTime::now_utc();
    let (fleet_week, city_name, plates) = gather_fleet(&mut fleet, &ep.fleet, req).await?;
    let orders = gather_orders(&mut order, &mut fleet, ep, req).await?;
    let violations = gather_violations(&mut rx, &ep.receivables, req, &plates).await?;
    let collection = gather_collection(&mut rx, &ep.receivables, req).await?;
    let complaints = gather_complaints(&mut cp, &ep.complaint, req).await?;
    Ok(Week {
        city: req.city.to_owned(),
        city_name,
        monday: req.monday,
        generated_at,
        fleet: fleet_week,
        orders,
        violations,
        collection,
        complaints,
    })
}

fn kpi(r: &fpb::KpiRow) -> Kpi {
    Kpi {
        day: r.day.clone(),
        model: model_name(r.model),
        due: r.due_orders,
        fulfilled: r.fulfilled_orders,
        pending: r.pending_orders,
        fulfilment: r.fulfilment_rate,
        planned_orders: r.planned_orders,
        planned_fulfilled: r.planned_fulfilled,
        planned_fulfilment: r.planned_fulfilment_rate,
        on_rent_hours: r.on_rent_hours,
        available_hours: r.available_hours,
        idle: r.idle_rate,
        planned_on_rent_hours: r.planned_on_rent_hours,
        planned_idle: r.planned_idle_rate,
    }
}

/// Fleet's KPIs by day and by day and model; the week per model and in all is summed here from
/// the day rows (fleet answers per day only), as fleet divides: a rate of sums. Also the city's
/// name and every car's plate with its city, which the violations are told apart by.
async fn gather_fleet(
    fleet: &mut FleetServiceClient<Conn>,
    addr: &str,
    req: &Request<'_>,
) -> anyhow::Result<(FleetWeek, String, HashMap<String, String>)> {
    let sunday = req.monday + Duration::days(6);
    let city_name = match fleet
        .get_city(fpb::GetCityRequest {
            city: req.city.to_owned(),
            consistency: None,
        })
        .await
    {
        Ok(c) => c.into_inner().name,
        Err(s) if s.code() == tonic::Code::NotFound => String::new(),
        Err(s) => return Err(failed("fleet", addr, "GetCity")(s)),
    };
    let kpis = |by_model: bool| fpb::GetKpisRequest {
        city: req.city.to_owned(),
        model: 0,
        from_day: req.monday.to_string(),
        to_day: sunday.to_string(),
        consistency: None,
        by_model,
    };
    let days = fleet
        .get_kpis(kpis(false))
        .await
        .map_err(failed("fleet", addr, "GetKpis"))?
        .into_inner();
    let by_model = fleet
        .get_kpis(kpis(true))
        .await
        .map_err(failed("fleet", addr, "GetKpis (by model)"))?
        .into_inner();
    let mut days: Vec<Kpi> = days.rows.iter().map(kpi).collect();
    days.sort_by(|a, b| a.day.cmp(&b.day));
    let mut day_models: Vec<Kpi> = by_model.rows.iter().map(kpi).collect();
    day_models.sort_by(|a, b| a.day.cmp(&b.day).then_with(|| a.model.cmp(&b.model)));
    let mut per_model: BTreeMap<String, Vec<&Kpi>> = BTreeMap::new();
    for k in &day_models {
        per_model.entry(k.model.clone()).or_default().push(k);
    }
    let models = per_model
        .iter()
        .map(|(m, rows)| Kpi::sum("", m, rows.iter().copied()))
        .collect();
    let total = Kpi::sum("", "", &days);

    let mut plates = HashMap::new();
    let mut token = String::new();
    loop {
        let r = fleet
            .list_vehicles(fpb::ListVehiclesRequest {
                page: page(token),
                ..Default::default()
            })
            .await
            .map_err(failed("fleet", addr, "ListVehicles"))?
            .into_inner();
        for v in r.vehicles {
            plates.insert(plate_key(&v.plate), v.city);
        }
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    Ok((
        FleetWeek {
            days,
            models,
            day_models,
            total,
        },
        city_name,
        plates,
    ))
}

/// The orders whose pickup falls in the week (order's `ListOrders`), the ones of them fleet
/// has at risk now (`ListAtRiskOrders`, and the order's own flag), and the swaps recorded in the
/// week, read from the orders' swap lists (hires picked up up to 30 days before the week).
async fn gather_orders(
    order: &mut OrderServiceClient<Conn>,
    fleet: &mut FleetServiceClient<Conn>,
    ep: &Endpoints,
    req: &Request<'_>,
) -> anyhow::Result<OrderWeek> {
    let (from, to) = bounds(req.monday);
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let r = order
            .list_orders(opb::ListOrdersRequest {
                city: req.city.to_owned(),
                pickup_from: Some(ts(from - Duration::days(HIRE_LOOKBACK_DAYS))),
                pickup_to: Some(ts(to)),
                page: page(token),
                ..Default::default()
            })
            .await
            .map_err(failed("order", &ep.order, "ListOrders"))?
            .into_inner();
        all.extend(r.orders);
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    let in_week = |t: Option<OffsetDateTime>| t.is_some_and(|t| t >= from && t < to);
    let week: Vec<&opb::Order> = all.iter().filter(|o| in_week(from_ts(o.pickup_at.as_ref()))).collect();
    let mut status: BTreeMap<i32, u32> = BTreeMap::new();
    for o in &week {
        *status.entry(o.status).or_default() += 1;
    }
    let by_status = status
        .into_iter()
        .map(|(s, n)| {
            let name = opb::OrderStatus::try_from(s)
                .map_or_else(|_| format!("UNKNOWN({s})"), |s| short(s.as_str_name(), "ORDER_STATUS_"));
            (name, n)
        })
        .collect();
    let flagged = fleet
        .list_at_risk_orders(fpb::ListAtRiskOrdersRequest {
            city: req.city.to_owned(),
            consistency: None,
        })
        .await
        .map_err(failed("fleet", &ep.fleet, "ListAtRiskOrders"))?
        .into_inner()
        .orders;
    let flagged: HashMap<&str, &fpb::AtRiskOrder> = flagged.iter().map(|a| (a.order_id.as_str(), a)).collect();
    let at_risk = week
        .iter()
        .filter(|o| o.at_risk || flagged.contains_key(o.order_id.as_str()))
        .map(|o| {
            let f = flagged.get(o.order_id.as_str());
            AtRisk {
                order_id: o.order_id.clone(),
                pickup_at: from_ts(o.pickup_at.as_ref()),
                model: model_name(o.requested_model),
                reason: f.map_or_else(|| o.at_risk_reason.clone(), |f| f.reason.clone()),
                explanation: f.map_or_else(|| o.at_risk_explanation.clone(), |f| f.explanation.clone()),
            }
        })
        .collect();
    let mut swaps: Vec<Swap> = all
        .iter()
        .flat_map(|o| o.swaps.iter().map(move |s| (o, s)))
        .filter(|(_, s)| in_week(from_ts(s.swapped_at.as_ref())))
        .map(|(o, s)| Swap {
            order_id: o.order_id.clone(),
            at: from_ts(s.swapped_at.as_ref()),
            from_vehicle: s.broken.as_ref().map(|b| b.vehicle_id.clone()).unwrap_or_default(),
            to_vehicle: s.replacement.as_ref().map(|r| r.vehicle_id.clone()).unwrap_or_default(),
            reason: s.reason.clone(),
        })
        .collect();
    swaps.sort_by_key(|s| s.at);
    Ok(OrderWeek {
        orders: u32::try_from(week.len()).unwrap_or(u32::MAX),
        by_status,
        upgrades: u32::try_from(week.iter().filter(|o| o.upgrade).count()).unwrap_or(u32::MAX),
        at_risk,
        swaps,
    })
}

/// The violations of the week for the city (offences committed in it, however late their
/// records came in), and how far each has got: the week's hires are what the desk reviews, and
/// a record arrives days to weeks after the offence.
///
/// Receivables files an exception under no city (no hire says which), so its city is the one of
/// the fleet car that carries the plate; a plate no car carries cannot be told for any city.
/// Its `ListViolations` has no filter by the offence's day, so every record is read and those of
/// the week kept.
async fn gather_violations(
    rx: &mut ReceivablesServiceClient<Conn>,
    addr: &str,
    req: &Request<'_>,
    plates: &HashMap<String, String>,
) -> anyhow::Result<ViolationWeek> {
    let (from, to) = bounds(req.monday);
    let mut out = ViolationWeek::default();
    let mut renter_steps = Vec::new();
    let mut token = String::new();
    let mut seen = HashSet::new();
    loop {
        let r = rx
            .list_violations(rpb::ListViolationsRequest {
                page: page(token),
                ..Default::default()
            })
            .await
            .map_err(failed("receivables", addr, "ListViolations"))?
            .into_inner();
        for v in &r.violations {
            let Some(record) = &v.record else { continue };
            let offence = from_ts(record.offence_at.as_ref());
            if !offence.is_some_and(|t| t >= from && t < to) || !seen.insert(v.violation_id.clone()) {
                continue;
            }
            let matched_city = v.r#match.as_ref().map(|m| m.city.as_str()).filter(|c| !c.is_empty());
            let city = matched_city.or_else(|| plates.get(&plate_key(&record.plate)).map(String::as_str));
            match city {
                Some(c) if c == req.city => {}
                Some(_) => continue,
                None => {
                    out.unattributed += 1;
                    continue;
                }
            }
            out.received += 1;
            out.fines = out.fines.checked_add(Fen(record.fine_fen)).unwrap_or(out.fines);
            let status = rpb::ViolationStatus::try_from(v.status).unwrap_or(rpb::ViolationStatus::Unspecified);
            let by_hand = v.r#match.as_ref().is_some_and(|m| !m.resolved_by.is_empty());
            if status == rpb::ViolationStatus::Exception || status == rpb::ViolationStatus::Voided || by_hand {
                out.sent_to_exceptions += 1;
            }
            if status == rpb::ViolationStatus::Handled {
                out.handled += 1;
            }
            if status == rpb::ViolationStatus::Exception {
                out.still_in_exceptions += 1;
                out.exceptions.push(ExceptionRow {
                    violation_id: v.violation_id.clone(),
                    plate: record.plate.clone(),
                    offence_at: from_ts(record.offence_at.as_ref()),
                    place: record.place.clone(),
                    reason: if v.unmatched_detail.is_empty() {
                        rpb::UnmatchedReason::try_from(v.unmatched_reason)
                            .map_or_else(|_| String::new(), |r| short(r.as_str_name(), "UNMATCHED_REASON_"))
                    } else {
                        v.unmatched_detail.clone()
                    },
                    fine: Fen(record.fine_fen),
                });
            }
            if let Some(m) = &v.r#match {
                match rpb::Responsibility::try_from(m.responsibility) {
                    Ok(rpb::Responsibility::Renter) => {
                        if m.resolved_by.is_empty() {
                            out.matched_to_renter += 1;
                        }
                        renter_steps.push(v.last_step);
                    }
                    Ok(rpb::Responsibility::Driver | rpb::Responsibility::Staff | rpb::Responsibility::Company) => {
                        out.company += 1;
                    }
                    _ => {}
                }
            }
        }
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    // The funnel: how many of the renters' violations got at least as far as each step.
    let steps = [
        (rpb::LadderStep::Notice, "notice"),
        (rpb::LadderStep::Reminder, "reminder"),
        (rpb::LadderStep::FinalReminder, "final reminder"),
        (rpb::LadderStep::Deadline, "deadline"),
        (rpb::LadderStep::Escalation, "escalation call"),
        (rpb::LadderStep::Charge, "charged"),
        (rpb::LadderStep::Collections, "collections"),
    ];
    out.funnel = std::iter::once((
        "matched to a renter".to_owned(),
        u32::try_from(renter_steps.len()).unwrap_or(u32::MAX),
    ))
    .chain(steps.iter().map(|(step, name)| {
        let n = renter_steps.iter().filter(|s| **s >= *step as i32).count();
        ((*name).to_owned(), u32::try_from(n).unwrap_or(u32::MAX))
    }))
    .collect();
    out.exceptions.sort_by_key(|e| e.offence_at);
    Ok(out)
}

/// Recovery per month of the charge (`GetCollectionKpis` counts by month, not by day) for the
/// month(s) the week falls in, and the ageing as of the week's Sunday (`GetAging`).
async fn gather_collection(
    rx: &mut ReceivablesServiceClient<Conn>,
    addr: &str,
    req: &Request<'_>,
) -> anyhow::Result<CollectionWeek> {
    let sunday = req.monday + Duration::days(6);
    let month = |d: Date| format!("{}-{:02}", d.year(), u8::from(d.month()));
    let kpis = rx
        .get_collection_kpis(rpb::GetCollectionKpisRequest {
            from_month: month(req.monday),
            to_month: month(sunday),
            city: req.city.to_owned(),
            consistency: None,
        })
        .await
        .map_err(failed("receivables", addr, "GetCollectionKpis"))?
        .into_inner();
    let mut months: Vec<MonthRecovery> = kpis
        .kpis
        .iter()
        .filter(|k| k.city.is_empty() || k.city == req.city)
        .map(|k| MonthRecovery {
            month: k.month.clone(),
            charges: k.charges,
            billed: Fen(k.billed_fen),
            recovered: Fen(k.recovered_fen),
            recovery_rate: (k.billed_fen > 0).then(|| f64::from(k.recovery_rate_bp) / 10_000.0),
            recovered_charges: k.recovered_charges,
            mean_days_to_recover: (k.recovered_charges > 0).then_some(k.mean_days_to_recover),
        })
        .collect();
    // A month without any charge is still a month of the week: shown, with no rate.
    for m in [month(req.monday), month(sunday)] {
        if !months.iter().any(|k| k.month == m) {
            months.push(MonthRecovery {
                month: m,
                charges: 0,
                billed: Fen::ZERO,
                recovered: Fen::ZERO,
                recovery_rate: None,
                recovered_charges: 0,
                mean_days_to_recover: None,
            });
        }
    }
    months.sort_by(|a, b| a.month.cmp(&b.month));
    let aging = rx
        .get_aging(rpb::GetAgingRequest {
            as_of: sunday.to_string(),
            city: req.city.to_owned(),
            consistency: None,
        })
        .await
        .map_err(failed("receivables", addr, "GetAging"))?
        .into_inner();
    let b = aging
        .cities
        .iter()
        .find(|c| c.city == req.city)
        .and_then(|c| c.buckets)
        .unwrap_or_default();
    Ok(CollectionWeek {
        months,
        aging_as_of: sunday.to_string(),
        aging: vec![
            ("current".to_owned(), Fen(b.current_fen)),
            ("1–30 days".to_owned(), Fen(b.days_1_30_fen)),
            ("31–60 days".to_owned(), Fen(b.days_31_60_fen)),
            ("61–90 days".to_owned(), Fen(b.days_61_90_fen)),
            ("over 90 days".to_owned(), Fen(b.over_90_fen)),
        ],
        aging_total: Fen(b.total_fen),
    })
}

fn rate(r: &cpb::Rate) -> Rate {
    Rate {
        value: r.value.clone(),
        cases: r.cases,
        orders: r.orders,
        per_thousand: r.per_thousand,
    }
}

fn trend(t: &cpb::Trend) -> Trend {
    Trend {
        value: t.value.clone(),
        current: t.current,
        previous: t.previous,
        change_percent: t.change_percent,
    }
}

/// The example case ids of a hot spot's brief ("examples: a, b").
fn example_ids(brief: &[String]) -> Vec<String> {
    brief
        .iter()
        .filter_map(|l| l.strip_prefix("examples:"))
        .flat_map(|l| l.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Complaint's analysis of the week (`AnalyzeComplaints`: the rate per 1,000 orders per city,
/// model and channel, categories, keywords, hot spots, SLA), and the customers' words of each
/// hot spot's example cases (`GetCase`).
async fn gather_complaints(
    cp: &mut ComplaintServiceClient<Conn>,
    addr: &str,
    req: &Request<'_>,
) -> anyhow::Result<ComplaintWeek> {
    let (from, to) = bounds(req.monday);
    let a = cp
        .analyze_complaints(cpb::AnalyzeComplaintsRequest {
            period_from: Some(ts(from)),
            period_to: Some(ts(to)),
            top: req.top,
            repeat_min_cases: 0,
            consistency: None,
        })
        .await
        .map_err(failed("complaint", addr, "AnalyzeComplaints"))?
        .into_inner();
    let cities: Vec<Rate> = a.by_city.iter().map(rate).collect();
    let city_rate = cities.iter().find(|r| r.value == req.city).cloned().unwrap_or(Rate {
        value: req.city.to_owned(),
        ..Rate::default()
    });
    let mut hot_spots = Vec::new();
    for h in &a.hot_spots {
        let mut examples = Vec::new();
        for id in example_ids(&h.brief) {
            let case = cp
                .get_case(cpb::GetCaseRequest {
                    case_id: id.clone(),
                    consistency: None,
                })
                .await;
            match case {
                Ok(c) => examples.push(Example {
                    case_id: id,
                    text: c.into_inner().text,
                }),
                // A brief's example that is gone is left out, not a failed report.
                Err(s) if s.code() == tonic::Code::NotFound => {}
                Err(s) => return Err(failed("complaint", addr, "GetCase")(s)),
            }
        }
        hot_spots.push(HotSpot {
            category: h.category.clone(),
            current: h.current,
            previous: h.previous,
            rise_percent: h.rise_percent,
            brief: h.brief.clone(),
            examples,
        });
    }
    let s = a.sla.unwrap_or_default();
    let city_sla = city_sla(cp, addr, req, from, to).await?;
    Ok(ComplaintWeek {
        city_sla,
        city_rate,
        cities,
        models: a.by_model.iter().map(rate).collect(),
        channels: a.by_channel.iter().map(rate).collect(),
        categories: a.categories.iter().map(trend).collect(),
        root_causes: a.root_causes.iter().map(trend).collect(),
        keywords: a
            .keywords
            .iter()
            .map(|k| {
                (
                    k.category.clone(),
                    k.keywords
                        .iter()
                        .map(|w| Keyword {
                            term: w.term.clone(),
                            cases: w.cases,
                        })
                        .collect(),
                )
            })
            .collect(),
        hot_spots,
        sla: Sla {
            cases: s.cases,
            escalated: s.escalated,
            escalation_rate: s.escalation_rate,
            first_response_stopped: s.first_response_stopped,
            first_response_met: s.first_response_met,
            first_response_compliance: s.first_response_compliance,
            resolution_stopped: s.resolution_stopped,
            resolution_met: s.resolution_met,
            resolution_compliance: s.resolution_compliance,
        },
    })
}

/// The service standard over the city's cases of the week. The analysis counts every city's
/// cases together and `ListCases` does not say a case's city, so each case of the week is read
/// (`GetCase`: its city and its clocks as of now) and counted as the analysis counts: of the
/// clocks that have stopped (a first response given; a case resolved or closed), those within
/// target.
async fn city_sla(
    cp: &mut ComplaintServiceClient<Conn>,
    addr: &str,
    req: &Request<'_>,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<Sla> {
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let r = cp
            .list_cases(cpb::ListCasesRequest {
                opened_from: Some(ts(from)),
                opened_to: Some(ts(to)),
                page: page(token),
                ..Default::default()
            })
            .await
            .map_err(failed("complaint", addr, "ListCases"))?
            .into_inner();
        ids.extend(r.cases.into_iter().map(|c| c.case_id));
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    let mut s = Sla::default();
    for id in ids {
        let c = match cp
            .get_case(cpb::GetCaseRequest {
                case_id: id,
                consistency: None,
            })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(e) if e.code() == tonic::Code::NotFound => continue,
            Err(e) => return Err(failed("complaint", addr, "GetCase")(e)),
        };
        // Cases opened exactly at the week's end belong to the next one.
        let opened = from_ts(c.opened_at.as_ref());
        if c.city != req.city || !opened.is_some_and(|t| t >= from && t < to) {
            continue;
        }
        s.cases += 1;
        s.escalated += i64::from(c.escalated);
        let met = |kind: cpb::SlaClock| c.clocks.iter().any(|k| k.clock == kind as i32 && k.state == "met");
        if c.first_response_at.is_some() {
            s.first_response_stopped += 1;
            s.first_response_met += i64::from(met(cpb::SlaClock::FirstResponse));
        }
        if matches!(c.status.as_str(), "RESOLVED" | "CLOSED") {
            s.resolution_stopped += 1;
            s.resolution_met += i64::from(met(cpb::SlaClock::Resolution));
        }
    }
    let share = |part: i64, whole: i64| crate::week::ratio(part as f64, whole as f64);
    s.escalation_rate = share(s.escalated, s.cases);
    s.first_response_compliance = share(s.first_response_met, s.first_response_stopped);
    s.resolution_compliance = share(s.resolution_met, s.resolution_stopped);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_run_monday_to_monday_in_china_time() {
        let (from, to) = bounds(time::macros::date!(2026 - 12 - 07));
        assert_eq!(from, time::macros::datetime!(2026-12-06 16:00 UTC));
        assert_eq!(to - from, Duration::days(7));
    }

    #[test]
    fn brief_examples_are_read_back() {
        let brief = vec!["keywords: 脏 (3)".to_owned(), "examples: c-1, c-2,".to_owned()];
        assert_eq!(example_ids(&brief), vec!["c-1", "c-2"]);
        assert_eq!(plate_key("沪A·D 12345"), "沪AD12345");
        assert_eq!(model_name(common::VehicleModel::Es6 as i32), "ES6");
        assert_eq!(model_name(0), "");
    }
}
