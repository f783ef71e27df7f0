//! The calendar against the notices' own dates, the data's checks, and business hours.

use proptest::prelude::*;
use time::macros::{date, datetime, offset, time};
use time::{Date, Duration, OffsetDateTime, Weekday};

use super::*;

fn calendar() -> Calendar {
    Calendar::embedded().unwrap()
}

fn kind(c: &Calendar, d: Date) -> String {
    c.day(d).unwrap().to_string()
}

#[test]
fn the_embedded_data_covers_2024_to_2026() {
    let c = calendar();
    assert_eq!(c.notices().map(Notice::year).collect::<Vec<_>>(), [2024, 2025, 2026]);
    for n in c.notices() {
        assert!(n.title().contains(&n.year().to_string()), "{}", n.title());
        assert!(
            n.holidays().len() >= 6,
            "{} lists {} holidays",
            n.year(),
            n.holidays().len()
        );
    }
}

#[test]
fn known_days_of_2024() {
    let c = calendar();
    // Spring Festival: 10-17 Feb off, Sundays 4 and 18 Feb worked.
    assert_eq!(kind(&c, date!(2024 - 02 - 04)), "a make-up working day (春节)");
    assert_eq!(kind(&c, date!(2024 - 02 - 18)), "a make-up working day (春节)");
    assert_eq!(kind(&c, date!(2024 - 02 - 12)), "a day off (春节)");
    assert!(
        c.is_working_day(date!(2024 - 02 - 09)).unwrap(),
        "New Year's Eve 2024 was not a holiday"
    );
    assert!(c.is_working_day(date!(2024 - 02 - 19)).unwrap());
    // Labour Day: 1-5 May off, Sunday 28 April and Saturday 11 May worked.
    assert!(c.is_working_day(date!(2024 - 04 - 28)).unwrap());
    assert!(c.is_working_day(date!(2024 - 05 - 11)).unwrap());
    assert!(!c.is_working_day(date!(2024 - 05 - 03)).unwrap());
    // National Day: 1-7 Oct off, Sunday 29 Sep and Saturday 12 Oct worked.
    assert!(c.is_working_day(date!(2024 - 09 - 29)).unwrap());
    assert!(!c.is_working_day(date!(2024 - 10 - 07)).unwrap());
    assert!(c.is_working_day(date!(2024 - 10 - 12)).unwrap());
    // An ordinary weekend.
    assert_eq!(c.day(date!(2024 - 03 - 09)).unwrap(), DayKind::Weekend);
    assert_eq!(c.day(date!(2024 - 03 - 11)).unwrap(), DayKind::Workday);
}

#[test]
fn known_days_of_2025() {
    let c = calendar();
    assert!(
        c.is_working_day(date!(2025 - 01 - 26)).unwrap(),
        "Sunday 26 Jan was worked"
    );
    assert!(
        c.is_working_day(date!(2025 - 02 - 08)).unwrap(),
        "Saturday 8 Feb was worked"
    );
    assert!(!c.is_working_day(date!(2025 - 01 - 28)).unwrap());
    assert!(!c.is_working_day(date!(2025 - 02 - 04)).unwrap());
    // National Day and Mid-Autumn together: 1-8 Oct off, Sunday 28 Sep and Saturday 11 Oct worked.
    assert_eq!(kind(&c, date!(2025 - 10 - 06)), "a day off (国庆节、中秋节)");
    assert!(!c.is_working_day(date!(2025 - 10 - 08)).unwrap());
    assert!(c.is_working_day(date!(2025 - 10 - 09)).unwrap());
    assert!(c.is_working_day(date!(2025 - 09 - 28)).unwrap());
    assert!(c.is_working_day(date!(2025 - 10 - 11)).unwrap());
    // Tomb-Sweeping Day had no make-up day.
    assert_eq!(kind(&c, date!(2025 - 04 - 04)), "a day off (清明节)");
    assert_eq!(c.day(date!(2025 - 04 - 07)).unwrap(), DayKind::Workday);
}

