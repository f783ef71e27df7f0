//! Time on the wire and in the databases, converted in one place: unix microseconds (the
//! projections' integer columns), RFC 3339 text (JSON, the CLI, configuration), and the
//! `(seconds, nanos)` pair of a protobuf `Timestamp`, which services map to and from
//! `prost_types::Timestamp` field by field (this crate does not depend on prost).
//!
//! Every conversion that can fail says so with a [`TimestampError`]; none falls back to the
//! epoch, which would put a bad record at 1970 without a word.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The last second a wire timestamp may carry: 9999-12-31T23:59:59Z.
const WIRE_MAX_SECONDS: i64 = 253_402_300_799;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The instant lies outside what `i64` microseconds since the epoch can hold (about
    /// ±292,000 years); only reachable with time's large dates.
    #[error("{at} is out of the range of i64 microseconds since the epoch")]
    MicrosOverflow { at: String },
    #[error("{micros} µs since the epoch is outside the dates this code can represent")]
    MicrosOutOfRange { micros: i64 },
    /// A protobuf timestamp's nanos are 0..=999,999,999 (a negative time has negative seconds,
    /// never negative nanos).
    #[error("nanos {nanos} out of range (0 to 999999999)")]
    NanosOutOfRange { nanos: i32 },
    /// Business dates lie in 1970-01-01 to 9999-12-31; anything else on the wire is a bug or
    /// an unset field read as a number.
    #[error("{seconds} s since the epoch is out of range (1970-01-01 to 9999-12-31)")]
    SecondsOutOfRange { seconds: i64 },
    #[error("{input:?} is not an RFC 3339 time: {reason}")]
    NotRfc3339 { input: String, reason: String },
    /// RFC 3339 has four-digit years and offsets in whole minutes.
    #[error("{at} cannot be written in RFC 3339: {reason}")]
    Unformattable { at: String, reason: String },
}

/// Microseconds since the epoch. A fraction of a microsecond is dropped towards the past (the
/// floor), so that earlier times never get larger numbers.
pub fn to_unix_micros(at: OffsetDateTime) -> Result<i64, TimestampError> {
    let micros = at.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(micros).map_err(|_| TimestampError::MicrosOverflow { at: at.to_string() })
}

/// The instant `micros` microseconds after the epoch, in UTC.
pub fn from_unix_micros(micros: i64) -> Result<OffsetDateTime, TimestampError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| TimestampError::MicrosOutOfRange { micros })
}

/// The `(seconds, nanos)` of a protobuf `Timestamp`: seconds since the epoch and the
/// non-negative nanoseconds within that second.
pub fn to_unix_parts(at: OffsetDateTime) -> (i64, i32) {
    // nanosecond() is below 10^9, so it always fits an i32.
    let nanos = i32::try_from(at.nanosecond()).unwrap_or(0);
    (at.unix_timestamp(), nanos)
}

/// The instant of a protobuf `Timestamp`'s `(seconds, nanos)`, in UTC, refusing what no
/// business date can be (see [`TimestampError::SecondsOutOfRange`]).
pub fn from_unix_parts(seconds: i64, nanos: i32) -> Result<OffsetDateTime, TimestampError> {
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(TimestampError::NanosOutOfRange { nanos });
    }
    if !(0..=WIRE_MAX_SECONDS).contains(&seconds) {
        return Err(TimestampError::SecondsOutOfRange { seconds });
    }
    let nanos_since_epoch = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos_since_epoch)
        .map_err(|_| TimestampError::SecondsOutOfRange { seconds })
}

/// RFC 3339 text of `at` in its own offset, e.g. `2026-02-14T09:30:00+08:00`.
pub fn to_rfc3339(at: OffsetDateTime) -> Result<String, TimestampError> {
    at.format(&Rfc3339).map_err(|e| TimestampError::Unformattable {
        at: at.to_string(),
        reason: e.to_string(),
    })
}

