//! Disputes from the complaint service's cases, with a moved clock: an open case about a
//! violation stops its ladder and the ladder's days come later by the time it stood still; a
//! resolution's waiver waives the charge on the ledger, or closes a violation not yet charged.
//! On real NATS and both databases; the cases are appended to the complaint stream as that
//! service writes them.

mod common;

use common::*;
use rentops_proto::complaint as cpb;
use rentops_proto::receivables as pb;
use time::Duration;

const PLATE: &str = "沪AD60006";

fn steps(v: &pb::Violation) -> usize {
    v.timeline
        .iter()
        .filter(|e| {
            matches!(
                e.event.as_ref().and_then(|e| e.event.as_ref()),
                Some(pb::violation_event::Event::StepTaken(_))
            )
        })
        .count()
}

fn opened(case_id: &str, links: cpb::CaseLinks) -> cpb::CaseOpened {
    cpb::CaseOpened {
        case_id: case_id.into(),
        links: Some(links),
        channel: "HOTLINE".into(),
        category: "billing".into(),
        sub_category: "violation charge".into(),
        severity: "P2".into(),
        text: "我当时已经还车了，这个违章不是我的".into(),
        opened_at: Some(ts(T0)),
        ..Default::default()
    }
}

fn resolved(case_id: &str, waive: Option<cpb::WaiveCharge>) -> cpb::CaseResolved {
    cpb::CaseResolved {
        case_id: case_id.into(),
        explanation: "checked with the station".into(),
        remedies: waive
            .map(|w| cpb::Remedy {
                remedy: Some(cpb::remedy::Remedy::Waive(w)),
            })
            .into_iter()
            .collect(),
        at: Some(ts(T0)),
        resolved_by: "supervisor:qian".into(),
    }
}

rentops_testkit::per_backend! {
    async fn an_open_complaint_stops_the_ladder_and_its_resolution_resumes_or_waives(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V6", PLATE, T0 - Duration::days(60)).await;
        let o = order_id(61);
        t.place_with_deposit(&o, "C-61", 0).await;
        t.pickup(&o, "V6", PLATE, T0 + Duration::hours(1)).await;
        t.return_car(&o, T0 + Duration::days(2)).await;
        let matched = T0 + Duration::days(20);
        t.clock.set(matched);
        let (a, b, c) = (
            record(PLATE, T0 + Duration::hours(3), 1),
            record(PLATE, T0 + Duration::hours(4), 2),
            record(PLATE, T0 + Duration::hours(5), 3),
        );
        let s = t.import(vec![a.clone(), b.clone(), c.clone()]).await;
        assert_eq!(s.matched, 3, "{label}");
        let ids: Vec<String> = {
            let mut out = Vec::new();
            for r in [&a, &b, &c] {
                out.push(t.violation_of(r, s.sequence).await.violation_id);
            }
            out
        };
        t.ladder_at(matched).await;

        // Day 21: the renter disputes A. Day 23 passes without A's reminder (B's comes).
        t.clock.set(matched + Duration::days(1));
        t.complaint_event("CASE-A", "CaseOpened", opened("CASE-A", cpb::CaseLinks {
            customer_id: "C-61".into(),
            violation_id: ids[0].clone(),
            ..Default::default()
        }))
        .await;
        // C too, and its resolution waives it before any charge: closed, never charged.
        t.complaint_event(
            "CASE-C",
            "CaseOpened",
            opened(
                "CASE-C",
                cpb::CaseLinks {
                    violation_id: ids[2].clone(),
                    customer_id: "C-61".into(),
                    ..Default::default()
                },
            ),
        )
        .await;
        t.complaint_event("CASE-C", "CaseResolved", resolved("CASE-C", Some(cpb::WaiveCharge::default()))).await;
        let vc = t.get(&ids[2], t.last_sequence().await).await;
        assert_eq!((vc.status, vc.next_step), (pb::ViolationStatus::Waived as i32, 0), "{label}: {vc:?}");
        let seq = t.ladder_at(matched + Duration::days(3)).await;
        let va = t.get(&ids[0], seq).await;
        assert_eq!((steps(&va), va.disputes.clone()), (1, vec!["CASE-A".to_owned()]), "{label}: A stands still");
        assert_eq!(va.next_step, 0, "{label}");
        assert_eq!(steps(&t.get(&ids[1], seq).await), 2, "{label}: B goes on");

        // Day 25: resolved without a remedy. A stood still 4 days: its reminder is due on day 27.
        t.clock.set(matched + Duration::days(5));
        t.complaint_event("CASE-A", "CaseResolved", resolved("CASE-A", None)).await;
        let seq = t.ladder_at(matched + Duration::days(7) - Duration::minutes(1)).await;
        assert_eq!(steps(&t.get(&ids[0], seq).await), 1, "{label}: not before day 27");
        let seq = t.ladder_at(matched + Duration::days(7)).await;
        let va = t.get(&ids[0], seq).await;
        assert_eq!(steps(&va), 2, "{label}: the reminder on day 27");
        assert!(va.disputes.is_empty());

        // B is charged on D+30; a complaint about the charge is resolved with a waiver.
        for day in [10, 15, 16, 30] {
            t.ladder_at(matched + Duration::days(day)).await;
        }
        let vb = t.get(&ids[1], t.last_sequence().await).await;
        assert_eq!(vb.status, pb::ViolationStatus::Charged as i32, "{label}: {vb:?}");
        let before = t.statement("C-61", t.last_sequence().await).await;
        t.complaint_event("CASE-B", "CaseOpened", opened("CASE-B", cpb::CaseLinks {
            customer_id: "C-61".into(),
            charge_booking_id: vb.charge_booking_id.clone(),
            ..Default::default()
        }))
        .await;
        let vb = t.get(&ids[1], t.last_sequence().await).await;
        assert_eq!(vb.disputes, vec!["CASE-B".to_owned()], "{label}: found by its charge");
        t.complaint_event("CASE-B", "CaseResolved", resolved("CASE-B", Some(cpb::WaiveCharge {
            customer_id: "C-61".into(),
            charge_booking_id: vb.charge_booking_id.clone(),
            ..Default::default()
        })))
        .await;
        let after = t.statement("C-61", t.last_sequence().await).await;
        assert_eq!(before.balance_fen - after.balance_fen, 25_000, "{label}: B's charge waived");
        assert_eq!(after.lines.last().unwrap().kind, pb::BookingKind::Waiver as i32);

        // A redelivered resolution changes nothing more.
        let last = t.last_sequence().await;
        t.complaint_event("CASE-B", "CaseResolved", resolved("CASE-B", Some(cpb::WaiveCharge {
            customer_id: "C-61".into(),
            charge_booking_id: vb.charge_booking_id.clone(),
            ..Default::default()
        })))
        .await;
        assert_eq!(t.last_sequence().await, last, "{label}: nothing applied twice");
        t.stop().await;
    }
}
