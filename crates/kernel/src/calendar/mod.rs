//! The working-day calendar: Chinese public holidays and make-up working days (调休), as data
//! per year, and the arithmetic the desk's deadlines need — "5 working days after", working days
//! between two dates, and business hours over a weekly schedule ([`WeeklySchedule`]).
//!
//! **The data** is one notice per year, as the State Council General Office publishes it
//! (usually in November for the next year). The notices of 2024 to 2026 are embedded
//! (`data/cn-holidays.toml`); an operator's file of the same form, loaded with
//! [`Calendar::from_file`], adds a year or corrects one without a release: each year it holds
//! replaces that year of the embedded data.
//!
//! **A working day** is a make-up working day, or a Monday to Friday that is not a holiday.
//!
//! **No guessing**: a date whose year has no notice loaded is an error,
//! [`CalendarError::YearNotCovered`]. A notice may also set days at the end of the year before
//! (the 2019 notice made Saturday 29 December 2018 a working day and 30–31 December holidays), so
//! a date from 24 December on needs the next year's notice as well, and names that year when it
//! is missing.

mod hours;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use time::{Date, Month, Weekday};

pub use hours::{DayHours, Interval, ScheduleError, WeeklySchedule};

/// The notices embedded in the crate.
const EMBEDDED: &str = include_str!("../../data/cn-holidays.toml");

/// Years a notice may be for: business dates start in 1970, and the year after must still be a
/// date this code represents.
const YEARS: std::ops::RangeInclusive<i64> = 1970..=9998;

/// From this day of December on, a date also depends on the next year's notice.
const NEXT_NOTICE_FROM_DECEMBER: u8 = 24;

/// A holiday lasts at most this many days; a longer range is a typo in the data.
const MAX_HOLIDAY_DAYS: i64 = 31;

/// A question the calendar cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// No notice for the year is loaded, so whether its days are worked is not known.
    #[error("the calendar has no holiday notice for {0}; load that year's data")]
    YearNotCovered(i32),
    /// A business duration to add was negative.
    #[error("cannot add a negative business duration ({0})")]
    NegativeDuration(time::Duration),
    /// An instant outside the dates this code represents once moved to the schedule's offset.
    #[error("{0} is out of the range of dates this calendar works with")]
    OutOfRange(String),
}

/// Calendar data that cannot be loaded. Each case names the year and holiday, so an operator
/// can find the line.
#[derive(Debug, thiserror::Error)]
pub enum CalendarDataError {
    #[error("cannot read the calendar file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML of the expected form (the message has the line and column).
    #[error("calendar data: {0}")]
    Syntax(String),
    #[error("calendar data: {year} is not a year this calendar takes (1970 to 9998)")]
    YearOutOfRange { year: i64 },
    #[error("calendar data: {year} is given twice")]
    DuplicateYear { year: i32 },
    #[error("calendar data: {field} of {holiday} in {year} must be a date like {year}-01-01, not {value}")]
    NotADate {
        year: i32,
        holiday: String,
        field: &'static str,
        value: String,
    },
    #[error("calendar data: {holiday} in {year} ends on {to}, before it starts on {from}")]
    EndsBeforeStart {
        year: i32,
        holiday: String,
        from: Date,
        to: Date,
    },
    #[error("calendar data: {holiday} in {year} lasts {days} days; a holiday lasts at most 31")]
    TooLong { year: i32, holiday: String, days: i64 },
    /// The notice for a year sets days in that year, or at the very end of the one before.
    #[error("calendar data: {date} ({holiday}) is not a day the notice for {year} sets")]
    OutsideYear { year: i32, holiday: String, date: Date },
    /// Make-up working days are weekend days worked in exchange; a weekday is worked anyway,
    /// so one listed is a typo.
    #[error("calendar data: make-up working day {date} ({holiday} in {year}) is a {weekday}, not a Saturday or Sunday")]
    MakeUpOnWeekday {
        year: i32,
        holiday: String,
        date: Date,
        weekday: Weekday,
    },
    #[error("calendar data: {date} is set twice, as {first} and as {second}")]
    Conflict { date: Date, first: String, second: String },
}

