//! SLA clocks, pure: which policy applies to a case, how much of each clock's target it has
//! spent, when it will reach the at-risk share and the target, and the view the desk sees.
//!
//! A case has two clocks, first response and resolution. Both run from the opening while the
//! case is active, and stand still while it waits on the customer or a third party (the time
//! spent waiting is not the desk's); the first-response clock stops for good at the first
//! response, the resolution clock at the resolution, and a reopened case's resolution clock goes
//! on from what it had spent. So a clock is a list of [`Span`]s of running time, the last one
//! open while it runs, and what it has spent is their sum — every hour of them in calendar
//! hours, or only their opening hours on working days in business hours (the kernel's
//! [`Calendar::business_duration`], with Chinese holidays and make-up working days).
//!
//! Policies are configuration (`config/sla.toml` embedded; `RENTOPS_COMPLAINT_SLA_FILE`): the
//! first whose conditions (severity, channel, category) all match applies, and a case none
//! matches gets the standard's default for its severity: first response P1 1 h / P2 4 h / P3 24 h
//! / P4 48 h, resolution P1 24 h / P2 72 h / P3 5 d / P4 7 d, in calendar hours.

use rentops_kernel::{Calendar, CalendarError, DayHours, WeeklySchedule};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset, Weekday};

use super::case::{Channel, Severity};

/// The embedded default policies.
pub const DEFAULT_POLICIES: &str = include_str!("../../config/sla.toml");

/// The longest target a policy may set.
const MAX_TARGET: Duration = Duration::days(365);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClockKind {
    FirstResponse,
    Resolution,
}

impl ClockKind {
    pub const ALL: [ClockKind; 2] = [ClockKind::FirstResponse, ClockKind::Resolution];

    pub fn code(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first_response",
            ClockKind::Resolution => "resolution",
        }
    }
}

/// The two moments a clock is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Threshold {
    /// The at-risk share of the target (80 % by default).
    AtRisk,
    /// The whole target.
    Breached,
}

impl Threshold {
    pub fn code(self) -> &'static str {
        match self {
            Threshold::AtRisk => "at_risk",
            Threshold::Breached => "breached",
        }
    }
}

/// A stretch of running time, `[start, end)`; `end` is `None` while the clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
}

/// Which hours count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    Calendar,
    /// Only the schedule's opening hours on the calendar's working days.
    Business(WeeklySchedule),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Conditions; empty matches anything.
    pub severity: Vec<Severity>,
    pub channel: Vec<Channel>,
    pub category: Vec<String>,
    pub first_response: Duration,
    pub resolution: Duration,
    pub hours: Hours,
}

impl Policy {
    /// The standard's default for `severity` (DOMAIN.md's table), in calendar hours.
    pub fn standard(severity: Severity) -> Policy {
        let (first_response, resolution) = match severity {
            Severity::P1 => (Duration::hours(1), Duration::hours(24)),
            Severity::P2 => (Duration::hours(4), Duration::hours(72)),
            Severity::P3 => (Duration::hours(24), Duration::days(5)),
            Severity::P4 => (Duration::hours(48), Duration::days(7)),
        };
        Policy {
            name: format!("standard-{}", severity.code()),
            severity: vec![severity],
            channel: Vec::new(),
            category: Vec::new(),
            first_response,
            resolution,
            hours: Hours::Calendar,
        }
    }

    pub fn matches(&self, severity: Severity, channel: Channel, category: &str) -> bool {
        (self.severity.is_empty() || self.severity.contains(&severity))
            && (self.channel.is_empty() || self.channel.contains(&channel))
            && (self.category.is_empty() || self.category.iter().any(|c| c == category))
    }

    pub fn target(&self, clock: ClockKind) -> Duration {
        match clock {
            ClockKind::FirstResponse => self.first_response,
            ClockKind::Resolution => self.resolution,
        }
    }
}

