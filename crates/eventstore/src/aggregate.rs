//! How domain code plugs into the event log, and the command path.
//!
//! An aggregate is four pure functions: `decide(state, command) -> events | error`,
//! `evolve(state, event) -> state`, and the protobuf codec of its events. [`CommandHandler`] runs
//! a command: it takes the aggregate's state (from its in-memory cache, else from the stream),
//! decides, and appends with the expected-sequence check. A lost race reloads and decides again,
//! a bounded number of times. A command whose request id the aggregate has already seen is
//! answered as the first time was, without deciding again.
//!
//! The cache holds state + last sequence of recently used aggregates. It may be stale (another
//! replica appended). A decision that appends is then refused by the expected-sequence check, the
//! entry is dropped and the decision is taken again on state freshly read from the stream. A
//! decision that appends nothing — a refusal, or a no-op — has no such check, so before it is
//! answered the aggregate's last sequence is read from the stream (one message) and, when it
//! moved, the state is read again and the decision taken again. See
//! `docs/adr/0002-aggregate-cache.md`.
//!
//! A cold load (a cache miss) reads the aggregate's events with batched direct gets, which a
//! follower that lags may answer; the store asks the stream leader for the aggregate's last
//! sequence at the same time and reads on until it has got that far, so state "freshly read"
//! is as current as the leader's own read and needs no second check. What keeps every answer
//! right is unchanged: an append carries the sequence it was decided on, and a refusal or a
//! no-op decided on cached state is confirmed with the leader's last sequence.
//!
//! An aggregate that opts into snapshots (`rentops_kernel::Snapshot`, declared as
//! `Aggregate::SNAPSHOT`) loads from its newest snapshot and the events after it; every
//! `HandlerConfig::snapshot_every` events the handler hands a copy of the state to a background
//! task that writes the next one, off the command's path. A snapshot is never trusted further
//! than its events would be: one that does not decode, has another format version, or lies
//! ahead of the stream is ignored (and logged) and the events are folded instead. See
//! `docs/adr/0013-cold-loads.md`.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use rentops_kernel::{Aggregate, DecodeError, EventCodec, SnapshotFormat};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::envelope::RecordedEvent;
use crate::snapshot::{RememberedRequest, SnapshotRecord};
use crate::store::{AppendError, AppendRequest, EventStore, LoadError, NewEvent};

/// Who sent the command, when, and how to recognise a retry of it.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub request_id: String,
    /// A hash of what the request asked for (`rentops_proto::CommandRequest::fingerprint`), when
    /// the command came from a caller who may reuse a request id by mistake. A request id seen
    /// before with another fingerprint is refused ([`ExecuteError::RequestReused`]); `None`
    /// matches anything.
    pub fingerprint: Option<String>,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor: String,
    pub time: OffsetDateTime,
}

