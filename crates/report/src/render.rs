//! `Week` → one self-contained HTML page: pure, no I/O, so it is tested on weeks built by hand.
//!
//! Self-contained means nothing is fetched: the styles are inline, the charts are inline SVG
//! (`svg`), and a Content-Security-Policy of `default-src 'none'` makes the browser refuse (and
//! log) any resource that would still slip in. The one script is the check CI's headless browser
//! runs: it logs a console error for an empty chart or a loaded resource and leaves its verdict
//! in `data-report-check` on the root element. The charts do not need it.

use std::fmt::Write as _;

use time::Duration;

use crate::svg::{self, Scale, Series};
use crate::text::{attr, change, china_time, esc, per_thousand, rate, yuan};
use crate::week::{Kpi, Week};

/// What the page says when a chart would have no figure to show.
pub const NO_FIGURES: &str = "No figures for this week.";

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI','Noto Sans CJK SC','PingFang SC',sans-serif;\
color:#1f2328;margin:24px auto;max-width:1000px;padding:0 16px}h1{font-size:22px;margin:0 0 4px}\
h2{font-size:17px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}h3{font-size:15px}\
.sub{color:#59636e}.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}\
.tile{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;min-width:130px}\
.tile b{display:block;font-size:20px}.tile span{color:#59636e;font-size:12px}\
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f8fa}\
svg.chart{display:block;margin:8px 0 16px;max-width:100%;height:auto}\
svg .title{font-size:13px;font-weight:600}svg text{font-size:11px;fill:#1f2328}\
svg .grid{stroke:#eaeef2}svg .axis{stroke:#59636e}svg .none{fill:#59636e;font-size:13px}\
.nofig{color:#59636e;font-style:italic}.note{color:#59636e;font-size:12px}blockquote{margin:4px 0 4px 12px;\
padding-left:8px;border-left:3px solid #d0d7de}";

const CHECK: &str = "(function(){var charts=document.querySelectorAll('svg.chart'),empty=[];\
for(var i=0;i<charts.length;i++){var m=charts[i].querySelectorAll('.mark'),shown=0;\
for(var j=0;j<m.length;j++){var b=m[j].getBBox();if(b.width>0&&b.height>0)shown++;}\
if(!shown)empty.push(charts[i].id);}\
var loaded=performance.getEntriesByType('resource').length;\
if(empty.length)console.error('rentops report: empty chart: '+empty.join(', '));\
if(loaded)console.error('rentops report: '+loaded+' resource(s) loaded');\
document.documentElement.setAttribute('data-report-check',(empty.length||loaded)?'failed':'ok charts='+charts.length);})();";

/// The whole page.
pub fn render(w: &Week) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let sunday = w.monday + Duration::days(6);
    let city = if w.city_name.is_empty() {
        w.city.clone()
    } else {
        format!("{} {}", w.city, w.city_name)
    };
    let title = format!("rentops weekly report: {city}, {} to {sunday}", w.monday);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\
         <h1>{}</h1><p class=\"sub\">Week from Monday {} 00:00 to Monday {} 00:00, China time (+08:00). \
         Figures as the services showed them at {} (China time).</p>",
        esc(&title),
        esc(&title),
        w.monday,
        w.monday + Duration::days(7),
        esc(&china_time(Some(w.generated_at)))
    );
    headline(&mut out, w);
    for section in [fleet, orders, violations, collection, complaints] {
        section(&mut out, w);
        out.push_str("</section>");
    }
    let _ = writeln!(out, "<script>{CHECK}</script></body></html>");
    out
}

/// The headline figures, also what `run` prints.
pub fn headline_figures(w: &Week) -> Vec<(&'static str, String)> {
    let recovery = recovery_total(w);
    vec![
        ("fulfilment", rate(w.fleet.total.fulfilment)),
        ("planned fulfilment", rate(w.fleet.total.planned_fulfilment)),
        ("idle", rate(w.fleet.total.idle)),
        ("orders", w.orders.orders.to_string()),
        ("at risk", w.orders.at_risk.len().to_string()),
        ("swaps", w.orders.swaps.len().to_string()),
        ("violations", w.violations.received.to_string()),
        ("to exceptions", w.violations.sent_to_exceptions.to_string()),
        ("recovery", rate(recovery)),
        ("open at week's end", format!("{} CNY", yuan(w.collection.aging_total))),
        (
            "complaints per 1,000 orders",
            per_thousand(w.complaints.city_rate.per_thousand),
        ),
        ("hot spots", w.complaints.hot_spots.len().to_string()),
        ("resolution SLA met", rate(w.complaints.city_sla.resolution_compliance)),
    ]
}

