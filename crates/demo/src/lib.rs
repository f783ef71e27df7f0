//! The demo week: against the running cluster, sets up a city (stations, travel times, a fleet,
//! drivers and shifts) and plays a week through the four services' gRPC APIs, deterministic for
//! a seed, then prints the week's figures as the services report them.
//!
//! # Where the week lies in time
//!
//! The services take the time of most facts from the command (`placed_at`, `attempted_at`,
//! `picked_up_at`, `swapped_at`, `returned_at`, a breakdown's and a repair's `at`, a car's
//! `registered_at`, a violation feed's `received_at`, a complaint's `opened_at` and each of its
//! steps' `at`), refusing only the future; everything else they stamp with their own clock. So
//! the week is played in two parts:
//!
//! - **the backlog week**, a week that ended weeks ago (`--weeks-ago`, default 10, or
//!   `--week-start`), entered now as a desk catching up on a backlog would: orders from every
//!   channel, calls, confirmations, cancellations, no-shows, pickups, breakdowns with swaps,
//!   returns with readings and damage, all at their own past times. The fleet joined a week
//!   before it, so fleet's plate history says which car carried each plate then. Fleet's
//!   planner plans only orders from a day before now on, so it leaves this week alone and the
//!   cars handed over are the demo's choice, recorded as handed over. Two violation feeds
//!   reached the desk days after the week and are entered as received then: their records are
//!   matched to the hires as of then, and the dunning ladder, counted from then, takes every
//!   step due by now at once (reminders, the deadline, the escalation call, the charge on the
//!   ledger, the hand-over to collections). Half the complaints came in
//!   that week and are entered with their times: their SLA clocks ran then, and the scan raises
//!   what they reached (escalating where a clock still runs), once the demo is done entering
//!   them.
//! - **the live days**, starting the hour after the fleet joined, moved on by whole days to the
//!   last such hour not after now: orders placed now, confirmed, changed and cancelled, which
//!   fleet really plans (the car shows on the order), one car breaking down before its hire
//!   (fleet plans around it), a few cars handed over early, a violation during such a hire
//!   (matched on import and noticed by the ladder), a damaged return (a claim opens), and
//!   complaints opened now (receivables pauses the disputed violation's ladder).
//!
//! Every step due by now happens, and the demo waits (at most three minutes each) for the
//! ladder's and the SLA scan's catch-up before it reads the figures; the steps still ahead
//! (the live violations' reminders, the live cases' targets) the figures say when they fall due.
//!
//! The latency figures are the demo's own measurements of the live and backlog commands whose
//! effects another service's reactor produces: from the command's acknowledgement until the
//! other service's query shows the effect (polled every 10 ms, so each sample is up to 10 ms
//! long). A run that finds the effects already there (a second run of a seed) measures nothing
//! and says so.

mod figures;
mod play;
mod rng;
mod world;

use std::time::Instant;

use anyhow::{Context as _, bail};
use time::{Duration, OffsetDateTime, UtcOffset};

pub use figures::{Figures, Hop, Latency};

/// `rentops demo`: play the demo week against the running cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The seed: the same seed plays the same week, and a second run applies nothing twice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many cars the city gets (about one in twelve stands by as a spare for swaps).
    #[arg(long, default_value_t = 100)]
    pub cars: u32,
    /// The city code (three letters); its stations are Shanghai's.
    #[arg(long, default_value = "SHA")]
    pub city: String,
    /// The backlog week starts this day (YYYY-MM-DD, China time); it must have ended at
    /// least five days ago, so that every hire of it is over. Overrides --weeks-ago.
    #[arg(long)]
    pub week_start: Option<String>,
    /// The backlog week is the one (Monday to Sunday, China time) this many weeks before the
    /// current one (2 to 12). At 9 or more the whole dunning ladder plays out, to collections.
    #[arg(long, default_value_t = 10)]
    pub weeks_ago: u32,
    /// The actor recorded on every event (default: demo:<seed>).
    #[arg(long)]
    pub demo_actor: Option<String>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            seed: 1,
            cars: 100,
            city: "SHA".into(),
            week_start: None,
            weeks_ago: 10,
            demo_actor: None,
        }
    }
}

pub use rentops_proto::Endpoints;

pub(crate) const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// The arguments, checked: each mistake names its flag.
pub(crate) struct Settings {
    pub seed: u64,
    pub cars: u32,
    pub city: String,
    pub week_start: OffsetDateTime,
    pub actor: String,
}

