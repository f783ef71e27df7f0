//! The event messages as typed prost structs with generated proto3 JSON serialization
//! (build.rs: prost-build and pbjson-build over `proto/`'s events files), for the export's hot
//! path: decoding into a struct and serializing it straight to JSON costs a fraction of
//! decoding into a reflected message and walking its descriptor. The JSON is the same: the
//! proto field names, enums by name, 64-bit integers as strings, fields at their default left
//! out, timestamps in RFC 3339 (the tests hold every event type's output to reflection's).

// The events files' own messages (`common`'s command types among them) are generated whole.
#[allow(clippy::all, clippy::pedantic, missing_docs, dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/typed_events.rs"));
}

pub use generated::Event;

/// `google.protobuf.Timestamp` in the typed messages: prost's layout, and the proto3 JSON text
/// of prost's own type (`2026-12-03T08:30:00Z`, `…:00.250Z`), as reflection writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The range proto3 JSON allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !SECONDS.contains(&self.seconds) {
            return Err(serde::ser::Error::custom("timestamp out of range"));
        }
        serializer.collect_str(&prost_types::Timestamp {
            seconds: self.seconds,
            nanos: self.nanos,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let t: prost_types::Timestamp = text.parse().map_err(serde::de::Error::custom)?;
        Ok(Self {
            seconds: t.seconds,
            nanos: t.nanos,
        })
    }
}
