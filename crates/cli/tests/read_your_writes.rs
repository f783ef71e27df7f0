//! The `rentops` binary against a real order service (in-process, on a real nats-server, on
//! SQLite and PostgreSQL): a query right after a command sees that command, because the CLI
//! remembers the sequence the command got back and waits for it. The projector lingers a whole
//! second before applying a batch here, so a query that did not wait would read the order as it
//! was before (which `--no-wait` shows).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use rentops_runtime::SystemClock;
use rentops_testkit::NatsServer;
use serde_json::Value;

/// Runs `rentops ARGS` against the service at `addr`, remembering sequences in `state`.
async fn rentops(addr: &str, state: &Path, args: &[&str]) -> (Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rentops"))
        .args(args)
        .env("RENTOPS_ORDER_ADDR", addr)
        .env("RENTOPS_STATE_DIR", state)
        .env("RENTOPS_ACTOR", "li")
        .env_remove("RENTOPS_TOKEN")
        .output()
        .await
        .expect("rentops runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rentops {args:?} failed: {stderr}{stdout}");
    (serde_json::from_str(&stdout).unwrap_or(Value::Null), stderr)
}

fn queued(queue: &Value) -> Vec<String> {
    queue["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["order_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

rentops_testkit::per_backend! {
    async fn order_queue_right_after_order_confirm_no_longer_shows_the_order(db: TestDatabase) {
        rentops_testkit::init_tracing();
        let label = db.label();
        let nats = NatsServer::start().await.unwrap();
        let vars = vec![
            ("RENTOPS_NATS_URL".to_owned(), nats.url()),
            ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
            ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "3600".to_owned()),
            ("RENTOPS_PROJECTOR_LINGER_MS".to_owned(), "1000".to_owned()),
        ];
        let service = rentops_testkit::start_in_process(rentops_order::app::start, Arc::new(SystemClock), vars)
            .await
            .unwrap();
        let addr = service.url.clone();
        let state = std::env::temp_dir().join(format!("rentops-cli-ryw-{}", uuid::Uuid::new_v4().simple()));
        let now = time::OffsetDateTime::now_utc();
        let at = |days: i64| {
            (now + time::Duration::days(days))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let (pickup, back) = (at(3), at(5));
        let place = |reference: &'static str| {
            let (addr, state, pickup, back) = (addr.clone(), state.clone(), pickup.clone(), back.clone());
            async move {
                let args = [
                    "--json", "order", "place", "--channel", "app", "--ref", reference, "--customer-id", "C1001",
                    "--customer-name", "王小明", "--phone", "13800138000", "--city", "SHA", "--pickup-station", "PVG",
                    "--pickup-at", &pickup, "--return-station", "PVG", "--return-at", &back, "--model", "ES6",
                    "--price-fen", "45000",
                ];
                let (placed, _) = rentops(&addr, &state, &args).await;
                placed["order_id"].as_str().unwrap().to_owned()
            }
        };
        let reach_and_confirm = |order_id: String| {
            let (addr, state) = (addr.clone(), state.clone());
            async move {
                rentops(&addr, &state, &["order", "call", &order_id, "--outcome", "reached"]).await;
                let (confirmed, _) = rentops(&addr, &state, &["--json", "order", "confirm", &order_id]).await;
                confirmed["sequence"].as_u64().unwrap()
            }
        };

        // The desk's session: place, call, confirm, and at once look at the queue.
        let first = place("APP-1").await;
        let confirmed_at = reach_and_confirm(first.clone()).await;
        let (queue, stderr) = rentops(&addr, &state, &["--json", "order", "queue", "--city", "SHA"]).await;
        assert!(!queued(&queue).contains(&first), "{label}: the confirmed order is still queued: {queue}");
        assert_eq!(stderr, "", "{label}");
        let memory: Value = serde_json::from_str(&std::fs::read_to_string(state.join("sequences.json")).unwrap()).unwrap();
        assert_eq!(memory["order"][&addr], confirmed_at, "{label}: the last sequence, per service and address");

        // Told not to wait, the same query reads the view before the projector has applied the
        // call and the confirmation: the order is still there. Without --no-wait, it is gone.
        let second = place("APP-2").await;
        let (queue, _) = rentops(&addr, &state, &["--json", "order", "queue"]).await;
        assert!(queued(&queue).contains(&second), "{label}: the placed order is queued: {queue}");
        reach_and_confirm(second.clone()).await;
        let (stale, _) = rentops(&addr, &state, &["--json", "order", "queue", "--no-wait"]).await;
        assert!(queued(&stale).contains(&second), "{label}: a query that does not wait reads the old view: {stale}");
        let (queue, _) = rentops(&addr, &state, &["--json", "order", "queue"]).await;
        assert!(!queued(&queue).contains(&second), "{label}: {queue}");

        // A corrupt memory is a warning, and the command goes on (and writes it afresh).
        std::fs::write(state.join("sequences.json"), "{ not json").unwrap();
        let third = place("APP-3").await;
        let (queue, stderr) = rentops(&addr, &state, &["--json", "order", "queue"]).await;
        assert!(queued(&queue).contains(&third), "{label}: the new order is queued: {queue}");
        assert_eq!(stderr, "", "{label}: the memory was written afresh");
        let (_, stderr) = {
            std::fs::write(state.join("sequences.json"), "{ not json").unwrap();
            rentops(&addr, &state, &["order", "queue"]).await
        };
        assert!(stderr.starts_with("warning: ") && stderr.contains("starting afresh"), "{label}: {stderr}");

        let _ = std::fs::remove_dir_all(&state);
        service.stop().await;
    }
}