/// Recovery over the week's month(s): recovered of billed, summed, then divided.
fn recovery_total(w: &Week) -> Option<f64> {
    let billed: i64 = w.collection.months.iter().map(|m| m.billed.0).sum();
    let recovered: i64 = w.collection.months.iter().map(|m| m.recovered.0).sum();
    crate::week::ratio(recovered as f64, billed as f64)
}

fn headline(out: &mut String, w: &Week) {
    out.push_str("<div class=\"tiles\" id=\"headline\">");
    for (name, value) in headline_figures(w) {
        let _ = write!(
            out,
            "<div class=\"tile\" data-figure=\"{}\"><b>{}</b><span>{}</span></div>",
            attr(name),
            esc(&value),
            esc(name)
        );
    }
    out.push_str("</div>");
}

/// A chart, or the note that there is nothing to chart.
fn chart_or_note(out: &mut String, series: &[Series], draw: impl FnOnce() -> String) {
    if svg::has_figures(series) {
        out.push_str(&draw());
    } else {
        let _ = write!(out, "<p class=\"nofig\">{NO_FIGURES}</p>");
    }
}

fn table(out: &mut String, id: &str, head: &[&str], rows: &[Vec<String>], numeric_from: usize) {
    let _ = write!(out, "<table id=\"{}\"><thead><tr>", attr(id));
    for (i, h) in head.iter().enumerate() {
        let class = if i >= numeric_from { " class=\"n\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if i >= numeric_from { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn fleet(out: &mut String, w: &Week) {
    let f = &w.fleet;
    out.push_str("<section id=\"fleet\"><h2>Fulfilment and idle rate, planned against actual</h2>");
    let days: Vec<String> = f.days.iter().map(|d| short_day(&d.day)).collect();
    let fulfil = [
        Series {
            name: "actual".into(),
            values: f.days.iter().map(|d| d.fulfilment).collect(),
        },
        Series {
            name: "planned".into(),
            values: f.days.iter().map(|d| d.planned_fulfilment).collect(),
        },
    ];
    chart_or_note(out, &fulfil, || {
        svg::line_chart(
            "chart-fulfilment-day",
            "Fulfilment rate by day",
            &days,
            &fulfil,
            Scale::Percent,
        )
    });
    let idle = [
        Series {
            name: "actual".into(),
            values: f.days.iter().map(|d| d.idle).collect(),
        },
        Series {
            name: "planned".into(),
            values: f.days.iter().map(|d| d.planned_idle).collect(),
        },
    ];
    chart_or_note(out, &idle, || {
        svg::line_chart("chart-idle-day", "Idle rate by day", &days, &idle, Scale::Percent)
    });
    let models: Vec<String> = f.models.iter().map(|m| m.model.clone()).collect();
    let by_model = [
        Series {
            name: "fulfilment".into(),
            values: f.models.iter().map(|m| m.fulfilment).collect(),
        },
        Series {
            name: "planned fulfilment".into(),
            values: f.models.iter().map(|m| m.planned_fulfilment).collect(),
        },
        Series {
            name: "idle".into(),
            values: f.models.iter().map(|m| m.idle).collect(),
        },
        Series {
            name: "planned idle".into(),
            values: f.models.iter().map(|m| m.planned_idle).collect(),
        },
    ];
    chart_or_note(out, &by_model, || {
        svg::bar_chart("chart-model", "The week by model", &models, &by_model, Scale::Percent)
    });
    let head = [
        "day",
        "model",
        "due",
        "fulfilled",
        "pending",
        "fulfilment",
        "planned",
        "planned fulfilment",
        "on-rent h",
        "available h",
        "idle",
        "planned idle",
    ];
    let row = |k: &Kpi| {
        vec![
            if k.day.is_empty() {
                "week".to_owned()
            } else {
                k.day.clone()
            },
            if k.model.is_empty() {
                "all".to_owned()
            } else {
                k.model.clone()
            },
            k.due.to_string(),
            k.fulfilled.to_string(),
            k.pending.to_string(),
            rate(k.fulfilment),
            k.planned_orders.to_string(),
            rate(k.planned_fulfilment),
            format!("{:.1}", k.on_rent_hours),
            format!("{:.1}", k.available_hours),
            rate(k.idle),
            rate(k.planned_idle),
        ]
    };
    let mut rows: Vec<Vec<String>> = f.days.iter().map(row).collect();
    rows.push(row(&f.total));
    table(out, "table-fleet-days", &head, &rows, 2);
    out.push_str("<h3>By day and model</h3>");
    let mut rows: Vec<Vec<String>> = f.day_models.iter().map(row).collect();
    rows.extend(f.models.iter().map(row));
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"nofig\">{NO_FIGURES}</p>");
    } else {
        table(out, "table-fleet-models", &head, &rows, 2);
    }
    out.push_str(
        "<p class=\"note\">Fulfilment: orders handed over at most 30 minutes after pickup with the model asked \
         for or an allowed upgrade, of the confirmed orders due (customer cancellations aside); pending orders \
         count neither way. Planned: the current plan's figures. — means nothing to divide by.</p>",
    );
}

