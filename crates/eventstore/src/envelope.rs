//! The wire envelope of an event: CloudEvents 1.0 over NATS, binary mode, kept lean.
//!
//! The body is the protobuf message itself, so an analyst with any NATS client and the `.proto`
//! files can read every stream. The envelope writes only what the subject and the concurrency
//! headers do not already say (ADR 0024 has the measurements behind each choice):
//!
//! - the subject `rentops.<service>.<aggregate>.<aggregate id>.<EventName>` carries the
//!   CloudEvents `source` (the service), `subject` (the aggregate id) and `type`
//!   (`rentops.<service>.v1.<EventName>`); `specversion` is always `1.0` and `datacontenttype`
//!   always `application/protobuf`, so none of the five is written;
//! - `Nats-Msg-Id` (`<aggregate id>:<request id>:<position in the decision>`, which the log needs
//!   for de-duplication anyway) carries the request id;
//! - `ce-id` (UUID v7) and `ce-time` (the decision's time, RFC 3339) are written, as are the
//!   extension attributes `ce-actor` and, on a decision's first event, `ce-requestfp`;
//! - `ce-correlationid` and `ce-causationid` are written only when they differ from the request
//!   id, which is what they are for a command a person sent;
//! - W3C `traceparent` (and `tracestate` when it says anything) beside them.
//!
//! [`EventMeta::from_message`] puts every attribute back, so readers see the whole envelope.
//! Events written before the envelope was lean (with `ce-source`, `rentops-actor`, …) read the
//! same.

use async_nats::HeaderMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub const CE_ID: &str = "ce-id";
pub const CE_TIME: &str = "ce-time";
pub const ACTOR: &str = "ce-actor";
/// Written only when it is not the request id.
pub const CORRELATION_ID: &str = "ce-correlationid";
/// Written only when it is not the request id.
pub const CAUSATION_ID: &str = "ce-causationid";
/// What the command asked for, as a short hash of its request (on the first event of a decision
/// only): the same request id sent again with other content is refused, never answered as the
/// first time was.
pub const REQUEST_FINGERPRINT: &str = "ce-requestfp";
/// The log's de-duplication key, `<aggregate id>:<request id>:<position>`: it also carries the
/// command's idempotency key, recorded on every event it produced so that a retry can recognise
/// its own earlier append (on a single server the expected-sequence check runs before the
/// duplicate check, so a retry may come back as a conflict instead of a duplicate).
pub const NATS_MESSAGE_ID: &str = "Nats-Msg-Id";

/// What the CloudEvents attributes that are not written are, for readers that show them.
pub const SPECVERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/protobuf";

/// The names the first envelope used; read when the lean names are absent.
mod legacy {
    pub const CORRELATION_ID: &str = "rentops-correlation-id";
    pub const CAUSATION_ID: &str = "rentops-causation-id";
    pub const ACTOR: &str = "rentops-actor";
    pub const REQUEST_ID: &str = "rentops-request-id";
    pub const REQUEST_FINGERPRINT: &str = "rentops-request-fingerprint";
}

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
    /// The W3C trace context of the command that wrote it (`traceparent`, `tracestate`): what
    /// handles the event continues that trace (`crate::trace::continue_from`).
    pub trace: Option<TraceContext>,
    pub payload: bytes::Bytes,
}

/// W3C trace context as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";

    /// The trace context in `headers`, if any.
    pub fn of(headers: Option<&HeaderMap>) -> Option<Self> {
        let headers = headers?;
        let traceparent = headers.get(Self::TRACEPARENT)?.as_str().to_owned();
        let tracestate = headers
            .get(Self::TRACESTATE)
            .map(|v| v.as_str().to_owned())
            .filter(|s| !s.is_empty());
        Some(Self {
            traceparent,
            tracestate,
        })
    }
}

/// The message id of the event at `position` in a decision taken for `request_id` on
/// `aggregate_id`: the same for a retry of the same request, so the log stores it once.
/// Request ids are the client's and need not be unique across aggregates, but the duplicate
/// window is per stream: hence the aggregate id.
pub fn message_id(aggregate_id: &str, request_id: &str, position: usize) -> String {
    format!("{aggregate_id}:{request_id}:{position}")
}

/// The request id inside a message id written by [`message_id`] for `aggregate_id`.
fn request_id_of<'a>(message_id: &'a str, aggregate_id: &str) -> Option<&'a str> {
    let rest = message_id.strip_prefix(aggregate_id)?.strip_prefix(':')?;
    let (request_id, position) = rest.rsplit_once(':')?;
    (!position.is_empty() && position.bytes().all(|b| b.is_ascii_digit())).then_some(request_id)
}

