//! The projector loop: a durable JetStream consumer feeding a [`Projection`].
//!
//! Each batch of events that arrived together (up to `batch_size`) is applied in one database
//! transaction that also advances the checkpoint; only after the commit is the batch acknowledged
//! (`AckPolicy::All`, one ack for the batch). A crash between commit and ack makes the broker
//! deliver those events again; they are at or below the checkpoint and are skipped. If two
//! instances ever apply the same batch, the checkpoint's compare-and-set lets only one commit.
//!
//! Whenever a replica becomes the projector (takes the lease, starts, rebuilds) it recreates the
//! consumer at checkpoint + 1: the database's checkpoint is the truth, and a fresh consumer
//! needs no ack-wait before it delivers.
//!
//! A rebuild is blue/green ([`crate::shadow`], ADR 0014): a second instance of the projection
//! ([`Projection::fresh`]) replays from sequence 1 into a shadow view through a consumer of its
//! own (`projector-<name>-rebuild`), with its own checkpoint, while this loop goes on applying
//! new events to the live view. Both run in this one task, so when the shadow has caught up the
//! live side simply stops being fed until the shadow has reached at least the live checkpoint;
//! then the switch replaces the live view in one transaction and the session starts over at the
//! new checkpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use rentops_eventstore::RecordedEvent;

use crate::checkpoint::{self, Checkpoints};
use crate::db::Db;
use crate::deferred;
use crate::lease::{self, Lease, LeaseError, LeaseSettings};
use crate::shadow::{self, Shadow};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A projection could not apply a stored event (it does not decode, or breaks what the
    /// projection relies on): the projector stops there rather than skip it.
    #[error("event at sequence {sequence}: {source}")]
    Event {
        sequence: u64,
        #[source]
        source: BoxError,
    },
    /// A row the projection wrote earlier does not read back (e.g. its JSON state).
    #[error("stored row {row} unreadable: {source}")]
    StoredRow {
        row: String,
        #[source]
        source: BoxError,
    },
    /// The broker failed a call the projector made (consumer, fetch, ack).
    #[error("event log: {0}")]
    Log(#[source] BoxError),
    /// The consumer's message stream ended.
    #[error("the {0} consumer's stream ended")]
    StreamEnded(&'static str),
    /// Another instance advanced the checkpoint: this one starts over from it.
    #[error("checkpoint moved under us{0}")]
    CheckpointMoved(&'static str),
    #[error("a SQLite shadow without a file")]
    ShadowWithoutFile,
    /// The consumer's deliveries skipped a number (another projector pulled some of them) or
    /// started again (it was recreated): see `read_messages`.
    #[error("delivery {delivered} where {expected} was next: another projector shares the consumer")]
    DeliveryGap { expected: u64, delivered: u64 },
    /// A rebuild's shadow database could not be opened.
    #[error("rebuild's shadow database: {0}")]
    Shadow(#[from] crate::db::DbError),
    #[error("rebuild's shadow file {path}: {source}")]
    ShadowFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A failure's cause, of whatever type the crate below reported it in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ProjectionError {
    /// The event at `sequence` could not be applied, because of `source` (an error, or a
    /// message saying what is wrong with it).
    pub fn event(sequence: u64, source: impl Into<BoxError>) -> Self {
        Self::Event {
            sequence,
            source: source.into(),
        }
    }

    /// The row `row` wrote earlier does not read back, because of `source`.
    pub fn stored_row(row: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::StoredRow {
            row: row.into(),
            source: source.into(),
        }
    }

    pub(crate) fn log(source: impl Into<BoxError>) -> Self {
        Self::Log(source.into())
    }
}

/// A read model: applies events to its tables. Implementations must be deterministic: a rebuild
/// from sequence 1 gives the same rows.
pub trait Projection: Send + Sync + 'static {
    /// Unique name: the checkpoint row, the durable consumer and the lease key.
    fn name(&self) -> &str;
    /// Subjects to consume, e.g. `rentops.order.>`.
    fn filter_subjects(&self) -> Vec<String>;
    /// Applies one event inside `tx`: what the event does to the view.
    fn apply_event<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Any>,
        event: &'a RecordedEvent,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a;
    /// Applies `events` (in stream order, all above the checkpoint) inside `tx`: by default each
    /// in turn. A projection that folds a batch first (to write each row once) overrides it; the
    /// rows must be those of applying the events one by one.
    fn apply<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Any>,
        events: &'a [RecordedEvent],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send + 'a {
        async move {
            for event in events {
                self.apply_event(tx, event).await?;
            }
            Ok(())
        }
    }
    /// A new instance with nothing in memory, for a rebuild: it builds the shadow view while
    /// this one goes on applying to the live view, and the two must share no cache of rows.
    fn fresh(&self) -> Self
    where
        Self: Sized;
    /// The tables that make up the view: a rebuild builds empty copies of them beside the live
    /// ones and replaces them at the switch (see [`crate::shadow`]). A table the projection
    /// writes but does not list here (an outbox for a reactor) is written through to the live
    /// one during a replay, so its rows must be idempotent per event.
    fn tables(&self) -> Vec<&'static str>;
    /// Drops whatever the projection keeps in memory of its rows. Called whenever the projector
    /// (re)starts consuming: after a rebuild, a lost lease, a failed or rolled-back batch. While
    /// one consuming session lasts this projector is the tables' only writer (the lease, and the
    /// checkpoint's compare-and-set for the rare overlap), so rows it wrote in that session may be
    /// remembered instead of read back.
    fn forget(&self) {}
}

#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    pub stream: String,
    /// Names this replica in the lease.
    pub instance_id: String,
    pub batch_size: usize,
    /// How long the first event of a batch waits for more to join it. Each batch costs a
    /// transaction (~0.5 ms on SQLite), so applying events one by one falls behind under load;
    /// a few milliseconds of lingering buys batches of tens of events (see ADR 0003).
    pub linger: Duration,
    pub lease: LeaseSettings,
    /// Run without a lease (tests of concurrent application; a single-replica tool).
    pub use_lease: bool,
}

impl ProjectorSettings {
    pub fn new(stream: &str, instance_id: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            instance_id: instance_id.to_owned(),
            batch_size: 4000,
            linger: Duration::from_millis(5),
            lease: LeaseSettings::default(),
            use_lease: true,
        }
    }

    /// The settings every service's projectors take from its common configuration.
    pub fn from_common(stream: &str, c: &rentops_runtime::CommonConfig) -> Self {
        let mut s = Self::new(stream, &c.instance_id);
        s.lease.replicas = c.stream_replicas;
        s.lease.ttl = c.projector_lease;
        s.linger = c.projector_linger;
        s.batch_size = c.projector_batch;
        s
    }
}

enum Control {
    Rebuild(oneshot::Sender<Result<(), RebuildError>>),
}

/// Why a rebuild was not started.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Another replica runs this projector (or nobody does yet): only the lease holder may reset
    /// the tables it writes.
    #[error("this replica does not hold the lease of projection {0}")]
    NotLeaseHolder(String),
    /// The projector task has ended (the service is shutting down).
    #[error("the projector of {0} has stopped")]
    Stopped(String),
    /// Setting up the shadow view failed; the live view is untouched.
    #[error("starting a rebuild of projection {name}: {source}")]
    Reset {
        name: String,
        #[source]
        source: ProjectionError,
    },
}

