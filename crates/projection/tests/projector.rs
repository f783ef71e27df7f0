//! The projector against a real nats-server and both databases, with a projection of its own:
//! a tally of events per counter whose every event also leaves a row keyed by its sequence, so
//! an event applied twice breaks a primary key or a count.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rentops_eventstore::RecordedEvent;
use rentops_eventstore::store::{AppendRequest, EventStore, NewEvent};
use rentops_eventstore::stream::{StreamSettings, ensure_stream};
use rentops_projection::{Db, Projection, ProjectionError, Projector, ProjectorHandle, ProjectorSettings};
use rentops_testkit::{NatsServer, TestDatabase};
use sqlx::{Any, Row, Transaction};
use tokio_util::sync::CancellationToken;

const NAME: &str = "tally";
const STREAM: &str = "TEST";
/// Long enough for a slow test machine; every wait ends as soon as its condition holds.
const PATIENCE: Duration = Duration::from_secs(60);

struct Tally {
    /// Fails the batch holding this sequence (once), after it has written part of its rows.
    fail_at: Arc<AtomicU64>,
}

impl Projection for Tally {
    fn name(&self) -> &str {
        NAME
    }

    fn filter_subjects(&self) -> Vec<String> {
        vec!["rentops.test.counter.>".into()]
    }

    async fn apply_event(&self, tx: &mut Transaction<'static, Any>, e: &RecordedEvent) -> Result<(), ProjectionError> {
        let id = e.meta.aggregate_id.clone();
        sqlx::query("INSERT INTO tally_events (sequence, id) VALUES ($1, $2)")
            .bind(e.sequence as i64)
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO tally (id, n, last_sequence) VALUES ($1, 1, $2) \
             ON CONFLICT (id) DO UPDATE SET n = tally.n + 1, last_sequence = excluded.last_sequence",
        )
        .bind(id)
        .bind(e.sequence as i64)
        .execute(&mut **tx)
        .await?;
        sqlx::query("INSERT INTO tally_outbox (sequence) VALUES ($1) ON CONFLICT (sequence) DO NOTHING")
            .bind(e.sequence as i64)
            .execute(&mut **tx)
            .await?;
        if self
            .fail_at
            .compare_exchange(e.sequence, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Err(ProjectionError::event(e.sequence, "failing once, as asked"));
        }
        Ok(())
    }

    fn fresh(&self) -> Self {
        Tally {
            fail_at: Arc::default(),
        }
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["tally", "tally_events"]
    }
}

struct Rig {
    _nats: NatsServer,
    db: Db,
    store: EventStore,
    last: HashMap<String, u64>,
    _database: TestDatabase,
}

