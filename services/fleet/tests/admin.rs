//! The projection admin API on the fleet service: both of its projections (its own stream, and
//! the demand from ORDER) listed, rebuilt by name while the service answers, and ending as they
//! were.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

mod common;

use common::*;
use rentops_eventstore::{StreamSettings, ensure_stream};
use rentops_fleet::projections::{DEMAND, FLEET};
use rentops_proto::admin as apb;
use rentops_proto::admin::projection_admin_client::ProjectionAdminClient;
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_testkit::{NatsServer, TestDatabase};
use sqlx::Row;
use time::OffsetDateTime;
use tonic::transport::Channel;

/// A fleet service whose projectors apply one event per transaction (each rebuild is also held
/// where it starts, so that it is seen under way); on a clock that stands still,
/// so that answers computed "up to now" (the KPIs) are the same before and after.
async fn spawn(db: TestDatabase) -> TestApp {
    rentops_testkit::init_tracing();
    let nats = NatsServer::start().await.expect("nats-server starts");
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("nats"));
    ensure_stream(&js, &StreamSettings::for_service("order", 1))
        .await
        .expect("ORDER stream");
    let env = vec![
        ("RENTOPS_INSTANCE_ID".to_owned(), "fleet-admin-test".to_owned()),
        ("RENTOPS_PROJECTOR_BATCH".to_owned(), "1".to_owned()),
    ];
    let clock = rentops_runtime::ManualClock::at(OffsetDateTime::now_utc());
    let (app, client, shutdown) = start_with(&nats.url(), db.url(), clock, env)
        .await
        .expect("fleet service starts");
    TestApp {
        nats,
        db,
        app,
        client,
        shutdown,
        js,
    }
}

async fn status(admin: &mut ProjectionAdminClient<Channel>, name: &str) -> apb::Projection {
    admin
        .projection_status(apb::ProjectionStatusRequest {
            projection: name.into(),
        })
        .await
        .expect("status")
        .into_inner()
        .projection
        .expect("a projection")
}

/// Waits until `name` has applied its whole stream, no rebuild is under way and no re-plan is
/// pending (the reactor has acted on everything the projections asked), then returns its status.
async fn settled(t: &TestApp, admin: &ProjectionAdminClient<Channel>, name: &str) -> apb::Projection {
    let db = rentops_projection::Db::connect(t.db.url()).await.expect("database");
    let quiet = || {
        let (mut admin, db) = (admin.clone(), db.clone());
        async move {
            let s = status(&mut admin, name).await;
            let pending: i64 = sqlx::query("SELECT COUNT(*) FROM replan_requests")
                .fetch_one(&db.pool)
                .await
                .expect("replan requests")
                .get(0);
            (s.lag == 0 && s.stream_sequence > 0 && !s.rebuilding && pending == 0).then_some(s)
        }
    };
    loop {
        // One event per transaction over the whole stream, each commit waking the reactions:
        // on a busy 2-core machine that can take longer than the usual 20 s.
        let before = eventually_within(&format!("{name} settled"), std::time::Duration::from_secs(90), quiet).await;
        // A re-plan may be under way that has already taken its requests: settled is when a
        // whole pass of the reactions that began after this found nothing more to append.
        t.app
            .reactions
            .next_full_pass(std::time::Duration::from_secs(20))
            .await
            .expect("a pass of the reactions");
        if let Some(after) = quiet().await
            && after.stream_sequence == before.stream_sequence
        {
            return after;
        }
    }
}