/// Where a projector's lease is kept, so that any replica can say who holds it.
#[derive(Clone)]
struct LeaseKey {
    js: jetstream::Context,
    bucket: String,
    key: String,
}

/// What the rest of the service holds of a running projector.
#[derive(Clone)]
pub struct ProjectorHandle {
    control: mpsc::Sender<Control>,
    pub checkpoints: Checkpoints,
    name: String,
    applied: watch::Receiver<u64>,
    rebuilding: watch::Receiver<bool>,
    lease_held: watch::Receiver<bool>,
    /// `None` for a projector run without a lease.
    lease: Option<LeaseKey>,
    instance_id: String,
    db: Db,
    /// The rebuild's checkpoint on this replica, while it runs one here.
    rebuild_applied: watch::Receiver<Option<u64>>,
    hold: Arc<watch::Sender<bool>>,
}

impl ProjectorHandle {
    /// Rebuilds the projection from sequence 1 beside the live view, which goes on answering
    /// queries (and applying new events) until the new one replaces it. Returns once the shadow
    /// view is set up and the rebuild marked; the replay and the switch then run in the
    /// background (wait for [`Self::rebuild_in_progress`] to turn false). A rebuild asked while
    /// one runs starts it over. Only the replica holding the lease can do it;
    /// on another replica this fails with [`RebuildError::NotLeaseHolder`] and the caller
    /// should ask the holder (the CLI asks again on a new connection).
    pub async fn rebuild(&self) -> Result<(), RebuildError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || RebuildError::Stopped(self.name.clone());
        self.control.send(Control::Rebuild(tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// True while a rebuild of this projection, on whichever replica, has not switched yet: the
    /// shared database records it until then (see [`crate::deferred`]). [`Self::rebuilding`]
    /// only knows of a rebuild on this replica.
    pub async fn rebuild_in_progress(&self) -> Result<bool, sqlx::Error> {
        deferred::under_way(&self.db.pool, &self.name).await
    }

    /// How far the rebuild under way has replayed (its shadow's checkpoint); `None` when none
    /// is. Any replica can say.
    pub async fn rebuild_progress(&self) -> Result<Option<u64>, sqlx::Error> {
        if let Some(here) = *self.rebuild_applied.borrow() {
            return Ok(Some(here));
        }
        if !deferred::marked(&self.db.pool, &self.name).await? {
            return Ok(None);
        }
        Ok(Some(crate::shadow::progress(&self.db, &self.name).await?.unwrap_or(0)))
    }

    /// The rebuild's checkpoint while this replica runs one (see [`Self::rebuild_progress`]).
    pub fn rebuild_applied(&self) -> watch::Receiver<Option<u64>> {
        self.rebuild_applied.clone()
    }

    /// The projection's name (its checkpoint row, consumer and lease key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of this replica, as its lease says when it holds it.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Whether this replica's projector holds the lease now (always true without a lease), as
    /// of its last renewal.
    pub fn lease_held(&self) -> bool {
        *self.lease_held.borrow()
    }

    /// The replica holding the lease, as the bucket says now: `None` when nobody does (expired
    /// or released). Without a lease, this replica.
    pub async fn lease_holder(&self) -> Result<Option<String>, LeaseError> {
        match &self.lease {
            None => Ok(Some(self.instance_id.clone())),
            Some(l) => lease::holder(&l.js, &l.bucket, &l.key).await,
        }
    }

    /// The last sequence this replica's projector applied (0 when it is not the projector).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// True while a rebuild on this replica has not yet switched.
    pub fn rebuilding(&self) -> watch::Receiver<bool> {
        self.rebuilding.clone()
    }

    /// Holds a rebuild on this replica where it is (true) or lets it go on (false); the live
    /// view goes on meanwhile. For an operator who wants the replay off the database for a
    /// while, and for tests that look at the service while a rebuild is under way.
    pub fn hold_rebuild(&self, hold: bool) {
        self.hold.send_replace(hold);
    }
}

/// Copies SQLite's write-ahead log back into the database file four times a second, on a
/// connection of its own. Left to SQLite, the commit that crosses the auto-checkpoint threshold
/// does it, and a batch then waits 100 ms or more for 64 MB to be copied and synced (seen as the
/// projection lag's p99; with no checkpoints at all it was 19 ms). A passive checkpoint waits for
/// nobody, and small frequent ones keep each sync short.
async fn checkpoint_wal(pool: sqlx::AnyPool, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            tracing::debug!(error = %e, "WAL checkpoint failed; SQLite's own will run instead");
        }
    }
}