/// The policies in order, and the share of a target at which a clock is at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    policies: Vec<Policy>,
    at_risk_percent: u32,
    defaults: [Policy; 4],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("SLA policies: {0}")]
    Syntax(String),
    #[error("SLA policy {policy:?}: {field}: {reason}")]
    Field {
        policy: String,
        field: &'static str,
        reason: String,
    },
    #[error("SLA policies: the at-risk share must be 1 to 99 %, not {0}")]
    AtRisk(u32),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    policy: Vec<PolicyFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    #[serde(default)]
    severity: Vec<String>,
    #[serde(default)]
    channel: Vec<String>,
    #[serde(default)]
    category: Vec<String>,
    first_response: String,
    resolution: String,
    #[serde(default = "calendar_hours")]
    hours: String,
    schedule: Option<ScheduleFile>,
}

fn calendar_hours() -> String {
    "calendar".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    offset: String,
    weekdays: Option<String>,
    monday: Option<String>,
    tuesday: Option<String>,
    wednesday: Option<String>,
    thursday: Option<String>,
    friday: Option<String>,
    saturday: Option<String>,
    sunday: Option<String>,
    make_up_days: Option<String>,
}

/// `"90m"`, `"4h"`, `"5d"`, `"1h30m"`: days of 24 h, hours, minutes.
pub fn parse_target(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty; a duration like 4h, 90m or 5d".into());
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 4h, 90m or 5d"))?;
        number.clear();
        let part = match c {
            'd' => Duration::days(n.min(10_000)),
            'h' => Duration::hours(n.min(240_000)),
            'm' => Duration::minutes(n.min(14_400_000)),
            _ => return Err(format!("{text:?} is not a duration like 4h, 90m or 5d")),
        };
        total = total.checked_add(part).ok_or("too long")?;
    }
    if !number.is_empty() {
        return Err(format!("{text:?}: a number needs its unit (d, h or m)"));
    }
    if total <= Duration::ZERO || total > MAX_TARGET {
        return Err(format!("{text:?}: more than zero and at most 365 days"));
    }
    Ok(total)
}

/// `"+08:00"`.
fn parse_offset(text: &str) -> Result<UtcOffset, String> {
    let bad = || format!("{text:?} is not a UTC offset like +08:00");
    let t = text.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1i8, &t[1..]),
        Some(b'-') => (-1i8, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
}

fn schedule(s: &ScheduleFile) -> Result<WeeklySchedule, String> {
    let offset = parse_offset(&s.offset)?;
    let hours = |field: &str, text: &str| -> Result<DayHours, String> {
        text.parse::<DayHours>().map_err(|e| format!("schedule.{field}: {e}"))
    };
    let mut w = match &s.weekdays {
        Some(t) => WeeklySchedule::weekdays(offset, hours("weekdays", t)?),
        None => WeeklySchedule::closed(offset),
    };
    let days = [
        (Weekday::Monday, "monday", &s.monday),
        (Weekday::Tuesday, "tuesday", &s.tuesday),
        (Weekday::Wednesday, "wednesday", &s.wednesday),
        (Weekday::Thursday, "thursday", &s.thursday),
        (Weekday::Friday, "friday", &s.friday),
        (Weekday::Saturday, "saturday", &s.saturday),
        (Weekday::Sunday, "sunday", &s.sunday),
    ];
    for (day, field, text) in days {
        if let Some(t) = text {
            w = w.with_day(day, hours(field, t)?);
        }
    }
    if let Some(t) = &s.make_up_days {
        w = w.with_make_up_days(hours("make_up_days", t)?);
    }
    Ok(w)
}

