//! One plate, one car, through the API: a plate in use (in any spelling) is refused naming the
//! vehicle that has it; a re-plated car frees its old plate, a retired car its plate, and the
//! plate's history says which car carried it at any moment. Real NATS, SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

mod common;

use common::*;
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_runtime::ManualClock;
use time::OffsetDateTime;

async fn register_as(c: &mut Client, id: &str, plate: &str, n: u32) -> Result<u64, tonic::Status> {
    register_since(c, id, plate, n, None).await
}

/// Registers a car that joined the fleet at `since` (entered after the fact), or now.
async fn register_since(
    c: &mut Client,
    id: &str,
    plate: &str,
    n: u32,
    since: Option<OffsetDateTime>,
) -> Result<u64, tonic::Status> {
    c.register_vehicle(pb::RegisterVehicleRequest {
        context: rid(),
        vehicle_id: id.into(),
        vin: vin(n),
        plate: plate.into(),
        model: VehicleModel::Es6 as i32,
        city: "SHA".into(),
        home_station: "PVG".into(),
        registered_at: since.map(ts),
    })
    .await
    .map(|r| r.into_inner().sequence)
}

async fn history(
    c: &mut Client,
    plate: &str,
    at: Option<OffsetDateTime>,
    after: u64,
) -> Vec<(String, i64, Option<i64>)> {
    c.get_plate_history(pb::GetPlateHistoryRequest {
        plate: plate.into(),
        at: at.map(ts),
        consistency: Some(Consistency {
            min_sequence: after,
            timeout_ms: 10_000,
        }),
    })
    .await
    .expect("history")
    .into_inner()
    .carriers
    .into_iter()
    .map(|c| {
        (
            c.vehicle_id,
            c.from.map(|t| t.seconds).unwrap_or_default(),
            c.to.map(|t| t.seconds),
        )
    })
    .collect()
}

rentops_testkit::per_backend! {
    async fn a_plate_belongs_to_one_car_at_a_time_and_its_history_says_which(db: TestDatabase) {
        let t0 = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let clock = ManualClock::at(t0);
        let t = TestApp::spawn_with_clock(db, clock.clone()).await;
        let mut c = t.client();
        configure_sha(&mut c).await;
        register_as(&mut c, "V1", "沪AD00001", 1).await.expect("V1");

        // The same plate with the middle dot, or in lower case, is the same plate.
        for spelling in ["沪A·D00001", "沪ad00001"] {
            let e = register_as(&mut c, "V2", spelling, 2).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");
            assert!(e.message().contains("plate") && e.message().contains("V1"), "{}", e.message());
        }
        // Nothing was registered for V2.
        let e = c
            .get_vehicle(pb::GetVehicleRequest {
                vehicle_id: "V2".into(),
                consistency: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);

        // V1 is re-plated: its old plate is free for V2.
        clock.set(t0 + time::Duration::hours(1));
        let replated = c
            .change_plate(pb::ChangePlateRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                plate: "沪AF00009".into(),
                reason: "plate damaged".into(),
                at: None,
            })
            .await
            .expect("re-plated")
            .into_inner();
        assert_eq!(replated.events_appended, 1);
        clock.set(t0 + time::Duration::hours(2));
        register_as(&mut c, "V2", "沪A·D00001", 2).await.expect("V2 takes the freed plate");
        // V2 cannot take V1's new plate.
        let e = c
            .change_plate(pb::ChangePlateRequest {
                context: rid(),
                vehicle_id: "V2".into(),
                plate: "沪A·F00009".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");

        // V2 retires: its plate may be reissued, to V3.
        clock.set(t0 + time::Duration::hours(3));
        c.retire_vehicle(pb::RetireVehicleRequest {
            context: rid(),
            vehicle_id: "V2".into(),
            reason: "sold".into(),
            at: None,
        })
        .await
        .expect("retired");
        clock.set(t0 + time::Duration::hours(4));
        let last = register_as(&mut c, "V3", "沪AD00001", 3).await.expect("V3 gets the reissued plate");

        // Which vehicle carried 沪A·D00001 when.
        let s = |h: i64| (t0 + time::Duration::hours(h)).unix_timestamp();
        assert_eq!(
            history(&mut c, "沪AD00001", None, last).await,
            vec![
                ("V1".to_owned(), s(0), Some(s(1))),
                ("V2".to_owned(), s(2), Some(s(3))),
                ("V3".to_owned(), s(4), None),
            ]
        );
        let at = |h: i64, m: i64| Some(t0 + time::Duration::hours(h) + time::Duration::minutes(m));
        let who = |rows: Vec<(String, i64, Option<i64>)>| rows.into_iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(who(history(&mut c, "沪A·D00001", at(0, 30), last).await), vec!["V1"]);
        assert_eq!(who(history(&mut c, "沪A·D00001", at(1, 30), last).await), Vec::<String>::new());
        assert_eq!(who(history(&mut c, "沪A·D00001", at(2, 0), last).await), vec!["V2"]);
        assert_eq!(who(history(&mut c, "沪A·D00001", at(5, 0), last).await), vec!["V3"]);
        assert_eq!(who(history(&mut c, "沪AF00009", at(1, 0), last).await), vec!["V1"]);

        // A bad plate is named.
        let e = c
            .get_plate_history(pb::GetPlateHistoryRequest {
                plate: "沪A1".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("plate"), "{}", e.message());
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_car_entered_after_the_fact_carries_its_plate_from_then_never_over_another(db: TestDatabase) {
        let t0 = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let clock = ManualClock::at(t0);
        let t = TestApp::spawn_with_clock(db, clock.clone()).await;
        let mut c = t.client();
        configure_sha(&mut c).await;
        let day = |d: i64| t0 - time::Duration::days(d);

        // Joined ten days ago: the plate's history starts then.
        register_since(&mut c, "V1", "沪AD00007", 1, Some(day(10))).await.expect("V1");
        c.retire_vehicle(pb::RetireVehicleRequest {
            context: rid(),
            vehicle_id: "V1".into(),
            reason: "sold".into(),
            at: Some(ts(day(5))),
        })
        .await
        .expect("retired");

        // The plate went to another car only after V1 gave it back.
        let e = register_since(&mut c, "V2", "沪AD00007", 2, Some(day(6))).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        assert!(e.message().contains("V1") && e.message().contains("overlap"), "{}", e.message());
        // Bad times are named by field.
        for (since, why) in [(t0 + time::Duration::hours(1), "future"), (day(401), "400 days")] {
            let e = register_since(&mut c, "V2", "沪AD00007", 2, Some(since)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
            assert!(format!("{e:?}").contains("registered_at") && format!("{e:?}").contains(why), "{e:?}");
        }
        // None of them registered V2.
        let e = c
            .get_vehicle(pb::GetVehicleRequest {
                vehicle_id: "V2".into(),
                consistency: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);

        let last = register_since(&mut c, "V2", "沪AD00007", 2, Some(day(4))).await.expect("V2");
        let s = |d: i64| day(d).unix_timestamp();
        assert_eq!(
            history(&mut c, "沪AD00007", None, last).await,
            vec![("V1".to_owned(), s(10), Some(s(5))), ("V2".to_owned(), s(4), None)]
        );
        t.stop().await;
    }
}
