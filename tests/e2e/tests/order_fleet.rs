//! An order placed and confirmed at the order service becomes demand at fleet, fleet's plan
//! assigns it a car, and the order service shows the car's plate — over real NATS, with each
//! service on its own database, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rentops_proto::common::{CommandContext, Consistency, Money, VehicleModel};
use rentops_proto::fleet as fpb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_runtime::{MapEnv, ServiceConfig as _, Shutdown, SystemClock};
use rentops_testkit::NatsServer;
use time::OffsetDateTime;
use uuid::Uuid;

fn env(nats: &str, db: &str, extra: &[(&str, &str)]) -> MapEnv {
    let mut env = MapEnv::from_pairs([
        ("RENTOPS_NATS_URL", nats),
        ("RENTOPS_DATABASE_URL", db),
        ("RENTOPS_METRICS_ADDR", "off"),
    ]);
    env.0
        .insert("RENTOPS_INSTANCE_ID".into(), format!("e2e-{}", Uuid::new_v4().simple()));
    for (k, v) in extra {
        env.0.insert((*k).into(), (*v).into());
    }
    env
}

fn rid() -> Option<CommandContext> {
    Some(CommandContext {
        request_id: Uuid::new_v4().to_string(),
        actor: "desk:li".into(),
        correlation_id: String::new(),
    })
}

fn ts(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

fn cny(amount_fen: i64) -> Option<Money> {
    Some(Money {
        amount_fen,
        currency: "CNY".into(),
    })
}

fn station(s: &str) -> Option<opb::Location> {
    Some(opb::Location {
        place: Some(opb::location::Place::StationId(s.into())),
    })
}

rentops_testkit::per_backend! {
    async fn a_confirmed_order_gets_a_car_from_fleets_plan(order_db: TestDatabase, fleet_db: TestDatabase) {
        rentops_testkit::init_tracing();
        let label = order_db.label();
        let nats = NatsServer::start().await.expect("nats-server");
        let shutdown = Shutdown::new();

        let config = rentops_order::app::OrderConfig::read(&env(
            &nats.url(),
            order_db.url(),
            &[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "3600")],
        ))
        .expect("order config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let order = rentops_order::app::start(config, listener, Arc::new(SystemClock), shutdown.clone())
            .await
            .expect("order service starts");

        let config = rentops_fleet::app::FleetConfig::read(&env(
            &nats.url(),
            fleet_db.url(),
            &[("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", "100")],
        ))
        .expect("fleet config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fleet = rentops_fleet::app::start(config, listener, Arc::new(SystemClock), shutdown.clone())
            .await
            .expect("fleet service starts");

        let mut oc = OrderServiceClient::connect(format!("http://{}", order.addr))
            .await
            .expect("order client");
        let mut fc = FleetServiceClient::connect(format!("http://{}", fleet.addr))
            .await
            .expect("fleet client");

        // Fleet: city SHA with stations PVG and SHA, one ES6 at PVG.
        fc.configure_city(fpb::ConfigureCityRequest {
            context: rid(),
            city: "SHA".into(),
            name: "上海".into(),
            ..Default::default()
        })
        .await
        .expect("city");
        for s in ["PVG", "SHA"] {
            fc.add_station(fpb::AddStationRequest {
                context: rid(),
                city: "SHA".into(),
                station_id: s.into(),
                name: s.into(),
                districts: vec![],
            })
            .await
            .expect("station");
        }
        fc.set_travel_times(fpb::SetTravelTimesRequest {
            context: rid(),
            city: "SHA".into(),
            times: vec![fpb::TravelTime {
                from_station: "PVG".into(),
                to_station: "SHA".into(),
                minutes: 50,
            }],
            symmetric: true,
        })
        .await
        .expect("travel times");
        fc.register_vehicle(fpb::RegisterVehicleRequest {
            context: rid(),
            vehicle_id: "V0001".into(),
            vin: "LNBSCB3F5KW000001".into(),
            plate: "沪AD00001".into(),
            model: VehicleModel::Es6 as i32,
            city: "SHA".into(),
            home_station: "PVG".into(),
        })
        .await
        .expect("vehicle");

        // The desk: place, reach the customer, confirm.
        let now = OffsetDateTime::now_utc();
        let placed = oc
            .place_order(opb::PlaceOrderRequest {
                context: rid(),
                channel: opb::Channel::App as i32,
                channel_order_ref: "APP-E2E-1".into(),
                customer: Some(opb::Customer {
                    customer_id: "C-1".into(),
                    name: "王芳".into(),
                    phone: "+86 138 0000 0000".into(),
                }),
                city: "SHA".into(),
                pickup_location: station("PVG"),
                pickup_at: Some(ts(now + time::Duration::days(2))),
                return_location: station("SHA"),
                return_at: Some(ts(now + time::Duration::days(4))),
                requested_model: VehicleModel::Es6 as i32,
                price: cny(120_000),
                rental_deposit: cny(500_000),
                violation_deposit: cny(200_000),
                ..Default::default()
            })
            .await
            .expect("placed")
            .into_inner();
        let order_id = placed.order_id.clone();
        oc.record_contact_attempt(opb::RecordContactAttemptRequest {
            context: rid(),
            order_id: order_id.clone(),
            outcome: opb::ContactOutcome::Reached as i32,
            ..Default::default()
        })
        .await
        .expect("call");
        let confirmed = oc
            .confirm_order(opb::ConfirmOrderRequest {
                context: rid(),
                order_id: order_id.clone(),
                notes: String::new(),
            })
            .await
            .expect("confirmed")
            .into_inner()
            .sequence;

        // Fleet plans it; the order service folds the assignment in.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let o = loop {
            let o = oc
                .get_order(opb::GetOrderRequest {
                    order_id: order_id.clone(),
                    as_of: None,
                    // Read-your-writes on the confirmation; the assignment comes later.
                    consistency: Some(Consistency {
                        min_sequence: confirmed,
                        timeout_ms: 10_000,
                    }),
                })
                .await
                .expect("get")
                .into_inner()
                .order
                .expect("order");
            if !o.assigned_plate.is_empty() {
                break o;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{label}: the order never showed a car: {o:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Fleet writes plates in their canonical form.
        assert_eq!(o.assigned_plate, "沪A·D00001", "{label}");
        assert_eq!(o.assigned_vehicle_id, "V0001", "{label}");
        assert!(!o.at_risk, "{label}");

        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            order.join().await;
            fleet.join().await;
        })
        .await;
    }
}