#[test]
fn known_days_of_2026() {
    let c = calendar();
    let off = |d: Date| assert!(!c.is_working_day(d).unwrap(), "{d} should be off");
    let worked = |d: Date| assert!(c.is_working_day(d).unwrap(), "{d} should be worked");
    for d in [date!(2026 - 01 - 01), date!(2026 - 01 - 02), date!(2026 - 01 - 03)] {
        off(d);
    }
    worked(date!(2026 - 01 - 04));
    assert_eq!(date!(2026 - 01 - 04).weekday(), Weekday::Sunday);
    for day in 15..=23 {
        off(Date::from_calendar_date(2026, Month::February, day).unwrap());
    }
    worked(date!(2026 - 02 - 14));
    worked(date!(2026 - 02 - 28));
    worked(date!(2026 - 02 - 24));
    for day in 1..=5 {
        off(Date::from_calendar_date(2026, Month::May, day).unwrap());
    }
    worked(date!(2026 - 05 - 09));
    worked(date!(2026 - 09 - 20));
    for day in 1..=7 {
        off(Date::from_calendar_date(2026, Month::October, day).unwrap());
    }
    worked(date!(2026 - 10 - 10));
    worked(date!(2026 - 10 - 08));
    assert_eq!(kind(&c, date!(2026 - 06 - 19)), "a day off (端午节)");
    assert_eq!(kind(&c, date!(2026 - 09 - 25)), "a day off (中秋节)");
}

#[test]
fn the_working_days_of_each_year_are_the_notices_count() {
    // Counted from the notices: 251 working days in 2024, 248 in 2025, and 242 in 2026 up to
    // 23 December (the rest of December waits for the 2027 notice).
    let c = calendar();
    assert_eq!(
        c.working_days_between(date!(2023 - 12 - 31), date!(2024 - 12 - 31)),
        Ok(251)
    );
    assert_eq!(
        c.working_days_between(date!(2024 - 12 - 31), date!(2025 - 12 - 31)),
        Ok(248)
    );
    assert_eq!(
        c.working_days_between(date!(2025 - 12 - 31), date!(2026 - 12 - 23)),
        Ok(242)
    );
}

#[test]
fn a_year_without_a_notice_is_an_error_not_a_guess() {
    let c = calendar();
    assert_eq!(c.day(date!(2023 - 06 - 01)), Err(CalendarError::YearNotCovered(2023)));
    assert_eq!(
        c.is_working_day(date!(2027 - 01 - 04)),
        Err(CalendarError::YearNotCovered(2027))
    );
    // The 2027 notice may still set the last days of 2026.
    assert_eq!(c.day(date!(2026 - 12 - 23)).map(|d| d.is_working_day()), Ok(true));
    assert_eq!(c.day(date!(2026 - 12 - 24)), Err(CalendarError::YearNotCovered(2027)));
    assert_eq!(
        c.add_working_days(date!(2026 - 12 - 21), 5),
        Err(CalendarError::YearNotCovered(2027))
    );
    assert_eq!(
        c.working_days_between(date!(2023 - 12 - 01), date!(2024 - 01 - 10)),
        Err(CalendarError::YearNotCovered(2023))
    );
    assert_eq!(
        Calendar::default().day(date!(2026 - 03 - 02)),
        Err(CalendarError::YearNotCovered(2026))
    );
}