/// One holiday of a notice: the break and the weekend days worked in exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    name: String,
    from: Date,
    to: Date,
    make_up: Vec<Date>,
}

impl Holiday {
    /// The holiday's name as the notice writes it, e.g. `春节`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first day of the break.
    pub fn from(&self) -> Date {
        self.from
    }

    /// The last day of the break (inclusive).
    pub fn to(&self) -> Date {
        self.to
    }

    /// The weekend days worked in exchange for the break.
    pub fn make_up(&self) -> &[Date] {
        &self.make_up
    }
}

/// One year's notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    year: i32,
    title: String,
    holidays: Vec<Holiday>,
}

impl Notice {
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The notice's title, to find it again.
    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }
}

/// What a date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind<'a> {
    /// Monday to Friday, no holiday.
    Workday,
    /// Saturday or Sunday, no holiday and not worked in exchange for one.
    Weekend,
    /// A day of a holiday's break, whatever weekday it is.
    Holiday(&'a Holiday),
    /// A weekend day worked in exchange for the holiday's break.
    MakeUpWorkday(&'a Holiday),
}

impl DayKind<'_> {
    pub fn is_working_day(&self) -> bool {
        matches!(self, Self::Workday | Self::MakeUpWorkday(_))
    }
}

/// A day a notice sets, pointing at its holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Off { year: i32, holiday: usize },
    MakeUp { year: i32, holiday: usize },
}

/// The working-day calendar. Build it once at start-up ([`Calendar::embedded`],
/// [`Calendar::from_file`]) and pass it to the code that needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    notices: BTreeMap<i32, Notice>,
    /// Every day any loaded notice sets, for lookups; rebuilt (and checked for days set twice)
    /// whenever notices change.
    days: BTreeMap<Date, Special>,
}

impl Calendar {
    /// The embedded notices (2024 to 2026).
    pub fn embedded() -> Result<Self, CalendarDataError> {
        Self::from_toml(EMBEDDED)
    }

    /// The notices in `text` alone, without the embedded ones.
    pub fn from_toml(text: &str) -> Result<Self, CalendarDataError> {
        let file: FileData = toml::from_str(text).map_err(|e| CalendarDataError::Syntax(e.to_string()))?;
        let mut notices = BTreeMap::new();
        for year in file.year {
            let notice = year.into_notice()?;
            let y = notice.year;
            if notices.insert(y, notice).is_some() {
                return Err(CalendarDataError::DuplicateYear { year: y });
            }
        }
        let days = index(&notices)?;
        Ok(Self { notices, days })
    }

