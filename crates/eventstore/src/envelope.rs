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
//! - `ce-time` (the decision's time, RFC 3339) is written, as are the extension attributes
//!   `ce-actor` and, on a decision's first event, `ce-requestfp`;
//! - `ce-id` is not written: the event id is derived from the message id and `ce-time`
//!   ([`event_id`]), so it is the same for a retry of the same append, as the log's own
//!   de-duplication is, and a reader computes it from what the message carries;
//! - `ce-correlationid` and `ce-causationid` are written only when they differ from the request
//!   id, which is what they are for a command a person sent;
//! - the W3C trace context as the CloudEvents distributed-tracing extension's attributes,
//!   `ce-traceparent` (and `ce-tracestate` when it says anything), not as bare `traceparent`:
//!   nats-server takes a sampled `traceparent` header as a request to trace the message and
//!   copies every header of it into a map to look for a destination, on every append
//!   (ADR 0028). Events written before read the same.
//!
//! [`EventMeta::from_message`] puts every attribute back, so readers see the whole envelope.
//! Events written before the envelope was lean (with `ce-source`, `rentops-actor`, …) read the
//! same.

use async_nats::HeaderMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Written only when the event id is not the one derived from the message ([`event_id`]): the
/// log's appends never write it; events written before the envelope derived it carry it.
pub const CE_ID: &str = "ce-id";
pub const CE_TIME: &str = "ce-time";
pub const ACTOR: &str = "ce-actor";
/// Written only when it is not the request id.
pub const CORRELATION_ID: &str = "ce-correlationid";
/// Written only when it is not the request id.
pub const CAUSATION_ID: &str = "ce-causationid";
/// What the command asked for, as a short hash of its request (on the first event of a decision
/// only): the same request id sent again with other content is refused, never answered as the
/// first time was. See [`same_request`].
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
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
}

/// What every event records about why and by whom it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// UUID v7: time-ordered, unique per event; derived from the message ([`event_id`]).
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
    /// The W3C trace context of the command that wrote it (`ce-traceparent`, `ce-tracestate`): what
    /// handles the event continues that trace (`crate::trace::continue_from`).
    pub trace: Option<TraceContext>,
    pub payload: bytes::Bytes,
}

