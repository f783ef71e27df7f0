//! The analysis on constructed data: two weeks of cases and orders, then rates per 1,000
//! orders, top categories with the change on the week before, repeat complainers and cars, SLA
//! compliance and percentiles, keywords per category, and the hot spot the scan raises once
//! the week is over. On real NATS and both databases.

mod common;

use common::*;
use rentops_proto::complaint as pb;
use time::Duration;
use time::macros::datetime;

const DIRTY: &str = "车里有垃圾，座椅上都是垃圾，没有清洁";

rentops_testkit::per_backend! {
    async fn a_week_of_complaints_analysed_and_its_hot_spot_raised(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let week = datetime!(2026-11-02 00:00 +8);
        // The week before: two vehicle complaints.
        t.clock.set(week - Duration::days(3));
        for _ in 0..2 {
            t.open(pb::OpenCaseRequest { text: DIRTY.into(), ..complaint("C-9", "vehicle", "cleanliness") }).await;
        }
        // This week: 10 orders in Shanghai, 5 in Beijing; V1 on O-1.
        t.clock.set(week + Duration::hours(9));
        t.register_vehicle("V1", "沪AD10009").await;
        for i in 0..10 {
            t.place(&format!("O-{i}"), "C-1", "SHA").await;
        }
        for i in 10..15 {
            t.place(&format!("O-{i}"), "C-5", "PEK").await;
        }
        t.pickup("O-1", "V1").await;
        let mut c = t.client();
        // Six vehicle complaints, three by C-1 about O-1 (so about V1), and one billing.
        let mut ids = Vec::new();
        for i in 0..6 {
            let customer = if i < 3 { "C-1" } else { "C-2" };
            let order = if i < 3 { "O-1" } else { "" };
            let o = t
                .open(pb::OpenCaseRequest {
                    order_id: order.into(),
                    text: DIRTY.into(),
                    ..complaint(customer, "vehicle", "cleanliness")
                })
                .await;
            ids.push(o.case_id);
        }
        let billing = t
            .open(pb::OpenCaseRequest {
                order_id: "O-11".into(),
                text: "多收了我两百块的费用，要求退款".into(),
                ..complaint("C-5", "billing", "overcharge")
            })
            .await;
        // First responses: two within the P4 target of 48 h (after 1 h and 3 h), one late (50 h).
        for (i, after) in [(0, 1), (1, 3), (2, 50)] {
            t.clock.set(week + Duration::hours(9 + after));
            c.record_first_response(pb::RecordFirstResponseRequest {
                context: rid(),
                case_id: ids[i].clone(),
                note: "回电".into(),
                at: None,
            })
            .await
            .unwrap();
        }
        c.set_root_cause(pb::SetRootCauseRequest {
            context: rid(),
            case_id: ids[0].clone(),
            root_cause: "vehicle_not_prepared".into(),
            note: String::new(),
            at: None,
        })
        .await
        .unwrap();
        let seq = t.last_sequence().await;
        let a = c
            .analyze_complaints(pb::AnalyzeComplaintsRequest {
                period_from: Some(ts(week)),
                period_to: Some(ts(week + Duration::days(7))),
                consistency: wait(seq),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        // Top categories, with the change on the week before.
        let vehicle = &a.categories[0];
        assert_eq!((vehicle.value.as_str(), vehicle.current, vehicle.previous), ("vehicle", 6, 2), "{label}");
        assert_eq!(vehicle.change_percent, Some(200));
        let b = a.categories.iter().find(|t| t.value == "billing").unwrap();
        assert_eq!((b.current, b.previous, b.change_percent), (1, 0, None));
        assert_eq!(a.root_causes.len(), 1);
        assert_eq!(a.root_causes[0].value, "vehicle_not_prepared");
        // Rates per 1,000 orders by city: 3 of 10 in Shanghai, 1 of 5 in Beijing.
        let sha = a.by_city.iter().find(|r| r.value == "SHA").unwrap();
        assert_eq!((sha.cases, sha.orders, sha.per_thousand), (3, 10, Some(300.0)), "{label}");
        let pek = a.by_city.iter().find(|r| r.value == "PEK").unwrap();
        assert_eq!((pek.cases, pek.orders, pek.per_thousand), (1, 5, Some(200.0)));
        let app = a.by_channel.iter().find(|r| r.value == "APP").unwrap();
        assert_eq!((app.cases, app.orders), (4, 15));
        let et7 = a.by_model.iter().find(|r| r.value == "ET7").unwrap();
        assert_eq!(et7.cases, 3, "the car's model");
        // Repeat complainers and cars.
        let c1 = a.repeat_customers.iter().find(|r| r.id == "C-1").unwrap();
        assert_eq!(c1.cases, 3);
        assert_eq!(a.repeat_customers[0].id, "C-1", "most first: C-1 3, C-2 3 by id");
        assert_eq!(a.repeat_vehicles.len(), 1);
        assert_eq!((a.repeat_vehicles[0].id.as_str(), a.repeat_vehicles[0].model.as_str(), a.repeat_vehicles[0].cases), ("V1", "ET7", 3));
        // SLA: 7 cases this week, 3 first responses, 2 within target.
        let s = a.sla.unwrap();
        assert_eq!((s.cases, s.first_response_stopped, s.first_response_met), (7, 3, 2), "{label}");
        assert_eq!(s.first_response_p50_seconds, Some(3 * 3600));
        assert_eq!(s.first_response_p90_seconds, Some(50 * 3600));
        assert_eq!(s.resolution_stopped, 0);
        // Keywords per category.
        let kw = a.keywords.iter().find(|k| k.category == "vehicle").unwrap();
        assert!(kw.keywords.iter().any(|k| k.term == "垃圾" && k.cases == 6), "{label}: {kw:?}");

        // The week is over: the scan raises the vehicle hot spot (6 ≥ 5, +200 %), once.
        t.clock.set(week + Duration::days(7) + Duration::hours(1));
        t.app().hot_spot_scan.next_full_pass(std::time::Duration::from_secs(60)).await.unwrap();
        t.app().hot_spot_scan.next_full_pass(std::time::Duration::from_secs(60)).await.unwrap();
        let seq = t.last_sequence().await;
        let spots = c
            .list_hot_spots(pb::ListHotSpotsRequest {
                period_from: Some(ts(week)),
                period_to: Some(ts(week + Duration::days(7))),
                consistency: wait(seq),
            })
            .await
            .unwrap()
            .into_inner()
            .hot_spots;
        assert_eq!(spots.len(), 1, "{label}: {spots:?}");
        let h = &spots[0];
        assert_eq!((h.category.as_str(), h.current, h.previous, h.rise_percent), ("vehicle", 6, 2, Some(200)));
        assert!(h.brief.iter().any(|l| l.starts_with("keywords:") && l.contains("垃圾")), "{:?}", h.brief);
        assert!(h.brief.iter().any(|l| l.starts_with("vehicles: V1 3")), "{:?}", h.brief);
        assert!(h.brief.iter().any(|l| l.starts_with("examples:")), "{:?}", h.brief);
        let _ = billing;
        t.stop().await;
    }
}