impl Rig {
    async fn new(database: TestDatabase) -> Rig {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client.clone());
        ensure_stream(&js, &StreamSettings::for_service("test", 1))
            .await
            .expect("TEST stream");
        let db = Db::connect(database.url()).await.expect("database");
        let migrations = sqlx::migrate!("./tests/migrations");
        db.migrate(&migrations, &migrations).await.expect("migrations");
        Rig {
            _nats: nats,
            db,
            store: EventStore::new(client, STREAM, "test"),
            last: HashMap::new(),
            _database: database,
        }
    }

    /// Appends `n` events to `aggregate` `id`; returns the last one's sequence.
    async fn append(&mut self, aggregate: &str, id: &str, n: usize) -> u64 {
        let key = format!("{aggregate}.{id}");
        let expected = self.last.get(&key).copied().unwrap_or(0);
        let request_id = uuid::Uuid::new_v4().to_string();
        let events = vec![
            NewEvent {
                name: "Counted",
                payload: Bytes::from_static(b"")
            };
            n
        ];
        let ok = self
            .store
            .append(
                &AppendRequest {
                    aggregate_type: aggregate,
                    aggregate_id: id,
                    expected,
                    request_id: &request_id,
                    fingerprint: None,
                    correlation_id: "test",
                    causation_id: "test",
                    actor: "test",
                    time: time::OffsetDateTime::now_utc(),
                },
                &events,
            )
            .await
            .expect("append");
        self.last.insert(key, ok.last_sequence);
        ok.last_sequence
    }

    /// `counters` counters of `each` events; returns the last sequence.
    async fn fill(&mut self, counters: usize, each: usize, tag: &str) -> u64 {
        let mut last = 0;
        for c in 0..counters {
            last = self.append("counter", &format!("{tag}{c}"), each).await;
        }
        last
    }

    fn projector(&self, instance: &str, batch: usize, fail_at: u64, use_lease: bool) -> Running {
        let mut settings = ProjectorSettings::new(STREAM, instance);
        settings.batch_size = batch;
        settings.linger = Duration::from_millis(1);
        settings.use_lease = use_lease;
        settings.lease.ttl = Duration::from_secs(2);
        let js = async_nats::jetstream::new(self.store.client().clone());
        let (projector, handle) = Projector::new(
            Tally {
                fail_at: Arc::new(AtomicU64::new(fail_at)),
            },
            self.db.clone(),
            js,
            settings,
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(projector.run(shutdown.clone()));
        Running { handle, shutdown, task }
    }

    /// Every row of the view, in order.
    async fn view(&self) -> (Vec<(String, i64, i64)>, Vec<(i64, String)>) {
        let tally = sqlx::query("SELECT id, n, last_sequence FROM tally ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .expect("tally")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let events = sqlx::query("SELECT sequence, id FROM tally_events ORDER BY sequence")
            .fetch_all(&self.db.pool)
            .await
            .expect("tally events")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (tally, events)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
            .get(0)
    }

    /// The view's secondary indexes, by name.
    async fn indexes(&self) -> Vec<String> {
        let sql = match self.db.backend {
            rentops_projection::Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'tally%' AND sql IS NOT NULL ORDER BY name"
            }
            rentops_projection::Backend::Postgres => {
                "SELECT indexname::text FROM pg_indexes WHERE tablename LIKE 'tally%' AND schemaname = current_schema() ORDER BY indexname"
            }
        };
        sqlx::query(sql)
            .fetch_all(&self.db.pool)
            .await
            .expect("indexes")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Whether anything of a rebuild's shadow is left.
    async fn shadow_left(&self) -> bool {
        match self.db.backend {
            rentops_projection::Backend::Sqlite => {
                let url = self._database.url().trim_start_matches("sqlite://").to_owned();
                std::path::Path::new(&format!("{url}.rebuild-tally")).exists()
            }
            rentops_projection::Backend::Postgres => {
                self.count("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'rebuild_tally'")
                    .await
                    > 0
            }
        }
    }
}

struct Running {
    handle: ProjectorHandle,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn reached(&self, sequence: u64) {
        let mut applied = self.handle.applied();
        tokio::time::timeout(PATIENCE, applied.wait_for(|s| *s >= sequence))
            .await
            .expect("the projector reaches the sequence in time")
            .expect("projector running");
    }

    async fn rebuild_reached(&self, sequence: u64) {
        let mut applied = self.handle.rebuild_applied();
        tokio::time::timeout(PATIENCE, applied.wait_for(|s| s.is_some_and(|s| s >= sequence)))
            .await
            .expect("the rebuild reaches the sequence in time")
            .expect("projector running");
    }

    /// Until no rebuild is marked under way, re-checked whenever this replica's rebuild moves.
    async fn switched(&self) {
        let mut progress = self.handle.rebuild_applied();
        tokio::time::timeout(PATIENCE, async {
            while self.handle.rebuild_in_progress().await.expect("marker") {
                progress.changed().await.expect("projector running");
            }
        })
        .await
        .expect("the rebuild switches in time");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

rentops_testkit::per_backend! {
    /// The checkpoint commits with the rows, the ack follows the commit, and a batch whose
    /// transaction failed (after writing part of its rows) is applied again, once.
    async fn the_checkpoint_moves_with_the_rows_and_a_failed_batch_is_applied_once(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let last = rig.fill(20, 15, "c").await;
        let p = rig.projector("one", 40, 137, false);
        p.reached(last).await;

        let (tally, events) = rig.view().await;
        assert_eq!(events.len() as u64, last, "{label}: every event once");
        assert!(events.iter().enumerate().all(|(i, (s, _))| *s == i as i64 + 1), "{label}");
        assert_eq!(tally.len(), 20, "{label}");
        assert!(tally.iter().all(|(_, n, _)| *n == 15), "{label}: {tally:?}");
        assert_eq!(rig.count("SELECT COUNT(*) FROM tally_outbox").await as u64, last, "{label}");
        assert_eq!(p.handle.checkpoints.current().await.unwrap(), last, "{label}");
        // Acknowledged up to the checkpoint, nothing left unacknowledged.
        let js = async_nats::jetstream::new(rig.store.client().clone());
        let stream = js.get_stream(STREAM).await.unwrap();
        let info = stream.consumer_info("projector-tally").await.unwrap();
        assert_eq!((info.ack_floor.stream_sequence, info.num_ack_pending, info.num_pending), (last, 0, 0), "{label}");
        p.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// Two projectors on one checkpoint without a lease (the overlap a lease change can cause):
    /// each takes the consumer from the other, replays from where the database says, and is
    /// delivered events the other has already committed. Each event takes effect once.
    async fn two_projectors_on_one_checkpoint_apply_each_event_once(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let a = rig.projector("a", 25, 0, false);
        let mut last = rig.fill(10, 20, "first").await;
        let b = rig.projector("b", 25, 0, false);
        last = last.max(rig.fill(10, 20, "second").await);
        a.handle.checkpoints.wait_for(last, PATIENCE).await.expect("caught up");

        let (tally, events) = rig.view().await;
        assert_eq!(events.len() as u64, last, "{label}");
        assert_eq!(tally.len(), 20, "{label}");
        assert!(tally.iter().all(|(_, n, _)| *n == 20), "{label}: {tally:?}");
        a.stop().await;
        b.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// A projector aborted wherever it is (maybe between a batch's commit and its ack, so its
    /// successor is delivered events at or below the checkpoint) applies nothing twice.
    async fn a_projector_killed_anywhere_applies_nothing_twice(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let mut last = 0;
        for round in 0..4 {
            let p = rig.projector(&format!("round-{round}"), 7, 0, false);
            let first = last + 1;
            last = rig.fill(6, 10, &format!("r{round}-")).await;
            // Somewhere in the middle of this round's events.
            p.reached(first + (last - first) / 2).await;
            p.task.abort();
            let _ = p.task.await;
        }
        let p = rig.projector("last", 7, 0, false);
        p.reached(last).await;
        let (tally, events) = rig.view().await;
        assert_eq!(events.len() as u64, last, "{label}");
        assert!(tally.iter().all(|(_, n, _)| *n == 10), "{label}: {tally:?}");
        p.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// While a rebuild replays, queries see the whole live view (and its new events); the
    /// switch puts in place the same rows, with the same indexes, and leaves no shadow.
    async fn a_rebuild_keeps_the_live_view_whole_and_switches_to_the_same_rows(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let mut last = rig.fill(30, 20, "c").await;
        let p = rig.projector("one", 10, 0, true);
        p.reached(last).await;
        let before = rig.view().await;
        let indexes = rig.indexes().await;
        for secondary in ["tally_by_n", "tally_events_by_id"] {
            assert!(indexes.iter().any(|i| i == secondary), "{label}: {indexes:?}");
        }

        p.handle.hold_rebuild(true);
        p.handle.rebuild().await.expect("rebuild started");
        assert!(p.handle.rebuild_in_progress().await.unwrap(), "{label}");
        assert_eq!(rig.view().await, before, "{label}: the live view stays whole");
        // Part-way through the replay, held there.
        p.handle.hold_rebuild(false);
        p.rebuild_reached(100).await;
        p.handle.hold_rebuild(true);
        let progress = p.handle.rebuild_progress().await.unwrap().expect("under way");
        assert!((100..last).contains(&progress), "{label}: {progress}");
        assert_eq!(rig.view().await, before, "{label}: a half-built view is never seen");
        assert_eq!(rig.indexes().await, indexes, "{label}: the live view keeps its indexes");
        assert_eq!(p.handle.checkpoints.current().await.unwrap(), last, "{label}");

        // The live view goes on applying new events meanwhile.
        last = rig.fill(3, 5, "new").await;
        p.reached(last).await;
        let live = rig.view().await;
        assert_eq!(live.1.len() as u64, last, "{label}");
        assert!(p.handle.rebuild_in_progress().await.unwrap(), "{label}");

        p.handle.hold_rebuild(false);
        p.switched().await;
        assert_eq!(rig.view().await, live, "{label}: the rebuilt view is the live one");
        assert_eq!(rig.indexes().await, indexes, "{label}");
        assert_eq!(p.handle.checkpoints.current().await.unwrap(), last, "{label}");
        assert_eq!(p.handle.rebuild_progress().await.unwrap(), None, "{label}");
        assert!(!rig.shadow_left().await, "{label}: the shadow is removed");
        assert_eq!(rig.count("SELECT COUNT(*) FROM tally_outbox").await as u64, last, "{label}");

        // And it keeps applying after the switch.
        last = rig.fill(2, 3, "after").await;
        p.reached(last).await;
        assert_eq!(rig.view().await.1.len() as u64, last, "{label}");
        p.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// A rebuild whose replica stops part-way (the lease passes to another) is resumed from its
    /// shadow's checkpoint by the next lease holder, and ends switched.
    async fn a_rebuild_interrupted_by_a_lease_change_resumes_and_switches(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let last = rig.fill(30, 20, "c").await;
        let a = rig.projector("a", 10, 0, true);
        a.reached(last).await;
        let before = rig.view().await;
        a.handle.hold_rebuild(true);
        a.handle.rebuild().await.expect("rebuild started");
        a.handle.hold_rebuild(false);
        a.rebuild_reached(150).await;
        a.handle.hold_rebuild(true);
        let progress = a.handle.rebuild_progress().await.unwrap().expect("under way");
        a.stop().await;
        assert!(rig.shadow_left().await, "{label}: the shadow survives its replica");

        let b = rig.projector("b", 10, 0, true);
        // Resumed where the shadow's checkpoint was, not from the start.
        let mut resumed = b.handle.rebuild_applied();
        let first = tokio::time::timeout(PATIENCE, resumed.wait_for(|s| s.is_some()))
            .await
            .expect("resumed in time")
            .expect("running")
            .unwrap_or(0);
        assert!(first >= progress, "{label}: resumed at {first}, had reached {progress}");
        assert_eq!(rig.view().await, before, "{label}");
        b.switched().await;
        assert_eq!(rig.view().await, before, "{label}: same rows after the switch");
        assert_eq!(b.handle.checkpoints.current().await.unwrap(), last, "{label}");
        assert!(!rig.shadow_left().await, "{label}");
        b.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// Read-your-writes for a sequence the projection's filter never matches: answered once the
    /// projection has nothing left to apply, instead of waiting out the timeout; and never for
    /// a sequence that is not in the stream yet, nor before a matching event is applied.
    async fn min_sequence_of_an_event_the_projection_never_sees_is_answered(db: TestDatabase) {
        let label = db.label();
        let mut rig = Rig::new(db).await;
        let last = rig.fill(3, 4, "c").await;
        let p = rig.projector("one", 10, 0, true);
        p.reached(last).await;

        let other = rig.append("other", "x", 1).await;
        let started = std::time::Instant::now();
        p.handle
            .checkpoints
            .wait_for(other, Duration::from_secs(20))
            .await
            .expect("answered");
        assert!(started.elapsed() < Duration::from_secs(5), "{label}: {:?}", started.elapsed());
        assert_eq!(p.handle.checkpoints.current().await.unwrap(), last, "{label}");

        // Not in the stream: still a timeout.
        let refused = p.handle.checkpoints.wait_for(other + 1000, Duration::from_millis(300)).await;
        assert!(matches!(refused, Err(rentops_projection::WaitError::Timeout { .. })), "{label}: {refused:?}");

        // A matching event: answered only once it is visible.
        for i in 0..5 {
            rig.append("other", "x", 1).await;
            let seq = rig.append("counter", &format!("late{i}"), 1).await;
            p.handle.checkpoints.wait_for(seq, Duration::from_secs(20)).await.expect("answered");
            let seen = rig
                .count(&format!("SELECT COUNT(*) FROM tally_events WHERE sequence = {seq}"))
                .await;
            assert_eq!(seen, 1, "{label}: answered before the event was applied");
        }
        p.stop().await;
    }
}