impl Policies {
    /// The embedded default.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::from_toml(DEFAULT_POLICIES, 80)
    }

    /// Policies from TOML (see `config/sla.toml`); `at_risk_percent` of a target is at risk.
    pub fn from_toml(text: &str, at_risk_percent: u32) -> Result<Self, PolicyError> {
        if !(1..=99).contains(&at_risk_percent) {
            return Err(PolicyError::AtRisk(at_risk_percent));
        }
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut policies = Vec::new();
        for p in file.policy {
            let field = |field: &'static str, reason: String| PolicyError::Field {
                policy: p.name.clone(),
                field,
                reason,
            };
            let severity = p
                .severity
                .iter()
                .map(|s| Severity::parse(s).ok_or_else(|| field("severity", format!("{s:?} is not P1…P4"))))
                .collect::<Result<Vec<_>, _>>()?;
            let channel = p
                .channel
                .iter()
                .map(|s| Channel::parse(s).ok_or_else(|| field("channel", format!("{s:?} is not a channel"))))
                .collect::<Result<Vec<_>, _>>()?;
            let first_response = parse_target(&p.first_response).map_err(|e| field("first_response", e))?;
            let resolution = parse_target(&p.resolution).map_err(|e| field("resolution", e))?;
            let hours = match (p.hours.as_str(), &p.schedule) {
                ("calendar", None) => Hours::Calendar,
                ("calendar", Some(_)) => {
                    return Err(field("schedule", "only for hours = \"business\"".into()));
                }
                ("business", Some(s)) => Hours::Business(schedule(s).map_err(|e| field("schedule", e))?),
                ("business", None) => return Err(field("schedule", "required for business hours".into())),
                (other, _) => return Err(field("hours", format!("{other:?}: \"calendar\" or \"business\""))),
            };
            if let Hours::Business(s) = &hours
                && [
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday,
                ]
                .iter()
                .all(|d| s.hours(*d).intervals().is_empty())
            {
                return Err(field(
                    "schedule",
                    "no opening hours on any day: the clock would never run".into(),
                ));
            }
            policies.push(Policy {
                name: p.name.clone(),
                severity,
                channel,
                category: p.category.clone(),
                first_response,
                resolution,
                hours,
            });
        }
        Ok(Self {
            policies,
            at_risk_percent,
            defaults: [
                Policy::standard(Severity::P1),
                Policy::standard(Severity::P2),
                Policy::standard(Severity::P3),
                Policy::standard(Severity::P4),
            ],
        })
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn at_risk_percent(&self) -> u32 {
        self.at_risk_percent
    }

    /// The policy of a case: the first that matches, else the standard's for its severity.
    pub fn for_case(&self, severity: Severity, channel: Channel, category: &str) -> &Policy {
        self.policies
            .iter()
            .find(|p| p.matches(severity, channel, category))
            .unwrap_or(&self.defaults[severity.index()])
    }

    /// The counted time at which `clock` of `policy` reaches `threshold`.
    pub fn threshold(&self, policy: &Policy, clock: ClockKind, threshold: Threshold) -> Duration {
        let target = policy.target(clock);
        match threshold {
            Threshold::Breached => target,
            // Targets are at most 365 days, so this cannot overflow an i64 of nanoseconds.
            Threshold::AtRisk => Duration::nanoseconds(
                (target.whole_nanoseconds() * i128::from(self.at_risk_percent) / 100).clamp(0, i128::from(i64::MAX))
                    as i64,
            ),
        }
    }
}

