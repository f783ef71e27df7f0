//! `rentops report`: one city's week as one self-contained HTML file, for the desk's weekly
//! review. Fulfilment and idle rate by day and model, planned against actual; orders at risk and
//! swaps; violations matched, sent to the exceptions queue, and the dunning funnel; recovery rate
//! and ageing; complaints per 1,000 orders, hot spots with their keywords and evidence, and SLA
//! compliance. Charts are inline SVG and nothing is loaded from anywhere, so the file opens
//! offline and can be mailed as it is.
//!
//! Layout: `gather` reads the week from the four services' gRPC queries into a plain
//! [`Week`] (`week`); `render` turns a `Week` into the page, with no I/O, so it is tested on
//! weeks built by hand; `svg` draws the charts; `text` escapes and formats. [`run`] is what the
//! CLI calls.

mod gather;
mod render;
mod svg;
mod text;
pub mod week;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use time::{Date, OffsetDateTime, Weekday};

pub use render::{NO_FIGURES, chart_marks, check_rendered, headline_figures, render};
pub use week::Week;

/// The flags of `rentops report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// City code, e.g. SHA.
    #[arg(long, default_value = "SHA")]
    pub city: String,
    /// The week, by its Monday (YYYY-MM-DD, China time) [default: the last full week].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub week: Option<String>,
    /// Where to write the HTML file [default: report-<city>-<week>.html].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How many categories, root causes and keywords per category the complaints show (1–50).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub top: u32,
    /// Give up on a service call after this many seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub call_timeout_secs: u64,
}

impl Default for ReportArgs {
    fn default() -> Self {
        Self {
            city: "SHA".to_owned(),
            week: None,
            out: None,
            top: 10,
            call_timeout_secs: 60,
        }
    }
}

pub use rentops_proto::Endpoints;

/// Gathers the week from the four services, writes the HTML file, returns a short summary for
/// stdout (the path and the headline figures).
pub async fn run(args: &ReportArgs, endpoints: &Endpoints) -> anyhow::Result<String> {
    let city = args.city.trim();
    if city.is_empty() || !city.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        bail!("--city: '{}' is not a city code (e.g. SHA)", args.city);
    }
    let monday = match &args.week {
        Some(w) => parse_week(w)?,
        None => last_full_week(OffsetDateTime::now_utc()),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("report-{city}-{monday}.html")));
    let request = gather::Request {
        city,
        monday,
        top: args.top.clamp(1, 50),
        timeout: Duration::from_secs(args.call_timeout_secs.max(1)),
    };
    let week = gather::gather(&request, endpoints).await?;
    let html = render(&week);
    tokio::fs::write(&out, html)
        .await
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    let mut summary = format!("wrote {}\n", out.display());
    summary += &format!("{city}, week of {monday}:\n");
    for (name, value) in headline_figures(&week) {
        summary += &format!("  {name}: {value}\n");
    }
    Ok(summary)
}

/// `--week`: a Monday as YYYY-MM-DD.
pub fn parse_week(s: &str) -> anyhow::Result<Date> {
    let d = Date::parse(s.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| anyhow!("--week: '{s}' is not a date as YYYY-MM-DD ({e})"))?;
    if d.weekday() != Weekday::Monday {
        let monday = d - time::Duration::days(i64::from(d.weekday().number_days_from_monday()));
        bail!(
            "--week: {d} is a {}; a week is given by its Monday ({monday})",
            d.weekday()
        );
    }
    Ok(d)
}

/// The Monday of the last week that is over at `now` in China time.
pub fn last_full_week(now: OffsetDateTime) -> Date {
    let today = now.to_offset(text::CHINA).date();
    let this_monday = today - time::Duration::days(i64::from(today.weekday().number_days_from_monday()));
    this_monday - time::Duration::days(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn a_week_is_given_by_its_monday() {
        assert_eq!(parse_week("2026-12-07").ok(), Some(date!(2026 - 12 - 07)));
        let e = parse_week("2026-12-09")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("--week:") && e.contains("2026-12-07"), "{e}");
        let e = parse_week("next week").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("--week:"), "{e}");
    }

    #[test]
    fn the_default_week_is_the_last_full_one_in_china_time() {
        // Monday 2026-12-14 00:30 in China is still Sunday in UTC.
        assert_eq!(last_full_week(datetime!(2026-12-13 16:30 UTC)), date!(2026 - 12 - 07));
        assert_eq!(last_full_week(datetime!(2026-12-13 15:30 UTC)), date!(2026 - 11 - 30));
    }

    #[tokio::test]
    async fn bad_flags_and_unreachable_services_say_what_failed() {
        let ep = Endpoints {
            order: "http://127.0.0.1:9".into(),
            fleet: "http://127.0.0.1:9".into(),
            receivables: "http://127.0.0.1:9".into(),
            complaint: "http://127.0.0.1:9".into(),
        };
        let args = ReportArgs {
            week: Some("2026-12-08".into()),
            ..ReportArgs::default()
        };
        let e = run(&args, &ep)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.starts_with("--week:"), "{e}");
        let dir = std::env::temp_dir().join(format!("rentops-report-test-{}", std::process::id()));
        let args = ReportArgs {
            week: Some("2026-12-07".into()),
            out: Some(dir.join("r.html")),
            ..ReportArgs::default()
        };
        let e = run(&args, &ep)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            e.contains("cannot connect to the order service at http://127.0.0.1:9"),
            "{e}"
        );
    }
}