#[test]
fn working_days_after_a_date_skip_holidays_and_count_make_up_days() {
    let c = calendar();
    // Monday 28 Sep 2026: 29, 30 Sep, then 8, 9 Oct and the make-up Saturday 10 Oct.
    assert_eq!(c.add_working_days(date!(2026 - 09 - 28), 5), Ok(date!(2026 - 10 - 10)));
    // The renter's 5 working days to appeal, from Friday 24 Jan 2025: Sunday 26 Jan (make-up),
    // Monday 27 Jan, then 5, 6, 7 Feb after the Spring Festival.
    assert_eq!(c.add_working_days(date!(2025 - 01 - 24), 5), Ok(date!(2025 - 02 - 07)));
    assert_eq!(c.add_working_days(date!(2026 - 03 - 07), 0), Ok(date!(2026 - 03 - 07)));
    assert_eq!(c.add_working_days(date!(2026 - 03 - 07), 1), Ok(date!(2026 - 03 - 09)));
    assert_eq!(
        c.working_days_between(date!(2026 - 02 - 13), date!(2026 - 02 - 28)),
        Ok(6)
    );
    assert_eq!(
        c.working_days_between(date!(2026 - 02 - 28), date!(2026 - 02 - 13)),
        Ok(-6)
    );
    assert_eq!(
        c.working_days_between(date!(2026 - 02 - 13), date!(2026 - 02 - 13)),
        Ok(0)
    );
}

const OPERATOR_FILE: &str = r#"
# A made-up notice for a year far ahead, to show that a file adds a year; not real data.
[[year]]
year = 2031
notice = "test data, not a notice"

[[year.holiday]]
name = "测试节"
from = 2031-03-03
to = 2031-03-04
make_up = [2031-03-08]
"#;

#[test]
fn an_operators_file_adds_a_year_and_keeps_the_embedded_ones() {
    let c: Calendar = OPERATOR_FILE.parse().unwrap();
    assert!(c.covers(2024) && c.covers(2026) && c.covers(2031));
    assert!(!c.covers(2030));
    assert_eq!(kind(&c, date!(2031 - 03 - 03)), "a day off (测试节)");
    assert_eq!(kind(&c, date!(2031 - 03 - 08)), "a make-up working day (测试节)");
    assert!(c.is_working_day(date!(2026 - 02 - 14)).unwrap());
    // The file alone knows only its own year.
    let alone = Calendar::from_toml(OPERATOR_FILE).unwrap();
    assert_eq!(
        alone.day(date!(2026 - 02 - 14)),
        Err(CalendarError::YearNotCovered(2026))
    );
}

#[test]
fn an_operators_year_replaces_the_embedded_one_whole() {
    // A (made-up) correction of 2026 that lists only one holiday: the embedded 2026 holidays
    // are gone, not mixed in.
    let correction = r#"
[[year]]
year = 2026
notice = "test correction"
[[year.holiday]]
name = "国庆节"
from = 2026-10-01
to = 2026-10-08
make_up = [2026-09-20, 2026-10-10]
"#;
    let c: Calendar = correction.parse().unwrap();
    assert_eq!(
        c.notices().find(|n| n.year() == 2026).map(Notice::title),
        Some("test correction")
    );
    assert!(!c.is_working_day(date!(2026 - 10 - 08)).unwrap());
    assert!(
        c.is_working_day(date!(2026 - 02 - 16)).unwrap(),
        "the embedded Spring Festival is replaced"
    );
    assert!(c.is_working_day(date!(2024 - 02 - 04)).unwrap(), "other years stay");
}

#[test]
fn a_file_is_read_over_the_embedded_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("holidays.toml");
    std::fs::write(&path, OPERATOR_FILE).unwrap();
    let c = Calendar::from_file(&path).unwrap();
    assert!(c.covers(2025) && c.covers(2031));
    let missing = dir.path().join("none.toml");
    assert!(matches!(Calendar::from_file(&missing), Err(CalendarDataError::Read { path, .. }) if path == missing));
}

/// `body` as the one holiday of a notice for 2031.
fn with_holiday(body: &str) -> Result<Calendar, CalendarDataError> {
    Calendar::from_toml(&format!(
        "[[year]]\nyear = 2031\nnotice = \"test\"\n[[year.holiday]]\nname = \"测试节\"\n{body}\n"
    ))
}

