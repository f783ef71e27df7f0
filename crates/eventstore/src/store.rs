//! Appending to and loading from the service's stream.
//!
//! Subjects are `rentops.<service>.<aggregate>.<aggregate_id>.<EventName>`: one subject space per
//! aggregate instance with the event name last. Every append carries the aggregate's last known
//! stream sequence in `Nats-Expected-Last-Subject-Sequence`, checked against the wildcard
//! `rentops.<service>.<aggregate>.<aggregate_id>.*` (the same filter string from every writer),
//! so two writers deciding on the same state cannot both append.
//!
//! Appends are sent as plain requests and the server's PubAck JSON is read here, because the
//! batch protocol (ADR-50) needs control of every message and because the precise JetStream error
//! code tells a lost race from a real failure (see `docs/adr/0001-atomic-batch-append.md`).

use std::time::{Duration, Instant};

use async_nats::header::{
    NATS_BATCH_COMMIT, NATS_BATCH_COMMIT_FINAL, NATS_BATCH_ID, NATS_BATCH_SEQUENCE,
    NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID,
};
use async_nats::jetstream::{self, consumer};

/// Not among async-nats's header constants: names the subject filter the expected sequence is checked on.
const NATS_EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
use async_nats::{HeaderMap, connection::State};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use crate::envelope::{EventMeta, RecordedEvent};
use crate::trace;

/// The most messages one atomic batch may hold (a server limit).
pub const MAX_BATCH: usize = 1000;

/// JetStream error codes that mean "someone appended to this aggregate first".
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// The clustered stream's answer to the same race (async-nats reports it as `Other`).
const WRONG_LAST_SEQUENCE_CLUSTERED: u64 = 10164;

/// One event to append: its name (the last subject token and the `ce-type` suffix) and the
/// protobuf-encoded body.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: &'static str,
    pub payload: Bytes,
}