/// A message as the consuming session reads it: decoded, with what the loop needs to know of
/// its delivery. `event` is `None` for a message that is not a rentops event.
struct Delivered {
    /// Where the acknowledgement goes. The message itself is dropped by the reader: freeing
    /// thousands of parsed header maps between batches kept the database waiting too.
    reply: Option<async_nats::Subject>,
    sequence: u64,
    pending: u64,
    event: Option<RecordedEvent>,
}

/// Reads the consumer's messages and decodes them into events, ahead of the loop that applies
/// them. Decoding 4,000 events (parsing a dozen headers each) takes ~20 ms, and done between
/// batches it left the database idle for that long every batch. Ends when the session drops the
/// receiving side, or after passing on an error.
async fn read_messages(
    mut messages: consumer::pull::Stream,
    decoded: mpsc::Sender<Result<Delivered, ProjectionError>>,
    name: String,
) {
    // Every session creates its consumer afresh, so its deliveries are numbered 1, 2, 3, … A
    // number skipped went to someone else pulling from a consumer of the same name (a projector
    // on another replica, during a lease change), and a number that starts again means the
    // consumer was recreated under us. Either way this session may be missing events between
    // the ones it got, and a batch committed across such a gap would move the checkpoint over
    // events never applied: the session ends, and the next one starts from the checkpoint.
    let mut expected = 1;
    while let Some(msg) = messages.next().await {
        let item = msg.map_err(ProjectionError::log).and_then(|msg| {
            let delivered = msg.info().map_err(ProjectionError::log)?.consumer_sequence;
            if delivered != expected {
                return Err(ProjectionError::DeliveryGap { expected, delivered });
            }
            expected += 1;
            deliver(msg, &name)
        });
        let failed = item.is_err();
        if decoded.send(item).await.is_err() || failed {
            return;
        }
    }
    let _ = decoded.send(Err(ProjectionError::StreamEnded("projector"))).await;
}

