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
//!
//! Loads read an aggregate's events with the server's batched direct get by subject
//! (`$JS.API.DIRECT.GET.<stream>` with `next_by_subj`), answered from the per-subject index, so a
//! cold load costs what the aggregate's own events cost whatever the stream's size; async-nats
//! 0.51 has no API for it, so the replies are read here (`docs/adr/0013-cold-loads.md`).

use std::time::{Duration, Instant};

use async_nats::header::{
    NATS_BATCH_COMMIT, NATS_BATCH_COMMIT_FINAL, NATS_BATCH_ID, NATS_BATCH_SEQUENCE, NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
};
use async_nats::jetstream;

/// Not among async-nats's header constants: names the subject filter the expected sequence is checked on.
const NATS_EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
use async_nats::{HeaderMap, connection::State};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{Envelope, EnvelopeError, RecordedEvent};
use crate::trace;

/// The most messages one atomic batch may hold (a server limit).
pub const MAX_BATCH: usize = 1000;

/// JetStream error codes that mean "someone appended to this aggregate first".
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// The clustered stream's answer to the same race (async-nats reports it as `Other`).
const WRONG_LAST_SEQUENCE_CLUSTERED: u64 = 10164;

/// One event to append: its name (the last subject token and the event type's suffix) and the
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
    #[error("aggregate changed since sequence {expected}: {description}")]
    Conflict { expected: u64, description: String },
    /// NATS is unreachable or did not answer in time; the append may or may not have happened,
    /// so a retry must carry the same request id.
    #[error("event log unavailable: {0}")]
    Unavailable(#[source] Unreachable),
    /// The server refused the append for another reason (limits, configuration), with its
    /// JetStream error code and description.
    #[error("event log refused the append: {description} (code {code})")]
    Rejected { code: u64, description: String },
    /// The server's answer was not a PubAck.
    #[error("unreadable answer from JetStream: {0}")]
    UnreadableAnswer(#[source] serde_json::Error),
    #[error("invalid append: {0}")]
    Invalid(InvalidAppend),
}

/// How the log was out of reach for an append.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("not connected to NATS")]
    NotConnected,
    #[error("no answer from JetStream in time")]
    TimedOut,
    #[error(transparent)]
    Publish(#[from] async_nats::PublishError),
    #[error(transparent)]
    Request(#[from] async_nats::RequestError),
}

/// An append this code should never have asked for.
#[derive(Debug, thiserror::Error)]
pub enum InvalidAppend {
    #[error("no events to append")]
    Empty,
    #[error("{0} events in one decision; at most {MAX_BATCH} can be appended atomically")]
    TooMany(usize),
    #[error("aggregate {aggregate_type}.{aggregate_id} is not a valid subject token")]
    NotAToken {
        aggregate_type: String,
        aggregate_id: String,
    },
}

/// Why an aggregate's events (or its last sequence) could not be read. Everything but
/// [`Corrupt`](Self::Corrupt) and [`MalformedAnswer`](Self::MalformedAnswer) is the log being out
/// of reach for now ([`is_unavailable`](Self::is_unavailable)): nothing was decided, try again.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("event log unavailable: not connected to NATS")]
    NotConnected,
    #[error("event log unavailable: {what} got no answer within {after:?}")]
    TimedOut { what: &'static str, after: Duration },
    #[error("event log unavailable: {what}: {source}")]
    Nats {
        what: &'static str,
        #[source]
        source: async_nats::Error,
    },
    /// The server answered with a status instead of messages (503: nobody serves the stream).
    #[error("event log unavailable: {what} was answered {status} {description}")]
    Status {
        what: &'static str,
        status: u16,
        description: String,
    },
    /// Messages of a batch went missing on the way (the client dropped them as a slow consumer):
    /// the read is refused rather than returned with a hole in it.
    #[error("event log unavailable: the read of {filter} skipped from sequence {after} to {next}")]
    Gap { filter: String, after: u64, next: u64 },
    #[error("event at sequence {sequence} is unreadable: {source}")]
    Corrupt {
        sequence: u64,
        #[source]
        source: EnvelopeError,
    },
    /// An answer of the direct get without the headers the server always puts on it.
    #[error("unreadable answer from JetStream to {what}: header {header} missing or malformed")]
    MalformedAnswer { what: &'static str, header: &'static str },
}

impl LoadError {
    /// The log could not be reached or did not answer: a retry may succeed.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Corrupt { .. } | Self::MalformedAnswer { .. })
    }
}

/// An aggregate's events after a given sequence, and its last sequence as the stream leader
/// reported it while they were read: the events reach at least that far.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub events: Vec<RecordedEvent>,
    pub leader_last: u64,
}

