//! Turning wire values into text a person reads, and typed-in text into wire values: RFC 3339
//! times (printed in China time, +08:00, unless `--utc`), integer fen as yuan, and the short names
//! of the API's enums.

use prost_types::Timestamp;
use rentops_proto::{common, order};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The offset times are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// China Standard Time, +08:00 all year (no daylight saving): where the desk works.
    China,
    Utc,
}

impl Zone {
    fn offset(self) -> UtcOffset {
        match self {
            Self::China => time::macros::offset!(+8),
            Self::Utc => UtcOffset::UTC,
        }
    }
}

/// How times print: in which offset, and whether to the nanosecond (JSON, exact for scripts)
/// or to the second (tables, for reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub zone: Zone,
    pub whole_seconds: bool,
}

impl Times {
    pub fn new(zone: Zone, whole_seconds: bool) -> Self {
        Self { zone, whole_seconds }
    }

    /// A time from the wire, or `None` when the field was not set.
    pub fn opt(&self, ts: Option<&Timestamp>) -> Option<String> {
        ts.map(|ts| render(ts, self.zone, self.whole_seconds))
    }
}

/// A time typed on the command line. RFC 3339 only, and so always with an offset: a bare
/// "10:00" would be ambiguous between the desk's time and the server's.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|e| {
        format!("'{s}' is not an RFC 3339 time ({e}); write e.g. 2026-12-01T10:00:00+08:00 or 2026-12-01T02:00:00Z")
    })
}

/// A time for the wire.
pub fn timestamp(t: OffsetDateTime) -> Timestamp {
    rentops_proto::timestamp::to_timestamp(t)
}

/// A time from the wire in RFC 3339 at `zone`'s offset; cutting to whole seconds floors, as a
/// clock does. A timestamp the services would refuse (out of range: a bug on the other side,
/// not a reason to crash) prints as its raw parts.
fn render(ts: &Timestamp, zone: Zone, whole_seconds: bool) -> String {
    rentops_proto::timestamp::from_timestamp(ts)
        .ok()
        .and_then(|t| {
            if whole_seconds {
                t.replace_nanosecond(0).ok()
            } else {
                Some(t)
            }
        })
        .and_then(|t| t.checked_to_offset(zone.offset()))
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("<invalid time {}s {}ns>", ts.seconds, ts.nanos))
}

/// Integer fen as yuan with two decimals: 45000 → "450.00", -5 → "-0.05". Integer arithmetic
/// only; `unsigned_abs` keeps `i64::MIN` from overflowing.
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Money with its currency: "450.00 CNY". rentops books in CNY, so an unset currency is CNY.
pub fn format_money(amount_fen: i64, currency: &str) -> String {
    let currency = if currency.is_empty() { "CNY" } else { currency };
    format!("{} {currency}", format_fen(amount_fen))
}

/// A rate as a percentage with one decimal ("87.5%"), or "—" when there was nothing to divide
/// by (the service left it unset): no figure, which "0.0%" or "100.0%" would misreport.
pub fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{:.1}%", r * 100.0),
        _ => "—".to_owned(),
    }
}

/// Hours with one decimal: "14.0".
pub fn hours(h: f64) -> String {
    format!("{h:.1}")
}

/// The short name of an enum value ("REACHED" for CONTACT_OUTCOME_REACHED); `None` for the
/// unspecified zero value; "UNKNOWN(n)" for a value newer than this client.
pub(crate) fn enum_name<E: TryFrom<i32>>(value: i32, name: fn(&E) -> &'static str, prefix: &str) -> Option<String> {
    if value == 0 {
        return None;
    }
    Some(match E::try_from(value) {
        Ok(e) => {
            let full = name(&e);
            full.strip_prefix(prefix).unwrap_or(full).to_owned()
        }
        Err(_) => format!("UNKNOWN({value})"),
    })
}

pub fn channel_name(v: i32) -> Option<String> {
    enum_name(v, order::Channel::as_str_name, "CHANNEL_")
}

pub fn status_name(v: i32) -> Option<String> {
    enum_name(v, order::OrderStatus::as_str_name, "ORDER_STATUS_")
}

pub fn outcome_name(v: i32) -> Option<String> {
    enum_name(v, order::ContactOutcome::as_str_name, "CONTACT_OUTCOME_")
}

pub fn cancelled_by_name(v: i32) -> Option<String> {
    enum_name(v, order::CancelledBy::as_str_name, "CANCELLED_BY_")
}

