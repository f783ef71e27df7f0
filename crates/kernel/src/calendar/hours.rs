//! Business hours: a weekly schedule of opening intervals in a fixed UTC offset, and the
//! durations the complaint SLA clocks count in it ([`Calendar::business_duration`]) and the
//! deadlines they set ([`Calendar::add_business_duration`]).
//!
//! The rules, in order, for a date:
//!
//! - a holiday has no hours, whatever the weekday's schedule;
//! - a make-up working day is worked as a normal working day: it has the schedule's make-up
//!   hours, which are Monday's unless set otherwise ([`WeeklySchedule::with_make_up_days`]),
//!   since the notice moves a whole working day there and says nothing of which weekday's;
//! - any other day has its weekday's hours (a desk that opens on Saturdays opens on ordinary
//!   Saturdays).
//!
//! The offset is fixed (China has had no daylight-saving time since 1991), so a business day
//! is always the same number of hours and arithmetic on it is exact to the nanosecond. An
//! interval lies within one day; a desk open past midnight has two intervals, one ending at
//! 24:00 and one starting at 00:00.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime, Time, UtcOffset, Weekday};

use super::{Calendar, CalendarError, DayKind};

/// Seconds in a day: the end of an interval that closes at midnight.
const DAY_SECONDS: u32 = 86_400;

/// A schedule that cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{input:?} is not opening hours like 09:00-18:00 (several separated by commas, or \"closed\")")]
    Format { input: String },
    #[error("the interval {start}-{end} ends before it starts or is empty")]
    Backwards { start: String, end: String },
    #[error("the intervals {first} and {second} overlap")]
    Overlap { first: Interval, second: Interval },
}

/// An opening interval within a day, `[start, end)`, to the second; `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// Seconds after midnight, `start < end <= 86,400`.
    start: u32,
    end: u32,
}

impl Interval {
    /// `[start, end)` on one day; `end` after `start`. Opening hours are kept to the second, so
    /// a fraction of a second in `start` or `end` is dropped.
    pub fn new(start: Time, end: Time) -> Result<Self, ScheduleError> {
        Self::from_seconds(seconds_of(start), seconds_of(end))
    }

    /// From `start` until midnight at the end of the day.
    pub fn to_midnight(start: Time) -> Self {
        // seconds_of is below 86,400, so this interval is never empty.
        Self {
            start: seconds_of(start),
            end: DAY_SECONDS,
        }
    }

    fn from_seconds(start: u32, end: u32) -> Result<Self, ScheduleError> {
        if start >= end || end > DAY_SECONDS {
            return Err(ScheduleError::Backwards {
                start: clock(start),
                end: clock(end),
            });
        }
        Ok(Self { start, end })
    }

    pub fn duration(&self) -> Duration {
        Duration::seconds(i64::from(self.end - self.start))
    }

    fn start(&self) -> Duration {
        Duration::seconds(i64::from(self.start))
    }

    fn end(&self) -> Duration {
        Duration::seconds(i64::from(self.end))
    }
}

fn seconds_of(t: Time) -> u32 {
    let (h, m, s) = t.as_hms();
    u32::from(h) * 3_600 + u32::from(m) * 60 + u32::from(s)
}

/// `HH:MM`, or `HH:MM:SS` when the interval is not on a whole minute.
fn clock(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `HH:MM` of 00:00 to 24:00.
fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let seconds = h * 3_600 + m * 60;
    (m < 60 && seconds <= DAY_SECONDS).then_some(seconds)
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

impl FromStr for Interval {
    type Err = ScheduleError;

    /// `09:00-18:00`; the end may be `24:00`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let format = || ScheduleError::Format { input: text.to_owned() };
        let (start, end) = text.split_once('-').ok_or_else(format)?;
        let (start, end) = (
            parse_clock(start).ok_or_else(format)?,
            parse_clock(end).ok_or_else(format)?,
        );
        Self::from_seconds(start, end)
    }
}

/// A day's opening intervals, sorted and not overlapping; none when closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DayHours(Vec<Interval>);

/// The hours of a holiday.
static CLOSED: DayHours = DayHours(Vec::new());

impl DayHours {
    pub fn closed() -> Self {
        Self(Vec::new())
    }

    /// The intervals in any order; refused when two overlap (touching is fine: 09:00-12:00
    /// and 12:00-18:00).
    pub fn new(mut intervals: Vec<Interval>) -> Result<Self, ScheduleError> {
        intervals.sort();
        if let Some(pair) = intervals.windows(2).find(|w| w[1].start < w[0].end) {
            return Err(ScheduleError::Overlap {
                first: pair[0],
                second: pair[1],
            });
        }
        Ok(Self(intervals))
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.0
    }

    /// The open time of the day.
    pub fn total(&self) -> Duration {
        self.0.iter().map(Interval::duration).sum()
    }
}

impl FromStr for DayHours {
    type Err = ScheduleError;

    /// `09:00-12:00, 13:00-18:00`, or `closed` (or nothing) for a day without hours.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("closed") {
            return Ok(Self::closed());
        }
        let intervals = text.split(',').map(str::parse).collect::<Result<Vec<_>, _>>()?;
        Self::new(intervals)
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("closed");
        }
        for (i, interval) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            interval.fmt(f)?;
        }
        Ok(())
    }
}