fn deliver(msg: jetstream::Message, name: &str) -> Result<Delivered, ProjectionError> {
    let info = msg.info().map_err(ProjectionError::log)?;
    let (sequence, pending) = (info.stream_sequence, info.pending);
    if info.delivered > 1 {
        metrics::counter!("rentops_consumer_redeliveries_total", "projection" => name.to_owned()).increment(1);
    }
    let event = RecordedEvent::from_message(
        sequence,
        msg.subject.as_str(),
        msg.headers.as_ref(),
        msg.payload.clone(),
    );
    let event = match event {
        Ok(event) => Some(event),
        // Not a rentops event (no CloudEvents envelope): it cannot have an effect on the
        // projection, and stopping on it would stall every event behind it. Said loudly, counted,
        // and passed over (and acknowledged with its batch).
        Err(e) => {
            tracing::error!(projection = %name, sequence, subject = %msg.subject, error = %e, "skipping a message that is not a rentops event");
            metrics::counter!("rentops_projection_skipped_messages_total", "projection" => name.to_owned())
                .increment(1);
            None
        }
    };
    Ok(Delivered {
        reply: msg.reply.clone(),
        sequence,
        pending,
        event,
    })
}

/// The key of a projector's lease in the lease bucket.
fn lease_key(projection: &str) -> String {
    format!("projector.{projection}")
}

/// Runs a projection until shutdown.
pub struct Projector<P: Projection> {
    projection: Arc<P>,
    db: Db,
    js: jetstream::Context,
    settings: ProjectorSettings,
    applied_tx: watch::Sender<u64>,
    rebuilding_tx: watch::Sender<bool>,
    rebuild_applied_tx: watch::Sender<Option<u64>>,
    lease_held_tx: watch::Sender<bool>,
    hold_rx: watch::Receiver<bool>,
    control_rx: mpsc::Receiver<Control>,
}

/// The consumer's messages, decoded by a task of their own (see `read_messages`), gathered into
/// batches; the task ends with this value.
///
/// A batch is what is buffered when its first message arrives, plus what joins it within the
/// linger. The linger is skipped when it can only add latency: the first message came after the
/// feed had been idle for at least a linger (no stream of events is under way to batch), and
/// the broker said nothing was pending behind the batch's last message. A lone event after a
/// quiet spell is then applied at once, while under load (messages arriving closer together
/// than the linger, or the broker holding more) batches form as before (ADR 0003, 0018).
struct Feed {
    decoded: mpsc::Receiver<Result<Delivered, ProjectionError>>,
    batch_size: usize,
    linger: Duration,
    /// When the last batch was handed out.
    last_taken: Option<tokio::time::Instant>,
    /// The batch being gathered, and when it is due (`None`: at once). Kept here and not in
    /// `next`'s future: the projector's loop polls `next` in a `select!`, and a lease renewal
    /// winning it drops that future mid-linger — what it had taken from the channel must not go
    /// with it.
    gathering: Vec<Result<Delivered, ProjectionError>>,
    due: Option<tokio::time::Instant>,
    _reader: tokio_util::task::AbortOnDropHandle<()>,
}

impl Feed {
    fn new(
        decoded: mpsc::Receiver<Result<Delivered, ProjectionError>>,
        batch_size: usize,
        linger: Duration,
        reader: tokio_util::task::AbortOnDropHandle<()>,
    ) -> Self {
        Self {
            decoded,
            batch_size: batch_size.max(1),
            linger,
            last_taken: None,
            gathering: Vec::new(),
            due: None,
            _reader: reader,
        }
    }

