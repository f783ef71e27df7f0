//! Snapshots of long-lived aggregates, in a JetStream KV bucket of the service's own
//! (`rentops_snapshots_<service>`), one key per aggregate instance: `<aggregate>.<id>`.
//!
//! A snapshot is a shortcut, never a source of truth: the state its events fold to as of a
//! stream sequence, with the request ids the aggregate remembered then (so that a retry inside
//! the duplicate window is still recognised after a restart). A cold load reads it and then only
//! the events after its sequence. One that cannot be read, was written in another format, or
//! claims more than the stream holds is ignored and the aggregate is folded from its events.
//!
//! The value is a line of JSON (what the log knows: format, sequence, requests) followed by the
//! aggregate's own encoding of its state, as is: the state's bytes need no escaping.

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::EventStore;

/// The layout of the value itself (the JSON line and what follows it); the aggregate's format
/// is versioned separately (`rentops_kernel::Snapshot::VERSION`).
const LAYOUT: u32 = 1;

/// A request the aggregate remembered when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedRequest {
    pub request_id: String,
    /// The last sequence it appended, and how many events.
    pub sequence: u64,
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// When it was decided (the command's time), unix nanoseconds.
    pub time_ns: i128,
}

/// An aggregate's state as of `sequence`, as stored in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's snapshot format (`Snapshot::VERSION`) the state is encoded in.
    pub format: u32,
    /// The stream sequence of the aggregate's last event folded into `state`.
    pub sequence: u64,
    /// Oldest first.
    pub requests: Vec<RememberedRequest>,
    pub state: Bytes,
}

#[derive(Serialize, Deserialize)]
struct Header {
    layout: u32,
    aggregate_type: String,
    aggregate_id: String,
    format: u32,
    sequence: u64,
    requests: Vec<RememberedRequest>,
}

/// A stored value that is not a snapshot this code can read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDecodeError {
    #[error("no header line")]
    NoHeader,
    #[error("unreadable header: {0}")]
    Header(#[source] serde_json::Error),
    #[error("layout {found}, this code reads layout {LAYOUT}")]
    Layout { found: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// `<aggregate>.<id>` is not a valid KV key (KV keys allow fewer characters than subjects).
    #[error("{aggregate_type}.{aggregate_id} cannot be a snapshot key")]
    InvalidKey {
        aggregate_type: String,
        aggregate_id: String,
    },
    #[error("reading the snapshot of {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: kv::EntryError,
    },
    #[error("writing the snapshot of {key}: {source}")]
    Write {
        key: String,
        #[source]
        source: kv::PutError,
    },
    #[error("encoding the snapshot of {key}: {source}")]
    Encode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the snapshot of {key} is unreadable: {source}")]
    Decode {
        key: String,
        #[source]
        source: SnapshotDecodeError,
    },
    #[error("reading the snapshot of {key} timed out")]
    TimedOut { key: String },
}

impl SnapshotRecord {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let header = Header {
            layout: LAYOUT,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            format: self.format,
            sequence: self.sequence,
            requests: self.requests.clone(),
        };
        // Compact JSON never holds a raw newline, so the first one ends the header.
        let mut out = serde_json::to_vec(&header)?;
        out.push(b'\n');
        out.extend_from_slice(&self.state);
        Ok(out)
    }

    pub fn decode(value: &Bytes) -> Result<Self, SnapshotDecodeError> {
        let split = value
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(SnapshotDecodeError::NoHeader)?;
        let header: Header = serde_json::from_slice(&value[..split]).map_err(SnapshotDecodeError::Header)?;
        if header.layout != LAYOUT {
            return Err(SnapshotDecodeError::Layout { found: header.layout });
        }
        Ok(Self {
            aggregate_type: header.aggregate_type,
            aggregate_id: header.aggregate_id,
            format: header.format,
            sequence: header.sequence,
            requests: header.requests,
            state: value.slice(split + 1..),
        })
    }
}

/// `<aggregate>.<id>`, when both are valid in a KV key (`[-/_=.a-zA-Z0-9]`).
pub fn snapshot_key(aggregate_type: &str, aggregate_id: &str) -> Option<String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'='))
    };
    (valid(aggregate_type) && valid(aggregate_id)).then(|| format!("{aggregate_type}.{aggregate_id}"))
}