/// What the fleet service answers about SHA: every query over both read models.
async fn answers(c: &mut Client, fleet_sequence: u64, days: (&str, &str)) -> Vec<String> {
    let consistency = || {
        Some(Consistency {
            min_sequence: fleet_sequence,
            timeout_ms: 10_000,
        })
    };
    let city = || "SHA".to_owned();
    vec![
        format!(
            "{:?}",
            c.get_city(pb::GetCityRequest {
                city: city(),
                consistency: consistency(),
            })
            .await
            .unwrap()
            .into_inner()
        ),
        format!(
            "{:?}",
            c.list_vehicles(pb::ListVehiclesRequest {
                city: city(),
                consistency: consistency(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        ),
        format!(
            "{:?}",
            c.get_current_plan(pb::GetCurrentPlanRequest {
                city: city(),
                consistency: consistency(),
            })
            .await
            .unwrap()
            .into_inner()
        ),
        format!(
            "{:?}",
            c.list_at_risk_orders(pb::ListAtRiskOrdersRequest {
                city: city(),
                consistency: consistency(),
            })
            .await
            .unwrap()
            .into_inner()
        ),
        format!(
            "{:?}",
            c.list_plan_history(pb::ListPlanHistoryRequest {
                city: city(),
                consistency: consistency(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        ),
        // The demand read model shows through the KPIs (orders per model and day).
        format!(
            "{:?}",
            c.get_kpis(pb::GetKpisRequest {
                city: city(),
                from_day: days.0.into(),
                to_day: days.1.into(),
                consistency: consistency(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        ),
    ]
}

rentops_testkit::per_backend! {
    async fn each_projection_is_rebuilt_by_name_while_the_service_answers_and_ends_as_it_was(db: TestDatabase) {
        let label = db.label();
        let t = spawn(db).await;
        let mut c = t.client();
        let mut admin = ProjectionAdminClient::connect(format!("http://{}", t.app.addr))
            .await
            .unwrap();

        // Supply, then demand: three confirmed orders, the plan gives each a car.
        configure_sha(&mut c).await;
        register(&mut c, "V1", VehicleModel::Es6, 1).await;
        register(&mut c, "V2", VehicleModel::Es6, 2).await;
        register(&mut c, "V8", VehicleModel::Es8, 8).await;
        let d3 = OffsetDateTime::now_utc() + time::Duration::days(3);
        confirmed_order(&t, "O1", VehicleModel::Es6, d3, 24).await;
        confirmed_order(&t, "O2", VehicleModel::Es6, d3, 24).await;
        confirmed_order(&t, "O3", VehicleModel::Es8, d3 + time::Duration::days(2), 24).await;
        // Orders placed and not confirmed: demand rows that ask for no re-plan, so the demand
        // stream is long enough for its replay to be seen under way.
        for i in 0..150 {
            let id = format!("P{i:03}");
            t.order_event(&id, "OrderPlaced", &placed(&id, VehicleModel::Es6, d3, 24))
                .await;
        }
        for o in ["O1", "O2", "O3"] {
            assigned(&c, o).await;
        }
        settled(&t, &admin, DEMAND).await;
        // Supply changes last, as many as make the fleet stream long too; re-planned each time
        // the reactor gets to them.
        for i in 0..100 {
            c.move_vehicle(pb::MoveVehicleRequest {
                context: rid(),
                vehicle_id: "V2".into(),
                to_station: if i % 2 == 0 { "SHA" } else { "PVG" }.into(),
                reason: "rebalancing".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let fleet = settled(&t, &admin, FLEET).await;

        // Both projections are listed, each with its stream, caught up, run here.
        let listed = admin
            .list_projections(apb::ListProjectionsRequest {})
            .await
            .unwrap()
            .into_inner()
            .projections;
        let order_last = {
            let mut s = t.js.get_stream("ORDER").await.unwrap();
            s.info().await.unwrap().state.last_sequence
        };
        assert_eq!(
            listed
                .iter()
                .map(|p| (p.name.as_str(), p.stream.as_str(), p.projection_sequence, p.lag))
                .collect::<Vec<_>>(),
            [
                (FLEET, "FLEET", fleet.stream_sequence, 0),
                (DEMAND, "ORDER", order_last, 0)
            ],
            "{label}"
        );
        for p in &listed {
            assert!(p.lease_held_here && !p.rebuilding, "{label}: {p:?}");
            assert_eq!(
                (p.lease_holder.as_str(), p.replica.as_str()),
                ("fleet-admin-test", "fleet-admin-test")
            );
        }

        let today = OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)).date();
        let (from, to) = (today.to_string(), (today + time::Duration::days(6)).to_string());
        let before = answers(&mut c, fleet.stream_sequence, (&from, &to)).await;
        let fleet_last = t.fleet_last_sequence().await;

        for name in [FLEET, DEMAND] {
            let handle = if name == FLEET { &t.app.fleet_projector } else { &t.app.demand_projector };
            // Held before its first batch, so that the service is seen answering mid-rebuild.
            handle.hold_rebuild(true);
            let started = admin
                .rebuild_projection(apb::RebuildProjectionRequest {
                    projection: name.into(),
                })
                .await
                .unwrap()
                .into_inner();
            let stream_last = if name == FLEET { fleet_last } else { order_last };
            assert_eq!(
                (started.projection.as_str(), started.stream_sequence),
                (name, stream_last),
                "{label}"
            );
            // Under way: the new view has not caught up, and the live one answers meanwhile,
            // whole (the same answers as before the rebuild).
            let replaying = status(&mut admin, name).await;
            assert!(
                replaying.rebuilding
                    && replaying.rebuild_sequence < stream_last
                    && replaying.projection_sequence == stream_last,
                "{label}: {replaying:?}"
            );
            assert_eq!(
                answers(&mut c, fleet.stream_sequence, (&from, &to)).await,
                before,
                "{label}: the live view of {name} during its rebuild"
            );
            handle.hold_rebuild(false);
            // Caught up at the stream's last sequence, with nothing appended meanwhile.
            let done = settled(&t, &admin, name).await;
            assert_eq!(
                (done.projection_sequence, done.stream_sequence),
                (stream_last, stream_last),
                "{label}: {name}"
            );
            assert_eq!(
                t.fleet_last_sequence().await,
                fleet_last,
                "{label}: the rebuild of {name} made the fleet re-plan"
            );
            assert_eq!(
                answers(&mut c, fleet.stream_sequence, (&from, &to)).await,
                before,
                "{label}: the rebuild of {name} changed the answers"
            );
        }

        // A name the fleet does not have.
        for unknown in ["order-orders", "fleet"] {
            let refused = admin
                .rebuild_projection(apb::RebuildProjectionRequest {
                    projection: unknown.into(),
                })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::NotFound, "{label}");
            assert!(refused.message().contains(unknown), "{}", refused.message());
            let refused = admin
                .projection_status(apb::ProjectionStatusRequest {
                    projection: unknown.into(),
                })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::NotFound, "{label}");
        }
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    /// Read-your-writes across projections: a sequence of the order stream that the demand
    /// projection's filter does not match (another aggregate of the order service) is answered
    /// as soon as the demand has nothing left to apply, instead of timing out; the fleet's own
    /// projection, meanwhile, is untouched by it.
    async fn min_sequence_of_an_event_a_projection_never_sees_does_not_time_out(db: TestDatabase) {
        let label = db.label();
        let t = spawn(db).await;
        let client = async_nats::connect(t.nats.url()).await.unwrap();
        let order_log = rentops_eventstore::EventStore::new(client, "ORDER", "order");
        let request_id = uuid::Uuid::new_v4().to_string();
        let appended = order_log
            .append(
                &rentops_eventstore::store::AppendRequest {
                    aggregate_type: "invoice",
                    aggregate_id: "INV-1",
                    expected: 0,
                    request_id: &request_id,
                    fingerprint: None,
                    correlation_id: "test",
                    causation_id: "test",
                    actor: "test",
                    time: OffsetDateTime::now_utc(),
                },
                &[rentops_eventstore::store::NewEvent {
                    name: "InvoiceIssued",
                    payload: bytes::Bytes::new(),
                }],
            )
            .await
            .unwrap();
        let demand = &t.app.demand_projector.checkpoints;
        let started = std::time::Instant::now();
        demand
            .wait_for(appended.last_sequence, std::time::Duration::from_secs(20))
            .await
            .unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{label}: {:?}",
            started.elapsed()
        );
        assert!(
            demand.current().await.unwrap() < appended.last_sequence,
            "{label}: answered though the demand never saw the event"
        );
    }
}