/// The tokens of an event subject: service, aggregate type, aggregate id, event name.
fn subject_tokens(subject: &str) -> Option<(&str, &str, &str, &str)> {
    let mut t = subject.split('.');
    let (prefix, service, aggregate, id, name) = (t.next()?, t.next()?, t.next()?, t.next()?, t.next()?);
    (prefix == "rentops" && t.next().is_none() && [service, aggregate, id, name].iter().all(|t| !t.is_empty()))
        .then_some((service, aggregate, id, name))
}

impl EventMeta {
    /// Writes the envelope of the event at `position` in its decision: the attributes above and
    /// `Nats-Msg-Id`; not the trace context, the fingerprint or the concurrency headers.
    pub fn write_headers_at(&self, headers: &mut HeaderMap, position: usize) {
        headers.insert(
            NATS_MESSAGE_ID,
            message_id(&self.aggregate_id, &self.request_id, position).as_str(),
        );
        headers.insert(CE_ID, self.event_id.to_string().as_str());
        // Rfc3339 formatting of a valid OffsetDateTime cannot fail for years 0..=9999; the
        // fallback keeps the header present rather than panicking.
        let time = self
            .time
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.time.unix_timestamp().to_string());
        headers.insert(CE_TIME, time.as_str());
        headers.insert(ACTOR, self.actor.as_str());
        if self.correlation_id != self.request_id {
            headers.insert(CORRELATION_ID, self.correlation_id.as_str());
        }
        if self.causation_id != self.request_id {
            headers.insert(CAUSATION_ID, self.causation_id.as_str());
        }
    }

    /// [`Self::write_headers_at`] for a decision's only (or first) event.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        self.write_headers_at(headers, 0);
    }

    /// Reads the envelope of a message on `subject` back, whole; a message without `ce-id` and
    /// `ce-time`, or not on an event subject, is not a rentops event.
    pub fn from_message(subject: &str, headers: Option<&HeaderMap>) -> Result<Self, EnvelopeError> {
        let (service, _, aggregate_id, name) = subject_tokens(subject).ok_or(EnvelopeError::NotAnEventSubject)?;
        let headers = headers.ok_or(EnvelopeError::Missing(CE_ID))?;
        let header = |name: &str| headers.get(name).map(|v| v.as_str());
        let get = |name: &'static str| header(name).ok_or(EnvelopeError::Missing(name));
        let event_id = Uuid::parse_str(get(CE_ID)?).map_err(|_| EnvelopeError::Invalid(CE_ID))?;
        let time = OffsetDateTime::parse(get(CE_TIME)?, &Rfc3339).map_err(|_| EnvelopeError::Invalid(CE_TIME))?;
        let request_id = header(NATS_MESSAGE_ID)
            .and_then(|m| request_id_of(m, aggregate_id))
            .or_else(|| header(legacy::REQUEST_ID))
            .unwrap_or_default()
            .to_owned();
        let or_request_id = |name: &str, old: &str| {
            header(name)
                .or_else(|| header(old))
                .map_or_else(|| request_id.clone(), str::to_owned)
        };
        Ok(Self {
            event_id,
            event_type: format!("rentops.{service}.v1.{name}"),
            source: service.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            time,
            correlation_id: or_request_id(CORRELATION_ID, legacy::CORRELATION_ID),
            causation_id: or_request_id(CAUSATION_ID, legacy::CAUSATION_ID),
            actor: header(ACTOR)
                .or_else(|| header(legacy::ACTOR))
                .unwrap_or_default()
                .to_owned(),
            request_id,
        })
    }
}