/// The result of a command that was accepted.
#[derive(Debug, Clone)]
pub struct Executed<S> {
    pub aggregate_id: String,
    /// The aggregate's last sequence after the command (the last event appended, or the current
    /// version when the command changed nothing).
    pub sequence: u64,
    pub events_appended: u32,
    /// The request id had been seen before: this is the first answer, given again.
    pub replayed: bool,
    pub state: S,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// A business rule refused the command; nothing was appended.
    #[error(transparent)]
    Domain(E),
    /// Lost the race for the aggregate `attempts` times in a row.
    #[error("the {aggregate} changed concurrently {attempts} times; try again")]
    Conflict { aggregate: &'static str, attempts: u32 },
    /// The request id was used before, on this aggregate, for a command with other content
    /// (the answer to that one would be a lie about this one); nothing was appended.
    #[error(
        "request id {request_id} was already used for a different command on this {aggregate} \
         (its events end at sequence {sequence}); send a new request id"
    )]
    RequestReused {
        aggregate: &'static str,
        request_id: String,
        sequence: u64,
    },
    /// The log could not be reached, or did not answer in time; nothing was decided (an append
    /// may have happened: a retry must carry the same request id).
    #[error("event log unavailable: {0}")]
    Unavailable(#[source] LogFailure),
    /// The log answered, but not with something this code can use.
    #[error("event log failure: {0}")]
    Store(#[source] LogFailure),
}

/// What the log did wrong, from the call that met it.
#[derive(Debug, thiserror::Error)]
pub enum LogFailure {
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A stored event of the aggregate does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl<E: std::error::Error + 'static> ExecuteError<E> {
    /// The gRPC answer: the domain's own status for a broken rule (`domain`), ABORTED for a race
    /// lost too often, UNAVAILABLE when the log is unreachable, INTERNAL (logged) otherwise.
    pub fn into_status(self, domain: impl FnOnce(E) -> tonic::Status) -> tonic::Status {
        match self {
            ExecuteError::Domain(e) => domain(e),
            e @ ExecuteError::Conflict { .. } => tonic::Status::aborted(e.to_string()),
            e @ ExecuteError::RequestReused { .. } => {
                rentops_runtime::grpc::invalid_argument("context.request_id", e.to_string())
            }
            ExecuteError::Unavailable(e) => tonic::Status::unavailable(format!("event log unavailable: {e}")),
            ExecuteError::Store(m) => {
                tracing::error!(error = %m, "event log failure");
                tonic::Status::internal("event log failure")
            }
        }
    }
}

/// Events of an aggregate between two of its snapshots. Reading an aggregate's events costs
/// with the stretch of stream they are spread over (about 0.5 ms per event of a long-lived
/// aggregate in a 1,000,000-event stream, ADR 0013), so a cold load should read few: with 10, it
/// reads at most 9 after the snapshot (0.7 ms measured), and the bucket takes one write per 10
/// events of the aggregates that opt in.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10;

/// Snapshot writes waiting for the background writer; beyond this a snapshot is skipped (and
/// tried again after the aggregate's next command), so a slow bucket never holds up commands.
const SNAPSHOT_QUEUE: usize = 1024;

#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// Decisions retried after a lost race before answering ABORTED.
    pub max_attempts: u32,
    /// Aggregates kept in memory.
    pub cache_capacity: usize,
    /// Request ids remembered per aggregate beyond those of the last `request_window`.
    pub remembered_requests: usize,
    /// Every request id of this long before an aggregate's newest event is remembered, however
    /// many there are: at least the stream's duplicate window, inside which a retry must be
    /// answered as the first time.
    pub request_window: std::time::Duration,
    /// For aggregates that opt into snapshots: a snapshot is written once this many events of an
    /// aggregate have been folded since its last one (0: none are written; existing ones are
    /// still read).
    pub snapshot_every: u64,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            cache_capacity: 100_000,
            remembered_requests: 64,
            request_window: std::time::Duration::from_secs(120),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
        }
    }
}

impl HandlerConfig {
    /// What every service's command handlers take from its common configuration; a retry inside
    /// the stream's de-duplication window is always recognised.
    pub fn from_common(c: &rentops_runtime::CommonConfig, stream: &crate::StreamSettings) -> Self {
        Self {
            max_attempts: c.max_command_attempts,
            cache_capacity: c.aggregate_cache,
            request_window: stream.duplicate_window,
            ..Self::default()
        }
    }
}

/// What an aggregate remembers of one request that appended.
#[derive(Debug, Clone)]
struct Seen {
    /// The last sequence it appended, and how many events.
    sequence: u64,
    count: u32,
    fingerprint: Option<String>,
    /// When it was decided (the command's time).
    time: OffsetDateTime,
}

/// The request ids of an aggregate's recent commands: all of those within the window before its
/// newest event, and beyond that the newest `keep` (oldest forgotten first), so that the memory
/// of a long-lived aggregate does not grow with every command forever.
#[derive(Debug, Clone, Default)]
struct Requests {
    seen: HashMap<String, Seen>,
    /// Request ids, oldest first.
    order: VecDeque<String>,
}

impl Requests {
    fn get(&self, request_id: &str) -> Option<&Seen> {
        self.seen.get(request_id)
    }