#[test]
fn bad_data_is_refused_with_the_year_and_the_holiday() {
    assert!(matches!(
        Calendar::from_toml("[[year]]\nyear = "),
        Err(CalendarDataError::Syntax(_))
    ));
    // A misspelt key is not silently ignored.
    assert!(matches!(
        with_holiday("from = 2031-03-03\nto = 2031-03-04\nmakeup = []"),
        Err(CalendarDataError::Syntax(m)) if m.contains("makeup")
    ));
    assert!(matches!(
        with_holiday("from = 2031-03-03T09:00:00\nto = 2031-03-04\nmake_up = []"),
        Err(CalendarDataError::NotADate {
            year: 2031,
            field: "from",
            ..
        })
    ));
    assert!(matches!(
        with_holiday("from = 2031-03-04\nto = 2031-03-03\nmake_up = []"),
        Err(CalendarDataError::EndsBeforeStart { year: 2031, .. })
    ));
    assert!(matches!(
        with_holiday("from = 2031-03-01\nto = 2031-05-01\nmake_up = []"),
        Err(CalendarDataError::TooLong { days: 62, .. })
    ));
    assert!(matches!(
        with_holiday("from = 2032-01-01\nto = 2032-01-01\nmake_up = []"),
        Err(CalendarDataError::OutsideYear { date, .. }) if date == date!(2032 - 01 - 01)
    ));
    // 2031-03-05 is a Wednesday: worked anyway, so listing it is a typo.
    assert!(matches!(
        with_holiday("from = 2031-03-03\nto = 2031-03-04\nmake_up = [2031-03-05]"),
        Err(CalendarDataError::MakeUpOnWeekday {
            weekday: Weekday::Wednesday,
            ..
        })
    ));
    assert!(matches!(
        with_holiday("from = 2031-03-01\nto = 2031-03-04\nmake_up = [2031-03-02]"),
        Err(CalendarDataError::Conflict { date, .. }) if date == date!(2031 - 03 - 02)
    ));
    assert!(matches!(
        Calendar::from_toml("[[year]]\nyear = 1949\nnotice = \"x\""),
        Err(CalendarDataError::YearOutOfRange { year: 1949 })
    ));
    assert!(matches!(
        Calendar::from_toml("[[year]]\nyear = 2031\nnotice = \"x\"\n[[year]]\nyear = 2031\nnotice = \"y\""),
        Err(CalendarDataError::DuplicateYear { year: 2031 })
    ));
}

#[test]
fn a_notice_may_set_the_end_of_the_year_before() {
    // As the 2019 notice did: Saturday 29 Dec 2018 worked, 30 Dec to 1 Jan off.
    let c = Calendar::from_toml(
        "[[year]]\nyear = 2018\nnotice = \"t\"\n[[year]]\nyear = 2019\nnotice = \"t\"\n[[year.holiday]]\nname = \"元旦\"\nfrom = 2018-12-30\nto = 2019-01-01\nmake_up = [2018-12-29]\n",
    )
    .unwrap();
    assert!(c.is_working_day(date!(2018 - 12 - 29)).unwrap());
    assert!(!c.is_working_day(date!(2018 - 12 - 31)).unwrap());
    // A day set twice across two notices is refused when they are merged.
    let mut c = c;
    let clash = Calendar::from_toml(
        "[[year]]\nyear = 2018\nnotice = \"t\"\n[[year.holiday]]\nname = \"x\"\nfrom = 2018-12-31\nto = 2018-12-31\nmake_up = []\n",
    )
    .unwrap();
    let before = c.clone();
    assert!(matches!(c.merge(clash), Err(CalendarDataError::Conflict { .. })));
    assert_eq!(c, before, "a refused merge leaves the calendar as it was");
}

// ---- business hours -------------------------------------------------------------------------

fn office() -> WeeklySchedule {
    WeeklySchedule::weekdays(offset!(+8), "09:00-18:00".parse().unwrap())
}

