//! The event log and the command handler against a real nats-server: the expected-sequence check,
//! atomic batches, de-duplication, the one-message read of an aggregate's last sequence, two
//! command handlers on one stream (two replicas) deciding on state the other has moved past, and
//! cold loads: long aggregates read in batches, snapshots used, and ignored when they cannot be
//! trusted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rentops_eventstore::{
    AppendError, AppendRequest, CommandHandler, CommandMeta, EventStore, ExecuteError, HandlerConfig, NewEvent,
    RememberedRequest, SnapshotRecord, StreamSettings, connect, ensure_snapshot_bucket, ensure_stream,
};
use rentops_kernel::testing::assert_round_trip;
use rentops_kernel::{Aggregate, DecodeError, EventCodec, Snapshot, SnapshotError, SnapshotFormat};
use rentops_testkit::NatsServer;

/// A tally that can be closed and reopened: just enough rules to be refused and to do nothing.
struct Tally;

#[derive(Debug, Clone, Default, PartialEq)]
struct TallyState {
    exists: bool,
    open: bool,
    count: u32,
}

#[derive(Debug)]
enum TallyCommand {
    Open,
    Add(u32),
    Close,
}

#[derive(Debug, Clone, PartialEq)]
enum TallyEvent {
    Opened,
    Added(u32),
    Closed,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum TallyError {
    #[error("the tally is closed")]
    Closed,
    #[error("no such tally")]
    Missing,
}

impl Aggregate for Tally {
    const TYPE: &'static str = "tally";
    type State = TallyState;
    type Command = TallyCommand;
    type Event = TallyEvent;
    type Error = TallyError;
    const SNAPSHOT: Option<SnapshotFormat<TallyState>> = Some(SnapshotFormat::of::<Tally>());

    fn decide(state: &TallyState, command: &TallyCommand) -> Result<Vec<TallyEvent>, TallyError> {
        match command {
            // Opening an open tally changes nothing.
            TallyCommand::Open if state.open => Ok(vec![]),
            TallyCommand::Open => Ok(vec![TallyEvent::Opened]),
            TallyCommand::Add(_) if !state.exists => Err(TallyError::Missing),
            TallyCommand::Add(_) if !state.open => Err(TallyError::Closed),
            TallyCommand::Add(n) => Ok(vec![TallyEvent::Added(*n)]),
            TallyCommand::Close if !state.open => Ok(vec![]),
            TallyCommand::Close => Ok(vec![TallyEvent::Closed]),
        }
    }

    fn evolve(mut state: TallyState, event: &TallyEvent) -> TallyState {
        match event {
            TallyEvent::Opened => {
                state.exists = true;
                state.open = true;
            }
            TallyEvent::Added(n) => state.count += n,
            TallyEvent::Closed => state.open = false,
        }
        state
    }
}

impl EventCodec for Tally {
    type Event = TallyEvent;

    fn name(event: &TallyEvent) -> &'static str {
        match event {
            TallyEvent::Opened => "Opened",
            TallyEvent::Added(_) => "Added",
            TallyEvent::Closed => "Closed",
        }
    }

    fn encode(event: &TallyEvent) -> Vec<u8> {
        match event {
            TallyEvent::Opened | TallyEvent::Closed => Vec::new(),
            TallyEvent::Added(n) => n.to_be_bytes().to_vec(),
        }
    }

    fn decode(name: &str, payload: &[u8]) -> Result<TallyEvent, DecodeError> {
        match name {
            "Opened" => Ok(TallyEvent::Opened),
            "Closed" => Ok(TallyEvent::Closed),
            "Added" => Ok(TallyEvent::Added(u32::from_be_bytes(payload.try_into().map_err(
                |_| DecodeError::malformed(name, format!("{} bytes, not 4", payload.len())),
            )?))),
            _ => Err(DecodeError::unknown(name)),
        }
    }
}

/// Three flags and the count, in six bytes.
impl Snapshot for Tally {
    const VERSION: u32 = 1;