    /// The next batch. Cancel-safe: dropped before it returns, it keeps what it gathered for
    /// the next call.
    async fn next(&mut self) -> Option<Vec<Result<Delivered, ProjectionError>>> {
        if self.gathering.is_empty() {
            let first = self.decoded.recv().await?;
            let arrived = tokio::time::Instant::now();
            let was_idle = self
                .last_taken
                .is_none_or(|last| arrived.duration_since(last) >= self.linger);
            self.gathering.push(first);
            while self.gathering.len() < self.batch_size {
                match self.decoded.try_recv() {
                    Ok(item) => self.gathering.push(item),
                    Err(_) => break,
                }
            }
            let nothing_behind = match self.gathering.last() {
                Some(Ok(d)) => d.pending == 0,
                // An error ends the session: no point waiting for more.
                _ => true,
            };
            self.due = (!(was_idle && nothing_behind)).then(|| arrived + self.linger);
        }
        if let Some(due) = self.due {
            while self.gathering.len() < self.batch_size {
                tokio::select! {
                    item = self.decoded.recv() => match item {
                        Some(item) => self.gathering.push(item),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(due) => break,
                }
            }
        }
        self.due = None;
        self.last_taken = Some(tokio::time::Instant::now());
        Some(std::mem::take(&mut self.gathering))
    }
}

/// A rebuild this session runs: the fresh instance of the projection, its shadow view, where
/// it has got to, and its own consumer.
struct Rebuild<P> {
    projection: P,
    shadow: Shadow,
    reached: u64,
    consumer: jetstream::consumer::Consumer<consumer::pull::Config>,
    feed: Feed,
    /// Its consumer had nothing more to deliver, as of its last batch or look.
    caught_up: bool,
}

fn now_us() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

impl<P: Projection> Projector<P> {
    pub fn new(projection: P, db: Db, js: jetstream::Context, settings: ProjectorSettings) -> (Self, ProjectorHandle) {
        let (applied_tx, applied_rx) = watch::channel(0);
        let (rebuilding_tx, rebuilding_rx) = watch::channel(false);
        let (rebuild_applied_tx, rebuild_applied_rx) = watch::channel(None);
        let (lease_held_tx, lease_held_rx) = watch::channel(false);
        let (hold_tx, hold_rx) = watch::channel(false);
        let (control_tx, control_rx) = mpsc::channel(4);
        let checkpoints = Checkpoints::new(db.pool.clone(), projection.name(), applied_rx.clone()).with_drained(
            checkpoint::Drained {
                js: js.clone(),
                stream: settings.stream.clone(),
                consumer: durable_name(projection.name()),
            },
        );
        let handle = ProjectorHandle {
            control: control_tx,
            checkpoints,
            name: projection.name().to_owned(),
            applied: applied_rx,
            rebuilding: rebuilding_rx,
            lease_held: lease_held_rx,
            lease: settings.use_lease.then(|| LeaseKey {
                js: js.clone(),
                bucket: settings.lease.bucket.clone(),
                key: lease_key(projection.name()),
            }),
            instance_id: settings.instance_id.clone(),
            db: db.clone(),
            rebuild_applied: rebuild_applied_rx,
            hold: Arc::new(hold_tx),
        };
        (
            Self {
                projection: Arc::new(projection),
                db,
                js,
                settings,
                applied_tx,
                rebuilding_tx,
                rebuild_applied_tx,
                lease_held_tx,
                hold_rx,
                control_rx,
            },
            handle,
        )
    }

    /// Runs until `shutdown`: waits for the lease, then consumes; on losing the lease or an
    /// error, backs off and starts over from the checkpoint.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let name = self.projection.name().to_owned();
        if self.db.backend == crate::db::Backend::Sqlite && self.db.claim_checkpointing() {
            tokio::spawn(checkpoint_wal(self.db.pool.clone(), shutdown.clone()));
        }
        let mut lease = None;
        if self.settings.use_lease {
            loop {
                match Lease::open(
                    &self.js,
                    &self.settings.lease,
                    &lease_key(&name),
                    &self.settings.instance_id,
                )
                .await
                {
                    Ok(l) => {
                        lease = Some(l);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(projection = %name, error = %e, "cannot open the lease; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
        let ttl = lease.as_ref().map(|l| l.ttl).unwrap_or(Duration::from_secs(6));
        while !shutdown.is_cancelled() {
            if let Some(lease) = lease.as_mut() {
                let held = lease.try_acquire_or_renew().await;
                self.lease_held_tx.send_replace(held);
                if !held {
                    // Not ours: answer rebuild requests with a clear refusal while we wait.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ttl / 3) => {}
                        Some(Control::Rebuild(reply)) = self.control_rx.recv() => {
                            let _ = reply.send(Err(RebuildError::NotLeaseHolder(name.clone())));
                        }
                    }
                    continue;
                }
            } else {
                self.lease_held_tx.send_replace(true);
            }
            match self.consume(&shutdown, lease.as_mut(), ttl).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(projection = %name, error = %e, "projector stopped; restarting from the checkpoint");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
        self.lease_held_tx.send_replace(false);
        if let Some(lease) = lease.as_mut() {
            lease.release().await;
        }
    }

    async fn consumer(
        &self,
        durable: String,
        from: u64,
    ) -> Result<jetstream::consumer::Consumer<consumer::pull::Config>, ProjectionError> {
        let stream = self
            .js
            .get_stream(&self.settings.stream)
            .await
            .map_err(ProjectionError::log)?;
        // Recreated at the checkpoint every time this replica takes over (see the module doc).
        let _ = stream.delete_consumer(&durable).await;
        let mut subjects = self.projection.filter_subjects();
        let (filter_subject, filter_subjects) = if subjects.len() == 1 {
            (subjects.remove(0), Vec::new())
        } else {
            (String::new(), subjects)
        };
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable),
                description: Some(format!("rentops projector {}", self.projection.name())),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from + 1,
                },
                ack_policy: consumer::AckPolicy::All,
                ack_wait: Duration::from_secs(30),
                filter_subject,
                filter_subjects,
                max_ack_pending: 10_000,
                inactive_threshold: Duration::from_secs(3600),
                ..Default::default()
            })
            .await
            .map_err(ProjectionError::log)
    }