/// An RFC 3339 time (`2026-02-14T09:30:00+08:00`, `2026-02-14T01:30:00.5Z`), keeping its
/// offset.
pub fn parse_rfc3339(input: &str) -> Result<OffsetDateTime, TimestampError> {
    OffsetDateTime::parse(input, &Rfc3339).map_err(|e| TimestampError::NotRfc3339 {
        input: input.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::datetime;
    use time::{Duration, UtcOffset};

    use super::*;

    #[test]
    fn a_shanghai_midnight_in_microseconds() {
        let at = datetime!(2026-01-01 00:00:00.000_001 +08:00);
        assert_eq!(to_unix_micros(at), Ok(1_767_196_800_000_001));
        assert_eq!(from_unix_micros(1_767_196_800_000_001), Ok(at));
        assert_eq!(from_unix_micros(0), Ok(OffsetDateTime::UNIX_EPOCH));
    }

    #[test]
    fn sub_microsecond_parts_are_floored_also_before_the_epoch() {
        assert_eq!(
            to_unix_micros(datetime!(2026-01-01 00:00:00.000_001_999 UTC)),
            Ok(1_767_225_600_000_001)
        );
        // 1 ns before the epoch is in the microsecond before it, not at 0.
        assert_eq!(
            to_unix_micros(OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1)),
            Ok(-1)
        );
    }

    #[test]
    fn microseconds_beyond_the_supported_dates_are_refused() {
        assert_eq!(
            from_unix_micros(i64::MAX),
            Err(TimestampError::MicrosOutOfRange { micros: i64::MAX })
        );
        assert!(from_unix_micros(i64::MIN).is_err());
    }

    #[test]
    fn wire_parts_round_trip_and_refuse_what_no_business_date_is() {
        let at = datetime!(2025-10-08 23:59:59.999_999_999 +08:00);
        let (s, n) = to_unix_parts(at);
        assert_eq!((s, n), (1_759_939_199, 999_999_999));
        assert_eq!(from_unix_parts(s, n), Ok(at));
        assert_eq!(from_unix_parts(0, 0), Ok(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(
            from_unix_parts(-1, 0),
            Err(TimestampError::SecondsOutOfRange { seconds: -1 })
        );
        assert_eq!(
            from_unix_parts(WIRE_MAX_SECONDS + 1, 0),
            Err(TimestampError::SecondsOutOfRange {
                seconds: WIRE_MAX_SECONDS + 1
            })
        );
        assert!(from_unix_parts(WIRE_MAX_SECONDS, 999_999_999).is_ok());
        assert_eq!(
            from_unix_parts(0, 1_000_000_000),
            Err(TimestampError::NanosOutOfRange { nanos: 1_000_000_000 })
        );
        assert_eq!(
            from_unix_parts(0, -1),
            Err(TimestampError::NanosOutOfRange { nanos: -1 })
        );
    }

    #[test]
    fn rfc3339_keeps_the_offset_and_names_bad_text() {
        let at = parse_rfc3339("2026-02-14T09:30:00+08:00").unwrap();
        assert_eq!(at, datetime!(2026-02-14 01:30 UTC));
        assert_eq!(at.offset(), UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(to_rfc3339(at).unwrap(), "2026-02-14T09:30:00+08:00");
        assert_eq!(
            to_rfc3339(datetime!(2026-02-14 01:30:00.5 UTC)).unwrap(),
            "2026-02-14T01:30:00.5Z"
        );
        assert!(matches!(
            parse_rfc3339("2026-02-14 09:30"),
            Err(TimestampError::NotRfc3339 { input, .. }) if input == "2026-02-14 09:30"
        ));
        // An offset with seconds has no RFC 3339 form.
        let odd = datetime!(2026-02-14 09:30 UTC).to_offset(UtcOffset::from_hms(8, 5, 43).unwrap());
        assert!(matches!(to_rfc3339(odd), Err(TimestampError::Unformattable { .. })));
    }

    /// Any instant time represents, with an offset in whole minutes (what RFC 3339 can write).
    fn instant() -> impl Strategy<Value = OffsetDateTime> {
        let min = datetime!(0001-01-01 00:00 UTC).unix_timestamp_nanos();
        let max = datetime!(9999-12-30 00:00 UTC).unix_timestamp_nanos();
        (min..max, -(23 * 60 + 59)..=(23 * 60 + 59i32)).prop_map(|(nanos, minutes)| {
            let offset = UtcOffset::from_whole_seconds(minutes * 60).unwrap();
            OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .unwrap()
                .to_offset(offset)
        })
    }

    proptest! {
        #[test]
        fn micros_round_trip(micros in datetime!(0001-01-01 00:00 UTC).unix_timestamp() * 1_000_000..datetime!(9999-12-31 23:59 UTC).unix_timestamp() * 1_000_000) {
            let at = from_unix_micros(micros).unwrap();
            prop_assert_eq!(to_unix_micros(at), Ok(micros));
        }

        #[test]
        fn micros_floor_within_a_microsecond(at in instant()) {
            let back = from_unix_micros(to_unix_micros(at).unwrap()).unwrap();
            prop_assert!(back <= at && at - back < Duration::microseconds(1));
        }

        #[test]
        fn wire_parts_round_trip(seconds in 0..=WIRE_MAX_SECONDS, nanos in 0..1_000_000_000i32) {
            let at = from_unix_parts(seconds, nanos).unwrap();
            prop_assert_eq!(to_unix_parts(at), (seconds, nanos));
        }

        #[test]
        fn rfc3339_round_trips_with_its_offset(at in instant()) {
            let text = to_rfc3339(at).unwrap();
            let back = parse_rfc3339(&text).unwrap();
            prop_assert_eq!(back, at);
            prop_assert_eq!(back.offset(), at.offset());
        }

        #[test]
        fn parsing_never_panics(text in any::<String>(), seconds in any::<i64>(), nanos in any::<i32>(), micros in any::<i64>()) {
            let _ = parse_rfc3339(&text);
            let _ = from_unix_parts(seconds, nanos);
            let _ = from_unix_micros(micros);
        }
    }
}