/// "2026-12-07" → "Mon 12-07".
fn short_day(day: &str) -> String {
    let parsed = time::Date::parse(day, time::macros::format_description!("[year]-[month]-[day]"));
    match parsed {
        Ok(d) => format!("{} {}", &d.weekday().to_string()[..3], &day[5..]),
        Err(_) => day.to_owned(),
    }
}

fn orders(out: &mut String, w: &Week) {
    let o = &w.orders;
    out.push_str("<section id=\"orders\"><h2>Orders at risk and swaps</h2>");
    let _ = write!(
        out,
        "<p>{} orders with pickup in the week; {} upgrades; {} at risk; {} swaps.</p>",
        o.orders,
        o.upgrades,
        o.at_risk.len(),
        o.swaps.len()
    );
    let rows: Vec<Vec<String>> = o
        .by_status
        .iter()
        .map(|(s, n)| vec![s.clone(), n.to_string()])
        .collect();
    if !rows.is_empty() {
        table(out, "table-order-status", &["status", "orders"], &rows, 1);
    }
    out.push_str("<h3>At risk (no car can serve them)</h3>");
    if o.at_risk.is_empty() {
        out.push_str("<p class=\"nofig\">No order of the week is at risk.</p>");
    } else {
        let rows: Vec<Vec<String>> = o
            .at_risk
            .iter()
            .map(|a| {
                vec![
                    a.order_id.clone(),
                    china_time(a.pickup_at),
                    a.model.clone(),
                    a.reason.clone(),
                    a.explanation.clone(),
                ]
            })
            .collect();
        table(
            out,
            "table-at-risk",
            &["order", "pickup", "model", "reason", "explanation"],
            &rows,
            usize::MAX,
        );
    }
    out.push_str("<h3>Swaps (a car replaced during the hire)</h3>");
    if o.swaps.is_empty() {
        out.push_str("<p class=\"nofig\">No swap in the week.</p>");
    } else {
        let rows: Vec<Vec<String>> = o
            .swaps
            .iter()
            .map(|s| {
                vec![
                    s.order_id.clone(),
                    china_time(s.at),
                    s.from_vehicle.clone(),
                    s.to_vehicle.clone(),
                    s.reason.clone(),
                ]
            })
            .collect();
        table(
            out,
            "table-swaps",
            &["order", "when", "car out", "replacement", "why"],
            &rows,
            usize::MAX,
        );
    }
}