    fn encode_state(state: &TallyState) -> Result<Vec<u8>, SnapshotError> {
        let mut out = vec![u8::from(state.exists), u8::from(state.open)];
        out.extend_from_slice(&state.count.to_be_bytes());
        Ok(out)
    }

    fn decode_state(bytes: &[u8]) -> Result<TallyState, SnapshotError> {
        let [exists, open, count @ ..] = bytes else {
            return Err(SnapshotError::new(format!("{} bytes, not 6", bytes.len())));
        };
        let count: [u8; 4] = count
            .try_into()
            .map_err(|_| SnapshotError::new(format!("{} bytes, not 6", bytes.len())))?;
        Ok(TallyState {
            exists: *exists == 1,
            open: *open == 1,
            count: u32::from_be_bytes(count),
        })
    }
}

#[test]
fn the_tally_snapshot_round_trips_and_refuses_what_is_not_one() {
    let state = TallyState {
        exists: true,
        open: false,
        count: 70_000,
    };
    assert_eq!(
        Tally::decode_state(&Tally::encode_state(&state).unwrap()).unwrap(),
        state
    );
    assert!(Tally::decode_state(b"12").is_err());
}

#[test]
fn the_tally_codec_round_trips_and_names_what_it_cannot_read() {
    assert_round_trip::<Tally>([TallyEvent::Opened, TallyEvent::Added(7), TallyEvent::Closed]);
    assert_eq!(
        Tally::decode("Reset", b""),
        Err(DecodeError::UnknownEvent { name: "Reset".into() })
    );
    assert!(matches!(
        Tally::decode("Added", b"12"),
        Err(DecodeError::Malformed { .. })
    ));
    let stored = NewEvent::encoded::<Tally>(&TallyEvent::Added(7));
    assert_eq!(
        (stored.name, stored.payload.as_ref()),
        ("Added", &7u32.to_be_bytes()[..])
    );
}

async fn store(nats: &NatsServer) -> EventStore {
    let client = connect(&nats.url(), "eventstore-test").await.unwrap();
    let settings = StreamSettings::for_service("test", 1);
    ensure_stream(&async_nats::jetstream::new(client.clone()), &settings)
        .await
        .unwrap();
    EventStore::new(client, &settings.name, "test")
}

/// A store whose service has a snapshot bucket, as `rentops_eventstore::open` sets it up.
async fn store_with_snapshots(nats: &NatsServer) -> EventStore {
    let client = connect(&nats.url(), "eventstore-test").await.unwrap();
    let settings = StreamSettings::for_service("test", 1);
    let js = async_nats::jetstream::new(client.clone());
    ensure_stream(&js, &settings).await.unwrap();
    let bucket = ensure_snapshot_bucket(&js, &settings).await.unwrap();
    EventStore::new(client, &settings.name, "test").with_snapshots(bucket)
}

fn meta() -> CommandMeta {
    CommandMeta {
        request_id: uuid::Uuid::new_v4().to_string(),
        fingerprint: None,
        correlation_id: "c".into(),
        causation_id: "c".into(),
        actor: "test".into(),
        time: time::OffsetDateTime::now_utc(),
    }
}

fn request<'a>(id: &'a str, expected: u64, request_id: &'a str) -> AppendRequest<'a> {
    AppendRequest {
        aggregate_type: "tally",
        aggregate_id: id,
        expected,
        request_id,
        fingerprint: None,
        correlation_id: "c",
        causation_id: "c",
        actor: "test",
        time: time::OffsetDateTime::now_utc(),
    }
}

fn added(n: u32) -> NewEvent {
    NewEvent::encoded::<Tally>(&TallyEvent::Added(n))
}

async fn stream_last(store: &EventStore) -> u64 {
    let mut stream = store.jetstream().get_stream(store.stream_name()).await.unwrap();
    stream.info().await.unwrap().state.last_sequence
}