    /// Starts reading `consumer` into batches.
    async fn feed(
        &self,
        consumer: &mut jetstream::consumer::Consumer<consumer::pull::Config>,
    ) -> Result<Feed, ProjectionError> {
        let name = self.projection.name().to_owned();
        let messages = consumer
            .stream()
            // Enough messages in flight to fill a whole batch while replaying a long stream.
            .max_messages_per_batch(self.settings.batch_size * 2)
            .messages()
            .await
            .map_err(ProjectionError::log)?;
        // Messages are read and decoded by a task of their own, so that the next batch is decoded
        // while the database applies this one (see `read_messages`). It ends with the feed.
        let (decoded_tx, decoded_rx) = mpsc::channel(self.settings.batch_size * 2);
        let reader = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(read_messages(messages, decoded_tx, name)));
        Ok(Feed::new(
            decoded_rx,
            self.settings.batch_size,
            self.settings.linger,
            reader,
        ))
    }

    /// Opens the rebuild marked under way (resuming its shadow where its checkpoint says), or
    /// starts none.
    async fn resume_rebuild(&self) -> Result<Option<Rebuild<P>>, ProjectionError> {
        let name = self.projection.name();
        if !deferred::marked(&self.db.pool, name).await? {
            self.rebuild_applied_tx.send_replace(None);
            return Ok(None);
        }
        let shadow = shadow::resume(&self.db, name, &self.projection.tables(), now_us()).await?;
        let reached = checkpoint::read(&shadow.db.pool, name).await?;
        self.rebuild_applied_tx.send_replace(Some(reached));
        let mut consumer = self
            .consumer(format!("{}-rebuild", durable_name(name)), reached)
            .await?;
        let feed = self.feed(&mut consumer).await?;
        let projection = self.projection.fresh();
        projection.forget();
        tracing::info!(projection = %name, from = reached + 1, "rebuild replaying beside the live view");
        Ok(Some(Rebuild {
            projection,
            shadow,
            reached,
            consumer,
            feed,
            caught_up: false,
        }))
    }

