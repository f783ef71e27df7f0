//! A hot spot (热点): a category whose complaints rose sharply on the period before, raised
//! once per period and category (`hotspot` aggregate, id derived from both), with the evidence
//! brief a person needs to propose a fix. Pure: the counts and the brief come in with the
//! command.

use prost::Message;
use rentops_kernel::{Aggregate, DecodeError, EventCodec};
use rentops_proto::complaint as pb;
use rentops_proto::timestamp::{event_time, to_timestamp};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const RAISED: &str = "HotSpotRaised";

/// The namespace of hot spots' ids.
const NAMESPACE: uuid::Uuid = uuid::uuid!("2b7c9e40-51d3-4f6a-8e2d-93a1c6b0f403");

/// The id of `category`'s hot spot in the period starting at `period_start`: the same
/// whichever replica computes it.
pub fn hot_spot_id(period_start: OffsetDateTime, category: &str) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("hotspot:{}:{category}", period_start.unix_timestamp()).as_bytes(),
    )
    .to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotSpotRaised {
    pub hot_spot_id: String,
    pub category: String,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    pub current: u32,
    pub previous: u32,
    pub rise_percent: Option<u32>,
    pub brief: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HotSpotError {
    #[error("a hot spot needs at least one case")]
    NoCases,
}

pub struct HotSpotAggregate;

impl Aggregate for HotSpotAggregate {
    const TYPE: &'static str = "hotspot";
    type State = Option<HotSpotRaised>;
    type Command = HotSpotRaised;
    type Event = HotSpotRaised;
    type Error = HotSpotError;

    /// Raised once: a second raise (another replica, a later pass) changes nothing.
    fn decide(state: &Option<HotSpotRaised>, command: &HotSpotRaised) -> Result<Vec<HotSpotRaised>, HotSpotError> {
        if state.is_some() {
            return Ok(Vec::new());
        }
        if command.current == 0 {
            return Err(HotSpotError::NoCases);
        }
        Ok(vec![command.clone()])
    }

    fn evolve(_state: Option<HotSpotRaised>, event: &HotSpotRaised) -> Option<HotSpotRaised> {
        Some(event.clone())
    }
}

pub fn raised_pb(h: &HotSpotRaised) -> pb::HotSpotRaised {
    pb::HotSpotRaised {
        hot_spot_id: h.hot_spot_id.clone(),
        category: h.category.clone(),
        period_start: Some(to_timestamp(h.period_start)),
        period_end: Some(to_timestamp(h.period_end)),
        current: h.current,
        previous: h.previous,
        rise_percent: h.rise_percent,
        brief: h.brief.clone(),
        at: Some(to_timestamp(h.at)),
    }
}

pub fn raised_from_pb(name: &str, m: pb::HotSpotRaised) -> Result<HotSpotRaised, DecodeError> {
    Ok(HotSpotRaised {
        hot_spot_id: m.hot_spot_id,
        category: m.category,
        period_start: event_time(name, "period_start", m.period_start.as_ref())?,
        period_end: event_time(name, "period_end", m.period_end.as_ref())?,
        current: m.current,
        previous: m.previous,
        rise_percent: m.rise_percent,
        brief: m.brief,
        at: event_time(name, "at", m.at.as_ref())?,
    })
}

impl EventCodec for HotSpotAggregate {
    type Event = HotSpotRaised;

    fn name(_event: &HotSpotRaised) -> &'static str {
        RAISED
    }

    fn encode(event: &HotSpotRaised) -> Vec<u8> {
        raised_pb(event).encode_to_vec()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<HotSpotRaised, DecodeError> {
        match name {
            RAISED => raised_from_pb(
                name,
                pb::HotSpotRaised::decode(payload).map_err(|e| DecodeError::malformed(name, e))?,
            ),
            other => Err(DecodeError::unknown(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rentops_kernel::testing::{assert_round_trip, given};
    use time::macros::datetime;

    use super::*;

    fn raised() -> HotSpotRaised {
        let start = datetime!(2026-11-02 00:00 +8);
        HotSpotRaised {
            hot_spot_id: hot_spot_id(start, "vehicle"),
            category: "vehicle".into(),
            period_start: start.to_offset(time::UtcOffset::UTC),
            period_end: (start + time::Duration::days(7)).to_offset(time::UtcOffset::UTC),
            current: 9,
            previous: 4,
            rise_percent: Some(125),
            brief: vec!["keywords: 脏(5)".into()],
            at: datetime!(2026-11-09 01:00 UTC),
        }
    }

    #[test]
    fn a_hot_spot_is_raised_once_per_period_and_category() {
        given::<HotSpotAggregate>([]).when(raised()).then([raised()]);
        given::<HotSpotAggregate>([raised()]).when(raised()).then_nothing();
        let start = datetime!(2026-11-02 00:00 +8);
        assert_eq!(hot_spot_id(start, "vehicle"), hot_spot_id(start, "vehicle"));
        assert_ne!(hot_spot_id(start, "vehicle"), hot_spot_id(start, "billing"));
        assert_ne!(
            hot_spot_id(start, "vehicle"),
            hot_spot_id(start + time::Duration::days(7), "vehicle")
        );
    }

    #[test]
    fn a_hot_spot_round_trips_through_its_bytes() {
        assert_round_trip::<HotSpotAggregate>([
            raised(),
            HotSpotRaised {
                rise_percent: None,
                ..raised()
            },
        ]);
    }
}