#[tokio::test]
async fn a_stale_expected_sequence_is_refused_and_appends_nothing() {
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    store.append(&request("t1", 0, "r1"), &[added(1)]).await.unwrap();
    let refused = store.append(&request("t1", 0, "r2"), &[added(2)]).await;
    assert!(
        matches!(refused, Err(AppendError::Conflict { expected: 0, .. })),
        "{refused:?}"
    );
    assert_eq!(stream_last(&store).await, 1);
}

#[tokio::test]
async fn an_atomic_batch_is_stored_whole_or_not_at_all() {
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    let ok = store
        .append(&request("t1", 0, "r1"), &[added(1), added(2), added(3)])
        .await
        .unwrap();
    assert_eq!((ok.first_sequence, ok.last_sequence), (1, 3));
    // The same batch decided on a stale version: none of its three events is stored.
    let refused = store
        .append(&request("t1", 1, "r2"), &[added(4), added(5), added(6)])
        .await;
    assert!(matches!(refused, Err(AppendError::Conflict { .. })), "{refused:?}");
    assert_eq!(stream_last(&store).await, 3);
    assert_eq!(store.load("tally", "t1").await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_repeated_message_id_appends_nothing() {
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    let first = store.append(&request("t1", 0, "r1"), &[added(1)]).await.unwrap();
    // Another aggregate in between, so the stream moves on.
    store.append(&request("t2", 0, "r1"), &[added(1)]).await.unwrap();
    // The retry carries the version the aggregate has now (its own append): on a single server
    // the expected-sequence check runs first, so only then does de-duplication answer.
    let again = store.append(&request("t1", 1, "r1"), &[added(1)]).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.last_sequence, first.last_sequence);
    assert_eq!(stream_last(&store).await, 2);
}

#[tokio::test]
async fn the_last_sequence_of_an_aggregate_is_read_from_its_own_subjects_only() {
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    assert_eq!(store.last_sequence("tally", "t1").await.unwrap(), 0);
    store.append(&request("t1", 0, "a"), &[added(1)]).await.unwrap();
    // Neighbours whose ids begin alike, and another event name on t1.
    store.append(&request("t10", 0, "b"), &[added(1)]).await.unwrap();
    store
        .append(
            &request("t1", 1, "c"),
            &[NewEvent::encoded::<Tally>(&TallyEvent::Closed)],
        )
        .await
        .unwrap();
    store.append(&request("t11", 0, "d"), &[added(1)]).await.unwrap();
    assert_eq!(store.last_sequence("tally", "t1").await.unwrap(), 3);
    assert_eq!(store.last_sequence("tally", "t10").await.unwrap(), 2);
    assert_eq!(store.last_sequence("tally", "t2").await.unwrap(), 0);
}

/// Two handlers on one stream: two replicas, each with its own cache.
async fn two_replicas(nats: &NatsServer) -> (CommandHandler<Tally>, CommandHandler<Tally>) {
    let a = CommandHandler::<Tally>::new(store(nats).await, HandlerConfig::default());
    let b = CommandHandler::<Tally>::new(store(nats).await, HandlerConfig::default());
    (a, b)
}

#[tokio::test]
async fn a_refusal_on_state_another_replica_moved_past_is_decided_again() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = two_replicas(&nats).await;
    a.execute("t1", &meta(), &TallyCommand::Open, true).await.unwrap();
    a.execute("t1", &meta(), &TallyCommand::Close, false).await.unwrap();
    // B reopens; A still holds the tally as closed.
    b.execute("t1", &meta(), &TallyCommand::Open, false).await.unwrap();
    let added = a.execute("t1", &meta(), &TallyCommand::Add(5), false).await.unwrap();
    assert_eq!(added.events_appended, 1);
    assert_eq!(added.state.count, 5);
    // On current state a refusal stands.
    b.execute("t1", &meta(), &TallyCommand::Close, false).await.unwrap();
    let refused = b.execute("t1", &meta(), &TallyCommand::Add(1), false).await;
    assert!(
        matches!(refused, Err(ExecuteError::Domain(TallyError::Closed))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_no_op_on_state_another_replica_moved_past_is_decided_again() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = two_replicas(&nats).await;
    a.execute("t1", &meta(), &TallyCommand::Open, true).await.unwrap();
    b.execute("t1", &meta(), &TallyCommand::Close, false).await.unwrap();
    // A holds the tally as open, so opening it looks like nothing to do; it is closed.
    let reopened = a.execute("t1", &meta(), &TallyCommand::Open, false).await.unwrap();
    assert_eq!(reopened.events_appended, 1);
    assert!(reopened.state.open);
    assert_eq!(a.store().last_sequence("tally", "t1").await.unwrap(), 3);
}

#[tokio::test]
async fn a_creation_refused_on_the_assumed_empty_state_is_checked_too() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = two_replicas(&nats).await;
    b.execute("t1", &meta(), &TallyCommand::Open, true).await.unwrap();
    // A has never seen t1: a command that may create it decides on the empty state first, where
    // adding is refused (no such tally). The tally exists, so the add goes through.
    let added = a.execute("t1", &meta(), &TallyCommand::Add(2), true).await.unwrap();
    assert_eq!((added.events_appended, added.state.count), (1, 2));
    // Where it really does not exist, the refusal stands.
    let refused = a.execute("t2", &meta(), &TallyCommand::Add(2), true).await;
    assert!(
        matches!(refused, Err(ExecuteError::Domain(TallyError::Missing))),
        "{refused:?}"
    );
}

fn meta_at(request_id: &str, time: time::OffsetDateTime) -> CommandMeta {
    CommandMeta {
        request_id: request_id.into(),
        fingerprint: Some(format!("fp-{request_id}")),
        correlation_id: "c".into(),
        causation_id: "c".into(),
        actor: "test".into(),
        time,
    }
}

#[tokio::test]
async fn request_ids_are_remembered_within_the_window_and_only_the_newest_beyond_it() {
    let nats = NatsServer::start().await.unwrap();
    let config = HandlerConfig {
        remembered_requests: 4,
        request_window: std::time::Duration::from_secs(120),
        ..HandlerConfig::default()
    };
    let tally = CommandHandler::<Tally>::new(store(&nats).await, config.clone());
    let t0 = time::OffsetDateTime::now_utc();
    tally
        .execute("t1", &meta_at("open", t0), &TallyCommand::Open, true)
        .await
        .unwrap();
    // Ten adds within one minute: all inside the window, all remembered although more than 4.
    for i in 0..10 {
        let at = t0 + time::Duration::seconds(i);
        tally
            .execute("t1", &meta_at(&format!("add-{i}"), at), &TallyCommand::Add(1), false)
            .await
            .unwrap();
    }
    let retry = tally
        .execute("t1", &meta_at("add-0", t0), &TallyCommand::Add(1), false)
        .await
        .unwrap();
    assert_eq!(
        (retry.replayed, retry.events_appended),
        (true, 1),
        "answered as the first time"
    );
    assert_eq!(retry.state.count, 10);
    // An hour later, more adds: what lies beyond the window is forgotten down to the newest 4,
    // on this replica and on one that reads the aggregate from the stream.
    let later = t0 + time::Duration::hours(1);
    for i in 0..3 {
        tally
            .execute(
                "t1",
                &meta_at(&format!("late-{i}"), later),
                &TallyCommand::Add(1),
                false,
            )
            .await
            .unwrap();
    }
    let fresh = CommandHandler::<Tally>::new(store(&nats).await, config);
    for handler in [&tally, &fresh] {
        let late = handler
            .execute("t1", &meta_at("late-0", later), &TallyCommand::Add(1), false)
            .await
            .unwrap();
        assert_eq!((late.replayed, late.events_appended), (true, 1), "within the window");
        let newest_old = handler
            .execute("t1", &meta_at("add-9", later), &TallyCommand::Add(1), false)
            .await
            .unwrap();
        assert_eq!(
            (newest_old.replayed, newest_old.events_appended),
            (true, 1),
            "one of the newest 4 beyond the window"
        );
    }
    // The oldest was forgotten here. The broker's de-duplication (a window of real time, which
    // this test has not left) still refuses the append, so nothing is stored twice; but the
    // answer is the broker's, which no longer knows what the first attempt appended.
    let forgotten = fresh
        .execute("t1", &meta_at("add-0", later), &TallyCommand::Add(1), false)
        .await
        .unwrap();
    assert_eq!((forgotten.replayed, forgotten.events_appended), (true, 0));
    assert_eq!(forgotten.state.count, 13);
}

#[tokio::test]
async fn a_request_id_reused_with_other_content_is_refused_and_appends_nothing() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = two_replicas(&nats).await;
    let t0 = time::OffsetDateTime::now_utc();
    a.execute("t1", &meta_at("open", t0), &TallyCommand::Open, true)
        .await
        .unwrap();
    a.execute("t1", &meta_at("r1", t0), &TallyCommand::Add(1), false)
        .await
        .unwrap();
    let mut other = meta_at("r1", t0);
    other.fingerprint = Some("something else".into());
    for handler in [&a, &b] {
        let refused = handler.execute("t1", &other, &TallyCommand::Add(7), false).await;
        assert!(
            matches!(&refused, Err(ExecuteError::RequestReused { request_id, sequence: 2, .. }) if request_id == "r1"),
            "{refused:?}"
        );
    }
    assert_eq!(stream_last(a.store()).await, 2);
}