/// The counted time between `start` and `end` in `hours`.
fn counted(
    hours: &Hours,
    calendar: &Calendar,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Result<Duration, CalendarError> {
    match hours {
        Hours::Calendar => Ok((end - start).max(Duration::ZERO)),
        Hours::Business(s) => Ok(calendar.business_duration(s, start, end)?.max(Duration::ZERO)),
    }
}

/// The instant `amount` of counted time after `start`.
fn after(
    hours: &Hours,
    calendar: &Calendar,
    start: OffsetDateTime,
    amount: Duration,
) -> Result<OffsetDateTime, CalendarError> {
    match hours {
        Hours::Calendar => start
            .checked_add(amount)
            .ok_or_else(|| CalendarError::OutOfRange(start.to_string())),
        Hours::Business(s) => calendar.add_business_duration(s, start, amount),
    }
}

/// What the spans have spent by `now` (an open span counts up to `now`; a span beginning after
/// `now` counts nothing).
pub fn spent(
    hours: &Hours,
    calendar: &Calendar,
    spans: &[Span],
    now: OffsetDateTime,
) -> Result<Duration, CalendarError> {
    let mut total = Duration::ZERO;
    for s in spans {
        let end = s.end.unwrap_or(now).min(now);
        if end > s.start {
            total += counted(hours, calendar, s.start, end)?;
        }
    }
    Ok(total)
}

/// When the spans reach `amount` of counted time: inside a closed span, or, in the open one,
/// when it will. `None` when they have stopped short of it.
pub fn reached_at(
    hours: &Hours,
    calendar: &Calendar,
    spans: &[Span],
    amount: Duration,
) -> Result<Option<OffsetDateTime>, CalendarError> {
    let mut total = Duration::ZERO;
    for s in spans {
        let left = amount - total;
        match s.end {
            None => return Ok(Some(after(hours, calendar, s.start, left.max(Duration::ZERO))?)),
            Some(end) => {
                let d = counted(hours, calendar, s.start, end)?;
                if d >= left && left > Duration::ZERO {
                    return Ok(Some(after(hours, calendar, s.start, left)?));
                }
                if left <= Duration::ZERO {
                    return Ok(Some(s.start));
                }
                total += d;
            }
        }
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    Running,
    /// Waiting on the customer or a third party.
    Paused,
    /// Stopped (first response given, case resolved) within the target.
    Met,
    AtRisk,
    Breached,
}

impl ClockState {
    pub fn code(self) -> &'static str {
        match self {
            ClockState::Running => "running",
            ClockState::Paused => "paused",
            ClockState::Met => "met",
            ClockState::AtRisk => "at_risk",
            ClockState::Breached => "breached",
        }
    }
}

/// One clock as the desk sees it at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockView {
    pub clock: ClockKind,
    pub policy: String,
    pub business_hours: bool,
    pub target: Duration,
    pub spent: Duration,
    /// `target − spent`: negative once breached.
    pub left: Duration,
    pub state: ClockState,
    /// When it reaches (or reached) the at-risk share and the target; `None` for a clock
    /// stopped short of them.
    pub at_risk_at: Option<OffsetDateTime>,
    pub breach_at: Option<OffsetDateTime>,
}

/// What a clock is made of, from the case: its spans, and whether it has stopped for good
/// (`stopped`: first response given, or case resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockRun {
    pub spans: Vec<Span>,
    pub stopped: bool,
}

impl ClockRun {
    pub fn running(&self) -> bool {
        self.spans.last().is_some_and(|s| s.end.is_none())
    }

    /// The thresholds that can still be raised: both while the clock runs or waits; once it has
    /// stopped, only a breach it had reached before it stopped (nothing is at risk any more).
    pub fn thresholds(&self) -> &'static [Threshold] {
        if self.stopped {
            &[Threshold::Breached]
        } else {
            &[Threshold::AtRisk, Threshold::Breached]
        }
    }
}