impl NewEvent {
    /// `event` as the codec names and encodes it: the one place the log turns a domain event
    /// into what it stores.
    pub fn encoded<C: rentops_kernel::EventCodec>(event: &C::Event) -> Self {
        Self {
            name: C::name(event),
            payload: Bytes::from(C::encode(event)),
        }
    }
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOk {
    /// Sequence of the first event appended.
    pub first_sequence: u64,
    /// Sequence of the last event appended: the aggregate's new version.
    pub last_sequence: u64,
    /// The server had seen this request before (`Nats-Msg-Id`) and stored nothing new.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone appended to the aggregate since `expected`: reload and decide again.
    #[error("aggregate changed since sequence {expected}: {message}")]
    Conflict { expected: u64, message: String },
    /// NATS is unreachable or did not answer in time; the append may or may not have happened,
    /// so a retry must carry the same request id.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The server refused the append for another reason (limits, configuration).
    #[error("event log refused the append: {0}")]
    Rejected(String),
    #[error("invalid append: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    #[error("event at sequence {sequence} is unreadable: {message}")]
    Corrupt { sequence: u64, message: String },
}

#[derive(Deserialize)]
struct PubAckJson {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    error: Option<ApiErrorJson>,
}

#[derive(Deserialize)]
struct ApiErrorJson {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// Everything an append needs to know besides the events.
#[derive(Debug, Clone)]
pub struct AppendRequest<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    /// The aggregate's last stream sequence as the decision saw it (0: it does not exist yet).
    pub expected: u64,
    pub request_id: &'a str,
    /// What the command asked for (see `envelope::REQUEST_FINGERPRINT`); written on the first
    /// event.
    pub fingerprint: Option<&'a str>,
    pub correlation_id: &'a str,
    pub causation_id: &'a str,
    pub actor: &'a str,
    pub time: time::OffsetDateTime,
}

/// The event log of one service.
#[derive(Clone)]
pub struct EventStore {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    service: String,
    /// How long to wait for the server's answer to an append or a load.
    timeout: Duration,
}

impl EventStore {
    pub fn new(client: async_nats::Client, stream: &str, service: &str) -> Self {
        let js = jetstream::new(client.clone());
        Self {
            client,
            js,
            stream: stream.to_owned(),
            service: service.to_owned(),
            timeout: Duration::from_secs(5),
        }
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// `rentops.<service>.<aggregate>.<id>.*`: the subjects of one aggregate instance.
    pub fn aggregate_filter(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("rentops.{}.{}.{}.*", self.service, aggregate_type, aggregate_id)
    }

    fn unavailable_now(&self) -> Option<AppendError> {
        (self.client.connection_state() != State::Connected)
            .then(|| AppendError::Unavailable("not connected to NATS".into()))
    }

    /// Appends one decision's events atomically, if and only if the aggregate's last sequence is
    /// still `req.expected`. One event is a plain publish; several are one atomic batch.
    pub async fn append(&self, req: &AppendRequest<'_>, events: &[NewEvent]) -> Result<AppendOk, AppendError> {
        if events.is_empty() {
            return Err(AppendError::Invalid("no events to append".into()));
        }
        if events.len() > MAX_BATCH {
            return Err(AppendError::Invalid(format!(
                "{} events in one decision; at most {MAX_BATCH} can be appended atomically",
                events.len()
            )));
        }
        if !is_token(req.aggregate_id) || !is_token(req.aggregate_type) {
            return Err(AppendError::Invalid(format!(
                "aggregate {}.{} is not a valid subject token",
                req.aggregate_type, req.aggregate_id
            )));
        }
        if let Some(e) = self.unavailable_now() {
            return Err(e);
        }
        let started = Instant::now();
        let n = events.len();
        // Only a decision of several events is a batch (a single one is a plain publish).
        let batch_id = (n > 1).then(|| Uuid::now_v7().to_string());
        let mut result = Err(AppendError::Invalid("unreachable".into()));
        for (i, event) in events.iter().enumerate() {
            let subject = format!(
                "rentops.{}.{}.{}.{}",
                self.service, req.aggregate_type, req.aggregate_id, event.name
            );
            let meta = EventMeta {
                event_id: Uuid::now_v7(),
                event_type: format!("rentops.{}.v1.{}", self.service, event.name),
                source: self.service.clone(),
                aggregate_id: req.aggregate_id.to_owned(),
                time: req.time,
                correlation_id: req.correlation_id.to_owned(),
                causation_id: req.causation_id.to_owned(),
                actor: req.actor.to_owned(),
                request_id: req.request_id.to_owned(),
            };
            let mut headers = HeaderMap::new();
            meta.write_headers(&mut headers);
            trace::inject_current(&mut headers);
            // Per aggregate and position: request ids are the client's and need not be unique
            // across aggregates, but the duplicate window is per stream.
            headers.insert(
                NATS_MESSAGE_ID,
                format!("{}:{}:{}", req.aggregate_id, req.request_id, i).as_str(),
            );
            if i == 0 {
                if let Some(fingerprint) = req.fingerprint {
                    headers.insert(crate::envelope::REQUEST_FINGERPRINT, fingerprint);
                }
                // Checked against the stream as it was before the batch, at commit, under lock.
                headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, req.expected.to_string().as_str());
                headers.insert(
                    NATS_EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT,
                    self.aggregate_filter(req.aggregate_type, req.aggregate_id).as_str(),
                );
            }
            if let Some(batch_id) = &batch_id {
                headers.insert(NATS_BATCH_ID, batch_id.as_str());
                headers.insert(NATS_BATCH_SEQUENCE, (i + 1).to_string().as_str());
                if i + 1 == n {
                    headers.insert(NATS_BATCH_COMMIT, NATS_BATCH_COMMIT_FINAL);
                }
            }
            let last = i + 1 == n;
            if !last && i > 0 {
                // Middle messages of a batch need no answer; the commit's ack covers them, and a
                // gap makes the server reject the whole batch.
                self.client
                    .publish_with_headers(subject, headers, event.payload.clone())
                    .await
                    .map_err(|e| AppendError::Unavailable(e.to_string()))?;
                continue;
            }
            let reply = tokio::time::timeout(
                self.timeout,
                self.client
                    .request_with_headers(subject, headers, event.payload.clone()),
            )
            .await
            .map_err(|_| AppendError::Unavailable("no answer from JetStream in time".into()))?
            .map_err(|e| AppendError::Unavailable(e.to_string()))?;
            if !last {
                // The batch's first message: the server answers with an empty reply, or an error.
                if reply.payload.is_empty() {
                    continue;
                }
                match parse_ack(&reply.payload, req.expected) {
                    Err(e) => return Err(e),
                    Ok(_) => continue,
                }
            }
            result = parse_ack(&reply.payload, req.expected).map(|(seq, duplicate)| AppendOk {
                first_sequence: seq + 1 - n as u64,
                last_sequence: seq,
                duplicate,
            });
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AppendError::Conflict { .. }) => "conflict",
            Err(_) => "error",
        };
        metrics::histogram!("rentops_append_seconds", "service" => self.service.clone(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// The aggregate's last stream sequence (0: it has no events), read as one message from the
    /// stream's per-subject index, whatever the stream's size. It is asked of the stream leader
    /// (`STREAM.MSG.GET`), not answered by any replica as a direct get may be: a follower that has
    /// not yet applied the newest append would confirm exactly the stale state this read exists
    /// to catch.
    pub async fn last_sequence(&self, aggregate_type: &str, aggregate_id: &str) -> Result<u64, LoadError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        if self.client.connection_state() != State::Connected {
            return Err(LoadError::Unavailable("not connected to NATS".into()));
        }
        let work = async {
            let stream = self
                .js
                .get_stream_no_info(&self.stream)
                .await
                .map_err(|e| LoadError::Unavailable(e.to_string()))?;
            match stream
                .get_last_raw_message_by_subject(&self.aggregate_filter(aggregate_type, aggregate_id))
                .await
            {
                Ok(message) => Ok(message.sequence),
                Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(0),
                Err(e) => Err(LoadError::Unavailable(e.to_string())),
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LoadError::Unavailable("reading the aggregate's last sequence timed out".into()))?
    }

    /// Reads one aggregate's events in order. Creates an ordered consumer filtered on the
    /// aggregate's subjects, which the server answers from its per-subject index.
    pub async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> Result<Vec<RecordedEvent>, LoadError> {
        if self.client.connection_state() != State::Connected {
            return Err(LoadError::Unavailable("not connected to NATS".into()));
        }
        let unavailable = |e: &dyn std::fmt::Display| LoadError::Unavailable(e.to_string());
        let work = async {
            let stream = self
                .js
                .get_stream_no_info(&self.stream)
                .await
                .map_err(|e| unavailable(&e))?;
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    filter_subject: self.aggregate_filter(aggregate_type, aggregate_id),
                    deliver_policy: consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await
                .map_err(|e| unavailable(&e))?;
            // Every stream may hold only so many consumers (nats-server 2.15: 1,000 unless the
            // stream says otherwise), and an ordered consumer lingers 30 s after its last use:
            // a burst of cold loads after a failover would use them all up. So it is deleted as
            // soon as it has been read, off the command's path (should that fail, the server
            // still reaps it after 30 s).
            let name = consumer.cached_info().name.clone();
            let _delete = DeleteOnDrop(Some((stream.clone(), name)));
            let pending = consumer.cached_info().num_pending;
            let mut out = Vec::with_capacity(pending as usize);
            if pending == 0 {
                return Ok(out);
            }
            let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
            while (out.len() as u64) < pending {
                let Some(msg) = messages.next().await else { break };
                let msg = msg.map_err(|e| unavailable(&e))?;
                let info = msg.info().map_err(|e| unavailable(&e))?;
                let sequence = info.stream_sequence;
                let event = RecordedEvent::from_message(
                    sequence,
                    msg.subject.as_str(),
                    msg.headers.as_ref(),
                    msg.payload.clone(),
                )
                .map_err(|e| LoadError::Corrupt {
                    sequence,
                    message: e.to_string(),
                })?;
                out.push(event);
            }
            Ok(out)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LoadError::Unavailable("loading the aggregate timed out".into()))?
    }
}

/// Deletes a consumer when dropped, in a task of its own.
struct DeleteOnDrop(Option<(jetstream::stream::Stream<()>, String)>);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if let Some((stream, name)) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = stream.delete_consumer(&name).await {
                    tracing::debug!(consumer = %name, error = %e, "could not delete a load's consumer");
                }
            });
        }
    }
}

