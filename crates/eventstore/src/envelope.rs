//! The wire envelope of an event: CloudEvents 1.0 NATS binding, binary mode.
//!
//! Attributes travel in `ce-*` headers and the body is the protobuf message itself, so an analyst
//! with any NATS client and the `.proto` files can read every stream. Beside them: W3C
//! `traceparent` / `tracestate`, and rentops' own correlation, causation, actor and request id.

use async_nats::HeaderMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub const CE_SPECVERSION: &str = "ce-specversion";
pub const CE_ID: &str = "ce-id";
pub const CE_SOURCE: &str = "ce-source";
pub const CE_TYPE: &str = "ce-type";
pub const CE_SUBJECT: &str = "ce-subject";
pub const CE_TIME: &str = "ce-time";
pub const CONTENT_TYPE: &str = "Content-Type";
pub const PROTOBUF: &str = "application/protobuf";
pub const CORRELATION_ID: &str = "rentops-correlation-id";
pub const CAUSATION_ID: &str = "rentops-causation-id";
pub const ACTOR: &str = "rentops-actor";
/// The command's idempotency key, recorded on every event it produced so that a retry can
/// recognise its own earlier append (on a single server the expected-sequence check runs before
/// the duplicate check, so a retry may come back as a conflict instead of a duplicate).
pub const REQUEST_ID: &str = "rentops-request-id";
/// What the command asked for, as a short hash of its request (on the first event of a decision
/// only): the same request id sent again with other content is refused, never answered as the
/// first time was.
pub const REQUEST_FINGERPRINT: &str = "rentops-request-fingerprint";

/// What every event records about why and by whom it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// UUID v7: time-ordered, unique per event.
    pub event_id: Uuid,
    /// `rentops.<service>.v1.<EventName>`.
    pub event_type: String,
    /// The service that wrote it (`ce-source`).
    pub source: String,
    /// The aggregate id (`ce-subject`).
    pub aggregate_id: String,
    /// When the decision was taken (the command's time, not the broker's).
    pub time: OffsetDateTime,
    pub correlation_id: String,
    /// The event or request that caused this one.
    pub causation_id: String,
    pub actor: String,
    pub request_id: String,
}

/// An event as read back from the stream.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// The stream sequence: the event's number, unique and increasing within the service.
    pub sequence: u64,
    pub subject: String,
    /// The event name (last subject token), e.g. `OrderPlaced`.
    pub name: String,
    pub meta: EventMeta,
    /// The request's fingerprint, on the first event of a decision whose command carried one.
    pub fingerprint: Option<String>,
    pub payload: bytes::Bytes,
}

impl EventMeta {
    /// Writes the envelope headers (everything but trace context and the NATS control headers).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(CE_SPECVERSION, "1.0");
        headers.insert(CE_ID, self.event_id.to_string().as_str());
        headers.insert(CE_SOURCE, self.source.as_str());
        headers.insert(CE_TYPE, self.event_type.as_str());
        headers.insert(CE_SUBJECT, self.aggregate_id.as_str());
        // Rfc3339 formatting of a valid OffsetDateTime cannot fail for years 0..=9999; the
        // fallback keeps the header present rather than panicking.
        let time = self
            .time
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.time.unix_timestamp().to_string());
        headers.insert(CE_TIME, time.as_str());
        headers.insert(CONTENT_TYPE, PROTOBUF);
        headers.insert(CORRELATION_ID, self.correlation_id.as_str());
        headers.insert(CAUSATION_ID, self.causation_id.as_str());
        headers.insert(ACTOR, self.actor.as_str());
        headers.insert(REQUEST_ID, self.request_id.as_str());
    }

    /// Reads the envelope back; a message without the CloudEvents headers is not a rentops event.
    pub fn from_headers(headers: Option<&HeaderMap>) -> Result<Self, EnvelopeError> {
        let headers = headers.ok_or(EnvelopeError::Missing(CE_ID))?;
        let get = |name: &'static str| -> Result<String, EnvelopeError> {
            headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .ok_or(EnvelopeError::Missing(name))
        };
        let opt = |name: &'static str| headers.get(name).map(|v| v.as_str().to_owned()).unwrap_or_default();
        let event_id = Uuid::parse_str(&get(CE_ID)?).map_err(|_| EnvelopeError::Invalid(CE_ID))?;
        let time = OffsetDateTime::parse(&get(CE_TIME)?, &Rfc3339).map_err(|_| EnvelopeError::Invalid(CE_TIME))?;
        Ok(Self {
            event_id,
            event_type: get(CE_TYPE)?,
            source: get(CE_SOURCE)?,
            aggregate_id: get(CE_SUBJECT)?,
            time,
            correlation_id: opt(CORRELATION_ID),
            causation_id: opt(CAUSATION_ID),
            actor: opt(ACTOR),
            request_id: opt(REQUEST_ID),
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("event header {0} is missing")]
    Missing(&'static str),
    #[error("event header {0} is malformed")]
    Invalid(&'static str),
}

impl RecordedEvent {
    /// Builds a recorded event from a stream message and its sequence.
    pub fn from_message(
        sequence: u64,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: bytes::Bytes,
    ) -> Result<Self, EnvelopeError> {
        let meta = EventMeta::from_headers(headers)?;
        let name = subject.rsplit('.').next().unwrap_or_default().to_owned();
        let fingerprint = headers
            .and_then(|h| h.get(REQUEST_FINGERPRINT))
            .map(|v| v.as_str().to_owned());
        Ok(Self {
            sequence,
            subject: subject.to_owned(),
            name,
            meta,
            fingerprint,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let meta = EventMeta {
            event_id: Uuid::now_v7(),
            event_type: "rentops.order.v1.OrderPlaced".into(),
            source: "order".into(),
            aggregate_id: "abc".into(),
            time: OffsetDateTime::from_unix_timestamp(1_764_547_200).unwrap(),
            correlation_id: "c".into(),
            causation_id: "k".into(),
            actor: "desk:li".into(),
            request_id: "r-1".into(),
        };
        let mut h = HeaderMap::new();
        meta.write_headers(&mut h);
        assert_eq!(h.get(CE_SPECVERSION).unwrap().as_str(), "1.0");
        assert_eq!(h.get(CE_TIME).unwrap().as_str(), "2025-12-01T00:00:00Z");
        assert_eq!(EventMeta::from_headers(Some(&h)).unwrap(), meta);
    }

    #[test]
    fn a_message_without_envelope_is_refused() {
        assert_eq!(EventMeta::from_headers(None), Err(EnvelopeError::Missing(CE_ID)));
        let mut h = HeaderMap::new();
        h.insert(CE_ID, "not-a-uuid");
        assert_eq!(EventMeta::from_headers(Some(&h)), Err(EnvelopeError::Invalid(CE_ID)));
    }
}