pub fn model_name(v: i32) -> Option<String> {
    enum_name(v, common::VehicleModel::as_str_name, "VEHICLE_MODEL_")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact, as `--json` prints.
    fn format_timestamp(ts: &Timestamp, zone: Zone) -> String {
        render(ts, zone, false)
    }

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn times_print_in_china_time_by_default() {
        let t = ts(1_796_090_400, 0); // 2026-12-01T02:00:00Z
        assert_eq!(format_timestamp(&t, Zone::China), "2026-12-01T10:00:00+08:00");
        assert_eq!(format_timestamp(&t, Zone::Utc), "2026-12-01T02:00:00Z");
        // Crossing midnight moves the date too.
        assert_eq!(
            format_timestamp(&ts(1_796_140_800, 0), Zone::China),
            "2026-12-02T00:00:00+08:00"
        );
        assert_eq!(
            format_timestamp(&ts(0, 500_000_000), Zone::Utc),
            "1970-01-01T00:00:00.5Z"
        );
    }

    #[test]
    fn tables_cut_times_to_whole_seconds_and_json_keeps_them_exact() {
        let t = ts(1_796_090_400, 644_530_834);
        assert_eq!(
            Times::new(Zone::China, true).opt(Some(&t)).as_deref(),
            Some("2026-12-01T10:00:00+08:00")
        );
        assert_eq!(
            Times::new(Zone::China, false).opt(Some(&t)).as_deref(),
            Some("2026-12-01T10:00:00.644530834+08:00")
        );
        // Negative nanos are no timestamp the services send (their mapping refuses them).
        assert_eq!(
            Times::new(Zone::Utc, true).opt(Some(&ts(0, -1))).as_deref(),
            Some("<invalid time 0s -1ns>")
        );
        assert_eq!(Times::new(Zone::Utc, true).opt(None), None);
    }

    #[test]
    fn typed_times_round_trip_through_the_wire() {
        for s in [
            "2026-12-01T10:00:00+08:00",
            "2026-12-01T02:00:00Z",
            "2026-12-01T10:00:00.25+08:00",
        ] {
            let t = parse_time(s).unwrap_or_else(|e| panic!("{e}"));
            let back = format_timestamp(&timestamp(t), Zone::China);
            assert_eq!(parse_time(&back), Ok(t), "{s} came back as {back}");
        }
        assert_eq!(
            format_timestamp(
                &timestamp(parse_time("2026-12-01T02:00:00Z").unwrap_or_else(|e| panic!("{e}"))),
                Zone::China
            ),
            "2026-12-01T10:00:00+08:00"
        );
    }

    #[test]
    fn times_without_an_offset_or_malformed_are_refused() {
        for s in [
            "2026-12-01T10:00:00",
            "2026-12-01",
            "10:00",
            "tomorrow",
            "",
            "2026-13-01T10:00:00Z",
        ] {
            let Err(err) = parse_time(s) else {
                panic!("{s:?} should be refused")
            };
            assert!(err.contains("2026-12-01T10:00:00+08:00"), "{err}");
        }
    }

    #[test]
    fn out_of_range_timestamps_print_without_panicking() {
        assert_eq!(
            format_timestamp(&ts(i64::MAX, 0), Zone::China),
            format!("<invalid time {}s 0ns>", i64::MAX)
        );
        assert!(format_timestamp(&ts(i64::MIN, i32::MIN), Zone::Utc).starts_with("<invalid time"));
        // Negative nanos are a malformed timestamp that every service refuses: shown as its
        // parts, as any other timestamp the shared mapping refuses.
        assert_eq!(
            format_timestamp(&ts(0, -500_000_000), Zone::Utc),
            "<invalid time 0s -500000000ns>"
        );
        // 9999-12-31T23:59:59Z is 10000-01-01 in China: not printable as RFC 3339.
        assert!(format_timestamp(&ts(253_402_300_799, 0), Zone::China).starts_with("<invalid time"));
        assert_eq!(
            format_timestamp(&ts(253_402_300_799, 0), Zone::Utc),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn fen_prints_as_yuan() {
        assert_eq!(format_fen(45000), "450.00");
        assert_eq!(format_fen(0), "0.00");
        assert_eq!(format_fen(5), "0.05");
        assert_eq!(format_fen(99), "0.99");
        assert_eq!(format_fen(100), "1.00");
        assert_eq!(format_fen(123_456_789), "1234567.89");
    }

    #[test]
    fn negative_and_extreme_fen_print_exactly() {
        assert_eq!(format_fen(-5), "-0.05");
        assert_eq!(format_fen(-150_000), "-1500.00");
        assert_eq!(format_fen(i64::MAX), "92233720368547758.07");
        assert_eq!(format_fen(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn money_carries_its_currency() {
        assert_eq!(format_money(45000, "CNY"), "450.00 CNY");
        assert_eq!(format_money(200_000, ""), "2000.00 CNY");
        assert_eq!(format_money(-1, "HKD"), "-0.01 HKD");
    }

    #[test]
    fn rates_print_as_percentages_and_a_dash_when_unset() {
        assert_eq!(rate(Some(0.875)), "87.5%");
        assert_eq!(rate(Some(0.0)), "0.0%");
        assert_eq!(rate(Some(1.0)), "100.0%");
        assert_eq!(rate(None), "—");
        assert_eq!(rate(Some(f64::NAN)), "—");
        assert_eq!(hours(13.96), "14.0");
    }

    #[test]
    fn enums_print_by_short_name() {
        assert_eq!(
            outcome_name(order::ContactOutcome::Reached as i32).as_deref(),
            Some("REACHED")
        );
        assert_eq!(
            channel_name(order::Channel::MiniProgram as i32).as_deref(),
            Some("MINI_PROGRAM")
        );
        assert_eq!(
            status_name(order::OrderStatus::NoShow as i32).as_deref(),
            Some("NO_SHOW")
        );
        assert_eq!(model_name(common::VehicleModel::Et5t as i32).as_deref(), Some("ET5T"));
        assert_eq!(
            cancelled_by_name(order::CancelledBy::Shortage as i32).as_deref(),
            Some("SHORTAGE")
        );
        assert_eq!(outcome_name(0), None);
        assert_eq!(status_name(99).as_deref(), Some("UNKNOWN(99)"));
    }
}