fn violations(out: &mut String, w: &Week) {
    let v = &w.violations;
    out.push_str("<section id=\"violations\"><h2>Violations and the dunning funnel</h2>");
    let rows = vec![
        vec![
            "offences in the week (records received so far)".to_owned(),
            v.received.to_string(),
        ],
        vec!["matched to a renter's hire".to_owned(), v.matched_to_renter.to_string()],
        vec!["the company's own (drivers, staff)".to_owned(), v.company.to_string()],
        vec![
            "sent to the exceptions queue".to_owned(),
            v.sent_to_exceptions.to_string(),
        ],
        vec!["… still waiting there".to_owned(), v.still_in_exceptions.to_string()],
        vec!["handled".to_owned(), v.handled.to_string()],
        vec!["fines (CNY)".to_owned(), yuan(v.fines)],
    ];
    table(out, "table-violations", &["", "records"], &rows, 1);
    let steps: Vec<String> = v.funnel.iter().map(|(s, _)| s.clone()).collect();
    let values: Vec<Option<f64>> = v.funnel.iter().map(|(_, n)| Some(f64::from(*n))).collect();
    let series = [Series {
        name: String::new(),
        values: values.clone(),
    }];
    if v.matched_to_renter > 0 {
        chart_or_note(out, &series, || {
            svg::hbar_chart(
                "chart-funnel",
                "Dunning ladder: renters' violations of the week, furthest step",
                &steps,
                &values,
                Scale::Count,
            )
        });
    } else {
        let _ = write!(
            out,
            "<p class=\"nofig\">No violation of the week was matched to a renter.</p>"
        );
    }
    if v.unattributed > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{} record(s) of the week matched no car of any city's fleet and no hire: they are in \
             the exceptions queue but could not be told for this city.</p>",
            v.unattributed
        );
    }
    out.push_str("<h3>Still in the exceptions queue</h3>");
    if v.exceptions.is_empty() {
        out.push_str("<p class=\"nofig\">None.</p>");
    } else {
        let rows: Vec<Vec<String>> = v
            .exceptions
            .iter()
            .map(|e| {
                vec![
                    e.violation_id.clone(),
                    e.plate.clone(),
                    china_time(e.offence_at),
                    e.place.clone(),
                    e.reason.clone(),
                    yuan(e.fine),
                ]
            })
            .collect();
        table(
            out,
            "table-exceptions",
            &["violation", "plate", "offence", "place", "why", "fine (CNY)"],
            &rows,
            5,
        );
    }
}

fn collection(out: &mut String, w: &Week) {
    let c = &w.collection;
    out.push_str("<section id=\"collection\"><h2>Recovery and ageing</h2>");
    let months: Vec<String> = c.months.iter().map(|m| m.month.clone()).collect();
    let series = [Series {
        name: "recovered of billed".into(),
        values: c.months.iter().map(|m| m.recovery_rate).collect(),
    }];
    chart_or_note(out, &series, || {
        svg::bar_chart(
            "chart-recovery",
            "Recovery rate of the charges booked in the week's month(s)",
            &months,
            &series,
            Scale::Percent,
        )
    });
    let rows: Vec<Vec<String>> = c
        .months
        .iter()
        .map(|m| {
            vec![
                m.month.clone(),
                m.charges.to_string(),
                yuan(m.billed),
                yuan(m.recovered),
                rate(m.recovery_rate),
                m.recovered_charges.to_string(),
                m.mean_days_to_recover
                    .map_or_else(|| "—".to_owned(), |d| format!("{d:.1}")),
            ]
        })
        .collect();
    table(
        out,
        "table-recovery",
        &[
            "month",
            "charges",
            "billed (CNY)",
            "recovered (CNY)",
            "recovery",
            "recovered in full",
            "mean days to recover",
        ],
        &rows,
        1,
    );
    out.push_str(
        "<p class=\"note\">Receivables counts recovery per month of the charge, so a week shows its month(s).</p>",
    );
    let buckets: Vec<String> = c.aging.iter().map(|(b, _)| b.clone()).collect();
    let values: Vec<Option<f64>> = c.aging.iter().map(|(_, f)| Some(f.0 as f64)).collect();
    let series = [Series {
        name: String::new(),
        values: values.clone(),
    }];
    let title = format!("Open at the end of {}, by days past due (CNY)", c.aging_as_of);
    chart_or_note(out, &series, || {
        svg::hbar_chart("chart-aging", &title, &buckets, &values, Scale::Yuan)
    });
    let mut rows: Vec<Vec<String>> = c.aging.iter().map(|(b, f)| vec![b.clone(), yuan(*f)]).collect();
    rows.push(vec!["total".to_owned(), yuan(c.aging_total)]);
    table(out, "table-aging", &["days past due", "open (CNY)"], &rows, 1);
}