    /// Records that `request_id` appended an event at `sequence`; one request may append several.
    fn record(&mut self, request_id: &str, sequence: u64, fingerprint: Option<&str>, time: OffsetDateTime) {
        match self.seen.get_mut(request_id) {
            Some(seen) => {
                seen.sequence = sequence;
                seen.count += 1;
                if seen.fingerprint.is_none() {
                    seen.fingerprint = fingerprint.map(str::to_owned);
                }
            }
            None => {
                self.seen.insert(
                    request_id.to_owned(),
                    Seen {
                        sequence,
                        count: 1,
                        fingerprint: fingerprint.map(str::to_owned),
                        time,
                    },
                );
                self.order.push_back(request_id.to_owned());
            }
        }
    }

    /// What a snapshot keeps of them, oldest first.
    fn remembered(&self) -> Vec<RememberedRequest> {
        self.order
            .iter()
            .filter_map(|id| {
                self.seen.get(id).map(|seen| RememberedRequest {
                    request_id: id.clone(),
                    sequence: seen.sequence,
                    count: seen.count,
                    fingerprint: seen.fingerprint.clone(),
                    time_ns: seen.time.unix_timestamp_nanos(),
                })
            })
            .collect()
    }

    /// The memory a snapshot kept; `None` when one of its times is out of range.
    fn from_remembered(remembered: Vec<RememberedRequest>) -> Option<Self> {
        let mut requests = Self::default();
        for r in remembered {
            let time = OffsetDateTime::from_unix_timestamp_nanos(r.time_ns).ok()?;
            if requests.seen.contains_key(&r.request_id) {
                return None;
            }
            requests.order.push_back(r.request_id.clone());
            requests.seen.insert(
                r.request_id,
                Seen {
                    sequence: r.sequence,
                    count: r.count,
                    fingerprint: r.fingerprint,
                    time,
                },
            );
        }
        Some(requests)
    }

    /// Forgets the oldest requests beyond `keep` that lie more than `window` before `newest`.
    fn prune(&mut self, keep: usize, window: std::time::Duration, newest: OffsetDateTime) {
        while self.order.len() > keep {
            let Some(oldest) = self.order.front() else { break };
            let old_enough = self.seen.get(oldest).is_none_or(|s| newest - s.time > window);
            if !old_enough {
                break;
            }
            if let Some(id) = self.order.pop_front() {
                self.seen.remove(&id);
            }
        }
    }
}

/// An aggregate's state as of a sequence, with the requests that produced it.
#[derive(Clone)]
struct Root<S> {
    state: S,
    /// Stream sequence of the aggregate's last event; 0 when it has none.
    version: u64,
    /// The requests that appended its recent events.
    requests: Requests,
    /// Events folded in since the snapshot it was loaded from or the last one written (all of
    /// them when it has none).
    since_snapshot: u64,
}

impl<S: Default> Default for Root<S> {
    fn default() -> Self {
        Self {
            state: S::default(),
            version: 0,
            requests: Requests::default(),
            since_snapshot: 0,
        }
    }
}

/// A snapshot to write: the aggregate's id and its root as of the moment it was handed over.
struct SnapshotJob<S> {
    id: String,
    root: Root<S>,
}