    async fn consume(
        &mut self,
        shutdown: &CancellationToken,
        mut lease: Option<&mut Lease>,
        ttl: Duration,
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name().to_owned();
        self.projection.forget();
        let mut reached = checkpoint::read(&self.db.pool, &name).await?;
        self.applied_tx.send_replace(reached);
        // Indexes an in-place rebuild of an older version set aside before it crashed.
        if deferred::under_way(&self.db.pool, &name).await? && !deferred::marked(&self.db.pool, &name).await? {
            self.restore_indexes().await?;
        }
        let mut rebuild = self.resume_rebuild().await?;
        if rebuild.is_none() {
            shadow::discard_stale(&self.db, &name).await?;
        }
        self.rebuilding_tx.send_replace(rebuild.is_some());
        let mut consumer = self.consumer(durable_name(&name), reached).await?;
        let mut live = self.feed(&mut consumer).await?;
        let mut hold = self.hold_rx.clone();
        // Set once the shadow has caught up but not yet reached the live checkpoint: the live
        // view waits (a batch or two) so that the shadow can pass it.
        let mut live_paused = false;
        let mut renew = tokio::time::interval(ttl / 3);
        renew.tick().await;
        tracing::info!(projection = %name, from = reached + 1, "projector consuming");
        loop {
            let held = *hold.borrow();
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = hold.changed() => {}
                _ = renew.tick() => {
                    if let Some(lease) = lease.as_deref_mut()
                        && !lease.try_acquire_or_renew().await {
                            self.lease_held_tx.send_replace(false);
                            return Ok(());
                        }
                    // A rebuild with nothing (more) to replay catches up without a batch.
                    if let Some(r) = rebuild.as_mut()
                        && !r.caught_up
                        && !held
                    {
                        let info = r.consumer.info().await.map_err(ProjectionError::log)?;
                        r.caught_up = info.num_pending == 0 && info.num_ack_pending == 0;
                    }
                }
                Some(Control::Rebuild(reply)) = self.control_rx.recv() => {
                    // A rebuild under way is started over: its shadow is made afresh.
                    if let Some(r) = rebuild.take() {
                        r.shadow.db.pool.close().await;
                    }
                    let result = shadow::create(&self.db, &name, &self.projection.tables(), now_us()).await;
                    if result.is_ok() {
                        // Before the answer, so that whoever waits for the switch sees it coming.
                        self.rebuilding_tx.send_replace(true);
                        self.rebuild_applied_tx.send_replace(Some(0));
                        tracing::info!(projection = %name, "rebuild started beside the live view");
                    }
                    let _ = reply.send(result.map(|_| ()).map_err(|source| RebuildError::Reset { name: name.clone(), source }));
                    // Starting over resumes the marked rebuild (or, had it failed, the one before).
                    return Ok(());
                }
                chunk = live.next(), if !live_paused => {
                    let Some(chunk) = chunk else {
                        return Err(ProjectionError::StreamEnded("projector"));
                    };
                    let before = reached;
                    self.take_batch(&self.db, &*self.projection, &mut reached, chunk, true).await?;
                    if reached != before {
                        self.applied_tx.send_replace(reached);
                    }
                }
                chunk = next_of(&mut rebuild), if rebuild.is_some() && !held => {
                    let Some(chunk) = chunk else {
                        return Err(ProjectionError::StreamEnded("rebuild"));
                    };
                    let Some(r) = rebuild.as_mut() else { continue };
                    let db = r.shadow.db.clone();
                    let pending = self.take_batch(&db, &r.projection, &mut r.reached, chunk, false).await?;
                    self.rebuild_applied_tx.send_replace(Some(r.reached));
                    metrics::gauge!("rentops_projection_rebuild_checkpoint", "projection" => name.clone()).set(r.reached as f64);
                    if pending == 0 {
                        r.caught_up = true;
                    }
                }
            }
            if let Some(r) = rebuild.as_ref()
                && r.caught_up
                && !held
            {
                if r.reached < reached {
                    live_paused = true;
                    continue;
                }
                let Some(r) = rebuild.take() else { continue };
                return self.switch(r, reached).await;
            }
        }
    }

    /// Applies one batch (of the live view or the shadow) above `reached`, advances `reached`,
    /// and acknowledges the batch once committed. Returns how many messages the consumer still
    /// had to deliver after the batch's last one.
    async fn take_batch<Q: Projection>(
        &self,
        db: &Db,
        projection: &Q,
        reached: &mut u64,
        chunk: Vec<Result<Delivered, ProjectionError>>,
        live: bool,
    ) -> Result<u64, ProjectionError> {
        let name = self.projection.name();
        let mut events = Vec::with_capacity(chunk.len());
        let mut last_reply = None;
        let mut max_pending = 0;
        for item in chunk {
            let Delivered {
                reply,
                sequence,
                pending,
                event,
            } = item?;
            max_pending = pending;
            if sequence > *reached
                && let Some(event) = event
            {
                events.push(event);
            }
            last_reply = reply;
        }
        if let Some(last) = events.last() {
            let to = last.sequence;
            let started = std::time::Instant::now();
            let started_at = std::time::SystemTime::now();
            let applied = apply_batch(db, projection, name, *reached, &events).await?;
            let took = started.elapsed();
            tracing::debug!(projection = %name, live, events = events.len(), pending = max_pending, ?took, "batch applied");
            if !applied {
                // Someone else advanced the checkpoint: start over from it.
                return Err(ProjectionError::CheckpointMoved(""));
            }
            *reached = to;
            if live {
                // Each event's trace shows the batch that applied it (a rebuild's would only
                // repeat history).
                rentops_eventstore::trace::record_batch(
                    "project",
                    name,
                    &events,
                    started_at,
                    std::time::SystemTime::now(),
                );
                metrics::histogram!("rentops_projection_batch_events", "projection" => name.to_owned())
                    .record(events.len() as f64);
                metrics::histogram!("rentops_projection_apply_seconds", "projection" => name.to_owned())
                    .record(took.as_secs_f64());
                if let Some(first) = events.first() {
                    let lag = (OffsetDateTime::now_utc() - first.meta.time).as_seconds_f64().max(0.0);
                    metrics::histogram!("rentops_projection_lag_seconds", "projection" => name.to_owned()).record(lag);
                }
            }
        }
        if live {
            metrics::gauge!("rentops_projection_pending_events", "projection" => name.to_owned())
                .set(max_pending as f64);
            metrics::gauge!("rentops_projection_checkpoint", "projection" => name.to_owned()).set(*reached as f64);
        }
        if let Some(reply) = last_reply {
            // AckPolicy::All: acknowledges every message up to this one.
            jetstream::message::Acker::new(self.js.clone(), Some(reply))
                .ack_with(AckKind::Ack)
                .await
                .map_err(ProjectionError::log)?;
        }
        Ok(max_pending)
    }

    /// Puts the caught-up shadow in place of the live view (whose checkpoint the caller last
    /// saw at `live_reached`); the session then starts over at the new checkpoint.
    async fn switch(&self, rebuild: Rebuild<P>, live_reached: u64) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let started = std::time::Instant::now();
        let Rebuild { shadow, reached, .. } = rebuild;
        match shadow::switch(
            &self.db,
            shadow,
            name,
            &self.projection.tables(),
            live_reached,
            now_us(),
        )
        .await?
        {
            Some(at) => {
                tracing::info!(projection = %name, checkpoint = at, shadow = reached, took = ?started.elapsed(), "rebuild switched in");
                self.applied_tx.send_replace(at);
                self.rebuilding_tx.send_replace(false);
                self.rebuild_applied_tx.send_replace(None);
                Ok(())
            }
            None => Err(ProjectionError::CheckpointMoved(" at the switch")),
        }
    }

    /// Builds the indexes an interrupted in-place rebuild (an older version's) set aside.
    async fn restore_indexes(&self) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let started = std::time::Instant::now();
        let n = deferred::restore(&self.db.pool, self.db.backend, name).await?;
        tracing::info!(projection = %name, indexes = n, took = ?started.elapsed(), "indexes set aside by an interrupted rebuild built again");
        Ok(())
    }
}