impl EventStore {
    /// True when the service has a snapshot bucket.
    pub fn has_snapshots(&self) -> bool {
        self.snapshots.is_some()
    }

    /// The aggregate's snapshot, if the service has a bucket and the aggregate a snapshot in it.
    /// The read may be answered by any replica of the bucket, a lagging one included: an older
    /// snapshot only means more events to fold after it.
    pub async fn read_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<SnapshotRecord>, SnapshotError> {
        let Some(bucket) = &self.snapshots else { return Ok(None) };
        let key = snapshot_key(aggregate_type, aggregate_id).ok_or_else(|| SnapshotError::InvalidKey {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
        })?;
        let value = tokio::time::timeout(self.timeout(), bucket.get(key.clone()))
            .await
            .map_err(|_| SnapshotError::TimedOut { key: key.clone() })?
            .map_err(|source| SnapshotError::Read {
                key: key.clone(),
                source,
            })?;
        let Some(value) = value else { return Ok(None) };
        SnapshotRecord::decode(&value)
            .map(Some)
            .map_err(|source| SnapshotError::Decode { key, source })
    }

    /// Stores `record` as the aggregate's snapshot (the bucket keeps only the newest value per
    /// key). Returns the bucket's revision. Without a bucket, does nothing and returns 0.
    pub async fn write_snapshot(&self, record: &SnapshotRecord) -> Result<u64, SnapshotError> {
        if self.snapshots.is_none() {
            return Ok(0);
        }
        let key =
            snapshot_key(&record.aggregate_type, &record.aggregate_id).ok_or_else(|| SnapshotError::InvalidKey {
                aggregate_type: record.aggregate_type.clone(),
                aggregate_id: record.aggregate_id.clone(),
            })?;
        let value = record.encode().map_err(|source| SnapshotError::Encode {
            key: key.clone(),
            source,
        })?;
        self.write_snapshot_value(&key, Bytes::from(value)).await
    }

    /// Stores raw bytes under a snapshot key: for tests of what a load does with a value that is
    /// not a valid snapshot.
    pub async fn write_snapshot_value(&self, key: &str, value: Bytes) -> Result<u64, SnapshotError> {
        let Some(bucket) = &self.snapshots else { return Ok(0) };
        bucket.put(key, value).await.map_err(|source| SnapshotError::Write {
            key: key.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_its_state_is_kept_byte_for_byte() {
        let record = SnapshotRecord {
            aggregate_type: "vehicle".into(),
            aggregate_id: "V0001".into(),
            format: 3,
            sequence: 42,
            requests: vec![RememberedRequest {
                request_id: "r-1".into(),
                sequence: 40,
                count: 2,
                fingerprint: Some("fp".into()),
                time_ns: 1_764_547_200_000_000_000,
            }],
            state: Bytes::from_static(b"\n{\"raw\": \"bytes with a newline\"}\n\x00\xff"),
        };
        let encoded = Bytes::from(record.encode().unwrap());
        assert_eq!(SnapshotRecord::decode(&encoded).unwrap(), record);
    }

    #[test]
    fn what_is_not_a_snapshot_is_named() {
        assert!(matches!(
            SnapshotRecord::decode(&Bytes::from_static(b"no newline")),
            Err(SnapshotDecodeError::NoHeader)
        ));
        assert!(matches!(
            SnapshotRecord::decode(&Bytes::from_static(b"{not json\nstate")),
            Err(SnapshotDecodeError::Header(_))
        ));
        let later = br#"{"layout":2,"aggregate_type":"t","aggregate_id":"i","format":1,"sequence":1,"requests":[]}
x"#;
        assert!(matches!(
            SnapshotRecord::decode(&Bytes::from_static(later)),
            Err(SnapshotDecodeError::Layout { found: 2 })
        ));
    }

    #[test]
    fn keys_are_only_made_of_what_a_kv_key_allows() {
        assert_eq!(snapshot_key("vehicle", "V0001").as_deref(), Some("vehicle.V0001"));
        assert_eq!(
            snapshot_key("order", "0b9f3c1e-1d2a-5f55-9b1e-6b0d3f1b2c3d").as_deref(),
            Some("order.0b9f3c1e-1d2a-5f55-9b1e-6b0d3f1b2c3d")
        );
        assert_eq!(snapshot_key("vehicle", "V#1"), None);
        assert_eq!(snapshot_key("vehicle", ""), None);
    }
}
