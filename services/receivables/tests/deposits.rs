//! Violation deposits on the ledger, with a moved clock: held when the car goes out, released
//! 30 days after the return when nothing of the hire is open, kept while a violation of the
//! hire is still on its ladder, and settled after its charge: the charge deducted, the rest
//! released, the hold resolved once. On real NATS and both databases.

mod common;

use common::*;
use rentops_proto::receivables as pb;
use time::Duration;

const PLATE: &str = "沪AD40004";

fn kinds(s: &pb::GetStatementResponse) -> Vec<i32> {
    s.lines.iter().map(|l| l.kind).collect()
}

rentops_testkit::per_backend! {
    async fn deposits_are_held_released_or_deducted_once(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V4", PLATE, T0 - Duration::days(60)).await;
        t.register_vehicle("V5", "沪AD50005", T0 - Duration::days(60)).await;
        let (with_fine, clean) = (order_id(31), order_id(32));
        t.place_with_deposit(&with_fine, "C-31", 200_000).await;
        t.place_with_deposit(&clean, "C-32", 200_000).await;
        t.pickup(&with_fine, "V4", PLATE, T0 + Duration::hours(1)).await;
        t.pickup(&clean, "V5", "沪AD50005", T0 + Duration::hours(1)).await;
        let seq = t.deposits_at(T0 + Duration::hours(2)).await;
        for customer in ["C-31", "C-32"] {
            let s = t.statement(customer, seq).await;
            assert_eq!(s.deposit_held_fen, 200_000, "{label}: {customer} {s:?}");
            assert_eq!(kinds(&s), vec![pb::BookingKind::DepositHold as i32], "{label}");
        }
        // Another pass books no second hold.
        let seq = t.deposits_at(T0 + Duration::hours(3)).await;
        assert_eq!(t.statement("C-31", seq).await.lines.len(), 1, "{label}");

        t.return_car(&with_fine, T0 + Duration::days(2)).await;
        t.return_car(&clean, T0 + Duration::days(2)).await;
        // A violation of the first hire arrives on day 20.
        t.clock.set(T0 + Duration::days(20));
        let rec = record(PLATE, T0 + Duration::hours(3), 1);
        let s = t.import(vec![rec.clone()]).await;
        assert_eq!(s.matched, 1, "{label}");
        let id = t.violation_of(&rec, s.sequence).await.violation_id;
        t.ladder_at(T0 + Duration::days(20)).await;

        // Day 32: the clean hire's deposit goes back; the other is kept (its violation is open).
        let day32 = T0 + Duration::days(32) + Duration::minutes(1);
        t.ladder_at(day32).await;
        let seq = t.deposits_at(day32).await;
        let s = t.statement("C-32", seq).await;
        assert_eq!(s.deposit_held_fen, 0, "{label}: {s:?}");
        assert_eq!(
            kinds(&s),
            vec![pb::BookingKind::DepositHold as i32, pb::BookingKind::DepositRelease as i32],
            "{label}"
        );
        assert_eq!(t.statement("C-31", seq).await.deposit_held_fen, 200_000, "{label}");

        // The ladder reaches the charge (D+30 from the notice on day 20)...
        let mut at = T0 + Duration::days(20);
        for day in [3, 10, 15, 16, 30] {
            at = T0 + Duration::days(20) + Duration::days(day);
            t.ladder_at(at).await;
        }
        let v = t.get(&id, t.last_sequence().await).await;
        assert_eq!(v.status, pb::ViolationStatus::Charged as i32, "{label}: {v:?}");
        // ...and the deposit settles it: 250 yuan deducted, the rest released, once.
        let seq = t.deposits_at(at).await;
        t.deposits_at(at + Duration::minutes(1)).await;
        let s = t.statement("C-31", t.last_sequence().await.max(seq)).await;
        assert_eq!((s.balance_fen, s.deposit_held_fen), (0, 0), "{label}: {s:?}");
        assert_eq!(
            kinds(&s),
            vec![
                pb::BookingKind::DepositHold as i32,
                pb::BookingKind::Charge as i32,
                pb::BookingKind::DepositDeduction as i32,
                pb::BookingKind::DepositRelease as i32,
            ],
            "{label}"
        );
        let deduction = &s.lines[2];
        assert_eq!(deduction.credit_fen, 25_000, "{label}");
        assert!(s.open_items.is_empty(), "{label}");
        // The deduction recovered the charge in full, the day it was charged.
        let month = format!("{:04}-{:02}", at.year(), u8::from(at.month()));
        let kpis = t
            .client
            .clone()
            .get_collection_kpis(pb::GetCollectionKpisRequest {
                from_month: month,
                consistency: wait(t.last_sequence().await),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .kpis;
        assert_eq!(kpis.len(), 1, "{label}: {kpis:?}");
        assert_eq!((kpis[0].recovery_rate_bp, kpis[0].recovered_charges, kpis[0].mean_days_to_recover), (10_000, 1, 0.0), "{label}");
        t.stop().await;
    }
}
