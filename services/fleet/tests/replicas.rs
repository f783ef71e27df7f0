//! Several replicas of the fleet service on one broker and one database, as a Deployment's pods
//! behind a load balancer run: every answer is the one a single replica gives, all of them come
//! up when started at once on an empty database, and the projectors move to a survivor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

mod common;

use std::time::Duration;

use common::*;
use rentops_fleet::projections::{DEMAND, FLEET};
use rentops_proto::common::{CommandResult, VehicleModel};
use rentops_proto::fleet as pb;
use rentops_testkit::{Answer, Cluster};

/// What one command was answered, without its stream sequence: the re-plans that every vehicle
/// change starts append to the same stream at moments of their own.
fn answer(result: Result<tonic::Response<CommandResult>, tonic::Status>) -> Answer {
    Answer::of(result).without_sequence()
}

fn breakdown(vehicle: &str) -> pb::ReportBreakdownRequest {
    pb::ReportBreakdownRequest {
        context: rid(),
        vehicle_id: vehicle.into(),
        station_or_address: "PVG".into(),
        severity: pb::Severity::Major as i32,
        expected_repair_until: None,
        description: "12V battery flat".into(),
        at: None,
    }
}

fn repair(vehicle: &str) -> pb::CompleteRepairRequest {
    pb::CompleteRepairRequest {
        context: rid(),
        vehicle_id: vehicle.into(),
        station: "PVG".into(),
        notes: "battery replaced".into(),
        at: None,
    }
}

fn move_to(vehicle: &str, station: &str) -> pb::MoveVehicleRequest {
    pb::MoveVehicleRequest {
        context: rid(),
        vehicle_id: vehicle.into(),
        to_station: station.into(),
        reason: "rebalance".into(),
        ..Default::default()
    }
}

/// A day of fleet operations, each step sent to replica `step % n`: a car registered, broken
/// down, repaired (and the refusals around that), moved, retired; a station added twice.
async fn fleet_day(cluster: &Cluster<Replica>) -> Vec<Answer> {
    let mut step = 0;
    let mut next = || {
        step += 1;
        cluster.replica(step - 1).client.clone()
    };
    configure_sha(&mut next()).await;
    let mut out = Vec::new();
    out.push(answer(
        next()
            .register_vehicle(pb::RegisterVehicleRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                vin: vin(1),
                plate: "沪AD00001".into(),
                model: VehicleModel::Es6 as i32,
                city: "SHA".into(),
                home_station: "PVG".into(),
                registered_at: None,
            })
            .await,
    ));
    out.push(answer(next().complete_repair(repair("V1")).await));
    out.push(answer(next().report_breakdown(breakdown("V1")).await));
    // Decided on the state the other replica has just moved on.
    out.push(answer(next().complete_repair(repair("V1")).await));
    out.push(answer(next().complete_repair(repair("V1")).await));
    out.push(answer(next().report_breakdown(breakdown("V1")).await));
    out.push(answer(next().move_vehicle(move_to("V1", "SHA")).await));
    out.push(answer(next().complete_repair(repair("V1")).await));
    out.push(answer(next().move_vehicle(move_to("V1", "SHA")).await));
    out.push(answer(
        next()
            .retire_vehicle(pb::RetireVehicleRequest {
                context: rid(),
                vehicle_id: "V1".into(),
                reason: "end of lease".into(),
                at: None,
            })
            .await,
    ));
    out.push(answer(next().report_breakdown(breakdown("V1")).await));
    out.push(answer(next().move_vehicle(move_to("V1", "PVG")).await));
    for _ in 0..2 {
        out.push(answer(
            next()
                .add_station(pb::AddStationRequest {
                    context: rid(),
                    city: "SHA".into(),
                    station_id: "HQ".into(),
                    name: "虹桥火车站".into(),
                    districts: vec![],
                })
                .await,
        ));
    }
    out
}

rentops_testkit::per_backend! {
    async fn commands_spread_over_replicas_are_answered_as_one_replica_answers_them(one: TestDatabase, two: TestDatabase) {
        let expected = Cluster::<Replica>::answers_as_one(one, two, 2, async |c: &Cluster<Replica>| fleet_day(c).await)
            .await
            .unwrap();
        // The day must hold the answers that matter: refusals and commands that appended.
        assert!(expected.iter().any(|a| a.is_refusal(tonic::Code::FailedPrecondition)));
        assert!(expected.iter().any(|a| a.appended(1)));
    }
}

rentops_testkit::per_backend! {
    async fn replicas_started_at_once_on_an_empty_database_all_come_up(db: TestDatabase) {
        let label = db.label();
        let cluster = Cluster::<Replica>::start(db, 4, &[])
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:#}"));
        configure_sha(&mut cluster.replica(0).client.clone()).await;
        for i in 0..4 {
            let mut c = cluster.replica(i).client.clone();
            let sequence = register(&mut c, &format!("V{i}"), VehicleModel::Es6, i as u32).await;
            let vehicle = c
                .get_vehicle(pb::GetVehicleRequest {
                    vehicle_id: format!("V{i}"),
                    consistency: Some(rentops_proto::common::Consistency {
                        min_sequence: sequence,
                        timeout_ms: 10_000,
                    }),
                })
                .await
                .unwrap_or_else(|e| panic!("{label}: replica {i}: {e}"))
                .into_inner();
            assert_eq!(vehicle.vehicle_id, format!("V{i}"));
        }
        cluster.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn the_projectors_move_to_a_survivor_and_the_read_model_ends_equal_to_the_stream(db: TestDatabase) {
        let label = db.label();
        let lease = [("RENTOPS_PROJECTOR_LEASE_SECS", "2")];
        let mut cluster = Cluster::<Replica>::start(db, 2, &lease).await.unwrap();
        configure_sha(&mut cluster.replica(0).client.clone()).await;
        for i in 0..10 {
            register(
                &mut cluster.replica(i).client.clone(),
                &format!("V{i}"),
                VehicleModel::Es6,
                i as u32,
            )
            .await;
        }
        let holder = cluster.lease_holder(FLEET, Duration::from_secs(20)).await.unwrap();
        cluster.kill(holder);
        for projection in [FLEET, DEMAND] {
            cluster
                .lease_holder(projection, Duration::from_secs(20))
                .await
                .unwrap_or_else(|e| panic!("{label}: {e:#}"));
        }
        let mut c = cluster.replica(0).client.clone();
        let mut last = 0;
        for i in (0..10).step_by(3) {
            last = c
                .report_breakdown(breakdown(&format!("V{i}")))
                .await
                .unwrap()
                .into_inner()
                .sequence;
        }
        // What the read model shows is what the events say: every car, the broken ones broken.
        let listed = c
            .list_vehicles(pb::ListVehiclesRequest {
                city: "SHA".into(),
                consistency: Some(rentops_proto::common::Consistency {
                    min_sequence: last,
                    timeout_ms: 10_000,
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut ids: Vec<String> = listed.vehicles.iter().map(|v| v.vehicle_id.clone()).collect();
        ids.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("V{i}")).collect();
        expected.sort();
        assert_eq!(ids, expected, "{label}");
        for v in &listed.vehicles {
            let n: usize = v.vehicle_id[1..].parse().unwrap();
            let broken = v.state == pb::VehicleState::Breakdown as i32;
            assert_eq!(
                broken,
                n.is_multiple_of(3),
                "{label}: {}: state {}",
                v.vehicle_id,
                v.state
            );
        }
        cluster.stop().await;
    }
}
