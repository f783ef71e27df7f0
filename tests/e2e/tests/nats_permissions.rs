//! Least privilege on NATS, under the very permissions the local cluster and the Kubernetes
//! manifests use (deploy/k8s/base/nats/permissions.conf, read from the checkout under test).
//!
//! The four services run in-process, each as its own NATS user, through a flow that crosses
//! them (an order confirmed, fleet's plan assigning a car, the order folding it in; receivables
//! and complaint reading the others' streams, receivables hearing a complaint case): every
//! projector, reactor, lease and snapshot bucket works, and the server refuses nothing. Then an
//! analyst reads the streams but cannot append an event, create, change or delete a stream, or
//! touch a service's consumers; fleet cannot append to the order stream; a client without
//! credentials, or with a wrong password, is refused with an error saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull::OrderedConfig, stream};
use futures::StreamExt as _;
use rentops_e2e::{Desk, cny, env, rid, ts, until};
use rentops_eventstore::stream::{StreamError, connect_as};
use rentops_eventstore::{AppendRequest, EventStore, NewEvent};
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::complaint as cpb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_runtime::{NatsCredentials, ServiceConfig as _, Shutdown, SystemClock};
use rentops_testkit::{NatsServer, SqliteDatabase, TestDatabase};
use time::OffsetDateTime;

const WAIT: Duration = Duration::from_secs(30);

/// The durable consumers the services keep on each stream once running (rebuild consumers
/// exist only during a rebuild). A new one needs its permissions, and a place in the analyst's
/// deny list: this list and the check below make the test fail until it has them.
fn expected_durables() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    BTreeMap::from([
        (
            "ORDER",
            BTreeSet::from([
                "projector-order-orders",
                "projector-fleet-demand",
                "projector-receivables-hires",
                "projector-complaint-orders",
            ]),
        ),
        (
            "FLEET",
            BTreeSet::from([
                "projector-fleet-fleet",
                "order-fleet-plan",
                "projector-receivables-fleet",
                "projector-complaint-fleet",
            ]),
        ),
        (
            "RECEIVABLES",
            BTreeSet::from([
                "projector-receivables",
                "receivables-notice-gateway",
                "projector-complaint-receivables",
            ]),
        ),
        (
            "COMPLAINT",
            BTreeSet::from(["projector-complaint", "receivables-disputes"]),
        ),
    ])
}

/// A service's credentials as configuration variables.
fn as_env(c: &NatsCredentials) -> [(&str, &str); 2] {
    [
        ("RENTOPS_NATS_USER", c.user.as_str()),
        ("RENTOPS_NATS_PASSWORD", c.password.as_str()),
    ]
}

async fn client(nats: &NatsServer, user: &str) -> async_nats::Client {
    let creds = nats.credentials(user).unwrap();
    connect_as(&nats.url(), &format!("permissions-test-{user}"), Some(&creds))
        .await
        .unwrap_or_else(|e| panic!("{user} connects: {e}"))
}

async fn last_sequence(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence
}

/// An append of one event to `stream` as `store`'s client, on the order service's subjects.
async fn append_order_event(
    store: &EventStore,
) -> Result<rentops_eventstore::AppendOk, rentops_eventstore::AppendError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let request = AppendRequest {
        aggregate_type: "order",
        aggregate_id: &id,
        expected: 0,
        request_id: &id,
        fingerprint: None,
        correlation_id: &id,
        causation_id: &id,
        actor: "intruder",
        time: OffsetDateTime::now_utc(),
    };
    let event = NewEvent {
        name: "OrderPlaced",
        payload: "not an order".into(),
    };
    store.append(&request, &[event]).await
}

