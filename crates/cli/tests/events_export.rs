//! `rentops events export` and `rentops events tail` against a real order service's stream (on a
//! real nats-server): every event decoded by its type, filtered by type and aggregate, written as
//! JSON lines, CSV and Parquet, and a long export interrupted and continued from its position with
//! nothing missing and nothing twice; a stream of many batches exported in order by the export's
//! formatter threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rentops_runtime::SystemClock;
use rentops_testkit::{NatsServer, TestDatabase};
use serde_json::Value;

/// Runs `rentops ARGS`; returns the exit status's success, stdout and stderr.
async fn rentops(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rentops"))
        .args(args)
        .envs(env.iter().copied())
        .env("RENTOPS_ACTOR", "analyst")
        .env_remove("RENTOPS_TOKEN")
        .output()
        .await
        .expect("rentops runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rentops events export --service order --out OUT --quiet` and `extra` flags.
async fn export_order(env: &[(&str, &str)], out: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = out.to_str().unwrap();
    let base = ["events", "export", "--service", "order", "--out", out, "--quiet"];
    rentops(env, &[&base[..], extra].concat()).await
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sequences(rows: &[Value]) -> Vec<u64> {
    rows.iter().map(|r| r["sequence"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn an_analyst_exports_and_tails_the_order_stream() {
    rentops_testkit::init_tracing();
    let nats = NatsServer::start().await.unwrap();
    let db = TestDatabase::sqlite().unwrap();
    let vars = vec![
        ("RENTOPS_NATS_URL".to_owned(), nats.url()),
        ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
        ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "3600".to_owned()),
    ];
    let service = rentops_testkit::start_in_process(rentops_order::app::start, Arc::new(SystemClock), vars)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let nats_url = nats.url();
    let env = [
        ("RENTOPS_ORDER_ADDR", service.url.as_str()),
        ("RENTOPS_STATE_DIR", state),
        ("RENTOPS_NATS_URL", nats_url.as_str()),
    ];
    let now = time::OffsetDateTime::now_utc();
    let at = |days: i64| {
        (now + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (pickup, back) = (at(3), at(5));

    // Three orders, the first also called and confirmed: 3 placed + 1 call + 1 confirmation.
    let mut orders = Vec::new();
    for (i, customer) in ["C1001", "C1002", "C1003"].into_iter().enumerate() {
        let reference = format!("APP-{i}");
        let (ok, out, err) = rentops(
            &env,
            &[
                "--json",
                "order",
                "place",
                "--channel",
                "app",
                "--ref",
                &reference,
                "--customer-id",
                customer,
                "--customer-name",
                "王小明",
                "--phone",
                "13800138000",
                "--city",
                "SHA",
                "--pickup-station",
                "PVG",
                "--pickup-at",
                &pickup,
                "--return-station",
                "PVG",
                "--return-at",
                &back,
                "--model",
                "ES6",
                "--price-fen",
                "45000",
            ],
        )
        .await;
        assert!(ok, "{err}{out}");
        let placed: Value = serde_json::from_str(&out).unwrap();
        orders.push(placed["order_id"].as_str().unwrap().to_owned());
    }
    let first = orders[0].clone();
    assert!(
        rentops(&env, &["order", "call", &first, "--outcome", "reached"])
            .await
            .0
    );
    assert!(rentops(&env, &["order", "confirm", &first]).await.0);

    // Everything, as JSON lines: every event decoded, with its envelope.
    let all = dir.path().join("order.jsonl");
    let (ok, out, err) = export_order(&env, &all, &[]).await;
    assert!(ok, "{err}{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["exported"], 5, "{out}");
    let rows = lines(&all);
    assert_eq!(sequences(&rows), [1, 2, 3, 4, 5]);
    let placed = &rows[0];
    assert_eq!(placed["type"], "rentops.order.v1.OrderPlaced");
    assert_eq!(placed["source"], "order");
    assert_eq!(placed["actor"], "analyst");
    assert_eq!(placed["aggregate_id"], orders[0].as_str());
    assert_eq!(placed["data"]["customer"]["customer_id"], "C1001");
    assert_eq!(placed["data"]["customer"]["name"], "王小明");
    assert_eq!(
        placed["data"]["price"]["amount_fen"], "45000",
        "int64 is a string in proto JSON"
    );
    assert_eq!(rows[4]["type"], "rentops.order.v1.OrderConfirmed");

    // One order's events, as CSV.
    let csv_path = dir.path().join("first.csv");
    let (ok, out, err) = rentops(
        &env,
        &[
            "events",
            "export",
            "--service",
            "order",
            "--aggregate",
            "order",
            "--aggregate-id",
            &first,
            "--out",
            csv_path.to_str().unwrap(),
            "--quiet",
        ],
    )
    .await;
    assert!(ok, "{err}{out}");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(reader.headers().unwrap().iter().next(), Some("sequence"));
    let types: Vec<String> = reader.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert_eq!(
        types,
        [
            "rentops.order.v1.OrderPlaced",
            "rentops.order.v1.ContactAttemptRecorded",
            "rentops.order.v1.OrderConfirmed"
        ]
    );

    // Only the placements, as Parquet, read back with a Parquet reader.
    let parquet_path = dir.path().join("placed.parquet");
    let (ok, out, err) = rentops(
        &env,
        &[
            "events",
            "export",
            "--service",
            "order",
            "--type",
            "OrderPlaced",
            "--out",
            parquet_path.to_str().unwrap(),
            "--quiet",
        ],
    )
    .await;
    assert!(ok, "{err}{out}");
    let file = SerializedFileReader::new(std::fs::File::open(&parquet_path).unwrap()).unwrap();
    assert_eq!(file.metadata().file_metadata().num_rows(), 3);
    let mut seen = Vec::new();
    for row in file.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let mut sequence = None;
        let mut data = None;
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("sequence", Field::Long(s)) => sequence = Some(*s),
                ("type", Field::Str(t)) => assert_eq!(t, "rentops.order.v1.OrderPlaced"),
                ("data", Field::Str(d)) => data = Some(serde_json::from_str::<Value>(d).unwrap()),
                _ => {}
            }
        }
        seen.push((
            sequence.unwrap(),
            data.unwrap()["customer"]["customer_id"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(
        seen,
        [
            (1, "C1001".to_owned()),
            (2, "C1002".to_owned()),
            (3, "C1003".to_owned())
        ]
    );
    // A Parquet file is never appended to.
    let (ok, _, err) = rentops(
        &env,
        &[
            "events",
            "export",
            "--service",
            "order",
            "--out",
            parquet_path.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!ok && err.contains("cannot be appended"), "{err}");

    // A long export, interrupted after 2 events and continued from its position: all five, once.
    let resumed = dir.path().join("resumed.jsonl");
    let position = dir.path().join("resumed.position");
    let export = ["--position", position.to_str().unwrap()];
    let (ok, out, err) = export_order(&env, &resumed, &[&export[..], &["--limit", "2"]].concat()).await;
    assert!(ok, "{err}{out}");
    assert!(out.contains("more to export"), "{out}");
    assert_eq!(sequences(&lines(&resumed)), [1, 2]);
    let (ok, out, err) = export_order(&env, &resumed, &export).await;
    assert!(ok, "{err}{out}");
    assert_eq!(sequences(&lines(&resumed)), [1, 2, 3, 4, 5]);
    // Nothing new: nothing written, the position unchanged.
    let (ok, out, _) = export_order(&env, &resumed, &export).await;
    assert!(ok && out.contains("nothing new"), "{out}");
    assert_eq!(sequences(&lines(&resumed)), [1, 2, 3, 4, 5]);
    // The position belongs to that export: another filter is refused.
    let (ok, _, err) = export_order(&env, &resumed, &[&export[..], &["--type", "OrderConfirmed"]].concat()).await;
    assert!(!ok && err.contains("another export"), "{err}");

    // tail from a sequence, as JSON lines on stdout.
    let (ok, out, err) = rentops(
        &env,
        &[
            "events",
            "tail",
            "--service",
            "order",
            "--from-sequence",
            "4",
            "--limit",
            "2",
        ],
    )
    .await;
    assert!(ok, "{err}{out}");
    let tailed: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(sequences(&tailed), [4, 5]);

    // Bad flags are refused before anything is read.
    let (ok, _, err) = rentops(&env, &["events", "tail", "--service", "ledger"]).await;
    assert!(!ok && err.contains("--service"), "{err}");
    let (ok, _, err) = rentops(&env, &["events", "tail", "--service", "order", "--type", "Order.*"]).await;
    assert!(!ok && err.contains("--type"), "{err}");
    let (ok, _, err) = rentops(&env, &["events", "tail", "--service", "order", "--aggregate-id", "x"]).await;
    assert!(!ok && err.contains("--aggregate"), "{err}");

    service.stop().await;
}

/// A stream longer than a batch of the export's formatters, than their queue and than a chunk
/// of the position, each event's body telling its place: the export writes every event once, in
/// stream order with its own body, whichever formatter thread took which batch; interrupted
/// past a chunk and continued from its position, the same; Parquet has the same rows in order.
#[tokio::test]
async fn a_long_export_keeps_the_stream_order_across_its_threads() {
    use prost::Message as _;
    use rentops_eventstore::{AppendRequest, EventStore, NewEvent, StreamSettings};
    use rentops_proto::order as opb;

    rentops_testkit::init_tracing();
    let nats = NatsServer::start().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    rentops_eventstore::ensure_stream(
        &async_nats::jetstream::new(client.clone()),
        &StreamSettings::for_service("order", 1),
    )
    .await
    .unwrap();
    let store = EventStore::new(client, "ORDER", "order");
    // 25 orders of 900 events each, appended order by order in atomic batches: 22,500 events.
    let (orders, per_order) = (25usize, 900usize);
    let total = orders * per_order;
    for o in 0..orders {
        let order_id = format!("O{o:03}");
        let events: Vec<NewEvent> = (0..per_order)
            .map(|i| NewEvent {
                name: "OrderPlaced",
                payload: opb::OrderPlaced {
                    order_id: order_id.clone(),
                    channel_order_ref: format!("REF-{}", o * per_order + i + 1),
                    ..Default::default()
                }
                .encode_to_vec()
                .into(),
            })
            .collect();
        let request_id = format!("fill-{o}");
        let req = AppendRequest {
            aggregate_type: "order",
            aggregate_id: &order_id,
            expected: 0,
            request_id: &request_id,
            fingerprint: None,
            correlation_id: &request_id,
            causation_id: &request_id,
            actor: "test",
            time: time::OffsetDateTime::now_utc(),
        };
        store.append(&req, &events).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let nats_url = nats.url();
    let env = [("RENTOPS_NATS_URL", nats_url.as_str())];
    // Sequence n carries REF-n.
    let in_order = |rows: &[Value], count: usize| {
        assert_eq!(rows.len(), count);
        for (n, row) in (1..).zip(rows) {
            assert_eq!(row["sequence"], n);
            assert_eq!(row["data"]["channel_order_ref"], format!("REF-{n}"), "{row}");
        }
    };

    let all = dir.path().join("all.jsonl");
    // More formatters than this machine has cores: they finish out of turn.
    let (ok, out, err) = export_order(&env, &all, &["--threads", "5"]).await;
    assert!(ok, "{err}{out}");
    in_order(&lines(&all), total);

    // Interrupted after 12,345 events (past the first record of the position), then continued.
    let resumed = dir.path().join("resumed.jsonl");
    let position = dir.path().join("resumed.position");
    let export = ["--position", position.to_str().unwrap()];
    let (ok, out, err) = export_order(&env, &resumed, &[&export[..], &["--limit", "12345"]].concat()).await;
    assert!(ok, "{err}{out}");
    in_order(&lines(&resumed), 12_345);
    let (ok, out, err) = export_order(&env, &resumed, &export).await;
    assert!(ok, "{err}{out}");
    in_order(&lines(&resumed), total);

    let parquet_path = dir.path().join("all.parquet");
    let (ok, out, err) = export_order(&env, &parquet_path, &["--format", "parquet", "--threads", "1"]).await;
    assert!(ok, "{err}{out}");
    let file = SerializedFileReader::new(std::fs::File::open(&parquet_path).unwrap()).unwrap();
    let mut sequences = Vec::with_capacity(total);
    for row in file.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        for (name, field) in row.get_column_iter() {
            if let ("sequence", Field::Long(s)) = (name.as_str(), field) {
                sequences.push(*s);
            }
        }
    }
    assert_eq!(sequences, (1..=total as i64).collect::<Vec<_>>());

    // No formatter at all is refused before anything is read.
    let nowhere = dir.path().join("nowhere.jsonl");
    let (ok, _, err) = export_order(&env, &nowhere, &["--threads", "0"]).await;
    assert!(!ok && err.contains("--threads"), "{err}");
    assert!(!nowhere.exists());
}