/// Why a stored snapshot was not used (logged; the events are folded instead).
#[derive(Debug, thiserror::Error)]
enum SnapshotIgnored {
    #[error("it is the snapshot of {found}, not of this aggregate")]
    OtherAggregate { found: String },
    #[error("it has format version {found}, this code reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("it is at sequence {snapshot}, ahead of the aggregate's last event in the stream ({stream})")]
    Ahead { snapshot: u64, stream: u64 },
    #[error("its state does not decode: {0}")]
    State(#[source] rentops_kernel::SnapshotError),
    #[error("its request memory is invalid (a time out of range or an id twice)")]
    Requests,
}

/// Runs commands against one aggregate type.
pub struct CommandHandler<A: Aggregate> {
    store: EventStore,
    cache: Mutex<LruCache<String, Root<A::State>>>,
    config: HandlerConfig,
    /// The background snapshot writer, when this aggregate opts in and the log has a bucket.
    snapshot_jobs: Option<mpsc::Sender<SnapshotJob<A::State>>>,
    /// How many snapshots the writer has stored.
    snapshots_written: watch::Sender<u64>,
}

impl<A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>> CommandHandler<A> {
    pub fn new(store: EventStore, config: HandlerConfig) -> Self {
        let capacity = NonZeroUsize::new(config.cache_capacity).unwrap_or(NonZeroUsize::MIN);
        let (snapshots_written, _) = watch::channel(0);
        let snapshot_jobs = match (A::SNAPSHOT, tokio::runtime::Handle::try_current()) {
            (Some(format), Ok(runtime)) if store.has_snapshots() && config.snapshot_every > 0 => {
                let (jobs, queue) = mpsc::channel(SNAPSHOT_QUEUE);
                runtime.spawn(write_snapshots::<A>(
                    store.clone(),
                    format,
                    queue,
                    snapshots_written.clone(),
                ));
                Some(jobs)
            }
            (Some(_), Err(_)) if store.has_snapshots() && config.snapshot_every > 0 => {
                tracing::warn!(
                    aggregate = A::TYPE,
                    "command handler created outside a tokio runtime: no snapshots are written"
                );
                None
            }
            _ => None,
        };
        Self {
            store,
            cache: Mutex::new(LruCache::new(capacity)),
            config,
            snapshot_jobs,
            snapshots_written,
        }
    }

