//! Every invalid input is answered with the right status, the field named, and nothing appended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use rentops_proto::common::{PageRequest, VehicleModel};
use rentops_proto::fleet as pb;
use tonic::Code;
use tonic_types::StatusExt;

#[track_caller]
fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    let named: Vec<String> = status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert!(
        named.iter().any(|f| f == field),
        "expected {field}, got {named:?} ({})",
        status.message()
    );
}

fn vehicle() -> pb::RegisterVehicleRequest {
    pb::RegisterVehicleRequest {
        context: rid(),
        vehicle_id: "V1".into(),
        vin: vin(1),
        plate: "沪AD00001".into(),
        model: VehicleModel::Es6 as i32,
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_named_and_appends_nothing() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    let mut c = t.client();
    configure_sha(&mut c).await;
    register(&mut c, "V0", VehicleModel::Es6, 0).await;
    let before = t.fleet_last_sequence().await;

    type Mutate = Box<dyn Fn(&mut pb::RegisterVehicleRequest)>;
    let cases: Vec<(&str, Mutate)> = vec![
        ("context", Box::new(|r| r.context = None)),
        ("vehicle_id", Box::new(|r| r.vehicle_id = "V.1".into())),
        ("vehicle_id", Box::new(|r| r.vehicle_id = String::new())),
        ("vin", Box::new(|r| r.vin = "SHORT".into())),
        ("vin", Box::new(|r| r.vin = "LNBSCB3F5KW12345O".into())),
        ("plate", Box::new(|r| r.plate = "ABC".into())),
        ("model", Box::new(|r| r.model = 0)),
        ("model", Box::new(|r| r.model = 42)),
        ("city", Box::new(|r| r.city = "shanghai".into())),
        ("home_station", Box::new(|r| r.home_station = "NOWHERE".into())),
    ];
    for (field, mutate) in cases {
        let mut r = vehicle();
        mutate(&mut r);
        assert_invalid(c.register_vehicle(r).await, field);
    }
    // Registering in a city nobody configured is a broken rule, not bad syntax.
    let mut r = vehicle();
    r.city = "PEK".into();
    assert_eq!(
        c.register_vehicle(r).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    assert_invalid(
        c.report_breakdown(pb::ReportBreakdownRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            station_or_address: "PVG".into(),
            severity: 0,
            ..Default::default()
        })
        .await,
        "severity",
    );
    assert_invalid(
        c.report_breakdown(pb::ReportBreakdownRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            station_or_address: String::new(),
            severity: pb::Severity::Minor as i32,
            ..Default::default()
        })
        .await,
        "station_or_address",
    );
    let now = time::OffsetDateTime::now_utc();
    assert_invalid(
        c.schedule_maintenance(pb::ScheduleMaintenanceRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            from: Some(ts(now)),
            to: Some(ts(now - time::Duration::hours(1))),
            reason: "tyres".into(),
        })
        .await,
        "to",
    );
    assert_invalid(
        c.schedule_maintenance(pb::ScheduleMaintenanceRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            from: Some(prost_types::Timestamp { seconds: -1, nanos: 0 }),
            to: Some(ts(now)),
            reason: "tyres".into(),
        })
        .await,
        "from",
    );
    assert_invalid(
        c.set_travel_times(pb::SetTravelTimesRequest {
            context: rid(),
            city: "SHA".into(),
            times: vec![pb::TravelTime {
                from_station: "PVG".into(),
                to_station: "MARS".into(),
                minutes: 5,
            }],
            symmetric: false,
        })
        .await,
        "times[0].to_station",
    );
    assert_invalid(
        c.set_upgrades(pb::SetUpgradesRequest {
            context: rid(),
            city: "SHA".into(),
            rules: vec![pb::UpgradeRule {
                model: VehicleModel::Es6 as i32,
                may_be_served_by: vec![VehicleModel::Es6 as i32],
            }],
        })
        .await,
        "rules[0].may_be_served_by",
    );
    assert_invalid(
        c.register_driver(pb::RegisterDriverRequest {
            context: rid(),
            driver_id: "D1".into(),
            name: "李师傅".into(),
            phone: "call me".into(),
            city: "SHA".into(),
        })
        .await,
        "phone",
    );
    assert_invalid(
        c.get_kpis(pb::GetKpisRequest {
            city: "SHA".into(),
            from_day: "2026-13-01".into(),
            to_day: "2026-12-01".into(),
            ..Default::default()
        })
        .await,
        "from_day",
    );
    assert_invalid(
        c.list_vehicles(pb::ListVehiclesRequest {
            page: Some(PageRequest {
                page_size: 501,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await,
        "page.page_size",
    );
    assert_invalid(
        c.plan_instance(pb::PlanInstanceRequest::default()).await,
        "instance_json",
    );

    // Rules broken and things missing: their own codes.
    let missing = c
        .report_breakdown(pb::ReportBreakdownRequest {
            context: rid(),
            vehicle_id: "NOPE".into(),
            station_or_address: "PVG".into(),
            severity: pb::Severity::Minor as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let not_broken = c
        .complete_repair(pb::CompleteRepairRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_broken.code(), Code::FailedPrecondition);
    let mut clash = vehicle();
    clash.vehicle_id = "V0".into();
    assert_eq!(c.register_vehicle(clash).await.unwrap_err().code(), Code::AlreadyExists);
    assert_eq!(t.fleet_last_sequence().await, before, "nothing appended");

    // The broker goes away: commands answer UNAVAILABLE, never INTERNAL.
    let mut t = t;
    t.nats.stop().await.unwrap();
    let down = c
        .move_vehicle(pb::MoveVehicleRequest {
            context: rid(),
            vehicle_id: "V0".into(),
            to_station: "SHA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    t.stop().await;
}