fn complaints(out: &mut String, w: &Week) {
    let c = &w.complaints;
    out.push_str("<section id=\"complaints\"><h2>Complaints</h2>");
    let _ = write!(
        out,
        "<p id=\"complaint-rate\">{}: {} cases on {} orders placed in the week: <b>{}</b> per 1,000 orders.</p>",
        esc(&w.city),
        c.city_rate.cases,
        c.city_rate.orders,
        esc(&per_thousand(c.city_rate.per_thousand))
    );
    let rate_rows = |rates: &[crate::week::Rate]| -> Vec<Vec<String>> {
        rates
            .iter()
            .map(|r| {
                vec![
                    if r.value.is_empty() {
                        "(no order linked)".to_owned()
                    } else {
                        r.value.clone()
                    },
                    r.cases.to_string(),
                    r.orders.to_string(),
                    per_thousand(r.per_thousand),
                ]
            })
            .collect()
    };
    let rates: Vec<&crate::week::Rate> = c.models.iter().filter(|r| !r.value.is_empty()).collect();
    let names: Vec<String> = rates.iter().map(|r| r.value.clone()).collect();
    let series = [Series {
        name: "cases per 1,000 orders".into(),
        values: rates.iter().map(|r| r.per_thousand).collect(),
    }];
    chart_or_note(out, &series, || {
        svg::bar_chart(
            "chart-complaint-models",
            "Cases per 1,000 orders by model (every city)",
            &names,
            &series,
            Scale::Count,
        )
    });
    let head = ["", "cases", "orders", "per 1,000 orders"];
    out.push_str("<h3>By city</h3>");
    table(out, "table-complaint-cities", &head, &rate_rows(&c.cities), 1);
    out.push_str("<h3>By sales channel (every city)</h3>");
    table(out, "table-complaint-channels", &head, &rate_rows(&c.channels), 1);

    out.push_str("<h3>Categories, against the week before</h3>");
    let cats: Vec<String> = c.categories.iter().map(|t| t.value.clone()).collect();
    let series = [
        Series {
            name: "this week".into(),
            values: c.categories.iter().map(|t| Some(t.current as f64)).collect(),
        },
        Series {
            name: "week before".into(),
            values: c.categories.iter().map(|t| Some(t.previous as f64)).collect(),
        },
    ];
    if c.categories.is_empty() {
        out.push_str("<p class=\"nofig\">No complaint in the week.</p>");
    } else {
        out.push_str(&svg::bar_chart(
            "chart-complaint-categories",
            "Cases by category (every city)",
            &cats,
            &series,
            Scale::Count,
        ));
        let rows: Vec<Vec<String>> = c
            .categories
            .iter()
            .chain(&c.root_causes)
            .map(|t| {
                vec![
                    t.value.clone(),
                    t.current.to_string(),
                    t.previous.to_string(),
                    change(t.change_percent),
                ]
            })
            .collect();
        table(
            out,
            "table-complaint-trends",
            &["category / root cause", "this week", "week before", "change"],
            &rows,
            1,
        );
    }
    out.push_str("<h3>Keywords customers used, per category</h3>");
    if c.keywords.iter().all(|(_, k)| k.is_empty()) {
        out.push_str("<p class=\"nofig\">None.</p>");
    } else {
        out.push_str("<ul id=\"keywords\">");
        for (category, words) in &c.keywords {
            let words: Vec<String> = words.iter().map(|k| format!("{} ({})", k.term, k.cases)).collect();
            let _ = write!(out, "<li><b>{}</b>: {}</li>", esc(category), esc(&words.join(", ")));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h3>Hot spots</h3>");
    if c.hot_spots.is_empty() {
        out.push_str(
            "<p class=\"nofig\">No hot spot raised for the week (a category with at least 5 cases, up 50 % or more \
             on the week before).</p>",
        );
    }
    for h in &c.hot_spots {
        let _ = write!(
            out,
            "<div class=\"hot-spot\"><p><b>{}</b>: {} cases, {} the week before ({}).</p><ul>",
            esc(&h.category),
            h.current,
            h.previous,
            esc(&change(h.rise_percent))
        );
        for line in &h.brief {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str("</ul>");
        for e in &h.examples {
            let _ = write!(
                out,
                "<blockquote class=\"example\"><span class=\"note\">{}</span><br>{}</blockquote>",
                esc(&e.case_id),
                esc(&e.text)
            );
        }
        out.push_str("</div>");
    }
    let (s, all) = (&c.city_sla, &c.sla);
    out.push_str("<h3>Service standard</h3>");
    let of = |met: i64, stopped: i64| format!("{met} of {stopped}");
    let rows = vec![
        vec![
            "cases opened".to_owned(),
            s.cases.to_string(),
            String::new(),
            all.cases.to_string(),
            String::new(),
        ],
        vec![
            "escalated".to_owned(),
            s.escalated.to_string(),
            rate(s.escalation_rate),
            all.escalated.to_string(),
            rate(all.escalation_rate),
        ],
        vec![
            "first response within target".to_owned(),
            of(s.first_response_met, s.first_response_stopped),
            rate(s.first_response_compliance),
            of(all.first_response_met, all.first_response_stopped),
            rate(all.first_response_compliance),
        ],
        vec![
            "resolved within target".to_owned(),
            of(s.resolution_met, s.resolution_stopped),
            rate(s.resolution_compliance),
            of(all.resolution_met, all.resolution_stopped),
            rate(all.resolution_compliance),
        ],
    ];
    let city = w.city.as_str();
    table(out, "table-sla", &["", city, "share", "every city", "share"], &rows, 1);
    let sla = [
        Series {
            name: city.to_owned(),
            values: vec![s.first_response_compliance, s.resolution_compliance],
        },
        Series {
            name: "every city".into(),
            values: vec![all.first_response_compliance, all.resolution_compliance],
        },
    ];
    chart_or_note(out, &sla, || {
        svg::bar_chart(
            "chart-sla",
            "SLA compliance of the week's cases whose clock has stopped",
            &["first response".to_owned(), "resolution".to_owned()],
            &sla,
            Scale::Percent,
        )
    });
    out.push_str(
        "<p class=\"note\">The complaint analysis is not split by city: categories, keywords and hot spots cover \
         every city's cases of the week; the city's service standard is counted from its cases' clocks.</p>",
    );
}

/// Each chart's id and how many data marks it has, in a page's HTML (as written, or the DOM a
/// browser ended with).
pub fn chart_marks(html: &str) -> Vec<(String, usize)> {
    html.split("<svg class=\"chart\"")
        .skip(1)
        .map(|rest| {
            let body = rest.split("</svg>").next().unwrap_or_default();
            let id = body
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_default()
                .to_owned();
            (id, body.matches("class=\"mark\"").count())
        })
        .collect()
}

/// Whether the DOM a browser ended with shows a good report: the page's own check (every
/// chart's marks drawn with a size, nothing loaded) said "ok", and every chart has a data mark.
/// How many charts it has, or what is wrong.
pub fn check_rendered(dom: &str) -> Result<usize, String> {
    let verdict = dom
        .split("data-report-check=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("(none: the check did not run)");
    if !verdict.starts_with("ok") {
        return Err(format!("the page's check says {verdict}"));
    }
    let charts = chart_marks(dom);
    if charts.is_empty() {
        return Err("no chart in the rendered page".into());
    }
    if let Some((id, _)) = charts.iter().find(|(_, marks)| *marks == 0) {
        return Err(format!("chart {id} is empty in the rendered page"));
    }
    Ok(charts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::week::*;
    use rentops_kernel::Fen;
    use time::macros::{date, datetime};

    const HOSTILE: &str = "<script>alert(\"x\")</script><img src=x onerror=alert(1)> 车很脏 & \"贵\"";

    fn day(d: &str, due: u32, fulfilled: u32, available: f64, on_rent: f64) -> Kpi {
        let mut k = Kpi::sum(d, "", std::iter::empty());
        k.due = due;
        k.fulfilled = fulfilled;
        k.fulfilment = ratio(f64::from(fulfilled), f64::from(due));
        k.planned_orders = due;
        k.planned_fulfilled = due;
        k.planned_fulfilment = ratio(f64::from(due), f64::from(due));
        k.available_hours = available;
        k.on_rent_hours = on_rent;
        k.idle = ratio(on_rent, available).map(|r| 1.0 - r);
        k.planned_on_rent_hours = on_rent;
        k.planned_idle = k.idle;
        k
    }

    fn busy_week() -> Week {
        let days: Vec<Kpi> = (0..7)
            .map(|i| {
                let d = format!("2026-12-{:02}", 7 + i);
                // Tuesday has no order due and no car available: no rate at all.
                if i == 1 {
                    day(&d, 0, 0, 0.0, 0.0)
                } else {
                    day(&d, 4, 3, 48.0, 12.0)
                }
            })
            .collect();
        let mut es6 = Kpi::sum("2026-12-07", "ES6", [&days[0]]);
        es6.model = "ES6".into();
        let models = vec![Kpi::sum("", "ES6", [&es6]), Kpi::sum("", "EC6", std::iter::empty())];
        Week {
            city: "SHA".into(),
            city_name: "上海".into(),
            monday: date!(2026 - 12 - 07),
            generated_at: datetime!(2026-12-14 02:00 UTC),
            fleet: FleetWeek {
                total: Kpi::sum("", "", &days),
                days,
                models,
                day_models: vec![es6],
            },
            orders: OrderWeek {
                orders: 3,
                by_status: vec![("RETURNED".into(), 2), ("CONFIRMED".into(), 1)],
                upgrades: 1,
                at_risk: vec![AtRisk {
                    order_id: "o-1".into(),
                    pickup_at: Some(datetime!(2026-12-08 02:00 UTC)),
                    model: "ES8".into(),
                    reason: "NO_COMPATIBLE_MODEL".into(),
                    explanation: HOSTILE.into(),
                }],
                swaps: vec![Swap {
                    order_id: "o-2".into(),
                    at: Some(datetime!(2026-12-09 05:00 UTC)),
                    from_vehicle: "V1".into(),
                    to_vehicle: "V2".into(),
                    reason: "breakdown".into(),
                }],
            },
            violations: ViolationWeek {
                received: 3,
                matched_to_renter: 2,
                company: 0,
                sent_to_exceptions: 1,
                still_in_exceptions: 1,
                handled: 0,
                fines: Fen(60_000),
                funnel: vec![
                    ("matched to a renter".into(), 2),
                    ("notice".into(), 2),
                    ("reminder".into(), 0),
                ],
                exceptions: vec![ExceptionRow {
                    violation_id: "v-3".into(),
                    plate: "沪A·D00002".into(),
                    offence_at: None,
                    place: HOSTILE.into(),
                    reason: "NO_HIRE".into(),
                    fine: Fen(20_000),
                }],
                unattributed: 0,
            },
            collection: CollectionWeek {
                months: vec![MonthRecovery {
                    month: "2026-12".into(),
                    charges: 1,
                    billed: Fen(25_000),
                    recovered: Fen(12_500),
                    recovery_rate: Some(0.5),
                    recovered_charges: 0,
                    mean_days_to_recover: None,
                }],
                aging_as_of: "2026-12-13".into(),
                aging: vec![("current".into(), Fen(12_500)), ("1–30 days".into(), Fen(0))],
                aging_total: Fen(12_500),
            },
            complaints: ComplaintWeek {
                city_rate: Rate {
                    value: "SHA".into(),
                    cases: 5,
                    orders: 3,
                    per_thousand: Some(1666.666),
                },
                cities: vec![],
                models: vec![Rate {
                    value: "ES6".into(),
                    cases: 5,
                    orders: 3,
                    per_thousand: Some(1666.666),
                }],
                channels: vec![],
                categories: vec![Trend {
                    value: "vehicle".into(),
                    current: 5,
                    previous: 0,
                    change_percent: None,
                }],
                root_causes: vec![],
                keywords: vec![(
                    "vehicle".into(),
                    vec![Keyword {
                        term: "<b>脏</b>".into(),
                        cases: 3,
                    }],
                )],
                hot_spots: vec![HotSpot {
                    category: "vehicle".into(),
                    current: 5,
                    previous: 0,
                    rise_percent: None,
                    brief: vec![format!("keywords: {HOSTILE}")],
                    examples: vec![Example {
                        case_id: "case-1".into(),
                        text: HOSTILE.into(),
                    }],
                }],
                sla: Sla {
                    cases: 5,
                    first_response_stopped: 4,
                    first_response_met: 3,
                    first_response_compliance: Some(0.75),
                    ..Sla::default()
                },
                city_sla: Sla {
                    cases: 1,
                    first_response_stopped: 1,
                    first_response_met: 1,
                    first_response_compliance: Some(1.0),
                    ..Sla::default()
                },
            },
        }
    }

    #[test]
    fn every_chart_has_data_marks() {
        let html = render(&busy_week());
        let charts = chart_marks(&html);
        let ids: Vec<&str> = charts.iter().map(|(id, _)| id.as_str()).collect();
        for expected in [
            "chart-fulfilment-day",
            "chart-idle-day",
            "chart-model",
            "chart-funnel",
            "chart-recovery",
            "chart-aging",
            "chart-complaint-models",
            "chart-complaint-categories",
            "chart-sla",
        ] {
            assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
        }
        for (id, marks) in &charts {
            assert!(*marks > 0, "{id} has no data mark");
        }
        // Six days with figures, actual and planned.
        assert_eq!(charts[0], ("chart-fulfilment-day".to_owned(), 12));
    }

    #[test]
    fn a_rate_with_nothing_to_divide_by_shows_a_dash() {
        let w = busy_week();
        let html = render(&w);
        // Tuesday: no order due, no car available.
        assert!(
            html.contains("<td>2026-12-08</td><td>all</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">—</td>"),
            "{html}"
        );
        // EC6 had no row: no rate, never 0 % or 100 %.
        assert!(html.contains("<td>week</td><td>EC6</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">—</td><td class=\"n\">0</td><td class=\"n\">—</td>"), "{html}");
        // The SLA's resolution rate and the month's mean days are unset.
        assert!(html.contains(
            "<td>resolved within target</td><td class=\"n\">0 of 0</td><td class=\"n\">—</td><td class=\"n\">0 of 0</td><td class=\"n\">—</td>"
        ), "{html}");

        let mut empty = w.clone();
        empty.fleet = FleetWeek {
            days: (0..7)
                .map(|i| day(&format!("2026-12-{:02}", 7 + i), 0, 0, 0.0, 0.0))
                .collect(),
            ..FleetWeek::default()
        };
        empty.fleet.total = Kpi::sum("", "", &empty.fleet.days);
        empty.collection.months[0].recovery_rate = None;
        empty.complaints.city_rate.per_thousand = None;
        let html = render(&empty);
        let figures = headline_figures(&empty);
        for name in [
            "fulfilment",
            "idle",
            "planned fulfilment",
            "complaints per 1,000 orders",
        ] {
            let v = figures.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
            assert_eq!(v, Some("—"), "{name}");
        }
        assert!(html.contains("data-figure=\"fulfilment\"><b>—</b>"), "{html}");
        // Charts with no figure at all are not drawn empty: a note stands in for them.
        let ids: Vec<String> = chart_marks(&html).into_iter().map(|(id, _)| id).collect();
        for gone in [
            "chart-fulfilment-day",
            "chart-idle-day",
            "chart-model",
            "chart-recovery",
        ] {
            assert!(!ids.iter().any(|i| i == gone), "{gone} drawn without figures");
        }
        assert!(html.contains(NO_FIGURES));
        for (id, marks) in chart_marks(&html) {
            assert!(marks > 0, "{id} has no data mark");
        }
    }

    #[test]
    fn hostile_text_ends_up_inert() {
        let html = render(&busy_week());
        // The only script is the page's own check.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>脏</b>"));
        assert!(html.contains(
            "&lt;script&gt;alert(\"x\")&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; 车很脏 &amp; \"贵\""
        ));
        assert!(html.contains("&lt;b&gt;脏&lt;/b&gt; (3)"));
        assert!(html.contains("沪A·D00002"));
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&busy_week());
        for outside in ["http://", "https://", "src=\"", "<link", "@import", "url("] {
            assert!(!html.contains(outside), "{outside} in the page");
        }
        assert!(html.contains("default-src 'none'"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        // Money as yuan with two decimals.
        assert!(
            html.contains("<td>fines (CNY)</td><td class=\"n\">600.00</td>"),
            "{html}"
        );
        assert!(html.contains(">125.00 CNY</b>"), "{html}");
    }
}