/// The next batch of the rebuild's feed; never, without a rebuild.
async fn next_of<P>(rebuild: &mut Option<Rebuild<P>>) -> Option<Vec<Result<Delivered, ProjectionError>>> {
    match rebuild.as_mut() {
        Some(r) => r.feed.next().await,
        None => std::future::pending().await,
    }
}

/// The durable consumer of a projection's projector.
fn durable_name(projection: &str) -> String {
    format!("projector-{projection}")
}

/// Applies events above checkpoint `from` in one transaction on `db`; false if another instance
/// got there first (nothing of ours was committed).
async fn apply_batch<Q: Projection>(
    db: &Db,
    projection: &Q,
    name: &str,
    from: u64,
    events: &[RecordedEvent],
) -> Result<bool, ProjectionError> {
    let Some(last) = events.last() else { return Ok(true) };
    let mut tx = db.begin_write().await?;
    let applied = async {
        if db.backend == crate::db::Backend::Postgres {
            // The checkpoint commits with the rows, and both can always be replayed from the
            // log: a commit lost in a crash only means those events are applied again. So the
            // batch need not wait for its WAL flush. (A projection whose look-ups need plans
            // made for the table as it is now sets `plan_cache_mode` around them itself; see
            // the order projection.)
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true)")
                .execute(&mut *tx)
                .await?;
        }
        projection.apply(&mut tx, events).await?;
        Ok::<_, ProjectionError>(checkpoint::advance(&mut tx, name, from, last.sequence, now_us()).await?)
    }
    .await;
    match applied {
        Ok(true) => {
            tx.commit().await?;
            Ok(true)
        }
        // Rolled back now, not left to the pool: a transaction merely dropped is rolled back
        // when its connection is next used, and until then it keeps SQLite's write lock, so
        // every other writer of the file waits out its busy timeout and fails.
        Ok(false) => {
            tx.rollback().await?;
            Ok(false)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(projection = %name, error = %rollback, "could not roll back a failed batch");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(sequence: u64, pending: u64) -> Result<Delivered, ProjectionError> {
        Ok(Delivered {
            reply: None,
            sequence,
            pending,
            event: None,
        })
    }

    fn sequences(batch: &[Result<Delivered, ProjectionError>]) -> Vec<u64> {
        batch
            .iter()
            .filter_map(|d| d.as_ref().ok().map(|d| d.sequence))
            .collect()
    }

    fn feed(linger: Duration) -> (mpsc::Sender<Result<Delivered, ProjectionError>>, Feed) {
        let (tx, rx) = mpsc::channel(16);
        let reader = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async {}));
        (tx, Feed::new(rx, 10, linger, reader))
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_dropped_mid_linger_is_not_lost() {
        let (tx, mut feed) = feed(Duration::from_secs(1));
        // A first event after a quiet spell, nothing behind it: at once.
        tx.send(delivered(1, 0)).await.unwrap();
        assert_eq!(sequences(&feed.next().await.unwrap()), [1]);
        // Right after it, another: the feed lingers for more — and the projector's select!
        // gives up on it (a lease renewal won) half-way through the linger.
        tx.send(delivered(2, 0)).await.unwrap();
        let dropped = tokio::time::timeout(Duration::from_millis(500), feed.next()).await;
        assert!(dropped.is_err(), "still lingering");
        tx.send(delivered(3, 0)).await.unwrap();
        // Asked again, it hands out what it had taken, and what came since, when due.
        let batch = feed.next().await.unwrap();
        assert_eq!(sequences(&batch), [2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn events_arriving_together_are_one_batch_and_a_lone_one_after_quiet_goes_at_once() {
        let (tx, mut feed) = feed(Duration::from_millis(5));
        for s in 1..=3 {
            tx.send(delivered(s, 3 - s)).await.unwrap();
        }
        assert_eq!(sequences(&feed.next().await.unwrap()), [1, 2, 3]);
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send(delivered(4, 0)).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(sequences(&feed.next().await.unwrap()), [4]);
        assert!(
            started.elapsed() < Duration::from_millis(5),
            "no linger after a quiet spell"
        );
        // The broker says more is behind: the feed waits for it.
        tx.send(delivered(5, 1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let late = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            late.send(delivered(6, 0)).await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(sequences(&feed.next().await.unwrap()), [5, 6]);
    }
}