fn settings(args: &DemoArgs, now: OffsetDateTime) -> anyhow::Result<Settings> {
    if !(8..=1000).contains(&args.cars) {
        bail!("--cars must be between 8 and 1000 (got {})", args.cars);
    }
    let city = args.city.trim().to_ascii_uppercase();
    if city.len() != 3 || !city.bytes().all(|b| b.is_ascii_uppercase()) {
        bail!(
            "--city must be a three-letter city code such as SHA (got {:?})",
            args.city
        );
    }
    let today = now.to_offset(CHINA).date();
    let week_start = match &args.week_start {
        Some(text) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(text.trim(), format)
                .with_context(|| format!("--week-start must be a date as YYYY-MM-DD (got {text:?})"))?;
            day.midnight().assume_offset(CHINA)
        }
        None => {
            if !(2..=12).contains(&args.weeks_ago) {
                bail!("--weeks-ago must be between 2 and 12 (got {})", args.weeks_ago);
            }
            let monday = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
            (monday - Duration::weeks(i64::from(args.weeks_ago)))
                .midnight()
                .assume_offset(CHINA)
        }
    };
    // Hires run up to three days past the week and a swap's repair two more; fleet's planner
    // looks a day back. Twelve days keep every fact of the week in the past and out of the plan.
    if week_start + Duration::days(12) > now {
        bail!(
            "--week-start {} is too recent: the week must have started at least 12 days ago, so that every hire \
             and repair of it is over",
            week_start.date()
        );
    }
    // The fleet joins a week before it, and the services take nothing from more than 400 days
    // back.
    if week_start < now - Duration::days(390) {
        bail!("--week-start {} is more than 390 days ago", week_start.date());
    }
    let actor = args.demo_actor.clone().unwrap_or_else(|| format!("demo:{}", args.seed));
    if actor.trim().is_empty() || actor.len() > 64 {
        bail!("--demo-actor must be 1 to 64 characters");
    }
    Ok(Settings {
        seed: args.seed,
        cars: args.cars,
        city,
        week_start,
        actor,
    })
}

/// Plays the week; progress on stderr; returns the figures as text for stdout (JSON when
/// `json`).
pub async fn run(args: &DemoArgs, endpoints: &Endpoints, json: bool) -> anyhow::Result<String> {
    let started = Instant::now();
    let settings = settings(args, OffsetDateTime::now_utc())?;
    let mut demo = play::Demo::connect(&settings, endpoints).await?;
    demo.play().await?;
    let mut figures = demo.figures().await?;
    figures.wall_time = started.elapsed();
    Ok(if json {
        figures.json().to_string()
    } else {
        figures.text()
    })
}

/// Like [`run`], returning the figures themselves (for tests and other callers that check them).
pub async fn play(args: &DemoArgs, endpoints: &Endpoints) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let settings = settings(args, OffsetDateTime::now_utc())?;
    let mut demo = play::Demo::connect(&settings, endpoints).await?;
    demo.play().await?;
    let mut figures = demo.figures().await?;
    figures.wall_time = started.elapsed();
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-12-02 10:00 +08:00)
    }

    #[test]
    fn bad_flags_are_named() {
        let bad = |a: DemoArgs| settings(&a, now()).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(
            bad(DemoArgs {
                cars: 0,
                ..Default::default()
            })
            .contains("--cars")
        );
        assert!(
            bad(DemoArgs {
                city: "上海".into(),
                ..Default::default()
            })
            .contains("--city")
        );
        assert!(
            bad(DemoArgs {
                weeks_ago: 1,
                ..Default::default()
            })
            .contains("--weeks-ago")
        );
        assert!(
            bad(DemoArgs {
                week_start: Some("2026-13-01".into()),
                ..Default::default()
            })
            .contains("--week-start")
        );
        assert!(
            bad(DemoArgs {
                week_start: Some("2026-11-30".into()),
                ..Default::default()
            })
            .contains("--week-start")
        );
    }

    #[test]
    fn the_default_week_is_a_monday_ten_weeks_back() {
        let s = settings(&DemoArgs::default(), now()).expect("valid");
        assert_eq!(s.week_start, time::macros::datetime!(2026-09-21 00:00 +08:00));
        assert_eq!(s.actor, "demo:1");
    }
}