    /// The number of snapshots this handler has written so far, as it changes: what a test
    /// waits on instead of a timer.
    pub fn snapshots_written(&self) -> watch::Receiver<u64> {
        self.snapshots_written.subscribe()
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Runs `command` on aggregate `id`. `new_on_miss`: the command creates the aggregate, so on a
    /// cache miss decide first on the empty state and let the expected-sequence check (expected 0)
    /// tell whether it exists — this saves a read of the stream for every creation.
    pub async fn execute(
        &self,
        id: &str,
        meta: &CommandMeta,
        command: &A::Command,
        new_on_miss: bool,
    ) -> Result<Executed<A::State>, ExecuteError<A::Error>> {
        let mut conflicts = 0;
        let mut assume_new = new_on_miss;
        // Set once a refusal or a no-op was found to rest on stale state: read the stream.
        let mut must_load = false;
        loop {
            // `fresh`: the state was read from the stream for this very decision. Cached state,
            // or the empty state assumed for a creation, may be behind the stream.
            let (root, fresh) = match (must_load, self.cached(id)) {
                (false, Some(root)) => (root, false),
                (false, None) if assume_new => (Root::default(), false),
                _ => (self.load_root(id).await?, true),
            };
            assume_new = false;
            must_load = false;
            if let Some(seen) = root.requests.get(&meta.request_id) {
                // A cached entry that has this request id is right about it however stale it is
                // otherwise: what a request appended never changes.
                return replay::<A>(id, meta, seen, root.state);
            }
            let decision = A::decide(&root.state, command);
            // An append is checked by the server against the version it was decided on; a
            // refusal or a no-op appends nothing, so nothing would catch a decision taken on state
            // another replica has moved past. Confirm that version against the stream first.
            let appends = matches!(&decision, Ok(events) if !events.is_empty());
            if !appends && !fresh && !self.still_current(id, root.version).await? {
                metrics::counter!("rentops_stale_decisions_total", "aggregate" => A::TYPE).increment(1);
                tracing::debug!(aggregate = A::TYPE, id, "cached state was stale; deciding again");
                self.invalidate(id);
                must_load = true;
                continue;
            }
            let events = decision.map_err(ExecuteError::Domain)?;
            if events.is_empty() {
                return Ok(Executed {
                    aggregate_id: id.to_owned(),
                    sequence: root.version,
                    events_appended: 0,
                    replayed: false,
                    state: root.state,
                });
            }
            let encoded: Vec<NewEvent> = events.iter().map(NewEvent::encoded::<A>).collect();
            let request = AppendRequest {
                aggregate_type: A::TYPE,
                aggregate_id: id,
                expected: root.version,
                request_id: &meta.request_id,
                fingerprint: meta.fingerprint.as_deref(),
                correlation_id: &meta.correlation_id,
                causation_id: &meta.causation_id,
                actor: &meta.actor,
                time: meta.time,
            };
            match self.store.append(&request, &encoded).await {
                Ok(ok) if ok.duplicate => {
                    // The server had stored this very request already (its msg-id): what it
                    // stored is the answer. Read it back rather than guess.
                    self.invalidate(id);
                    let fresh = self.load_root(id).await?;
                    return match fresh.requests.get(&meta.request_id) {
                        Some(seen) => replay::<A>(id, meta, seen, fresh.state),
                        // Remembered by the server, already forgotten here: all we know is it.
                        None => Ok(Executed {
                            aggregate_id: id.to_owned(),
                            sequence: ok.last_sequence,
                            events_appended: 0,
                            replayed: true,
                            state: fresh.state,
                        }),
                    };
                }
                Ok(ok) => {
                    let mut root = root;
                    for event in &events {
                        root.state = A::evolve(root.state, event);
                    }
                    root.version = ok.last_sequence;
                    for sequence in ok.first_sequence..=ok.last_sequence {
                        let fingerprint = (sequence == ok.first_sequence)
                            .then_some(meta.fingerprint.as_deref())
                            .flatten();
                        root.requests.record(&meta.request_id, sequence, fingerprint, meta.time);
                    }
                    root.requests
                        .prune(self.config.remembered_requests, self.config.request_window, meta.time);
                    root.since_snapshot += events.len() as u64;
                    self.maybe_snapshot(id, &mut root);
                    let state = root.state.clone();
                    self.put(id, root);
                    return Ok(Executed {
                        aggregate_id: id.to_owned(),
                        sequence: ok.last_sequence,
                        events_appended: events.len() as u32,
                        replayed: false,
                        state,
                    });
                }
                Err(AppendError::Conflict { .. }) => {
                    conflicts += 1;
                    metrics::counter!("rentops_append_conflicts_total", "aggregate" => A::TYPE).increment(1);
                    tracing::debug!(
                        aggregate = A::TYPE,
                        id,
                        conflicts,
                        "lost the race; deciding again on fresh state"
                    );
                    self.invalidate(id);
                    if conflicts >= self.config.max_attempts {
                        return Err(ExecuteError::Conflict {
                            aggregate: A::TYPE,
                            attempts: conflicts,
                        });
                    }
                }
                Err(e @ AppendError::Unavailable(_)) => {
                    // The append may have happened: forget what we think we know.
                    self.invalidate(id);
                    return Err(ExecuteError::Unavailable(e.into()));
                }
                Err(e) => return Err(ExecuteError::Store(e.into())),
            }
        }
    }

    /// True when the stream's last sequence for aggregate `id` is still `version`: state decided
    /// on at that version is current. One read of one message, whatever the stream's size.
    async fn still_current(&self, id: &str, version: u64) -> Result<bool, ExecuteError<A::Error>> {
        let last = self.store.last_sequence(A::TYPE, id).await.map_err(load_error)?;
        Ok(last == version)
    }

    /// The aggregate's current state and version, read through the cache.
    pub async fn state(&self, id: &str) -> Result<(A::State, u64), ExecuteError<A::Error>> {
        let root = match self.cached(id) {
            Some(root) => root,
            None => self.load_root(id).await?,
        };
        Ok((root.state, root.version))
    }

    pub fn invalidate(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.pop(id);
        }
    }

    fn cached(&self, id: &str) -> Option<Root<A::State>> {
        // A poisoned lock only means another thread panicked mid-update of the cache; the cache
        // is an optimisation, so carry on without it.
        self.cache.lock().ok().and_then(|mut c| c.get(id).cloned())
    }

    fn put(&self, id: &str, root: Root<A::State>) {
        if let Ok(mut cache) = self.cache.lock() {
            // Never replace a newer version with an older one (a concurrent command may have
            // stored its result first).
            if cache.peek(id).is_some_and(|r| r.version > root.version) {
                return;
            }
            cache.put(id.to_owned(), root);
        }
    }