/// Reads a PubAck (or JetStream API error) answer.
fn parse_ack(payload: &[u8], expected: u64) -> Result<(u64, bool), AppendError> {
    let ack: PubAckJson = serde_json::from_slice(payload)
        .map_err(|e| AppendError::Rejected(format!("unreadable answer from JetStream: {e}")))?;
    if let Some(err) = ack.error {
        return Err(match err.err_code {
            WRONG_LAST_SEQUENCE | WRONG_LAST_SEQUENCE_CLUSTERED => AppendError::Conflict {
                expected,
                message: err.description,
            },
            code => AppendError::Rejected(format!("{} (code {code})", err.description)),
        });
    }
    let _ = ack.count;
    Ok((ack.seq, ack.duplicate))
}

/// A NATS subject token: non-empty, no separators or wildcards, no whitespace.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'.' && b != b'*' && b != b'>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_conflicts_are_told_apart() {
        assert_eq!(parse_ack(br#"{"stream":"ORDER","seq":7}"#, 3).unwrap(), (7, false));
        assert_eq!(
            parse_ack(br#"{"stream":"ORDER","seq":7,"duplicate":true}"#, 3).unwrap(),
            (7, true)
        );
        let conflict = br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}"#;
        assert!(matches!(
            parse_ack(conflict, 3),
            Err(AppendError::Conflict { expected: 3, .. })
        ));
        let clustered = br#"{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}"#;
        assert!(matches!(parse_ack(clustered, 3), Err(AppendError::Conflict { .. })));
        let other = br#"{"error":{"code":503,"err_code":10077,"description":"resource limits"}}"#;
        assert!(matches!(parse_ack(other, 3), Err(AppendError::Rejected(_))));
    }

    #[test]
    fn tokens() {
        assert!(is_token("0b9f3c1e-1d2a-5f55-9b1e-6b0d3f1b2c3d"));
        assert!(!is_token("a.b"));
        assert!(!is_token("a*"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
    }
}