/// Waits until the server's log shows a refusal mentioning every one of `needles`.
async fn refused(nats: &NatsServer, needles: &[&str]) -> String {
    until(
        "permissions",
        &format!("the server to refuse {needles:?}"),
        || async move {
            let all = nats.violations();
            match all.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                Some(found) => (found.clone(), true),
                None => (all.join("\n"), false),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_service_works_under_its_own_permissions_and_no_one_writes_what_is_not_theirs() {
    let nats = NatsServer::start_with_permissions(&rentops_testkit::permissions_file())
        .await
        .expect("nats-server with the cluster's permissions");
    let url = nats.url();
    let creds: BTreeMap<&str, NatsCredentials> = ["order", "fleet", "receivables", "complaint", "analyst"]
        .into_iter()
        .map(|u| (u, nats.credentials(u).expect("a user of the permissions file")))
        .collect();
    let dbs: Vec<TestDatabase> = (0..4)
        .map(|_| TestDatabase::Sqlite(SqliteDatabase::new().unwrap()))
        .collect();

    // --- the services, each as its own user -------------------------------------------------
    let order_env = as_env(&creds["order"]);
    let mut order_env = order_env.to_vec();
    order_env.push(("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "3600"));
    let mut fleet_env = as_env(&creds["fleet"]).to_vec();
    fleet_env.push(("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", "100"));
    let mut desk = Desk::start_on(nats, &dbs[0], &dbs[1], Arc::new(SystemClock), &order_env, &fleet_env).await;
    let shutdown = Shutdown::new();
    let mut rx_env = as_env(&creds["receivables"]).to_vec();
    rx_env.push(("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS", "1"));
    let config = rentops_receivables::app::ReceivablesConfig::read(&env(&url, dbs[2].url(), &rx_env))
        .expect("receivables config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = rentops_receivables::app::start(config, listener, Arc::new(SystemClock), shutdown.clone())
        .await
        .expect("receivables starts as user receivables");
    let mut rc = ReceivablesServiceClient::connect(format!("http://{}", rx.addr))
        .await
        .unwrap();
    let config = rentops_complaint::app::ComplaintConfig::read(&env(&url, dbs[3].url(), &as_env(&creds["complaint"])))
        .expect("complaint config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cp = rentops_complaint::app::start(config, listener, Arc::new(SystemClock), shutdown.clone())
        .await
        .expect("complaint starts as user complaint");
    let mut cc = ComplaintServiceClient::connect(format!("http://{}", cp.addr))
        .await
        .unwrap();

    // --- a flow across them ----------------------------------------------------------------
    // order → fleet (demand) → fleet's plan → order (its reactor folds the car in).
    desk.city_sha().await;
    desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
    let now = OffsetDateTime::now_utc();
    let order_id = desk
        .confirmed_order(
            "APP-PERM-1",
            VehicleModel::Es6,
            now + time::Duration::days(2),
            now + time::Duration::days(4),
        )
        .await;
    let o = desk
        .order_when(&order_id, "fleet's plan to give the order its car", |o| {
            o.assigned_vehicle_id == "V1"
        })
        .await;
    assert_eq!(o.assigned_plate, "沪A·D00001");

    let analyst = client(desk.nats(), "analyst").await;
    let ajs = jetstream::new(analyst.clone());
    let order_seq = last_sequence(&ajs, "ORDER").await;
    let fleet_seq = last_sequence(&ajs, "FLEET").await;
    // receivables reads order and fleet, and appends to its own stream.
    rx.hires
        .checkpoints
        .wait_for(order_seq, WAIT)
        .await
        .expect("receivables read ORDER");
    rx.fleet
        .checkpoints
        .wait_for(fleet_seq, WAIT)
        .await
        .expect("receivables read FLEET");
    let summary = rc
        .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
            context: rid(),
            records: vec![rpb::ViolationRecord {
                plate: "沪AD99999".into(),
                offence_at: Some(ts(now - time::Duration::hours(3))),
                place: "浦东机场南路".into(),
                offence_code: "1352".into(),
                offence_text: "超速".into(),
                fine: cny(20_000),
                points: 3,
                line: 1,
                source: "permissions-test".into(),
                ..Default::default()
            }],
            received_at: None,
        }]))
        .await
        .expect("receivables imports as user receivables")
        .into_inner();
    assert_eq!(summary.received, 1, "{summary:?}");
    let rx_seq = last_sequence(&ajs, "RECEIVABLES").await;
    assert!(rx_seq > 0, "receivables appended to its own stream: {summary:?}");
    // complaint reads the other three and appends a case; receivables hears it.
    cp.orders
        .checkpoints
        .wait_for(order_seq, WAIT)
        .await
        .expect("complaint read ORDER");
    cp.fleet
        .checkpoints
        .wait_for(fleet_seq, WAIT)
        .await
        .expect("complaint read FLEET");
    cp.receivables
        .checkpoints
        .wait_for(rx_seq, WAIT)
        .await
        .expect("complaint read RECEIVABLES");
    let opened = cc
        .open_case(cpb::OpenCaseRequest {
            context: rid(),
            channel: "HOTLINE".into(),
            customer_id: "C-APP-PERM-1".into(),
            order_id: order_id.clone(),
            category: "service".into(),
            sub_category: "staff_attitude".into(),
            text: "车还没到".into(),
            ..Default::default()
        })
        .await
        .expect("complaint opens a case as user complaint")
        .into_inner();
    assert!(!opened.case_id.is_empty());
    let cp_seq = last_sequence(&ajs, "COMPLAINT").await;
    rx.disputes
        .handled(cp_seq, WAIT)
        .await
        .expect("receivables read COMPLAINT through its reactor");
    let case = cc
        .get_case(cpb::GetCaseRequest {
            case_id: opened.case_id.clone(),
            consistency: Some(Consistency {
                min_sequence: cp_seq,
                timeout_ms: 10_000,
            }),
        })
        .await
        .expect("complaint's own projection read its stream")
        .into_inner();
    assert_eq!(case.case_id, opened.case_id);

    // Every projector and reactor created its consumer; no service was refused anything.
    let expected = expected_durables();
    for (stream_name, durables) in &expected {
        let found = until("permissions", &format!("the consumers of {stream_name}"), || {
            let ajs = ajs.clone();
            async move {
                let stream = ajs.get_stream(*stream_name).await.unwrap();
                let names: BTreeSet<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
                let ready = durables.iter().all(|d| names.contains(*d));
                (names, ready)
            }
        })
        .await;
        let kept: BTreeSet<&str> = found
            .iter()
            .map(String::as_str)
            .filter(|n| !n.ends_with("-rebuild"))
            .collect();
        assert_eq!(
            &kept, durables,
            "{stream_name}: a durable this test (and the permissions) do not know"
        );
    }
    assert_eq!(
        desk.nats().violations(),
        Vec::<String>::new(),
        "the services ran without a refusal"
    );

    // --- the analyst reads ------------------------------------------------------------------
    let order_stream = ajs.get_stream("ORDER").await.expect("the analyst reads ORDER's state");
    let replay = order_stream
        .create_consumer(OrderedConfig {
            name: Some(format!("analyst-replay-{}", uuid::Uuid::new_v4().simple())),
            filter_subject: "rentops.order.>".into(),
            ..Default::default()
        })
        .await
        .expect("an ordered consumer of the analyst's own");
    let mut messages = replay.messages().await.unwrap();
    let mut replayed = 0;
    while replayed < order_seq {
        let m = tokio::time::timeout(WAIT, messages.next())
            .await
            .expect("the replay goes on")
            .unwrap()
            .unwrap();
        replayed = m.info().unwrap().stream_sequence;
    }
    assert_eq!(replayed, order_seq, "the analyst replayed ORDER to its end");
    let loaded = EventStore::new(analyst.clone(), "ORDER", "order")
        .load("order", &order_id)
        .await
        .expect("the analyst loads an order's events (direct gets)");
    assert!(loaded.len() >= 3, "placed, called, confirmed: {}", loaded.len());

    // --- what no one may write --------------------------------------------------------------
    let fleet = client(desk.nats(), "fleet").await;
    let analyst_store = EventStore::new(analyst.clone(), "ORDER", "order");
    let fleet_store = EventStore::new(fleet.clone(), "ORDER", "order");
    let fjs = jetstream::new(fleet.clone());
    let (by_analyst, by_fleet, created, deleted, changed, fleet_changed) = tokio::join!(
        append_order_event(&analyst_store),
        append_order_event(&fleet_store),
        ajs.create_stream(stream::Config {
            name: "ANALYST_COPY".into(),
            subjects: vec!["analyst.copy.>".into()],
            ..Default::default()
        }),
        ajs.delete_stream("ORDER"),
        ajs.update_stream(stream::Config {
            deny_purge: false,
            ..order_stream.cached_info().config.clone()
        }),
        fjs.update_stream(stream::Config {
            deny_delete: false,
            ..order_stream.cached_info().config.clone()
        }),
    );
    assert!(by_analyst.is_err(), "an analyst's append is refused: {by_analyst:?}");
    assert!(by_fleet.is_err(), "fleet's append to ORDER is refused: {by_fleet:?}");
    assert!(created.is_err(), "an analyst creates no stream");
    assert!(deleted.is_err(), "an analyst deletes no stream");
    assert!(changed.is_err(), "an analyst changes no stream");
    assert!(fleet_changed.is_err(), "fleet changes no other service's stream");
    // Refused by the server, for want of permission, naming user and subject.
    refused(
        desk.nats(),
        &["Publish Violation", "user:analyst\"", "rentops.order.order."],
    )
    .await;
    refused(
        desk.nats(),
        &["Publish Violation", "user:fleet\"", "rentops.order.order."],
    )
    .await;
    refused(
        desk.nats(),
        &[
            "Publish Violation",
            "user:analyst\"",
            "$JS.API.STREAM.CREATE.ANALYST_COPY",
        ],
    )
    .await;
    refused(
        desk.nats(),
        &["Publish Violation", "user:analyst\"", "$JS.API.STREAM.DELETE.ORDER"],
    )
    .await;
    refused(
        desk.nats(),
        &["Publish Violation", "user:analyst\"", "$JS.API.STREAM.UPDATE.ORDER"],
    )
    .await;
    refused(
        desk.nats(),
        &["Publish Violation", "user:fleet\"", "$JS.API.STREAM.UPDATE.ORDER"],
    )
    .await;
    // Nothing was written: the stream is as the services left it, and still there.
    assert_eq!(last_sequence(&ajs, "ORDER").await, order_seq);
    assert!(ajs.get_stream("ANALYST_COPY").await.is_err());
    let config = ajs.get_stream("ORDER").await.unwrap().cached_info().config.clone();
    assert!(config.deny_purge && config.deny_delete);

    // The services' consumers are theirs: an analyst can neither pull from one (taking its
    // messages) nor acknowledge for it.
    for (stream_name, durables) in &expected {
        for durable in durables {
            analyst
                .publish(
                    format!("$JS.API.CONSUMER.MSG.NEXT.{stream_name}.{durable}"),
                    "{\"batch\":1}".into(),
                )
                .await
                .unwrap();
            analyst
                .publish(format!("$JS.ACK.{stream_name}.{durable}.1.1.1.0.0"), "+ACK".into())
                .await
                .unwrap();
        }
    }
    // Nor rewrite one through the create subject that does not carry the consumer's name.
    let rewrite = r#"{"stream_name":"ORDER","config":{"name":"projector-order-orders","ack_policy":"all","filter_subject":"rentops.order.order.none.*"},"action":"update"}"#;
    analyst
        .publish("$JS.API.CONSUMER.CREATE.ORDER", rewrite.into())
        .await
        .unwrap();
    analyst.flush().await.unwrap();
    refused(
        desk.nats(),
        &[
            "Publish Violation",
            "user:analyst\"",
            "Subject \"$JS.API.CONSUMER.CREATE.ORDER\"",
        ],
    )
    .await;
    for (stream_name, durables) in &expected {
        for durable in durables {
            refused(
                desk.nats(),
                &[
                    "user:analyst\"",
                    &format!("$JS.API.CONSUMER.MSG.NEXT.{stream_name}.{durable}\""),
                ],
            )
            .await;
            refused(
                desk.nats(),
                &["user:analyst\"", &format!("$JS.ACK.{stream_name}.{durable}.")],
            )
            .await;
        }
    }

    // --- who has no (right) credentials -----------------------------------------------------
    let none = connect_as(&url, "permissions-test-anonymous", None).await;
    assert!(
        matches!(&none, Err(StreamError::Refused { user: None, .. })),
        "a client without credentials is refused: {:?}",
        none.as_ref().err()
    );
    let wrong = NatsCredentials {
        user: "analyst".into(),
        password: "not-the-password".into(),
    };
    let refused_wrong = connect_as(&url, "permissions-test-wrong", Some(&wrong)).await;
    let Err(e) = refused_wrong else {
        panic!("a wrong password is refused")
    };
    let said = e.to_string();
    assert!(
        said.contains("user analyst") && said.contains("RENTOPS_NATS_PASSWORD_FILE"),
        "{said}"
    );
    assert!(
        !said.contains("not-the-password"),
        "the password is never shown: {said}"
    );

    // The services kept working through all of it.
    let o = desk.order(&order_id, 0).await;
    assert_eq!(o.assigned_vehicle_id, "V1");
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        rx.join().await;
        cp.join().await;
    })
    .await;
    desk.stop().await;
}