/// The body of a batched direct get (nats-server 2.11+, `JSApiMsgGetRequest`).
#[derive(Serialize)]
struct DirectBatchRequest<'a> {
    seq: u64,
    next_by_subj: &'a str,
    batch: usize,
    max_bytes: usize,
}

/// The most messages asked for per direct-get request: a 10,000-event aggregate is one request.
/// Well below the client's per-subscription buffer (65,536
/// messages), beyond which it would drop them.
const DIRECT_BATCH: usize = 10_000;
/// Bytes per direct-get request; the server stops there and the next request goes on.
const DIRECT_MAX_BYTES: usize = 8 << 20;
const STATUS_NO_CONTENT: u16 = 204;
const STATUS_NOT_FOUND: u16 = 404;
const NATS_SEQUENCE: &str = "Nats-Sequence";
const NATS_SUBJECT: &str = "Nats-Subject";
const NATS_NUM_PENDING: &str = "Nats-Num-Pending";
/// On a batch's message: the sequence of the message sent before it in the same batch (0 for the
/// first), which is how a dropped message is noticed.
const NATS_LAST_SEQUENCE: &str = "Nats-Last-Sequence";

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
    /// The service's snapshot bucket, when it has one (`crate::snapshot`).
    pub(crate) snapshots: Option<jetstream::kv::Store>,
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
            snapshots: None,
        }
    }

    /// This log with the service's snapshot bucket (`stream::ensure_snapshot_bucket`): command
    /// handlers of aggregates that opt into snapshots read and write them there.
    pub fn with_snapshots(mut self, bucket: jetstream::kv::Store) -> Self {
        self.snapshots = Some(bucket);
        self
    }

    /// How long a read or an append waits for the server.
    pub fn timeout(&self) -> Duration {
        self.timeout
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
            .then_some(AppendError::Unavailable(Unreachable::NotConnected))
    }

    /// Appends one decision's events atomically, if and only if the aggregate's last sequence is
    /// still `req.expected`. One event is a plain publish; several are one atomic batch.
    pub async fn append(&self, req: &AppendRequest<'_>, events: &[NewEvent]) -> Result<AppendOk, AppendError> {
        if events.is_empty() {
            return Err(AppendError::Invalid(InvalidAppend::Empty));
        }
        if events.len() > MAX_BATCH {
            return Err(AppendError::Invalid(InvalidAppend::TooMany(events.len())));
        }
        if !is_token(req.aggregate_id) || !is_token(req.aggregate_type) {
            return Err(AppendError::Invalid(InvalidAppend::NotAToken {
                aggregate_type: req.aggregate_type.to_owned(),
                aggregate_id: req.aggregate_id.to_owned(),
            }));
        }
        if let Some(e) = self.unavailable_now() {
            return Err(e);
        }
        let started = Instant::now();
        let n = events.len();
        // Only a decision of several events is a batch (a single one is a plain publish).
        let batch_id = (n > 1).then(|| Uuid::now_v7().to_string());
        let mut result = Err(AppendError::Invalid(InvalidAppend::Empty));
        let time = crate::envelope::format_time(req.time);
        let envelope = Envelope {
            aggregate_id: req.aggregate_id,
            request_id: req.request_id,
            correlation_id: req.correlation_id,
            causation_id: req.causation_id,
            actor: req.actor,
            time: &time,
        };
        for (i, event) in events.iter().enumerate() {
            let subject = format!(
                "rentops.{}.{}.{}.{}",
                self.service, req.aggregate_type, req.aggregate_id, event.name
            );
            let mut headers = HeaderMap::new();
            // With `Nats-Msg-Id`: per aggregate and position (`envelope::message_id`); the event
            // id is derived from it (`envelope::event_id`).
            envelope.write(&mut headers, i);
            trace::inject_current(&mut headers);
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
                    .map_err(|e| AppendError::Unavailable(e.into()))?;
                continue;
            }
            let reply = tokio::time::timeout(
                self.timeout,
                self.client
                    .request_with_headers(subject, headers, event.payload.clone()),
            )
            .await
            .map_err(|_| AppendError::Unavailable(Unreachable::TimedOut))?
            .map_err(|e| AppendError::Unavailable(e.into()))?;
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
        if self.client.connection_state() != State::Connected {
            return Err(LoadError::NotConnected);
        }
        let filter = self.aggregate_filter(aggregate_type, aggregate_id);
        tokio::time::timeout(self.timeout, self.leader_last(&filter))
            .await
            .map_err(|_| LoadError::TimedOut {
                what: "reading the aggregate's last sequence",
                after: self.timeout,
            })?
    }

    async fn leader_last(&self, filter: &str) -> Result<u64, LoadError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let what = "reading the aggregate's last sequence";
        let stream = self
            .js
            .get_stream_no_info(&self.stream)
            .await
            .map_err(|e| LoadError::Nats {
                what,
                source: Box::new(e),
            })?;
        match stream.get_last_raw_message_by_subject(filter).await {
            Ok(message) => Ok(message.sequence),
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(0),
            Err(e) => Err(LoadError::Nats {
                what,
                source: Box::new(e),
            }),
        }
    }

    /// Reads one aggregate's events in order: every one of them, nothing skipped, up to at least
    /// the aggregate's last sequence as the stream leader reports it during the read.
    pub async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> Result<Vec<RecordedEvent>, LoadError> {
        Ok(self.load_after(aggregate_type, aggregate_id, 0).await?.events)
    }

    /// The aggregate's events after sequence `after` (0: all of them), in order.
    ///
    /// They are read with batched direct gets, which any replica of the stream may answer, one
    /// that lags behind the leader included. So the leader's last sequence for the aggregate is
    /// asked at the same time (it costs no extra wait), and when the answer stops short of it
    /// the rest is asked for again until it is there. The events returned therefore reach at
    /// least as far as the leader had got when the load began: a decision taken on them is as
    /// current as one taken on the leader's own read, which is what the command handler's
    /// "state freshly read" relies on (`docs/adr/0002-aggregate-cache.md`).
    pub async fn load_after(&self, aggregate_type: &str, aggregate_id: &str, after: u64) -> Result<Loaded, LoadError> {
        if self.client.connection_state() != State::Connected {
            return Err(LoadError::NotConnected);
        }
        let filter = self.aggregate_filter(aggregate_type, aggregate_id);
        let work = async {
            let (leader_last, first) = tokio::join!(self.leader_last(&filter), self.read_direct(&filter, after));
            let leader_last = leader_last?;
            let mut events = first?;
            self.read_up_to(&filter, after, leader_last, &mut events).await?;
            Ok(Loaded { events, leader_last })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LoadError::TimedOut {
                what: "loading the aggregate",
                after: self.timeout,
            })?
    }

    /// The aggregate's events after `after` up to at least `until`, a last sequence the caller
    /// already has from the stream leader ([`last_sequence`](Self::last_sequence)).
    pub async fn load_range(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: u64,
        until: u64,
    ) -> Result<Vec<RecordedEvent>, LoadError> {
        if self.client.connection_state() != State::Connected {
            return Err(LoadError::NotConnected);
        }
        let filter = self.aggregate_filter(aggregate_type, aggregate_id);
        let work = async {
            let mut events = Vec::new();
            self.read_up_to(&filter, after, until, &mut events).await?;
            Ok(events)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LoadError::TimedOut {
                what: "loading the aggregate",
                after: self.timeout,
            })?
    }

    /// Asks again, from where `events` end, until they reach `until`: a replica that answered
    /// first may not have applied the newest appends yet. Ends by the caller's timeout at worst.
    async fn read_up_to(
        &self,
        filter: &str,
        after: u64,
        until: u64,
        events: &mut Vec<RecordedEvent>,
    ) -> Result<(), LoadError> {
        let mut rounds = 0u32;
        loop {
            let reached = events.last().map_or(after, |e| e.sequence);
            if reached >= until {
                return Ok(());
            }
            if rounds > 0 {
                // The replica that answered is behind; give it (or another one) a moment.
                metrics::counter!("rentops_load_lagging_answers_total", "service" => self.service.clone()).increment(1);
                tokio::time::sleep(Duration::from_millis(1 << rounds.min(5))).await;
            }
            rounds += 1;
            let more = self.read_direct(filter, reached).await?;
            events.extend(more);
        }
    }

    /// Every message on `filter` after sequence `after` that the answering replica holds, in
    /// order, in as many batches as it takes.
    async fn read_direct(&self, filter: &str, after: u64) -> Result<Vec<RecordedEvent>, LoadError> {
        let what = "reading the aggregate's events";
        let nats = |e: async_nats::Error| LoadError::Nats { what, source: e };
        let inbox = self.client.new_inbox();
        // Subscribed before the request is sent, on the same connection: no reply can be missed.
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| nats(Box::new(e)))?;
        let subject = format!("$JS.API.DIRECT.GET.{}", self.stream);
        let mut out = Vec::new();
        let mut next = after.saturating_add(1);
        // One request for all of them: the server counts what matches first, which is cheap
        // from the stream's first sequence and costs a pass over the later blocks from anywhere
        // else, so asking for the first message alone and then for the rest (tried) costs more.
        loop {
            let body = serde_json::to_vec(&DirectBatchRequest {
                seq: next,
                next_by_subj: filter,
                batch: DIRECT_BATCH,
                max_bytes: DIRECT_MAX_BYTES,
            })
            .map_err(|e| nats(Box::new(e)))?;
            self.client
                .publish_with_reply(subject.clone(), inbox.clone(), body.into())
                .await
                .map_err(|e| nats(Box::new(e)))?;
            // Within one batch every message names the one sent before it.
            let mut previous = 0u64;
            let pending = loop {
                let Some(message) = replies.next().await else {
                    return Err(LoadError::Status {
                        what,
                        status: 0,
                        description: "the subscription ended (connection closed)".into(),
                    });
                };
                if let Some(status) = message.status {
                    let code = status.as_u16();
                    if code == STATUS_NO_CONTENT {
                        // End of batch: the last message it sent, and how many matching messages
                        // it left for the next request (it stops at max bytes).
                        let headers = message.headers.as_ref();
                        let last_sent = header_u64(headers, NATS_LAST_SEQUENCE).ok_or(LoadError::MalformedAnswer {
                            what,
                            header: NATS_LAST_SEQUENCE,
                        })?;
                        if last_sent != previous {
                            return Err(LoadError::Gap {
                                filter: filter.to_owned(),
                                after: previous,
                                next: last_sent,
                            });
                        }
                        break header_u64(headers, NATS_NUM_PENDING).ok_or(LoadError::MalformedAnswer {
                            what,
                            header: NATS_NUM_PENDING,
                        })?;
                    }
                    if code == STATUS_NOT_FOUND && previous == 0 {
                        // Nothing on the filter at or after `next`.
                        break 0;
                    }
                    return Err(LoadError::Status {
                        what,
                        status: code,
                        description: message.description.unwrap_or_default(),
                    });
                }
                let headers = message.headers.as_ref();
                let sequence = header_u64(headers, NATS_SEQUENCE).ok_or(LoadError::MalformedAnswer {
                    what,
                    header: NATS_SEQUENCE,
                })?;
                let before = header_u64(headers, NATS_LAST_SEQUENCE).ok_or(LoadError::MalformedAnswer {
                    what,
                    header: NATS_LAST_SEQUENCE,
                })?;
                if before != previous || sequence < next {
                    return Err(LoadError::Gap {
                        filter: filter.to_owned(),
                        after: previous.max(next.saturating_sub(1)),
                        next: sequence,
                    });
                }
                let subject = headers
                    .and_then(|h| h.get(NATS_SUBJECT))
                    .map(|v| v.as_str().to_owned())
                    .ok_or(LoadError::MalformedAnswer {
                        what,
                        header: NATS_SUBJECT,
                    })?;
                let event = RecordedEvent::from_message(sequence, &subject, headers, message.payload)
                    .map_err(|source| LoadError::Corrupt { sequence, source })?;
                out.push(event);
                previous = sequence;
            };
            match out.last() {
                Some(last) if pending > 0 => next = last.sequence.saturating_add(1),
                _ => return Ok(out),
            }
        }
    }
}

fn header_u64(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
    headers?.get(name)?.as_str().trim().parse().ok()
}

/// Reads a PubAck (or JetStream API error) answer.
fn parse_ack(payload: &[u8], expected: u64) -> Result<(u64, bool), AppendError> {
    let ack: PubAckJson = serde_json::from_slice(payload).map_err(AppendError::UnreadableAnswer)?;
    if let Some(err) = ack.error {
        return Err(match err.err_code {
            WRONG_LAST_SEQUENCE | WRONG_LAST_SEQUENCE_CLUSTERED => AppendError::Conflict {
                expected,
                description: err.description,
            },
            code => AppendError::Rejected {
                code,
                description: err.description,
            },
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
        assert!(matches!(parse_ack(other, 3), Err(AppendError::Rejected { .. })));
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
