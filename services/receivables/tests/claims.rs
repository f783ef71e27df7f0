//! Repair claims on real NATS and both databases: opened from a return with damage noted, the
//! invoice lines and repair days, the amount by the cover tier and the cause with its
//! derivation, confirmed by finance before anything is charged, adjusted afterwards by a
//! reversal and a new charge; bad input named and nothing appended.

mod common;

use std::time::Duration as StdDuration;

use common::*;
use rentops_proto::common::CoverTier;
use rentops_proto::receivables as pb;
use time::Duration;
use tonic::Code;

fn line(kind: pb::InvoiceLineKind, what: &str, fen: i64) -> pb::InvoiceLineInput {
    pb::InvoiceLineInput {
        kind: kind as i32,
        description: what.into(),
        amount: cny(fen),
        document_ref: "INV-2026-001".into(),
    }
}

rentops_testkit::per_backend! {
    async fn a_claim_from_a_damaged_return_is_computed_confirmed_charged_and_adjusted(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let o = order_id(41);
        t.place_covered(&o, "C-41", CoverTier::Basic).await;
        t.pickup(&o, "V41", "沪AD41041", T0 + Duration::hours(1)).await;
        t.return_damaged(&o, T0 + Duration::days(1), "front bumper cracked").await;
        t.app.damage_scan.next_full_pass(StdDuration::from_secs(60)).await.unwrap();
        let mut c = t.client.clone();
        let listed = c
            .list_claims(pb::ListClaimsRequest {
                order_id: o.clone(),
                consistency: wait(t.last_sequence().await),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .claims;
        assert_eq!(listed.len(), 1, "{label}: one claim opened from the return");
        let claim = &listed[0];
        assert_eq!(claim.status, pb::ClaimStatus::Open as i32);
        let opened = claim.opened.as_ref().unwrap();
        assert!(opened.from_return && opened.damage_noted == "front bumper cracked", "{label}: {opened:?}");
        assert_eq!(opened.customer_id, "C-41");
        let id = claim.claim_id.clone();
        // Another pass opens no second claim.
        t.app.damage_scan.next_full_pass(StdDuration::from_secs(60)).await.unwrap();

        // Confirming a claim with no invoice yet is refused.
        let empty = c
            .confirm_claim(pb::ConfirmClaimRequest { context: rid(), claim_id: id.clone(), expected_total: None })
            .await
            .unwrap_err();
        assert_eq!(empty.code(), Code::FailedPrecondition, "{empty:?}");

        c.add_claim_lines(pb::AddClaimLinesRequest {
            context: rid(),
            claim_id: id.clone(),
            lines: vec![
                line(pb::InvoiceLineKind::Parts, "bumper", 200_000),
                line(pb::InvoiceLineKind::Labour, "fitting", 80_000),
                line(pb::InvoiceLineKind::Paint, "paint", 40_000),
            ],
        })
        .await
        .unwrap();
        let set = c
            .set_claim_details(pb::SetClaimDetailsRequest {
                context: rid(),
                claim_id: id.clone(),
                cause: 0,
                repair_days: Some(3),
            })
            .await
            .unwrap()
            .into_inner();
        // Basic cover: 1,500 deductible + 3 days × 200 loss of use + 100 admin fee.
        let l = set.liability.unwrap();
        assert_eq!((l.invoice_total_fen, l.repair_fen, l.loss_of_use_fen, l.admin_fee_fen, l.total_fen),
            (320_000, 150_000, 60_000, 10_000, 220_000), "{label}: {l:?}");
        let shown = c
            .get_claim(pb::GetClaimRequest { claim_id: id.clone(), consistency: wait(set.sequence) })
            .await
            .unwrap()
            .into_inner()
            .claim
            .unwrap();
        assert_eq!(shown.liability.as_ref().unwrap().derivation.len(), 5, "{label}: line by line");
        assert!(shown.charge_booking_id.is_empty(), "{label}: nothing charged before finance confirms");
        let before = t.statement("C-41", set.sequence).await;
        assert!(before.lines.is_empty(), "{label}");

        // Finance confirms what it saw; a stale figure is refused.
        let stale = c
            .confirm_claim(pb::ConfirmClaimRequest { context: rid(), claim_id: id.clone(), expected_total: cny(200_000) })
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::InvalidArgument, "{stale:?}");
        assert!(format!("{stale:?}").contains("expected_total"));
        let confirm = pb::ConfirmClaimRequest { context: rid(), claim_id: id.clone(), expected_total: cny(220_000) };
        let confirmed = c.confirm_claim(confirm.clone()).await.unwrap().into_inner();
        assert!(!confirmed.charge_booking_id.is_empty());
        let again = c.confirm_claim(confirm).await.unwrap().into_inner();
        assert_eq!(again.charge_booking_id, confirmed.charge_booking_id, "{label}: a retry is the same answer");
        let s = t.statement("C-41", t.last_sequence().await).await;
        assert_eq!((s.balance_fen, s.lines.len()), (220_000, 1), "{label}: {s:?}");
        assert_eq!(s.lines[0].booking_id, confirmed.charge_booking_id);
        let more = c
            .add_claim_lines(pb::AddClaimLinesRequest {
                context: rid(),
                claim_id: id.clone(),
                lines: vec![line(pb::InvoiceLineKind::Parts, "late part", 1_000)],
            })
            .await
            .unwrap_err();
        assert_eq!(more.code(), Code::FailedPrecondition, "{label}: a confirmed claim is adjusted, not edited");

        // The insurer recovers 3,000: reversed and charged again at 200 + 600 + 100.
        let adjusted = c
            .adjust_claim(pb::AdjustClaimRequest {
                context: rid(),
                claim_id: id.clone(),
                lines: Vec::new(),
                repair_days: None,
                recovery: cny(300_000),
                reason: "insurer recovery, claim 77".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(adjusted.liability.unwrap().total_fen, 90_000, "{label}");
        let s = t.statement("C-41", t.last_sequence().await).await;
        assert_eq!(s.balance_fen, 90_000, "{label}: {s:?}");
        assert_eq!(
            s.lines.iter().map(|l| l.kind).collect::<Vec<_>>(),
            vec![pb::BookingKind::Charge as i32, pb::BookingKind::Reversal as i32, pb::BookingKind::Charge as i32],
            "{label}"
        );
        let same = c
            .adjust_claim(pb::AdjustClaimRequest {
                context: rid(),
                claim_id: id.clone(),
                recovery: cny(300_000),
                reason: "again".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(same.code(), Code::FailedPrecondition, "{label}: an adjustment that changes nothing");
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn full_cover_pays_nothing_but_an_excluded_cause_pays_all_and_bad_input_is_named(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let o = order_id(42);
        t.place_covered(&o, "C-42", CoverTier::Full).await;
        t.pickup(&o, "V42", "沪AD42042", T0 + Duration::hours(1)).await;
        let mut c = t.client.clone();
        let open = |cause: pb::DamageCause, request: Option<rentops_proto::common::CommandContext>| pb::OpenClaimRequest {
            context: request,
            order_id: o.clone(),
            cause: cause as i32,
            damage: "door dented".into(),
            lines: vec![line(pb::InvoiceLineKind::Labour, "door", 100_000)],
            repair_days: 2,
        };
        let full = c.open_claim(open(pb::DamageCause::Ordinary, rid())).await.unwrap().into_inner();
        assert_eq!(full.liability.unwrap().total_fen, 0, "{label}: full cover");
        let drunk = c.open_claim(open(pb::DamageCause::DrunkDriving, rid())).await.unwrap().into_inner();
        // The whole 1,000 + 2 days × 200 + 100.
        assert_eq!(drunk.liability.unwrap().total_fen, 150_000, "{label}: excluded cause");
        // Confirming nothing owed books nothing.
        let nothing = c
            .confirm_claim(pb::ConfirmClaimRequest { context: rid(), claim_id: full.claim_id.clone(), expected_total: cny(0) })
            .await
            .unwrap()
            .into_inner();
        assert!(nothing.charge_booking_id.is_empty(), "{label}");

        let before = t.last_sequence().await;
        let mut bad = open(pb::DamageCause::Ordinary, rid());
        bad.order_id = order_id(999);
        bad.damage = String::new();
        bad.lines = vec![pb::InvoiceLineInput { kind: 0, description: String::new(), amount: None, document_ref: String::new() }];
        bad.cause = 42;
        let refused = c.open_claim(bad).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let text = format!("{refused:?}");
        for field in ["order_id", "damage", "lines[0].kind", "lines[0].description", "lines[0].amount", "cause"] {
            assert!(text.contains(field), "{label}: {field} not named in {text}");
        }
        assert_eq!(t.last_sequence().await, before, "{label}: nothing appended");
        t.stop().await;
    }
}
