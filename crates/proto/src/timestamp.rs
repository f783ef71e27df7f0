//! `google.protobuf.Timestamp` to and from `time::OffsetDateTime`, for every service, the CLI and
//! the event codecs: written once here, on the kernel's checked `(seconds, nanos)` conversions,
//! so every reader of the wire refuses the same times (1970-01-01 to 9999-12-31, nanos
//! 0..=999,999,999) with the same typed error.

use prost_types::Timestamp;
pub use rentops_kernel::TimestampError;
use rentops_kernel::timestamp::{from_unix_parts, to_unix_parts};
use time::OffsetDateTime;

/// `at` on the wire. Infallible: every `OffsetDateTime` has seconds and nanos; whether the
/// receiver accepts them is [`from_timestamp`]'s question.
pub fn to_timestamp(at: OffsetDateTime) -> Timestamp {
    let (seconds, nanos) = to_unix_parts(at);
    Timestamp { seconds, nanos }
}

/// `at` on the wire, for optional fields.
pub fn to_timestamp_opt(at: Option<OffsetDateTime>) -> Option<Timestamp> {
    at.map(to_timestamp)
}

/// The instant a wire timestamp names, in UTC, or why no business date can be it.
pub fn from_timestamp(t: &Timestamp) -> Result<OffsetDateTime, TimestampError> {
    from_unix_parts(t.seconds, t.nanos)
}

/// A time an event always carries, decoded: absent or out of range is a [`DecodeError`] naming
/// the event (`name`) and the field.
///
/// [`DecodeError`]: rentops_kernel::DecodeError
pub fn event_time(
    name: &str,
    field: &str,
    t: Option<&Timestamp>,
) -> Result<OffsetDateTime, rentops_kernel::DecodeError> {
    let t = t.ok_or_else(|| rentops_kernel::DecodeError::missing(name, field))?;
    from_timestamp(t).map_err(|e| rentops_kernel::DecodeError::invalid(name, field, e))
}

/// An optional time of an event, decoded: out of range is a `DecodeError` naming the field.
pub fn event_time_opt(
    name: &str,
    field: &str,
    t: Option<&Timestamp>,
) -> Result<Option<OffsetDateTime>, rentops_kernel::DecodeError> {
    t.map(|t| from_timestamp(t).map_err(|e| rentops_kernel::DecodeError::invalid(name, field, e)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn wire_times_round_trip_to_the_nanosecond() {
        let at = datetime!(2026-12-01 10:00:00.644_530_834 +08:00);
        let t = to_timestamp(at);
        assert_eq!((t.seconds, t.nanos), (1_796_090_400, 644_530_834));
        assert_eq!(from_timestamp(&t), Ok(at));
        assert_eq!(to_timestamp_opt(None), None);
    }

    #[test]
    fn times_no_business_date_can_be_are_refused_with_a_reason() {
        let t = |seconds, nanos| Timestamp { seconds, nanos };
        assert_eq!(
            from_timestamp(&t(-1, 0)),
            Err(TimestampError::SecondsOutOfRange { seconds: -1 })
        );
        assert_eq!(
            from_timestamp(&t(0, 1_000_000_000)),
            Err(TimestampError::NanosOutOfRange { nanos: 1_000_000_000 })
        );
        assert_eq!(
            from_timestamp(&t(0, -1)),
            Err(TimestampError::NanosOutOfRange { nanos: -1 })
        );
        assert!(from_timestamp(&t(253_402_300_800, 0)).is_err());
    }
}