/// W3C trace context as an event carries it: the values of `traceparent` and `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The headers that carry it: the CloudEvents distributed-tracing extension's attributes in
    /// binary mode.
    pub const TRACEPARENT: &str = "ce-traceparent";
    pub const TRACESTATE: &str = "ce-tracestate";

    /// The trace context in `headers`, if any (under the names above, or the bare W3C names
    /// events written before carry).
    pub fn of(headers: Option<&HeaderMap>) -> Option<Self> {
        let headers = headers?;
        let (parent, state) = if headers.get(Self::TRACEPARENT).is_some() {
            (Self::TRACEPARENT, Self::TRACESTATE)
        } else {
            (legacy::TRACEPARENT, legacy::TRACESTATE)
        };
        let traceparent = headers.get(parent)?.as_str().to_owned();
        let tracestate = headers
            .get(state)
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

/// The id of the event that `service`'s log stores with message id `message_id` and `ce-time`
/// `time` (the header's text): a UUID v7 whose timestamp is the decision's millisecond and whose
/// other 74 bits are the first bits of SHA-256 over `<service>\n<message id>\n<time>`.
///
/// Nothing is written for it, yet it is unique per event: the message id is unique per decision
/// and position within the log's duplicate window, and a request id reused long after (when the
/// aggregate has forgotten it) is decided at another time. A retry of the same append derives the
/// same id, as the log stores it once. Readers in any language compute it from the message (the
/// Python recipe's `event_id`).
pub fn event_id(service: &str, message_id: &str, time: &str) -> Uuid {
    let parsed = OffsetDateTime::parse(time, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    derived_id(service, message_id, time, parsed)
}

/// [`event_id`] for a `time` text already parsed (`parsed`): a reader parses `ce-time` once.
fn derived_id(service: &str, message_id: &str, time: &str, parsed: OffsetDateTime) -> Uuid {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(service)
        .chain_update(b"\n")
        .chain_update(message_id)
        .chain_update(b"\n")
        .chain_update(time)
        .finalize();
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = parsed.unix_timestamp_nanos().div_euclid(1_000_000).max(0);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(millis).unwrap_or(0), &bits).into_uuid()
}

/// Whether two request fingerprints say the same request. A fingerprint is the start of one
/// SHA-256 in hex: 16 digits (64 bits) now, 32 before the envelope was made leaner, so a retry of
/// a request decided before that change is still recognised by the 16 digits both have.
pub fn same_request(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    a == b || (short.len() == 16 && long.len() == 32 && long.starts_with(short))
}

/// `time` as `ce-time` carries it (RFC 3339).
pub fn format_time(time: OffsetDateTime) -> String {
    // Rfc3339 formatting of a valid OffsetDateTime cannot fail for years 0..=9999; the fallback
    // keeps the header present rather than panicking.
    time.format(&Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

/// What an append writes of the envelope for one decision: every event of it carries the same.
pub(crate) struct Envelope<'a> {
    pub aggregate_id: &'a str,
    pub request_id: &'a str,
    pub correlation_id: &'a str,
    pub causation_id: &'a str,
    pub actor: &'a str,
    /// `ce-time` ([`format_time`]), formatted once per decision.
    pub time: &'a str,
}

impl Envelope<'_> {
    /// Writes the envelope of the event at `position`: `Nats-Msg-Id`, `ce-time`, `ce-actor`, and
    /// the correlation and causation ids when they are not the request id. Returns the message id.
    pub(crate) fn write(&self, headers: &mut HeaderMap, position: usize) -> String {
        let message_id = message_id(self.aggregate_id, self.request_id, position);
        headers.insert(NATS_MESSAGE_ID, message_id.as_str());
        headers.insert(CE_TIME, self.time);
        headers.insert(ACTOR, self.actor);
        if self.correlation_id != self.request_id {
            headers.insert(CORRELATION_ID, self.correlation_id);
        }
        if self.causation_id != self.request_id {
            headers.insert(CAUSATION_ID, self.causation_id);
        }
        message_id
    }
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
    /// This envelope with the event id an append gives the event at `position` of its decision
    /// ([`event_id`]), so that, written, it carries no `ce-id`.
    pub fn with_derived_id(mut self, position: usize) -> Self {
        let message_id = message_id(&self.aggregate_id, &self.request_id, position);
        self.event_id = derived_id(&self.source, &message_id, &format_time(self.time), self.time);
        self
    }

    /// Writes the envelope of the event at `position` in its decision: the attributes above and
    /// `Nats-Msg-Id`; not the trace context, the fingerprint or the concurrency headers. `ce-id`
    /// is written only when `event_id` is not the one the message derives ([`event_id`]), as it
    /// is for an event made up by a test or a tool.
    pub fn write_headers_at(&self, headers: &mut HeaderMap, position: usize) {
        let time = format_time(self.time);
        let message_id = Envelope {
            aggregate_id: &self.aggregate_id,
            request_id: &self.request_id,
            correlation_id: &self.correlation_id,
            causation_id: &self.causation_id,
            actor: &self.actor,
            time: &time,
        }
        .write(headers, position);
        if self.event_id != derived_id(&self.source, &message_id, &time, self.time) {
            headers.insert(CE_ID, self.event_id.to_string().as_str());
        }
    }

    /// [`Self::write_headers_at`] for a decision's only (or first) event.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        self.write_headers_at(headers, 0);
    }

    /// Reads the envelope of a message on `subject` back, whole; a message without `ce-time`, or
    /// without both a message id and `ce-id`, or not on an event subject, is not a rentops event.
    pub fn from_message(subject: &str, headers: Option<&HeaderMap>) -> Result<Self, EnvelopeError> {
        let (service, _, aggregate_id, name) = subject_tokens(subject).ok_or(EnvelopeError::NotAnEventSubject)?;
        let headers = headers.ok_or(EnvelopeError::Missing(CE_TIME))?;
        let header = |name: &str| headers.get(name).map(|v| v.as_str());
        let get = |name: &'static str| header(name).ok_or(EnvelopeError::Missing(name));
        let written_id = header(CE_ID)
            .map(|id| Uuid::parse_str(id).map_err(|_| EnvelopeError::Invalid(CE_ID)))
            .transpose()?;
        let time_text = get(CE_TIME)?;
        let time = OffsetDateTime::parse(time_text, &Rfc3339).map_err(|_| EnvelopeError::Invalid(CE_TIME))?;
        let event_id = match (written_id, header(NATS_MESSAGE_ID)) {
            (Some(id), _) => id,
            (None, Some(message_id)) => derived_id(service, message_id, time_text, time),
            (None, None) => return Err(EnvelopeError::Missing(CE_ID)),
        };
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

    /// `meta()` with the event id an append gives it: the one derived from its message.
    fn appended() -> EventMeta {
        let meta = meta().with_derived_id(0);
        assert_eq!(meta.event_id, event_id("order", "abc:r:1:0", "2025-12-01T00:00:00Z"));
        meta
    }

    #[test]
    fn a_persons_command_writes_three_headers_and_reads_back_whole() {
        let meta = appended();
        let mut h = HeaderMap::new();
        meta.write_headers(&mut h);
        assert_eq!(names(&h), ["Nats-Msg-Id", "ce-actor", "ce-time"]);
        assert_eq!(h.get(NATS_MESSAGE_ID).unwrap().as_str(), "abc:r:1:0");
        assert_eq!(h.get(CE_TIME).unwrap().as_str(), "2025-12-01T00:00:00Z");
        assert_eq!(EventMeta::from_message(SUBJECT, Some(&h)).unwrap(), meta);
    }

    #[test]
    fn the_derived_event_id_is_a_uuid_v7_of_the_decisions_millisecond() {
        let id = event_id("order", "abc:r:1:0", "2025-12-01T00:00:00.123456789Z");
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos), (1_764_547_200, 123_000_000));
        // The same message derives the same id (a retry of the append), any other another.
        assert_eq!(id, event_id("order", "abc:r:1:0", "2025-12-01T00:00:00.123456789Z"));
        for other in [
            event_id("order", "abc:r:1:1", "2025-12-01T00:00:00.123456789Z"),
            event_id("order", "abc:r:1:0", "2025-12-01T00:00:00.123456788Z"),
            event_id("fleet", "abc:r:1:0", "2025-12-01T00:00:00.123456789Z"),
        ] {
            assert_ne!(id, other);
        }
        // Later decisions sort after earlier ones, as UUID v7 promises.
        assert!(id < event_id("order", "abc:r:2:0", "2025-12-01T00:00:00.124Z"));
        // A known value, so that every reader (the Python recipe's too) derives the same.
        assert_eq!(
            event_id("order", "abc:r:1:0", "2025-12-01T00:00:00Z").to_string(),
            DERIVED_ID
        );
    }

    /// `event_id("order", "abc:r:1:0", "2025-12-01T00:00:00Z")`; the Python recipe's tests hold
    /// the same value.
    const DERIVED_ID: &str = "019ad735-8400-7221-a195-f87bb3678b19";

    #[test]
    fn an_event_id_of_its_own_is_written_and_wins() {
        let meta = meta();
        let mut h = HeaderMap::new();
        meta.write_headers(&mut h);
        assert_eq!(h.get(CE_ID).unwrap().as_str(), meta.event_id.to_string());
        assert_eq!(EventMeta::from_message(SUBJECT, Some(&h)).unwrap(), meta);
    }

    #[test]
    fn the_trace_context_is_read_under_its_cloudevents_name_or_the_bare_w3c_one() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut h = HeaderMap::new();
        h.insert(TraceContext::TRACEPARENT, parent);
        h.insert(TraceContext::TRACESTATE, "congo=t61rcWkgMzE");
        assert_eq!(
            TraceContext::of(Some(&h)),
            Some(TraceContext {
                traceparent: parent.into(),
                tracestate: Some("congo=t61rcWkgMzE".into()),
            })
        );
        // As events written before the envelope named it after CloudEvents carry it.
        let mut h = HeaderMap::new();
        h.insert("traceparent", parent);
        h.insert("tracestate", "");
        assert_eq!(
            TraceContext::of(Some(&h)),
            Some(TraceContext {
                traceparent: parent.into(),
                tracestate: None,
            })
        );
        assert_eq!(TraceContext::of(Some(&HeaderMap::new())), None);
        assert_eq!(TraceContext::of(None), None);
    }

    #[test]
    fn fingerprints_of_both_lengths_say_the_same_request() {
        let long = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        assert!(same_request(long, long));
        assert!(same_request("0f1e2d3c4b5a6978", long));
        assert!(same_request(long, "0f1e2d3c4b5a6978"));
        assert!(!same_request("0f1e2d3c4b5a6979", long));
        assert!(!same_request("0f1e2d3c", long));
        assert!(!same_request("fp", "fp-1"));
        assert!(!same_request("", long));
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
            Err(EnvelopeError::Missing(CE_TIME))
        );
        let mut h = HeaderMap::new();
        h.insert(CE_TIME, "2025-12-01T00:00:00Z");
        assert_eq!(
            EventMeta::from_message(SUBJECT, Some(&h)),
            Err(EnvelopeError::Missing(CE_ID)),
            "neither a message id nor an event id"
        );
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