/// The request fingerprint a message carries, if any.
pub fn fingerprint(headers: Option<&HeaderMap>) -> Option<String> {
    let headers = headers?;
    headers
        .get(REQUEST_FINGERPRINT)
        .or_else(|| headers.get(legacy::REQUEST_FINGERPRINT))
        .map(|v| v.as_str().to_owned())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("event header {0} is missing")]
    Missing(&'static str),
    #[error("event header {0} is malformed")]
    Invalid(&'static str),
    #[error("the subject is not rentops.<service>.<aggregate>.<id>.<EventName>")]
    NotAnEventSubject,
}

impl RecordedEvent {
    /// Builds a recorded event from a stream message and its sequence.
    pub fn from_message(
        sequence: u64,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: bytes::Bytes,
    ) -> Result<Self, EnvelopeError> {
        let meta = EventMeta::from_message(subject, headers)?;
        let name = subject.rsplit('.').next().unwrap_or_default().to_owned();
        let fingerprint = fingerprint(headers);
        Ok(Self {
            sequence,
            subject: subject.to_owned(),
            name,
            meta,
            fingerprint,
            trace: TraceContext::of(headers),
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "rentops.order.order.abc.OrderPlaced";

    fn meta() -> EventMeta {
        EventMeta {
            event_id: Uuid::now_v7(),
            event_type: "rentops.order.v1.OrderPlaced".into(),
            source: "order".into(),
            aggregate_id: "abc".into(),
            time: OffsetDateTime::from_unix_timestamp(1_764_547_200).unwrap(),
            correlation_id: "r:1".into(),
            causation_id: "r:1".into(),
            actor: "desk:li".into(),
            request_id: "r:1".into(),
        }
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        let mut names: Vec<String> = h.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_persons_command_writes_four_headers_and_reads_back_whole() {
        let meta = meta();
        let mut h = HeaderMap::new();
        meta.write_headers(&mut h);
        assert_eq!(names(&h), ["Nats-Msg-Id", "ce-actor", "ce-id", "ce-time"]);
        assert_eq!(h.get(NATS_MESSAGE_ID).unwrap().as_str(), "abc:r:1:0");
        assert_eq!(h.get(CE_TIME).unwrap().as_str(), "2025-12-01T00:00:00Z");
        assert_eq!(EventMeta::from_message(SUBJECT, Some(&h)).unwrap(), meta);
    }

    #[test]
    fn correlation_and_causation_are_written_when_they_are_not_the_request_id() {
        let mut meta = meta();
        meta.correlation_id = "flow-7".into();
        meta.causation_id = "0193a0c4-event".into();
        let mut h = HeaderMap::new();
        meta.write_headers_at(&mut h, 2);
        assert_eq!(h.get(CORRELATION_ID).unwrap().as_str(), "flow-7");
        assert_eq!(h.get(CAUSATION_ID).unwrap().as_str(), "0193a0c4-event");
        assert_eq!(h.get(NATS_MESSAGE_ID).unwrap().as_str(), "abc:r:1:2");
        assert_eq!(EventMeta::from_message(SUBJECT, Some(&h)).unwrap(), meta);
    }

    #[test]
    fn the_first_envelope_reads_the_same() {
        let meta = meta();
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0".to_owned()),
            ("ce-id", meta.event_id.to_string()),
            ("ce-source", "order".into()),
            ("ce-type", "rentops.order.v1.OrderPlaced".into()),
            ("ce-subject", "abc".into()),
            ("ce-time", "2025-12-01T00:00:00Z".into()),
            ("Content-Type", "application/protobuf".into()),
            ("rentops-correlation-id", "r:1".into()),
            ("rentops-causation-id", "r:1".into()),
            ("rentops-actor", "desk:li".into()),
            ("rentops-request-id", "r:1".into()),
            ("rentops-request-fingerprint", "00ff".into()),
        ] {
            h.insert(name, value.as_str());
        }
        assert_eq!(EventMeta::from_message(SUBJECT, Some(&h)).unwrap(), meta);
        assert_eq!(fingerprint(Some(&h)).as_deref(), Some("00ff"));
    }

    #[test]
    fn a_request_id_is_read_only_from_a_message_id_of_this_aggregate() {
        assert_eq!(request_id_of("abc:r:1:0", "abc"), Some("r:1"));
        assert_eq!(request_id_of("abc:r-1:12", "abc"), Some("r-1"));
        assert_eq!(request_id_of("abd:r:1:0", "abc"), None);
        assert_eq!(request_id_of("abc:r:x", "abc"), None);
        assert_eq!(request_id_of("abc:", "abc"), None);
        assert_eq!(request_id_of("0193a0c4", "abc"), None);
    }

    #[test]
    fn a_message_without_envelope_is_refused() {
        assert_eq!(
            EventMeta::from_message(SUBJECT, None),
            Err(EnvelopeError::Missing(CE_ID))
        );
        let mut h = HeaderMap::new();
        h.insert(CE_ID, "not-a-uuid");
        assert_eq!(
            EventMeta::from_message(SUBJECT, Some(&h)),
            Err(EnvelopeError::Invalid(CE_ID))
        );
        let mut h = HeaderMap::new();
        meta().write_headers(&mut h);
        for subject in [
            "rentops.order.order.abc",
            "other.order.order.abc.X",
            "rentops.order.order..X",
            "rentops.a.b.c.d.e",
        ] {
            assert_eq!(
                EventMeta::from_message(subject, Some(&h)),
                Err(EnvelopeError::NotAnEventSubject),
                "{subject}"
            );
        }
    }
}