fn hours(h: i64) -> Duration {
    Duration::hours(h)
}

#[test]
fn schedules_parse_and_refuse_what_cannot_be() {
    let day: DayHours = "13:00-18:00, 09:00-12:00".parse().unwrap();
    assert_eq!(day.to_string(), "09:00-12:00, 13:00-18:00");
    assert_eq!(day.total(), hours(8));
    assert_eq!("closed".parse::<DayHours>(), Ok(DayHours::closed()));
    assert_eq!("22:00-24:00".parse::<Interval>().unwrap().duration(), hours(2));
    assert_eq!(Interval::to_midnight(time!(22:00)), "22:00-24:00".parse().unwrap());
    assert!(matches!(
        "18:00-09:00".parse::<Interval>(),
        Err(ScheduleError::Backwards { .. })
    ));
    assert!(matches!(
        Interval::new(time!(9:00), time!(9:00)),
        Err(ScheduleError::Backwards { .. })
    ));
    for bad in [
        "9-18",
        "09:00",
        "09:60-10:00",
        "24:30-25:00",
        "09:00-18:00:00",
        "０9:00-18:00",
    ] {
        assert!(
            matches!(bad.parse::<Interval>(), Err(ScheduleError::Format { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        "09:00-13:00,12:00-18:00".parse::<DayHours>(),
        Err(ScheduleError::Overlap { .. })
    ));
    assert!(
        "09:00-12:00,12:00-18:00".parse::<DayHours>().is_ok(),
        "touching is not overlapping"
    );
}

#[test]
fn business_hours_skip_the_weekend() {
    let c = calendar();
    // Friday 6 March 2026 17:00 to Monday 9 March 10:00: one hour each side of the weekend.
    let d = c.business_duration(
        &office(),
        datetime!(2026-03-06 17:00 +8),
        datetime!(2026-03-09 10:00 +8),
    );
    assert_eq!(d, Ok(hours(2)));
    // The same instants written in UTC: the schedule's offset decides the days.
    let d = c.business_duration(
        &office(),
        datetime!(2026-03-06 09:00 UTC),
        datetime!(2026-03-09 02:00 UTC),
    );
    assert_eq!(d, Ok(hours(2)));
}

#[test]
fn business_hours_skip_a_holiday() {
    let c = calendar();
    // Friday 3 April 2026 17:00 to Tuesday 7 April 10:00: Tomb-Sweeping Day is 4-6 April.
    let d = c.business_duration(
        &office(),
        datetime!(2026-04-03 17:00 +8),
        datetime!(2026-04-07 10:00 +8),
    );
    assert_eq!(d, Ok(hours(2)));
    // A 4-hour deadline from Wednesday 30 Sep 2026 16:00: 2 hours that day, then the National
    // Day break, then 2 hours on Thursday 8 Oct.
    let at = c.add_business_duration(&office(), datetime!(2026-09-30 16:00 +8), hours(4));
    assert_eq!(at, Ok(datetime!(2026-10-08 11:00 +8)));
}

#[test]
fn a_make_up_saturday_has_working_hours() {
    let c = calendar();
    // Friday 13 Feb 2026 17:00 to the make-up Saturday 14 Feb 10:00.
    let d = c.business_duration(
        &office(),
        datetime!(2026-02-13 17:00 +8),
        datetime!(2026-02-14 10:00 +8),
    );
    assert_eq!(d, Ok(hours(2)));
    // From that Saturday's close, through the Spring Festival, to Tuesday 24 Feb 10:00.
    let d = c.business_duration(
        &office(),
        datetime!(2026-02-14 18:00 +8),
        datetime!(2026-02-24 10:00 +8),
    );
    assert_eq!(d, Ok(hours(1)));
    // Make-up days take Monday's hours unless told otherwise.
    let short_mondays = office().with_day(Weekday::Monday, "10:00-16:00".parse().unwrap());
    let d = c.business_duration(
        &short_mondays,
        datetime!(2026-02-14 00:00 +8),
        datetime!(2026-02-15 00:00 +8),
    );
    assert_eq!(d, Ok(hours(6)));
    let own = short_mondays.with_make_up_days("09:00-12:00".parse().unwrap());
    let d = c.business_duration(&own, datetime!(2026-02-14 00:00 +8), datetime!(2026-02-15 00:00 +8));
    assert_eq!(d, Ok(hours(3)));
}

#[test]
fn a_desk_open_on_saturdays_is_closed_on_holidays() {
    let c = calendar();
    let desk = office().with_day(Weekday::Saturday, "10:00-14:00".parse().unwrap());
    // An ordinary Saturday has its hours; Saturday 3 Oct 2026 is in the National Day break.
    let week = |from: OffsetDateTime| c.business_duration(&desk, from, from + Duration::days(1));
    assert_eq!(week(datetime!(2026-03-07 00:00 +8)), Ok(hours(4)));
    assert_eq!(week(datetime!(2026-10-03 00:00 +8)), Ok(Duration::ZERO));
}

#[test]
fn a_fixed_offset_week_has_the_same_hours_in_march_and_november() {
    // Other zones change their clocks in March and November; +08:00 does not, so a plain week
    // is 45 office hours in both.
    let c = calendar();
    let week = |monday: OffsetDateTime| c.business_duration(&office(), monday, monday + Duration::weeks(1));
    assert_eq!(week(datetime!(2026-03-09 00:00 +8)), Ok(hours(45)));
    assert_eq!(week(datetime!(2026-11-02 00:00 +8)), Ok(hours(45)));
    // A week across the UTC day boundary counts the same.
    assert_eq!(week(datetime!(2026-03-08 20:00 UTC)), Ok(hours(45)));
}

#[test]
fn a_deadline_at_a_closing_time_is_that_closing_time() {
    let c = calendar();
    let at = c.add_business_duration(&office(), datetime!(2026-03-09 09:00 +8), hours(9));
    assert_eq!(at, Ok(datetime!(2026-03-09 18:00 +8)));
    // Starting outside hours, the clock starts at the next opening.
    let at = c.add_business_duration(&office(), datetime!(2026-03-07 12:00 +8), hours(1));
    assert_eq!(at, Ok(datetime!(2026-03-09 10:00 +8)));
    // The deadline keeps the start's offset.
    let at = c
        .add_business_duration(&office(), datetime!(2026-03-09 01:00 UTC), hours(1))
        .unwrap();
    assert_eq!(at, datetime!(2026-03-09 10:00 +8));
    assert_eq!(at.offset(), offset!(UTC));
}

#[test]
fn business_time_refuses_what_it_cannot_know() {
    let c = calendar();
    assert_eq!(
        c.business_duration(
            &office(),
            datetime!(2023-12-29 09:00 +8),
            datetime!(2024-01-02 09:00 +8)
        ),
        Err(CalendarError::YearNotCovered(2023))
    );
    assert_eq!(
        c.add_business_duration(&office(), datetime!(2026-12-21 09:00 +8), hours(40)),
        Err(CalendarError::YearNotCovered(2027))
    );
    assert_eq!(
        c.add_business_duration(&office(), datetime!(2026-03-09 09:00 +8), hours(-1)),
        Err(CalendarError::NegativeDuration(hours(-1)))
    );
    // A schedule with no hours at all finds none until the data runs out.
    let never = WeeklySchedule::closed(offset!(+8));
    assert_eq!(
        c.add_business_duration(&never, datetime!(2026-03-09 09:00 +8), hours(1)),
        Err(CalendarError::YearNotCovered(2027))
    );
    // Backwards spans are negative.
    assert_eq!(
        c.business_duration(
            &office(),
            datetime!(2026-03-09 10:00 +8),
            datetime!(2026-03-06 17:00 +8)
        ),
        Ok(hours(-2))
    );
}

// ---- properties -----------------------------------------------------------------------------

/// A date from 2024-01-01 to 2026-11-30, leaving room before the end of the data.
fn covered_date() -> impl Strategy<Value = Date> {
    (0i64..(365 + 366 + 365 - 31)).prop_map(|n| date!(2024 - 01 - 01) + Duration::days(n))
}

/// An instant in the covered years, to the nanosecond, in one of a few offsets.
fn covered_instant() -> impl Strategy<Value = OffsetDateTime> {
    let offsets = prop::sample::select(vec![offset!(+8), offset!(UTC), offset!(-5), offset!(+5:45)]);
    (covered_date(), 0i64..86_400_000_000_000, offsets)
        .prop_map(|(d, nanos, o)| (d.midnight().assume_offset(offset!(+8)) + Duration::nanoseconds(nanos)).to_offset(o))
}

fn schedule() -> impl Strategy<Value = WeeklySchedule> {
    prop::sample::select(vec![
        office(),
        WeeklySchedule::weekdays(offset!(+8), "09:00-12:00, 13:00-18:00".parse().unwrap())
            .with_day(Weekday::Saturday, "10:00-14:00".parse().unwrap()),
        // Open around the clock every day but holidays.
        [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
            Weekday::Saturday,
            Weekday::Sunday,
        ]
        .into_iter()
        .fold(WeeklySchedule::closed(offset!(+8)), |s, d| {
            s.with_day(d, "00:00-24:00".parse().unwrap())
        }),
    ])
}

proptest! {
    #[test]
    fn adding_working_days_and_counting_them_agree(d in covered_date(), n in 0u32..400) {
        let c = calendar();
        match c.add_working_days(d, n) {
            Ok(end) => {
                prop_assert_eq!(c.working_days_between(d, end), Ok(i64::from(n)));
                if n > 0 {
                    prop_assert!(c.is_working_day(end).unwrap());
                }
            }
            Err(e) => prop_assert_eq!(e, CalendarError::YearNotCovered(2027)),
        }
    }

    #[test]
    fn counting_forward_then_adding_lands_on_the_last_working_day(a in covered_date(), b in covered_date()) {
        let c = calendar();
        let (a, b) = (a.min(b), a.max(b));
        let n = c.working_days_between(a, b).unwrap();
        let landed = c.add_working_days(a, u32::try_from(n).unwrap()).unwrap();
        prop_assert!(landed <= b);
        prop_assert_eq!(c.working_days_between(landed, b), Ok(0));
    }

    #[test]
    fn a_deadline_is_exactly_the_business_time_added(s in covered_instant(), nanos in 0i64..(400 * 3_600 * 1_000_000_000), sched in schedule()) {
        let c = calendar();
        let d = Duration::nanoseconds(nanos);
        match c.add_business_duration(&sched, s, d) {
            Ok(deadline) => {
                prop_assert!(deadline >= s);
                prop_assert_eq!(c.business_duration(&sched, s, deadline), Ok(d));
            }
            Err(e) => prop_assert_eq!(e, CalendarError::YearNotCovered(2027)),
        }
    }

    #[test]
    fn business_time_adds_up_and_never_exceeds_the_span(a in covered_instant(), b in covered_instant(), m in covered_instant(), sched in schedule()) {
        let c = calendar();
        let (a, b) = (a.min(b), a.max(b));
        let m = m.clamp(a, b);
        let whole = c.business_duration(&sched, a, b).unwrap();
        prop_assert!(whole >= Duration::ZERO && whole <= b - a);
        prop_assert_eq!(whole, c.business_duration(&sched, a, m).unwrap() + c.business_duration(&sched, m, b).unwrap());
        prop_assert_eq!(c.business_duration(&sched, b, a), Ok(-whole));
    }

    #[test]
    fn loading_any_text_never_panics(text in any::<String>()) {
        let _ = Calendar::from_toml(&text);
    }
}
