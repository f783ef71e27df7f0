//! `rentops events` as the analyst, on a nats-server with the cluster's users and permissions
//! (deploy/k8s/base/nats/permissions.conf of the checkout under test): the gRPC commands need no
//! NATS credentials, `events export` and `events tail` read as user `analyst` from a password
//! file, and without credentials or with a wrong password they fail saying so, never showing a
//! password.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rentops_runtime::SystemClock;
use rentops_testkit::{NatsServer, TestDatabase};
use serde_json::Value;

/// Runs `rentops ARGS` with `env` only (no NATS settings of the caller's shell); returns the exit
/// status's success, stdout and stderr.
async fn rentops(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rentops"))
        .args(args)
        .env_remove("RENTOPS_NATS_USER")
        .env_remove("RENTOPS_NATS_PASSWORD")
        .env_remove("RENTOPS_NATS_PASSWORD_FILE")
        .env_remove("RENTOPS_TOKEN")
        .envs(env.iter().copied())
        .env("RENTOPS_ACTOR", "desk")
        .output()
        .await
        .expect("rentops runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_analyst_reads_the_streams_with_its_own_credentials_and_nobody_reads_without() {
    rentops_testkit::init_tracing();
    let nats = NatsServer::start_with_permissions(&rentops_testkit::permissions_file())
        .await
        .unwrap();
    let order = nats.credentials("order").unwrap();
    let analyst = nats.credentials("analyst").unwrap();
    let db = TestDatabase::sqlite().unwrap();
    let vars = vec![
        ("RENTOPS_NATS_URL".to_owned(), nats.url()),
        ("RENTOPS_NATS_USER".to_owned(), order.user.clone()),
        ("RENTOPS_NATS_PASSWORD".to_owned(), order.password.clone()),
        ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
        ("RENTOPS_ORDER_DEADLINE_SCAN_SECS".to_owned(), "3600".to_owned()),
    ];
    let service = rentops_testkit::start_in_process(rentops_order::app::start, Arc::new(SystemClock), vars)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let password_file = dir.path().join("analyst.password");
    std::fs::write(&password_file, format!("{}\n", analyst.password)).unwrap();
    let wrong_file = dir.path().join("wrong.password");
    std::fs::write(&wrong_file, "not-the-password\n").unwrap();
    let nats_url = nats.url();
    let grpc = [
        ("RENTOPS_ORDER_ADDR", service.url.as_str()),
        ("RENTOPS_STATE_DIR", state.to_str().unwrap()),
    ];

    // A gRPC command: no NATS credentials needed.
    let at = |days: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (pickup, back) = (at(3), at(5));
    let (ok, out, err) = rentops(
        &grpc,
        &[
            "--json",
            "order",
            "place",
            "--channel",
            "app",
            "--ref",
            "APP-ANALYST-1",
            "--customer-id",
            "C1001",
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
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    // Without credentials: NATS lets nobody in, and says who to be.
    let out_file = dir.path().join("order.jsonl");
    let export = |out: &std::path::Path| {
        vec![
            "events".to_owned(),
            "export".to_owned(),
            "--service".to_owned(),
            "order".to_owned(),
            "--out".to_owned(),
            out.display().to_string(),
            "--quiet".to_owned(),
        ]
    };
    let args = export(&out_file);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, err) = rentops(&[("RENTOPS_NATS_URL", nats_url.as_str())], &args).await;
    assert!(!ok);
    assert!(
        err.contains("NATS requires a user") && err.contains("--nats-user"),
        "{err}"
    );

    // A wrong password: refused, naming the user, not the password.
    let (ok, _, err) = rentops(
        &[
            ("RENTOPS_NATS_URL", nats_url.as_str()),
            ("RENTOPS_NATS_USER", "analyst"),
            ("RENTOPS_NATS_PASSWORD_FILE", wrong_file.to_str().unwrap()),
        ],
        &args,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("refused the credentials of user analyst"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // The analyst's credentials, from the environment: the export reads the stream.
    let analyst_env = [
        ("RENTOPS_NATS_URL", nats_url.as_str()),
        ("RENTOPS_NATS_USER", "analyst"),
        ("RENTOPS_NATS_PASSWORD_FILE", password_file.to_str().unwrap()),
    ];
    let (ok, out, err) = rentops(&analyst_env, &args).await;
    assert!(ok, "{err}{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["exported"], 1, "{summary}");
    let row: Value = serde_json::from_str(std::fs::read_to_string(&out_file).unwrap().trim()).unwrap();
    assert_eq!(row["type"], "rentops.order.v1.OrderPlaced");
    assert_eq!(row["aggregate_id"], order_id.as_str());

    // And from the flags, tailing from the start.
    let (ok, out, err) = rentops(
        &[("RENTOPS_NATS_URL", nats_url.as_str())],
        &[
            "events",
            "tail",
            "--service",
            "order",
            "--from-sequence",
            "1",
            "--limit",
            "1",
            "--nats-user",
            "analyst",
            "--nats-password-file",
            password_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{err}{out}");
    let row: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["sequence"], 1);

    // A user's read its permissions do not allow is refused, and the error says what was.
    let fleet = nats.credentials("fleet").unwrap();
    let fleet_file = dir.path().join("fleet.password");
    std::fs::write(&fleet_file, &fleet.password).unwrap();
    let (ok, _, err) = rentops(
        &[
            ("RENTOPS_NATS_URL", nats_url.as_str()),
            ("RENTOPS_NATS_USER", "fleet"),
            ("RENTOPS_NATS_PASSWORD_FILE", fleet_file.to_str().unwrap()),
        ],
        &[
            "events",
            "export",
            "--service",
            "complaint",
            "--out",
            dir.path().join("complaint.jsonl").to_str().unwrap(),
            "--quiet",
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("NATS refused it") && err.contains("$JS.API.STREAM.INFO.COMPLAINT") && err.contains("user fleet"),
        "{err}"
    );
    assert!(!err.contains(&fleet.password), "{err}");
    service.stop().await;
}
