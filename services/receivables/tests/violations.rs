//! Violations end to end on real NATS and both databases: import, duplicates, the handled flag,
//! matching at the exact instants of pickup, swap and return, a staff move, a violation between
//! two hires, a late pickup event, the exceptions queue and its resolution, bad input.

mod common;

use common::*;
use rentops_proto::receivables as pb;
use rentops_proto::{fleet as fpb, receivables::ViolationStatus};
use rentops_receivables::domain::custody;
use rentops_receivables::projections::queries;
use time::Duration;
use tonic::Code;

const PLATE_1: &str = "沪AD10001";
const PLATE_2: &str = "沪AD20002";

rentops_testkit::per_backend! {
    async fn violations_are_matched_to_whoever_had_the_car_at_that_minute(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V1", PLATE_1, T0 - Duration::days(60)).await;
        t.register_vehicle("V2", PLATE_2, T0 - Duration::days(60)).await;
        let (o1, o2) = (order_id(1), order_id(2));
        t.place(&o1, "C-1").await;
        t.place(&o2, "C-2").await;
        let pickup = T0 + Duration::hours(1);
        let swap = T0 + Duration::hours(5);
        let back = T0 + Duration::hours(9);
        t.pickup(&o1, "V1", PLATE_1, pickup).await;
        t.swap(&o1, ("V1", PLATE_1), ("V2", PLATE_2), swap).await;
        t.return_car(&o1, back).await;
        // Between the two hires a member of staff drives V2 to another station.
        t.fleet_event(
            "V2",
            "VehicleMoved",
            fpb::VehicleMoved {
                vehicle_id: "V2".into(),
                from_station: "SHA-01".into(),
                to_station: "SHA-02".into(),
                moved_at: Some(ts(back + Duration::hours(2))),
                departed_at: Some(ts(back + Duration::hours(1))),
                staff_id: "S-9".into(),
                ..Default::default()
            },
            back + Duration::hours(2),
        )
        .await;
        t.pickup(&o2, "V2", PLATE_2, back + Duration::hours(4)).await;

        let cases = [
            // (plate, when, expected order or responsibility)
            record(PLATE_1, pickup, 1),                                   // the pickup instant: O1
            record(PLATE_1, swap - Duration::seconds(60), 2),             // just before the swap, the broken car: O1
            record(PLATE_1, swap + Duration::minutes(1), 3),              // the broken car after the swap: nobody
            record(PLATE_2, swap, 4),                                     // the replacement from the swap instant: O1
            record(PLATE_2, back, 5),                                     // the return instant: back with the company
            record(PLATE_2, back + Duration::minutes(90), 6),             // the staff move
            record(PLATE_2, back + Duration::hours(3), 7),                // between two hires, idle
            record(PLATE_2, back + Duration::hours(5), 8),                // the second hire: O2
            record("沪AD99999", pickup, 9),                               // a plate the fleet never had
        ];
        let summary = t.import(cases.to_vec()).await;
        assert_eq!(summary.received, 9, "{label}");
        assert_eq!(summary.new, 9, "{label}: {summary:?}");
        assert_eq!(summary.duplicates, 0, "{label}");
        assert!(summary.rejected.is_empty(), "{label}: {:?}", summary.rejected);
        assert_eq!(summary.matched, 5, "{label}: {summary:?}");
        assert_eq!(summary.exceptions, 4, "{label}: {summary:?}");

        let after = summary.sequence;
        let who = |v: &pb::Violation| {
            v.r#match
                .as_ref()
                .map(|m| (m.order_id.clone(), m.customer_id.clone(), m.person_id.clone()))
        };
        let v = t.violation_of(&cases[0], after).await;
        assert_eq!(who(&v), Some((o1.clone(), "C-1".into(), String::new())), "{label}: pickup instant");
        assert_eq!(v.status, ViolationStatus::Open as i32, "{label}");
        let v = t.violation_of(&cases[1], after).await;
        assert_eq!(who(&v).map(|w| w.0), Some(o1.clone()), "{label}: before the swap");
        let v = t.violation_of(&cases[2], after).await;
        assert_eq!(v.status, ViolationStatus::Exception as i32, "{label}: broken car after the swap");
        assert_eq!(v.unmatched_reason, pb::UnmatchedReason::NoHire as i32, "{label}");
        let v = t.violation_of(&cases[3], after).await;
        assert_eq!(who(&v).map(|w| w.0), Some(o1.clone()), "{label}: replacement at the swap instant");
        assert_eq!(v.r#match.as_ref().unwrap().vehicle_id, "V2", "{label}");
        let v = t.violation_of(&cases[4], after).await;
        assert_eq!(v.status, ViolationStatus::Exception as i32, "{label}: the return instant");
        let v = t.violation_of(&cases[5], after).await;
        assert_eq!(v.status, ViolationStatus::Company as i32, "{label}: the staff move");
        assert_eq!(v.r#match.as_ref().unwrap().responsibility, pb::Responsibility::Staff as i32);
        assert_eq!(v.r#match.as_ref().unwrap().person_id, "S-9");
        let v = t.violation_of(&cases[6], after).await;
        assert_eq!(v.status, ViolationStatus::Exception as i32, "{label}: idle between hires");
        let v = t.violation_of(&cases[7], after).await;
        assert_eq!(who(&v).map(|w| w.1), Some("C-2".into()), "{label}: the second hire");
        let v = t.violation_of(&cases[8], after).await;
        assert_eq!(v.unmatched_reason, pb::UnmatchedReason::UnknownPlate as i32, "{label}");

        // The exceptions queue holds exactly the four, oldest offence first.
        let queue = t
            .client
            .clone()
            .list_exceptions(pb::ListExceptionsRequest {
                consistency: wait(after),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .violations;
        assert_eq!(queue.len(), 4, "{label}");
        assert!(queue.windows(2).all(|w| w[0].record.as_ref().unwrap().offence_at.unwrap().seconds
            <= w[1].record.as_ref().unwrap().offence_at.unwrap().seconds));

        // The same records again, one in another spelling, one now saying handled: duplicates.
        let mut again = cases.to_vec();
        again[1].plate = "沪A·D10001".into();
        again[7].handled = true;
        let repeat = t.import(again).await;
        assert_eq!(repeat.new, 0, "{label}: {repeat:?}");
        assert_eq!(repeat.duplicates, 9, "{label}");
        assert_eq!(repeat.handled, 1, "{label}");
        let v = t.violation_of(&cases[7], repeat.sequence).await;
        assert_eq!(v.status, ViolationStatus::Handled as i32, "{label}: handled closes it");
        assert_eq!(v.next_step, 0, "{label}: and stops its ladder");

        // What the import reads for a whole message is what it read for each record alone.
        let wanted: Vec<(String, time::OffsetDateTime)> = cases
            .iter()
            .map(|r| {
                let at = rentops_proto::timestamp::from_timestamp(r.offence_at.as_ref().unwrap()).unwrap();
                (rentops_kernel::Plate::parse(&r.plate).unwrap().key(), at)
            })
            .collect();
        let many = queries::facts_many(&t.app.db, &wanted).await.unwrap();
        assert_eq!(many.len(), wanted.len());
        let sorted = |f: &custody::Facts| {
            let mut parts: Vec<String> = f.plates.iter().map(|p| format!("{p:?}")).collect();
            parts.extend(f.hires.iter().map(|h| format!("{h:?}")));
            parts.extend(f.moves.iter().map(|m| format!("{m:?}")));
            parts.sort();
            parts
        };
        for ((key, at), batch) in wanted.iter().zip(&many) {
            let alone = queries::facts(&t.app.db, key, *at).await.unwrap();
            assert_eq!(sorted(batch), sorted(&alone), "{label}: {key} at {at}");
        }
        assert!(many.iter().any(|f| !f.hires.is_empty()) && many.iter().any(|f| !f.moves.is_empty()));
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_late_pickup_event_rematches_and_a_person_resolves_what_is_left(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V1", PLATE_1, T0 - Duration::days(60)).await;
        let o1 = order_id(11);
        t.place(&o1, "C-11").await;
        // The violation arrives before the pickup event does (a lagging order stream).
        let early = record(PLATE_1, T0 + Duration::hours(2), 1);
        let summary = t.import(vec![early.clone()]).await;
        assert_eq!(summary.exceptions, 1, "{label}");
        let v = t.violation_of(&early, summary.sequence).await;
        assert_eq!(v.status, ViolationStatus::Exception as i32);
        // The pickup arrives: the rematch scan matches it to the hire.
        t.pickup(&o1, "V1", PLATE_1, T0 + Duration::hours(1)).await;
        t.rematch_pass().await;
        let v = t.get(&v.violation_id, t.last_sequence().await).await;
        assert_eq!(v.status, ViolationStatus::Open as i32, "{label}: {v:?}");
        assert_eq!(v.r#match.as_ref().unwrap().order_id, o1);
        assert!(v.timeline.iter().any(|e| matches!(
            e.event.as_ref().and_then(|e| e.event.as_ref()),
            Some(pb::violation_event::Event::Unmatched(_))
        )));

        // One the fleet never had goes to the queue; a person resolves it, with a reason.
        let stray = record("沪AD55555", T0, 2);
        let s = t.import(vec![stray.clone()]).await;
        let v = t.violation_of(&stray, s.sequence).await;
        let mut c = t.client.clone();
        let no_reason = c
            .resolve_exception(pb::ResolveExceptionRequest {
                context: rid(),
                violation_id: v.violation_id.clone(),
                resolution: Some(pb::resolve_exception_request::Resolution::OrderId(o1.clone())),
                reason: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(no_reason.code(), Code::InvalidArgument);
        assert!(no_reason.message().contains("reason") || format!("{no_reason:?}").contains("reason"));
        let unknown_order = c
            .resolve_exception(pb::ResolveExceptionRequest {
                context: rid(),
                violation_id: v.violation_id.clone(),
                resolution: Some(pb::resolve_exception_request::Resolution::OrderId(order_id(999))),
                reason: "the renter admitted it".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown_order.code(), Code::InvalidArgument, "{unknown_order:?}");
        let before = t.last_sequence().await;
        assert_eq!(before, t.last_sequence().await, "nothing appended by refusals");
        let done = c
            .resolve_exception(pb::ResolveExceptionRequest {
                context: rid(),
                violation_id: v.violation_id.clone(),
                resolution: Some(pb::resolve_exception_request::Resolution::OrderId(o1.clone())),
                reason: "plate misread by the camera; the renter admitted it".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let v = t.get(&v.violation_id, done.sequence).await;
        assert_eq!(v.status, ViolationStatus::Open as i32, "{label}");
        let m = v.r#match.unwrap();
        assert_eq!((m.customer_id.as_str(), m.resolved_by.as_str()), ("C-11", "desk:wang"));
        // A resolved one is no longer an exception.
        let again = c
            .resolve_exception(pb::ResolveExceptionRequest {
                context: rid(),
                violation_id: v.violation_id.clone(),
                resolution: Some(pb::resolve_exception_request::Resolution::BadData(true)),
                reason: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::FailedPrecondition);
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn bad_records_are_rejected_by_line_and_field_and_the_rest_recorded(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let good = record(PLATE_1, T0, 1);
        let mut bad_plate = record("ABC123", T0, 2);
        bad_plate.line = 2;
        let mut negative = record(PLATE_1, T0 + Duration::hours(1), 3);
        negative.fine = cny(-1);
        let mut future = record(PLATE_1, T0, 4);
        future.offence_at = Some(ts(T0 + Duration::days(30)));
        let mut no_time = record(PLATE_1, T0, 5);
        no_time.offence_at = None;
        let s = t.import(vec![good, bad_plate, negative, future, no_time]).await;
        assert_eq!(s.received, 5, "{label}");
        assert_eq!(s.new, 1, "{label}: {s:?}");
        let lines: Vec<(u32, String)> = s.rejected.iter().map(|r| (r.line, r.field.clone())).collect();
        assert_eq!(
            lines,
            vec![
                (2, "records[1].plate".into()),
                (3, "records[2].fine.amount_fen".into()),
                (4, "records[3].offence_at".into()),
                (5, "records[4].offence_at".into()),
            ],
            "{label}"
        );
        // A batch without a request id is refused whole, appending nothing.
        let before = t.last_sequence().await;
        let refused = t
            .client
            .clone()
            .import_violations(futures::stream::iter(vec![pb::ImportViolationsRequest {
                context: None,
                records: vec![record(PLATE_2, T0, 1)],
                received_at: None,
            }]))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(t.last_sequence().await, before, "{label}: nothing appended");
        // The same batch sent again (a retry) records nothing twice.
        let batch = pb::ImportViolationsRequest {
            context: rid(),
            records: vec![record(PLATE_2, T0 + Duration::hours(3), 1)],
            received_at: None,
        };
        let first = t
            .client
            .clone()
            .import_violations(futures::stream::iter(vec![batch.clone()]))
            .await
            .unwrap()
            .into_inner();
        let retry = t
            .client
            .clone()
            .import_violations(futures::stream::iter(vec![batch]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((first.new, retry.new), (1, 1), "{label}: a retry is answered as the first");
        assert_eq!(retry.sequence, first.sequence, "{label}");
        t.stop().await;
    }
}