    /// The aggregate's state as of at least the leader's last sequence for it (see the module's
    /// doc), from its snapshot and the events after it when it has one.
    async fn load_root(&self, id: &str) -> Result<Root<A::State>, ExecuteError<A::Error>> {
        let mut root = match A::SNAPSHOT {
            Some(format) if self.store.has_snapshots() => self.load_with_snapshot(id, format).await?,
            _ => {
                let recorded = self.store.load(A::TYPE, id).await.map_err(load_error)?;
                let mut root = Root::default();
                fold_into::<A>(&mut root, &recorded, &self.config).map_err(|e| ExecuteError::Store(e.into()))?;
                root
            }
        };
        if root.version > 0 {
            self.maybe_snapshot(id, &mut root);
            self.put(id, root.clone());
        }
        Ok(root)
    }

    /// Reads the snapshot and the leader's last sequence at once, then the events after the
    /// snapshot (all of them when there is none, or it is not usable).
    async fn load_with_snapshot(
        &self,
        id: &str,
        format: SnapshotFormat<A::State>,
    ) -> Result<Root<A::State>, ExecuteError<A::Error>> {
        let (snapshot, last) = tokio::join!(
            self.store.read_snapshot(A::TYPE, id),
            self.store.last_sequence(A::TYPE, id)
        );
        let last = last.map_err(load_error)?;
        let from_snapshot = match snapshot {
            Ok(Some(record)) => {
                let sequence = record.sequence;
                match root_from_snapshot::<A>(id, record, last, format) {
                    Ok(root) => Some(root),
                    Err(reason) => {
                        metrics::counter!("rentops_snapshots_ignored_total", "aggregate" => A::TYPE).increment(1);
                        tracing::warn!(
                            aggregate = A::TYPE,
                            id,
                            sequence,
                            reason = %reason,
                            "snapshot ignored; folding the aggregate from its events"
                        );
                        None
                    }
                }
            }
            // An id a KV key cannot hold simply has no snapshots.
            Ok(None) | Err(crate::snapshot::SnapshotError::InvalidKey { .. }) => None,
            Err(e) => {
                metrics::counter!("rentops_snapshots_ignored_total", "aggregate" => A::TYPE).increment(1);
                tracing::warn!(aggregate = A::TYPE, id, error = %e, "snapshot unreadable; folding the aggregate from its events");
                None
            }
        };
        let mut root = from_snapshot.unwrap_or_default();
        if last > root.version {
            let tail = self
                .store
                .load_range(A::TYPE, id, root.version, last)
                .await
                .map_err(load_error)?;
            fold_into::<A>(&mut root, &tail, &self.config).map_err(|e| ExecuteError::Store(e.into()))?;
        }
        Ok(root)
    }

    /// Hands a copy of `root` to the snapshot writer once enough events have been folded in
    /// since the last snapshot. Never waits: when the writer is behind, the snapshot is skipped
    /// and tried again after the aggregate's next command.
    fn maybe_snapshot(&self, id: &str, root: &mut Root<A::State>) {
        let Some(jobs) = &self.snapshot_jobs else { return };
        if root.since_snapshot < self.config.snapshot_every {
            return;
        }
        let job = SnapshotJob {
            id: id.to_owned(),
            root: root.clone(),
        };
        match jobs.try_send(job) {
            Ok(()) => root.since_snapshot = 0,
            Err(_) => {
                metrics::counter!("rentops_snapshots_skipped_total", "aggregate" => A::TYPE).increment(1);
            }
        }
    }
}

fn load_error<E: std::error::Error + 'static>(e: LoadError) -> ExecuteError<E> {
    if e.is_unavailable() {
        ExecuteError::Unavailable(e.into())
    } else {
        ExecuteError::Store(e.into())
    }
}