/// The view of `clock` at `now`.
pub fn view(
    policies: &Policies,
    policy: &Policy,
    calendar: &Calendar,
    clock: ClockKind,
    run: &ClockRun,
    now: OffsetDateTime,
) -> Result<ClockView, CalendarError> {
    let target = policy.target(clock);
    let spent = spent(&policy.hours, calendar, &run.spans, now)?;
    let at_risk_share = policies.threshold(policy, clock, Threshold::AtRisk);
    let state = if spent >= target {
        ClockState::Breached
    } else if run.stopped {
        ClockState::Met
    } else if spent >= at_risk_share {
        ClockState::AtRisk
    } else if run.running() {
        ClockState::Running
    } else {
        ClockState::Paused
    };
    Ok(ClockView {
        clock,
        policy: policy.name.clone(),
        business_hours: matches!(policy.hours, Hours::Business(_)),
        target,
        spent,
        left: target - spent,
        state,
        at_risk_at: reached_at(&policy.hours, calendar, &run.spans, at_risk_share)?,
        breach_at: reached_at(&policy.hours, calendar, &run.spans, target)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::{datetime, offset};

    use super::*;

    fn cal() -> Calendar {
        Calendar::embedded().unwrap()
    }

    fn office() -> Hours {
        Hours::Business(WeeklySchedule::weekdays(offset!(+8), "09:00-18:00".parse().unwrap()))
    }

    fn open(start: OffsetDateTime) -> Span {
        Span { start, end: None }
    }

    fn closed(start: OffsetDateTime, end: OffsetDateTime) -> Span {
        Span { start, end: Some(end) }
    }

    #[test]
    fn the_default_policies_are_the_standard_table_in_calendar_hours() {
        let p = Policies::embedded().unwrap();
        let cases = [
            (Severity::P1, 1, 24),
            (Severity::P2, 4, 72),
            (Severity::P3, 24, 120),
            (Severity::P4, 48, 168),
        ];
        for (sev, first, resolution) in cases {
            let policy = p.for_case(sev, Channel::App, "service");
            assert_eq!(policy.first_response, Duration::hours(first), "{sev:?}");
            assert_eq!(policy.resolution, Duration::hours(resolution), "{sev:?}");
            assert_eq!(policy.hours, Hours::Calendar);
        }
        // No policy at all: the standard's own defaults.
        let none = Policies::from_toml("", 80).unwrap();
        assert_eq!(
            none.for_case(Severity::P2, Channel::Web, "billing").first_response,
            Duration::hours(4)
        );
    }

    #[test]
    fn the_first_matching_policy_applies() {
        let text = r#"
[[policy]]
name = "billing-office"
category = ["billing"]
severity = ["P3", "P4"]
first_response = "8h"
resolution = "40h"
hours = "business"
[policy.schedule]
offset = "+08:00"
weekdays = "09:00-18:00"

[[policy]]
name = "everything"
first_response = "2h"
resolution = "2d"
"#;
        let p = Policies::from_toml(text, 80).unwrap();
        assert_eq!(p.for_case(Severity::P3, Channel::App, "billing").name, "billing-office");
        assert_eq!(p.for_case(Severity::P2, Channel::App, "billing").name, "everything");
        assert_eq!(p.for_case(Severity::P3, Channel::App, "vehicle").name, "everything");
        assert!(matches!(
            p.for_case(Severity::P3, Channel::App, "billing").hours,
            Hours::Business(_)
        ));
    }

    #[test]
    fn bad_policies_name_the_policy_and_the_field() {
        let no_schedule =
            "[[policy]]\nname = \"x\"\nfirst_response = \"1h\"\nresolution = \"2h\"\nhours = \"business\"\n";
        assert!(matches!(
            Policies::from_toml(no_schedule, 80),
            Err(PolicyError::Field { field: "schedule", .. })
        ));
        let bad_target = "[[policy]]\nname = \"x\"\nfirst_response = \"soon\"\nresolution = \"2h\"\n";
        assert!(matches!(
            Policies::from_toml(bad_target, 80),
            Err(PolicyError::Field {
                field: "first_response",
                ..
            })
        ));
        let bad_severity =
            "[[policy]]\nname = \"x\"\nseverity = [\"P9\"]\nfirst_response = \"1h\"\nresolution = \"2h\"\n";
        assert!(matches!(
            Policies::from_toml(bad_severity, 80),
            Err(PolicyError::Field { field: "severity", .. })
        ));
        assert_eq!(Policies::from_toml("", 100), Err(PolicyError::AtRisk(100)));
    }

    #[test]
    fn targets_parse_in_days_hours_and_minutes() {
        assert_eq!(parse_target("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_target("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_target("5d"), Ok(Duration::days(5)));
        assert!(parse_target("0h").is_err());
        assert!(parse_target("4").is_err());
        assert!(parse_target("4x").is_err());
        assert!(parse_target("400d").is_err());
    }

    #[test]
    fn calendar_hours_count_every_hour_and_the_at_risk_share_is_80_percent() {
        let p = Policies::embedded().unwrap();
        let policy = p.for_case(Severity::P2, Channel::Hotline, "billing").clone();
        let t0 = datetime!(2026-03-06 10:00 +8); // a Friday
        let run = ClockRun {
            spans: vec![open(t0)],
            stopped: false,
        };
        let v = view(
            &p,
            &policy,
            &cal(),
            ClockKind::FirstResponse,
            &run,
            t0 + Duration::hours(3),
        )
        .unwrap();
        assert_eq!(v.spent, Duration::hours(3));
        assert_eq!(v.state, ClockState::Running);
        assert_eq!(v.at_risk_at, Some(t0 + Duration::minutes(192)));
        assert_eq!(v.breach_at, Some(t0 + Duration::hours(4)));
        let v = view(
            &p,
            &policy,
            &cal(),
            ClockKind::FirstResponse,
            &run,
            t0 + Duration::minutes(200),
        )
        .unwrap();
        assert_eq!(v.state, ClockState::AtRisk);
        let v = view(
            &p,
            &policy,
            &cal(),
            ClockKind::FirstResponse,
            &run,
            t0 + Duration::hours(5),
        )
        .unwrap();
        assert_eq!(v.state, ClockState::Breached);
        assert_eq!(v.left, -Duration::hours(1));
    }

    #[test]
    fn waiting_stands_the_clock_still() {
        let p = Policies::embedded().unwrap();
        let policy = p.for_case(Severity::P2, Channel::Hotline, "billing").clone();
        let t0 = datetime!(2026-03-06 10:00 +8);
        // Ran 2 h, waited on the customer 10 h, runs again.
        let run = ClockRun {
            spans: vec![closed(t0, t0 + Duration::hours(2)), open(t0 + Duration::hours(12))],
            stopped: false,
        };
        let now = t0 + Duration::hours(13);
        let v = view(&p, &policy, &cal(), ClockKind::FirstResponse, &run, now).unwrap();
        assert_eq!(v.spent, Duration::hours(3));
        assert_eq!(v.breach_at, Some(t0 + Duration::hours(14)));
        // While it waits: paused, nothing more spent, no breach to come.
        let waiting = ClockRun {
            spans: vec![closed(t0, t0 + Duration::hours(2))],
            stopped: false,
        };
        let v = view(&p, &policy, &cal(), ClockKind::FirstResponse, &waiting, now).unwrap();
        assert_eq!(v.state, ClockState::Paused);
        assert_eq!(v.spent, Duration::hours(2));
        assert_eq!(v.breach_at, None);
    }

    #[test]
    fn a_reopened_case_keeps_what_it_spent() {
        let p = Policies::embedded().unwrap();
        let policy = p.for_case(Severity::P2, Channel::Hotline, "billing").clone();
        let t0 = datetime!(2026-03-02 09:00 +8);
        // Resolved after 60 h; reopened two days later: 12 h left of the 72.
        let reopened = t0 + Duration::hours(108);
        let run = ClockRun {
            spans: vec![closed(t0, t0 + Duration::hours(60)), open(reopened)],
            stopped: false,
        };
        let v = view(
            &p,
            &policy,
            &cal(),
            ClockKind::Resolution,
            &run,
            reopened + Duration::hours(1),
        )
        .unwrap();
        assert_eq!(v.spent, Duration::hours(61));
        assert_eq!(v.state, ClockState::AtRisk, "61 of 72 h is past 80 %");
        assert_eq!(v.breach_at, Some(reopened + Duration::hours(12)));
        // The at-risk share was reached before the resolution (57.6 h in).
        assert_eq!(v.at_risk_at, Some(t0 + Duration::minutes(3456)));
        // Resolved within the target: met.
        let met = ClockRun {
            spans: vec![closed(t0, t0 + Duration::hours(60))],
            stopped: true,
        };
        let v = view(&p, &policy, &cal(), ClockKind::Resolution, &met, reopened).unwrap();
        assert_eq!(v.state, ClockState::Met);
    }

    #[test]
    fn business_hours_skip_the_weekend() {
        let c = cal();
        // Friday 16:00 + 4 business hours (09:00-18:00): 2 h on Friday, 2 h on Monday.
        let fri = datetime!(2026-03-06 16:00 +8);
        let spans = [open(fri)];
        assert_eq!(
            reached_at(&office(), &c, &spans, Duration::hours(4)).unwrap(),
            Some(datetime!(2026-03-09 11:00 +8))
        );
        assert_eq!(
            spent(&office(), &c, &spans, datetime!(2026-03-09 10:00 +8)).unwrap(),
            Duration::hours(3)
        );
    }

    #[test]
    fn business_hours_skip_the_spring_festival_and_count_its_make_up_saturdays() {
        let c = cal();
        // Friday 13 Feb 2026, 17:00: 1 h that day; Saturday 14 Feb is a make-up working day
        // (9 h); 15-23 Feb are the holiday; Tuesday 24 Feb the desk is open again.
        let fri = datetime!(2026-02-13 17:00 +8);
        let spans = [open(fri)];
        assert_eq!(
            reached_at(&office(), &c, &spans, Duration::hours(10)).unwrap(),
            Some(datetime!(2026-02-14 18:00 +8)),
            "the make-up Saturday counts"
        );
        assert_eq!(
            reached_at(&office(), &c, &spans, Duration::hours(12)).unwrap(),
            Some(datetime!(2026-02-24 11:00 +8)),
            "the holiday does not"
        );
        assert_eq!(
            spent(&office(), &c, &spans, datetime!(2026-02-23 23:00 +8)).unwrap(),
            Duration::hours(10)
        );
        // Saturday 28 Feb is a working day too.
        let fri27 = datetime!(2026-02-27 17:00 +8);
        assert_eq!(
            reached_at(&office(), &c, &[open(fri27)], Duration::hours(5)).unwrap(),
            Some(datetime!(2026-02-28 13:00 +8))
        );
    }

    #[test]
    fn business_hours_over_national_day() {
        let c = cal();
        // Wednesday 30 Sep 2026, 16:00: 2 h; 1-7 Oct off; Thursday 8 Oct on.
        let start = datetime!(2026-09-30 16:00 +8);
        assert_eq!(
            reached_at(&office(), &c, &[open(start)], Duration::hours(4)).unwrap(),
            Some(datetime!(2026-10-08 11:00 +8))
        );
        // Saturday 10 Oct is a make-up working day; Sunday 11 Oct is not.
        let fri = datetime!(2026-10-09 17:00 +8);
        assert_eq!(
            reached_at(&office(), &c, &[open(fri)], Duration::hours(3)).unwrap(),
            Some(datetime!(2026-10-10 11:00 +8))
        );
        assert_eq!(
            reached_at(&office(), &c, &[open(fri)], Duration::hours(11)).unwrap(),
            Some(datetime!(2026-10-12 10:00 +8))
        );
        // Sunday 20 Sep is a make-up working day.
        let sat = datetime!(2026-09-19 12:00 +8);
        assert_eq!(
            spent(&office(), &c, &[open(sat)], datetime!(2026-09-20 12:00 +8)).unwrap(),
            Duration::hours(3)
        );
    }

    #[test]
    fn a_business_hours_clock_paused_and_reopened_counts_only_its_open_hours() {
        let c = cal();
        let p = Policies::embedded().unwrap();
        let policy = Policy {
            hours: office(),
            ..Policy::standard(Severity::P2)
        };
        // Monday 9:00-11:00 running, paused until Wednesday 9:00, running since.
        let run = ClockRun {
            spans: vec![
                closed(datetime!(2026-03-02 09:00 +8), datetime!(2026-03-02 11:00 +8)),
                open(datetime!(2026-03-04 09:00 +8)),
            ],
            stopped: false,
        };
        let v = view(
            &p,
            &policy,
            &c,
            ClockKind::FirstResponse,
            &run,
            datetime!(2026-03-04 10:00 +8),
        )
        .unwrap();
        assert_eq!(v.spent, Duration::hours(3));
        assert_eq!(v.state, ClockState::Running, "3 of 4 h is below 80 %");
        assert_eq!(v.at_risk_at, Some(datetime!(2026-03-04 10:12 +8)));
        assert_eq!(v.breach_at, Some(datetime!(2026-03-04 11:00 +8)));
        assert!(v.business_hours);
    }
}