    /// The embedded notices with an operator's file over them: each year the file holds
    /// replaces that year. The one function of the kernel that touches the file system, for a
    /// service's start-up.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CalendarDataError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CalendarDataError::Read {
            path: path.to_owned(),
            source,
        })?;
        text.parse()
    }

    /// Puts `other`'s notices over these: each year `other` holds replaces that year here.
    /// Leaves `self` as it was when the result sets a day twice.
    pub fn merge(&mut self, other: Calendar) -> Result<(), CalendarDataError> {
        let mut notices = self.notices.clone();
        notices.extend(other.notices);
        self.days = index(&notices)?;
        self.notices = notices;
        Ok(())
    }

    /// The loaded notices, by year.
    pub fn notices(&self) -> impl Iterator<Item = &Notice> {
        self.notices.values()
    }

    /// Whether the notice for `year` is loaded.
    pub fn covers(&self, year: i32) -> bool {
        self.notices.contains_key(&year)
    }

    /// What `date` is, or which year's notice is missing to tell.
    pub fn day(&self, date: Date) -> Result<DayKind<'_>, CalendarError> {
        self.require(date)?;
        let holiday = |year: i32, i: usize| self.notices.get(&year).and_then(|n| n.holidays.get(i));
        Ok(match self.days.get(&date) {
            // The index only points at loaded notices' holidays; a miss would be a bug, and
            // then the weekday rule is the honest fallback.
            Some(&Special::Off { year, holiday: i }) => {
                holiday(year, i).map_or_else(|| by_weekday(date), DayKind::Holiday)
            }
            Some(&Special::MakeUp { year, holiday: i }) => {
                holiday(year, i).map_or_else(|| by_weekday(date), DayKind::MakeUpWorkday)
            }
            None => by_weekday(date),
        })
    }

    pub fn is_working_day(&self, date: Date) -> Result<bool, CalendarError> {
        Ok(self.day(date)?.is_working_day())
    }

    /// The `n`-th working day after `date` ("5 working days after"); `date` itself when `n` is
    /// 0. `date` need not be a working day, nor covered: only the days after it are looked up.
    pub fn add_working_days(&self, date: Date, n: u32) -> Result<Date, CalendarError> {
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = next_day(day)?;
            if self.is_working_day(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// The working days after `start` up to and including `end`; negative when `end` is before
    /// `start`. So `working_days_between(d, add_working_days(d, n)?) == n`, and the working
    /// days of 2025 are `working_days_between(2024-12-31, 2025-12-31)`. Only the days counted
    /// are looked up.
    pub fn working_days_between(&self, start: Date, end: Date) -> Result<i64, CalendarError> {
        if end < start {
            return Ok(-self.working_days_between(end, start)?);
        }
        let mut count = 0;
        let mut day = start;
        while day < end {
            day = next_day(day)?;
            if self.is_working_day(day)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Checks that the notices `date` depends on are loaded.
    fn require(&self, date: Date) -> Result<(), CalendarError> {
        let year = date.year();
        if !self.covers(year) {
            return Err(CalendarError::YearNotCovered(year));
        }
        if date.month() == Month::December && date.day() >= NEXT_NOTICE_FROM_DECEMBER && !self.covers(year + 1) {
            return Err(CalendarError::YearNotCovered(year + 1));
        }
        Ok(())
    }
}

impl FromStr for Calendar {
    type Err = CalendarDataError;

    /// The embedded notices with the notices in `text` over them, as [`Calendar::from_file`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut calendar = Self::embedded()?;
        calendar.merge(Self::from_toml(text)?)?;
        Ok(calendar)
    }
}

fn by_weekday(date: Date) -> DayKind<'static> {
    match date.weekday() {
        Weekday::Saturday | Weekday::Sunday => DayKind::Weekend,
        _ => DayKind::Workday,
    }
}

fn next_day(date: Date) -> Result<Date, CalendarError> {
    date.next_day()
        .ok_or_else(|| CalendarError::OutOfRange(date.to_string()))
}

/// Every day the notices set, refusing a day set twice (within a notice or across two).
fn index(notices: &BTreeMap<i32, Notice>) -> Result<BTreeMap<Date, Special>, CalendarDataError> {
    let describe = |special: Special| {
        let (year, i, what) = match special {
            Special::Off { year, holiday } => (year, holiday, "a day off"),
            Special::MakeUp { year, holiday } => (year, holiday, "a make-up working day"),
        };
        let name = notices
            .get(&year)
            .and_then(|n| n.holidays.get(i))
            .map_or("?", |h| h.name.as_str());
        format!("{what} of {name} in {year}")
    };
    let mut days = BTreeMap::new();
    for notice in notices.values() {
        for (i, holiday) in notice.holidays.iter().enumerate() {
            let off = Special::Off {
                year: notice.year,
                holiday: i,
            };
            let make_up = Special::MakeUp {
                year: notice.year,
                holiday: i,
            };
            let break_days =
                std::iter::successors(Some(holiday.from), |d| d.next_day()).take_while(|d| *d <= holiday.to);
            let set = break_days
                .map(|d| (d, off))
                .chain(holiday.make_up.iter().map(|&d| (d, make_up)));
            for (date, special) in set {
                if let Some(&first) = days.get(&date) {
                    return Err(CalendarDataError::Conflict {
                        date,
                        first: describe(first),
                        second: describe(special),
                    });
                }
                days.insert(date, special);
            }
        }
    }
    Ok(days)
}

/// The data file's form; see `data/cn-holidays.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    #[serde(default)]
    year: Vec<YearData>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearData {
    year: i64,
    notice: String,
    #[serde(default)]
    holiday: Vec<HolidayData>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayData {
    name: String,
    from: toml::value::Datetime,
    to: toml::value::Datetime,
    make_up: Vec<toml::value::Datetime>,
}

impl YearData {
    fn into_notice(self) -> Result<Notice, CalendarDataError> {
        let year = i32::try_from(self.year)
            .ok()
            .filter(|_| YEARS.contains(&self.year))
            .ok_or(CalendarDataError::YearOutOfRange { year: self.year })?;
        let holidays = self
            .holiday
            .into_iter()
            .map(|h| h.into_holiday(year))
            .collect::<Result<_, _>>()?;
        Ok(Notice {
            year,
            title: self.notice,
            holidays,
        })
    }
}

impl HolidayData {
    fn into_holiday(self, year: i32) -> Result<Holiday, CalendarDataError> {
        let name = self.name;
        let date = |field: &'static str, value: &toml::value::Datetime| {
            to_date(value).ok_or_else(|| CalendarDataError::NotADate {
                year,
                holiday: name.clone(),
                field,
                value: value.to_string(),
            })
        };
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        let make_up = self
            .make_up
            .iter()
            .map(|d| date("make_up", d))
            .collect::<Result<Vec<_>, _>>()?;
        if to < from {
            return Err(CalendarDataError::EndsBeforeStart {
                year,
                holiday: name,
                from,
                to,
            });
        }
        let days = (to - from).whole_days() + 1;
        if days > MAX_HOLIDAY_DAYS {
            return Err(CalendarDataError::TooLong {
                year,
                holiday: name,
                days,
            });
        }
        // The notice's own year, or the end of the year before (see the module's doc).
        let first_day = Date::from_calendar_date(year - 1, Month::December, NEXT_NOTICE_FROM_DECEMBER);
        let last_day = Date::from_calendar_date(year, Month::December, 31);
        for &d in [from, to].iter().chain(&make_up) {
            let inside = matches!((first_day, last_day), (Ok(a), Ok(b)) if (a..=b).contains(&d));
            if !inside {
                return Err(CalendarDataError::OutsideYear {
                    year,
                    holiday: name,
                    date: d,
                });
            }
        }
        if let Some(&d) = make_up
            .iter()
            .find(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
        {
            return Err(CalendarDataError::MakeUpOnWeekday {
                year,
                holiday: name,
                date: d,
                weekday: d.weekday(),
            });
        }
        Ok(Holiday {
            name,
            from,
            to,
            make_up,
        })
    }
}

/// A TOML local date (`2026-01-01`, no time, no offset) as a date.
fn to_date(value: &toml::value::Datetime) -> Option<Date> {
    match value {
        toml::value::Datetime {
            date: Some(d),
            time: None,
            offset: None,
        } => Date::from_calendar_date(i32::from(d.year), Month::try_from(d.month).ok()?, d.day).ok(),
        _ => None,
    }
}

impl fmt::Display for DayKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Workday => f.write_str("a working day"),
            Self::Weekend => f.write_str("a weekend day"),
            Self::Holiday(h) => write!(f, "a day off ({})", h.name),
            Self::MakeUpWorkday(h) => write!(f, "a make-up working day ({})", h.name),
        }
    }
}

#[cfg(test)]
mod tests;