/// A root from a stored snapshot, when it is one this code can trust: of this aggregate, in the
/// aggregate's current format, not ahead of the stream, decodable.
fn root_from_snapshot<A: Aggregate>(
    id: &str,
    record: SnapshotRecord,
    stream_last: u64,
    format: SnapshotFormat<A::State>,
) -> Result<Root<A::State>, SnapshotIgnored> {
    if record.aggregate_type != A::TYPE || record.aggregate_id != id {
        return Err(SnapshotIgnored::OtherAggregate {
            found: format!("{}.{}", record.aggregate_type, record.aggregate_id),
        });
    }
    if record.format != format.version {
        return Err(SnapshotIgnored::Version {
            found: record.format,
            expected: format.version,
        });
    }
    if record.sequence > stream_last || record.sequence == 0 {
        return Err(SnapshotIgnored::Ahead {
            snapshot: record.sequence,
            stream: stream_last,
        });
    }
    let state = (format.decode)(&record.state).map_err(SnapshotIgnored::State)?;
    let requests = Requests::from_remembered(record.requests).ok_or(SnapshotIgnored::Requests)?;
    Ok(Root {
        state,
        version: record.sequence,
        requests,
        since_snapshot: 0,
    })
}

/// Writes the snapshots handed over by one handler, one at a time and in the order given (so an
/// older snapshot of an aggregate never replaces a newer one), until the handler is dropped.
async fn write_snapshots<A: Aggregate>(
    store: EventStore,
    format: SnapshotFormat<A::State>,
    mut jobs: mpsc::Receiver<SnapshotJob<A::State>>,
    written: watch::Sender<u64>,
) {
    while let Some(SnapshotJob { id, root }) = jobs.recv().await {
        let state = match (format.encode)(&root.state) {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(aggregate = A::TYPE, id, error = %e, "cannot encode a snapshot");
                continue;
            }
        };
        let record = SnapshotRecord {
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: id,
            format: format.version,
            sequence: root.version,
            requests: root.requests.remembered(),
            state: state.into(),
        };
        match store.write_snapshot(&record).await {
            Ok(_) => {
                metrics::counter!("rentops_snapshots_written_total", "aggregate" => A::TYPE).increment(1);
                written.send_modify(|n| *n += 1);
            }
            Err(e @ crate::snapshot::SnapshotError::InvalidKey { .. }) => {
                tracing::debug!(aggregate = A::TYPE, error = %e, "no snapshot for this id");
            }
            Err(e) => {
                tracing::warn!(aggregate = A::TYPE, id = record.aggregate_id, error = %e, "cannot write a snapshot");
            }
        }
    }
}

/// Folds `recorded` (events after `root.version`, in order) into `root`.
fn fold_into<A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>>(
    root: &mut Root<A::State>,
    recorded: &[RecordedEvent],
    config: &HandlerConfig,
) -> Result<(), DecodeError> {
    for event in recorded {
        let decoded = A::decode(&event.name, &event.payload)?;
        root.state = A::evolve(std::mem::take(&mut root.state), &decoded);
        root.version = event.sequence;
        root.since_snapshot += 1;
        root.requests.record(
            &event.meta.request_id,
            event.sequence,
            event.fingerprint.as_deref(),
            event.meta.time,
        );
    }
    if let Some(last) = recorded.last() {
        root.requests
            .prune(config.remembered_requests, config.request_window, last.meta.time);
    }
    Ok(())
}

/// The answer to a request seen before: the first answer again when it asks for the same thing,
/// a refusal when the request id now comes with other content.
fn replay<A: Aggregate>(
    id: &str,
    meta: &CommandMeta,
    seen: &Seen,
    state: A::State,
) -> Result<Executed<A::State>, ExecuteError<A::Error>> {
    if let (Some(asked), Some(first)) = (&meta.fingerprint, &seen.fingerprint)
        && !crate::envelope::same_request(asked, first)
    {
        return Err(ExecuteError::RequestReused {
            aggregate: A::TYPE,
            request_id: meta.request_id.clone(),
            sequence: seen.sequence,
        });
    }
    Ok(Executed {
        aggregate_id: id.to_owned(),
        sequence: seen.sequence,
        events_appended: seen.count,
        replayed: true,
        state,
    })
}