/// Opening hours per weekday in a fixed UTC offset, plus the hours of make-up working days.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeeklySchedule {
    offset: UtcOffset,
    /// Monday first, as `Weekday::number_days_from_monday` counts.
    days: [DayHours; 7],
    /// `None`: make-up days have Monday's hours.
    make_up: Option<DayHours>,
}

impl WeeklySchedule {
    /// A schedule with no hours on any day, to fill with [`with_day`](Self::with_day).
    pub fn closed(offset: UtcOffset) -> Self {
        Self {
            offset,
            days: Default::default(),
            make_up: None,
        }
    }

    /// `hours` from Monday to Friday, closed at weekends: the common office schedule.
    pub fn weekdays(offset: UtcOffset, hours: DayHours) -> Self {
        use Weekday::*;
        [Monday, Tuesday, Wednesday, Thursday, Friday]
            .into_iter()
            .fold(Self::closed(offset), |s, d| s.with_day(d, hours.clone()))
    }

    pub fn with_day(mut self, weekday: Weekday, hours: DayHours) -> Self {
        self.days[usize::from(weekday.number_days_from_monday())] = hours;
        self
    }

    /// The hours of make-up working days, when they are not Monday's.
    pub fn with_make_up_days(mut self, hours: DayHours) -> Self {
        self.make_up = Some(hours);
        self
    }

    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    pub fn hours(&self, weekday: Weekday) -> &DayHours {
        &self.days[usize::from(weekday.number_days_from_monday())]
    }

    pub fn make_up_hours(&self) -> &DayHours {
        self.make_up.as_ref().unwrap_or_else(|| self.hours(Weekday::Monday))
    }
}

impl Calendar {
    /// The hours `schedule` has on `date` under this calendar (see the module's rules).
    pub fn hours_on<'s>(&self, schedule: &'s WeeklySchedule, date: time::Date) -> Result<&'s DayHours, CalendarError> {
        Ok(match self.day(date)? {
            DayKind::Holiday(_) => &CLOSED,
            DayKind::MakeUpWorkday(_) => schedule.make_up_hours(),
            DayKind::Workday | DayKind::Weekend => schedule.hours(date.weekday()),
        })
    }

    /// The business time from `start` to `end` under `schedule`: the parts of its opening
    /// intervals that lie between them. Negative when `end` is before `start`. Every date the
    /// span touches must be covered by the calendar (an empty span touches none).
    pub fn business_duration(
        &self,
        schedule: &WeeklySchedule,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Duration, CalendarError> {
        if end < start {
            return Ok(-self.business_duration(schedule, end, start)?);
        }
        if end == start {
            return Ok(Duration::ZERO);
        }
        let (start, end) = (local(start, schedule)?, local(end, schedule)?);
        let mut total = Duration::ZERO;
        let mut date = start.date();
        loop {
            let midnight = date.midnight().assume_offset(schedule.offset);
            // A span that ends at midnight does not reach into the next day (nor need its data).
            if date != start.date() && midnight >= end {
                break;
            }
            for interval in self.hours_on(schedule, date)?.intervals() {
                let open = (midnight + interval.start()).max(start);
                let close = (midnight + interval.end()).min(end);
                if close > open {
                    total += close - open;
                }
            }
            date = super::next_day(date)?;
        }
        Ok(total)
    }

    /// The instant at which `duration` of business time under `schedule` has passed since
    /// `start` (an SLA deadline), in `start`'s offset. A deadline that falls exactly at a
    /// closing time is that closing time, not the next opening. `start` itself when the
    /// duration is zero (nothing is looked up then). Fails with [`CalendarError::YearNotCovered`] when the covered years
    /// run out first.
    pub fn add_business_duration(
        &self,
        schedule: &WeeklySchedule,
        start: OffsetDateTime,
        duration: Duration,
    ) -> Result<OffsetDateTime, CalendarError> {
        if duration.is_negative() {
            return Err(CalendarError::NegativeDuration(duration));
        }
        if duration.is_zero() {
            return Ok(start);
        }
        let from = local(start, schedule)?;
        let mut date = from.date();
        let mut left = duration;
        loop {
            let midnight = date.midnight().assume_offset(schedule.offset);
            for interval in self.hours_on(schedule, date)?.intervals() {
                let open = (midnight + interval.start()).max(from);
                let close = midnight + interval.end();
                if close <= open {
                    continue;
                }
                if left <= close - open {
                    let at = open + left;
                    return at
                        .checked_to_offset(start.offset())
                        .ok_or_else(|| CalendarError::OutOfRange(at.to_string()));
                }
                left -= close - open;
            }
            date = super::next_day(date)?;
        }
    }
}

/// `at` in the schedule's offset, where its dates are counted.
fn local(at: OffsetDateTime, schedule: &WeeklySchedule) -> Result<OffsetDateTime, CalendarError> {
    at.checked_to_offset(schedule.offset)
        .ok_or_else(|| CalendarError::OutOfRange(at.to_string()))
}