#[tokio::test]
async fn a_request_decided_with_a_32_digit_fingerprint_is_known_by_its_first_16() {
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = two_replicas(&nats).await;
    let t0 = time::OffsetDateTime::now_utc();
    let mut first = meta_at("open", t0);
    // As the log wrote fingerprints before they were shortened.
    first.fingerprint = Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0".into());
    a.execute("t1", &first, &TallyCommand::Open, true).await.unwrap();
    // Replica b reads the fingerprint back from the stream.
    let mut retry = meta_at("open", t0);
    retry.fingerprint = Some("0f1e2d3c4b5a6978".into());
    let again = b.execute("t1", &retry, &TallyCommand::Open, true).await.unwrap();
    assert!(again.replayed && again.events_appended == 1, "{again:?}");
    retry.fingerprint = Some("0f1e2d3c4b5a6979".into());
    let refused = b.execute("t1", &retry, &TallyCommand::Open, true).await;
    assert!(
        matches!(refused, Err(ExecuteError::RequestReused { .. })),
        "{refused:?}"
    );
    assert_eq!(stream_last(a.store()).await, 1);
}

#[tokio::test]
async fn an_appended_event_carries_no_event_id_and_reads_back_the_derived_one() {
    use rentops_eventstore::envelope::{self, CE_ID, CE_TIME, NATS_MESSAGE_ID};
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    store
        .append(&request("t1", 0, "r1"), &[added(1), added(2), added(3)])
        .await
        .unwrap();
    let events = store.load("tally", "t1").await.unwrap();
    let stream = store.jetstream().get_stream(store.stream_name()).await.unwrap();
    let mut ids = Vec::new();
    for event in &events {
        let raw = stream.get_raw_message(event.sequence).await.unwrap();
        assert!(raw.headers.get(CE_ID).is_none(), "ce-id written on {}", event.sequence);
        let derived = envelope::event_id(
            "test",
            raw.headers.get(NATS_MESSAGE_ID).unwrap().as_str(),
            raw.headers.get(CE_TIME).unwrap().as_str(),
        );
        assert_eq!(event.meta.event_id, derived);
        assert_eq!(event.meta.event_id.get_version_num(), 7);
        ids.push(event.meta.event_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "one id per event: {ids:?}");
}

#[tokio::test]
async fn more_cold_loads_than_a_stream_may_have_consumers_all_succeed() {
    // nats-server 2.15 allows a stream 1,000 consumers unless it says otherwise; each load reads
    // through a consumer of its own, so a replica that has just taken over must not keep them.
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    let ids: Vec<String> = (0..1_100).map(|i| format!("t{i}")).collect();
    for id in &ids {
        store.append(&request(id, 0, "r"), &[added(1)]).await.unwrap();
    }
    for id in &ids {
        let events = store.load("tally", id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(events.len(), 1, "{id}");
    }
}

/// Every `every` events, a snapshot; none when 0.
fn snapshotting(every: u64) -> HandlerConfig {
    HandlerConfig {
        snapshot_every: every,
        ..HandlerConfig::default()
    }
}

/// Opens t1 and adds 1, 2, … `adds` to it through `handler`.
async fn open_and_add(handler: &CommandHandler<Tally>, adds: u32) {
    handler.execute("t1", &meta(), &TallyCommand::Open, true).await.unwrap();
    for n in 1..=adds {
        handler
            .execute("t1", &meta(), &TallyCommand::Add(n), false)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_load_from_a_snapshot_equals_a_load_from_the_events() {
    let nats = NatsServer::start().await.unwrap();
    let writer = CommandHandler::<Tally>::new(store_with_snapshots(&nats).await, snapshotting(10));
    let mut written = writer.snapshots_written();
    // 25 events: snapshots after the 10th and the 20th, then 5 more.
    open_and_add(&writer, 24).await;
    written.wait_for(|n| *n >= 2).await.unwrap();
    let snapshot = writer.store().read_snapshot("tally", "t1").await.unwrap().unwrap();
    assert_eq!(snapshot.sequence, 20);
    writer
        .execute("t1", &meta(), &TallyCommand::Close, false)
        .await
        .unwrap();

    let from_snapshot = CommandHandler::<Tally>::new(store_with_snapshots(&nats).await, snapshotting(0));
    let from_events = CommandHandler::<Tally>::new(store(&nats).await, HandlerConfig::default());
    let expected = TallyState {
        exists: true,
        open: false,
        count: (1..=24).sum(),
    };
    assert_eq!(from_snapshot.state("t1").await.unwrap(), (expected.clone(), 26));
    assert_eq!(from_events.state("t1").await.unwrap(), (expected, 26));
    // And both decide alike: a refusal on the closed tally.
    for handler in [&from_snapshot, &from_events] {
        let refused = handler.execute("t1", &meta(), &TallyCommand::Add(1), false).await;
        assert!(
            matches!(refused, Err(ExecuteError::Domain(TallyError::Closed))),
            "{refused:?}"
        );
    }
}

/// A snapshot of t1 at `sequence` holding `state`, written as the handler would.
fn record(sequence: u64, format: u32, state: Vec<u8>) -> SnapshotRecord {
    SnapshotRecord {
        aggregate_type: "tally".into(),
        aggregate_id: "t1".into(),
        format,
        sequence,
        requests: vec![],
        state: state.into(),
    }
}

#[tokio::test]
async fn events_after_the_snapshot_are_applied_to_it() {
    let nats = NatsServer::start().await.unwrap();
    let store = store_with_snapshots(&nats).await;
    let plain = CommandHandler::<Tally>::new(store.clone(), snapshotting(0));
    open_and_add(&plain, 3).await; // sequences 1..=4: count 6
    // A snapshot at sequence 2 that says the count was 1,000 then (it was 1): a load that uses
    // it adds only what came after it, 2 + 3.
    let state = TallyState {
        exists: true,
        open: true,
        count: 1_000,
    };
    store
        .write_snapshot(&record(2, Tally::VERSION, Tally::encode_state(&state).unwrap()))
        .await
        .unwrap();
    let cold = CommandHandler::<Tally>::new(store.clone(), snapshotting(0));
    let (loaded, version) = cold.state("t1").await.unwrap();
    assert_eq!((loaded.count, version), (1_005, 4));
    // A snapshot exactly at the aggregate's last event needs no events at all.
    store
        .write_snapshot(&record(4, Tally::VERSION, Tally::encode_state(&state).unwrap()))
        .await
        .unwrap();
    let cold = CommandHandler::<Tally>::new(store, snapshotting(0));
    assert_eq!(cold.state("t1").await.unwrap().0.count, 1_000);
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_trusted_is_ignored() {
    let nats = NatsServer::start().await.unwrap();
    let store = store_with_snapshots(&nats).await;
    let plain = CommandHandler::<Tally>::new(store.clone(), snapshotting(0));
    open_and_add(&plain, 3).await;
    // Another aggregate moves the stream past t1's last event (4).
    plain.execute("t2", &meta(), &TallyCommand::Open, true).await.unwrap();
    let from_events = TallyState {
        exists: true,
        open: true,
        count: 6,
    };
    let lying = Tally::encode_state(&TallyState {
        exists: true,
        open: false,
        count: 1_000,
    })
    .unwrap();
    let untrusted: Vec<(&str, Vec<u8>)> = vec![
        ("not a snapshot at all", b"garbage without a header".to_vec()),
        ("a header that is not JSON", b"{{{\n\x00\x00".to_vec()),
        (
            "another format version",
            record(2, Tally::VERSION + 1, lying.clone()).encode().unwrap(),
        ),
        (
            "an undecodable state",
            record(2, Tally::VERSION, b"12".to_vec()).encode().unwrap(),
        ),
        (
            "ahead of the aggregate's last event",
            record(5, Tally::VERSION, lying.clone()).encode().unwrap(),
        ),
        (
            "ahead of the stream",
            record(99, Tally::VERSION, lying.clone()).encode().unwrap(),
        ),
        (
            "at sequence 0",
            record(0, Tally::VERSION, lying.clone()).encode().unwrap(),
        ),
        (
            "of another aggregate",
            SnapshotRecord {
                aggregate_id: "t2".into(),
                ..record(2, Tally::VERSION, lying.clone())
            }
            .encode()
            .unwrap(),
        ),
        (
            "a request memory with a time out of range",
            SnapshotRecord {
                requests: vec![RememberedRequest {
                    request_id: "r".into(),
                    sequence: 2,
                    count: 1,
                    fingerprint: None,
                    time_ns: i128::MAX,
                }],
                ..record(2, Tally::VERSION, lying.clone())
            }
            .encode()
            .unwrap(),
        ),
    ];
    for (what, value) in untrusted {
        store.write_snapshot_value("tally.t1", value.into()).await.unwrap();
        let cold = CommandHandler::<Tally>::new(store.clone(), snapshotting(0));
        assert_eq!(cold.state("t1").await.unwrap(), (from_events.clone(), 4), "{what}");
        // And it decides on the events: opening the open tally changes nothing (on the lying
        // snapshot's closed one it would append).
        let reopened = cold.execute("t1", &meta(), &TallyCommand::Open, false).await.unwrap();
        assert_eq!(reopened.events_appended, 0, "{what}");
    }
    assert_eq!(stream_last(&store).await, 5);
}

#[tokio::test]
async fn an_aggregate_with_ten_thousand_events_of_its_own_loads_every_one_in_order() {
    let nats = NatsServer::start().await.unwrap();
    let store = store(&nats).await;
    // 10,500 events of t1 in batches of 500, with a neighbour's event between batches: more
    // than one direct-get batch (10,000) and spread over the stream.
    let mut expected = 0;
    let mut count = 0u64;
    for b in 0..21u32 {
        let events: Vec<NewEvent> = (0..500).map(|i| added(b * 500 + i)).collect();
        let ok = store
            .append(&request("t1", expected, &format!("r{b}")), &events)
            .await
            .unwrap();
        expected = ok.last_sequence;
        count += 500;
        store
            .append(&request(&format!("n{b}"), 0, "n"), &[added(1)])
            .await
            .unwrap();
    }
    let events = store.load("tally", "t1").await.unwrap();
    assert_eq!(events.len() as u64, count);
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(events.iter().all(|e| e.subject == "rentops.test.tally.t1.Added"));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            Tally::decode(&event.name, &event.payload).unwrap(),
            TallyEvent::Added(i as u32)
        );
    }
    assert_eq!(events.last().unwrap().sequence, expected);
    // A range from the middle: exactly the events after it.
    let after = events[6_000].sequence;
    let rest = store.load_range("tally", "t1", after, expected).await.unwrap();
    assert_eq!(rest.len(), events.len() - 6_001);
    assert_eq!(rest[0].sequence, events[6_001].sequence);
    // The handler folds them all (with the tally never opened, the state only counts).
    let handler = CommandHandler::<Tally>::new(store, HandlerConfig::default());
    let (state, version) = handler.state("t1").await.unwrap();
    assert_eq!((u64::from(state.count), version), ((0..count).sum::<u64>(), expected));
}

#[tokio::test]
async fn a_retry_inside_the_window_is_answered_as_the_first_time_from_a_snapshot() {
    let nats = NatsServer::start().await.unwrap();
    let config = HandlerConfig {
        remembered_requests: 4,
        snapshot_every: 5,
        ..HandlerConfig::default()
    };
    let writer = CommandHandler::<Tally>::new(store_with_snapshots(&nats).await, config.clone());
    let mut written = writer.snapshots_written();
    let t0 = time::OffsetDateTime::now_utc();
    writer
        .execute("t1", &meta_at("open", t0), &TallyCommand::Open, true)
        .await
        .unwrap();
    for i in 0..9 {
        writer
            .execute(
                "t1",
                &meta_at(&format!("add-{i}"), t0 + time::Duration::seconds(i)),
                &TallyCommand::Add(1),
                false,
            )
            .await
            .unwrap();
    }
    // Snapshots after the 5th and the 10th event: the second holds every request (all within
    // the window), more than `remembered_requests`.
    written.wait_for(|n| *n >= 2).await.unwrap();
    let snapshot = writer.store().read_snapshot("tally", "t1").await.unwrap().unwrap();
    assert_eq!((snapshot.sequence, snapshot.requests.len()), (10, 10));
    // A replica that starts now loads from the snapshot and knows the first add.
    let fresh = CommandHandler::<Tally>::new(store_with_snapshots(&nats).await, config);
    let retry = fresh
        .execute("t1", &meta_at("add-0", t0), &TallyCommand::Add(1), false)
        .await
        .unwrap();
    assert_eq!(
        (retry.replayed, retry.events_appended, retry.sequence),
        (true, 1, 2),
        "answered as the first time"
    );
    assert_eq!(retry.state.count, 9);
    let mut reused = meta_at("add-0", t0);
    reused.fingerprint = Some("other".into());
    let refused = fresh.execute("t1", &reused, &TallyCommand::Add(5), false).await;
    assert!(
        matches!(refused, Err(ExecuteError::RequestReused { sequence: 2, .. })),
        "{refused:?}"
    );
    assert_eq!(stream_last(fresh.store()).await, 10);
}

#[tokio::test]
async fn a_load_from_an_unreachable_log_is_a_typed_error() {
    let mut nats = NatsServer::start().await.unwrap();
    let store = store_with_snapshots(&nats).await;
    store.append(&request("t1", 0, "r1"), &[added(1)]).await.unwrap();
    let handler = CommandHandler::<Tally>::new(store.clone(), HandlerConfig::default());
    nats.stop().await.unwrap();
    let load = store.load("tally", "t1").await;
    assert!(load.as_ref().is_err_and(|e| e.is_unavailable()), "{load:?}");
    let state = handler.state("t1").await;
    assert!(matches!(state, Err(ExecuteError::Unavailable(_))), "{state:?}");
}

#[tokio::test]
async fn a_seed_list_connects_through_the_server_that_answers() {
    let nats = NatsServer::start().await.unwrap();
    // Nothing listens on port 1: the client goes on to the seed that answers.
    let seeds = format!("nats://127.0.0.1:1,{}", nats.url());
    let client = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        rentops_eventstore::stream::connect(&seeds, "seed-list-test"),
    )
    .await
    .expect("connected in time")
    .expect("connected");
    assert!(!client.server_info().version.is_empty());
}
