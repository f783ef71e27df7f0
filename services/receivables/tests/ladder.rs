//! The dunning ladder with a moved clock (never by sleeping), each step once however often the
//! scan runs, the charge on the renter's ledger, and the ledger's commands and queries: a
//! payment reference applied once, the statement, ageing and the overdue list, roles and bad
//! input. On real NATS and both databases.

mod common;

use common::*;
use rentops_proto::receivables as pb;
use time::Duration;
use tonic::Code;

const PLATE: &str = "沪AD30003";

fn steps(v: &pb::Violation) -> Vec<i32> {
    v.timeline
        .iter()
        .filter_map(|e| match e.event.as_ref().and_then(|e| e.event.as_ref()) {
            Some(pb::violation_event::Event::StepTaken(s)) => Some(s.step),
            _ => None,
        })
        .collect()
}

rentops_testkit::per_backend! {
    async fn the_ladder_runs_on_the_clock_once_per_step_and_charges_the_ledger(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V3", PLATE, T0 - Duration::days(60)).await;
        let o = order_id(21);
        // No violation deposit: the charge stays on the ledger (deposits are their own test).
        t.place_with_deposit(&o, "C-21", 0).await;
        t.pickup(&o, "V3", PLATE, T0 + Duration::hours(1)).await;
        t.return_car(&o, T0 + Duration::days(2)).await;
        // Matched on day 20 after the offence (records come late).
        let matched_at = T0 + Duration::days(20);
        t.clock.set(matched_at);
        let rec = record(PLATE, T0 + Duration::hours(3), 1);
        let s = t.import(vec![rec.clone()]).await;
        assert_eq!(s.matched, 1, "{label}: {s:?}");
        let id = t.violation_of(&rec, s.sequence).await.violation_id;

        // The notice goes out at once, with the 15-day deadline.
        let seq = t.ladder_at(matched_at).await;
        let v = t.get(&id, seq).await;
        assert_eq!(steps(&v), vec![pb::LadderStep::Notice as i32], "{label}");
        assert_eq!(v.deadline.unwrap().seconds, (matched_at + Duration::days(15)).unix_timestamp());
        let Some(pb::violation_event::Event::StepTaken(notice)) = v.timeline.last().and_then(|e| e.event.as_ref()).and_then(|e| e.event.clone()) else {
            panic!("{label}: no notice")
        };
        assert_eq!(notice.notices.len(), 2, "{label}: SMS and app push");
        assert_eq!(notice.notices[0].phone, "13900000000", "{label}: the renter's phone");
        assert!(notice.notices[0].text.contains("交管12123"), "{}", notice.notices[0].text);
        // The gateway sent both.
        let sent = t.notices_sent(seq).await;
        assert_eq!(sent.len(), 2, "{label}: {sent:?}");
        assert_eq!((sent[0]["channel"].as_str(), sent[1]["channel"].as_str()), (Some("SMS"), Some("APP_PUSH")));
        assert_eq!(sent[0]["violation_id"].as_str(), Some(id.as_str()));
        assert_eq!(sent[0]["phone"].as_str(), Some("13900000000"));

        // A day before D+3 nothing happens, however many passes run.
        let seq = t.ladder_at(matched_at + Duration::days(3) - Duration::minutes(1)).await;
        t.ladder_at(matched_at + Duration::days(3) - Duration::minutes(1)).await;
        assert_eq!(steps(&t.get(&id, seq).await).len(), 1, "{label}");
        // D+3, D+10, D+15, D+16 each once.
        for (day, expected) in [(3, 2), (10, 3), (15, 4), (16, 5)] {
            let at = matched_at + Duration::days(day);
            t.ladder_at(at).await;
            let seq = t.ladder_at(at).await;
            assert_eq!(steps(&t.get(&id, seq).await).len(), expected, "{label}: day {day}");
        }
        let v = t.get(&id, t.last_sequence().await).await;
        let Some(pb::violation_event::Event::StepTaken(escalation)) = v.timeline.last().and_then(|e| e.event.as_ref()).and_then(|e| e.event.clone()) else {
            panic!("{label}: no escalation")
        };
        assert_eq!(escalation.step, pb::LadderStep::Escalation as i32);
        assert_eq!(escalation.notices[0].channel, pb::NoticeChannel::DeskCall as i32);

        // D+30: the fine and the 50 yuan service fee go on the renter's ledger.
        let d30 = matched_at + Duration::days(30);
        t.ladder_at(d30).await;
        let seq = t.ladder_at(d30).await;
        let v = t.get(&id, seq).await;
        assert_eq!(v.status, pb::ViolationStatus::Charged as i32, "{label}");
        assert!(!v.charge_booking_id.is_empty());
        let Some(pb::violation_event::Event::StepTaken(charge)) = v.timeline.last().and_then(|e| e.event.as_ref()).and_then(|e| e.event.clone()) else {
            panic!("{label}: no charge")
        };
        assert_eq!(charge.charged_fen, 25_000, "{label}");
        assert!(charge.points_appeal_until.unwrap().seconds > d30.unix_timestamp());
        let mut c = t.client.clone();
        let statement = c
            .get_statement(pb::GetStatementRequest {
                customer_id: "C-21".into(),
                as_of: String::new(),
                consistency: wait(seq),
                page: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(statement.balance_fen, 25_000, "{label}: {statement:?}");
        assert_eq!(statement.lines.len(), 1);
        assert_eq!(statement.open_items[0].booking_id, v.charge_booking_id);
        assert!(statement.csv.lines().count() >= 2, "{}", statement.csv);

        // Ageing and overdue, 45 days after the charge.
        let later = (d30 + Duration::days(45)).date();
        let as_of = format!("{:04}-{:02}-{:02}", later.year(), u8::from(later.month()), later.day());
        let aging = c
            .get_aging(pb::GetAgingRequest {
                as_of: as_of.clone(),
                city: String::new(),
                consistency: wait(seq),
            })
            .await
            .unwrap()
            .into_inner();
        let total = aging.total.unwrap();
        assert_eq!((total.days_31_60_fen, total.total_fen), (25_000, 25_000), "{label}: {total:?}");
        assert_eq!(aging.cities[0].city, "SHA");
        let overdue = c
            .list_overdue(pb::ListOverdueRequest {
                as_of: as_of.clone(),
                consistency: wait(seq),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(overdue.charges.len(), 1);
        assert_eq!((overdue.charges[0].days_overdue, overdue.charges[0].open_fen), (45, 25_000));

        // A payment under one reference, sent twice, is applied once.
        t.clock.set(d30 + Duration::days(1));
        let pay = |request_id: &str| pb::RecordPaymentRequest {
            context: Some(rentops_proto::common::CommandContext {
                request_id: request_id.into(),
                actor: "finance:zhao".into(),
                correlation_id: String::new(),
            }),
            customer_id: "C-21".into(),
            amount: cny(10_000),
            reference: "WX-PAY-0001".into(),
            ..Default::default()
        };
        let first = c.record_payment(pay("pay-1")).await.unwrap().into_inner();
        assert_eq!(first.events_appended, 1);
        let again = c.record_payment(pay("pay-2")).await.unwrap().into_inner();
        assert_eq!(again.events_appended, 0, "{label}: the same reference again changes nothing");
        assert_eq!(again.booking_id, first.booking_id, "{label}: and names the booking it was applied as");
        let mut other_amount = pay("pay-3");
        other_amount.amount = cny(9_999);
        let reused = c.record_payment(other_amount).await.unwrap_err();
        assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
        // Waive part of the rest; more than is open is refused.
        let too_much = c
            .waive_charge(pb::WaiveChargeRequest {
                context: rid(),
                customer_id: "C-21".into(),
                charge_booking_id: v.charge_booking_id.clone(),
                amount: cny(15_001),
                reason: "goodwill".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(too_much.code(), Code::FailedPrecondition, "{too_much:?}");
        let waived = c
            .waive_charge(pb::WaiveChargeRequest {
                context: rid(),
                customer_id: "C-21".into(),
                charge_booking_id: v.charge_booking_id.clone(),
                amount: cny(5_000),
                reason: "the service fee, as a goodwill gesture".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let statement = c
            .get_statement(pb::GetStatementRequest {
                customer_id: "C-21".into(),
                as_of: String::new(),
                consistency: wait(waived.sequence),
                page: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(statement.balance_fen, 10_000, "{label}");
        assert_eq!(statement.lines.len(), 3);

        // The collection KPIs of the charge's month: 100 of 250 recovered by the payment (the
        // waiver is not a recovery), nothing recovered in full yet.
        let month = format!("{:04}-{:02}", d30.year(), u8::from(d30.month()));
        let kpis = c
            .get_collection_kpis(pb::GetCollectionKpisRequest {
                from_month: month.clone(),
                to_month: String::new(),
                city: "SHA".into(),
                consistency: wait(waived.sequence),
            })
            .await
            .unwrap()
            .into_inner()
            .kpis;
        assert_eq!(kpis.len(), 1, "{label}: {kpis:?}");
        let k = &kpis[0];
        assert_eq!((k.month.as_str(), k.charges, k.billed_fen, k.recovered_fen), (month.as_str(), 1, 25_000, 10_000), "{label}");
        assert_eq!((k.recovery_rate_bp, k.recovered_charges), (4_000, 0), "{label}");
        let bad_month = c
            .get_collection_kpis(pb::GetCollectionKpisRequest {
                from_month: "2026-12".into(),
                to_month: "2026-11".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_month.code(), Code::InvalidArgument);
        assert!(format!("{bad_month:?}").contains("to_month"));

        // Bad input names the field and appends nothing.
        let before = t.last_sequence().await;
        let bad = c
            .record_payment(pb::RecordPaymentRequest {
                context: rid(),
                customer_id: "C 21".into(),
                amount: cny(0),
                reference: String::new(),
                charge_booking_id: "not-a-uuid".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        let text = format!("{bad:?}");
        for field in ["customer_id", "amount.amount_fen", "reference", "charge_booking_id"] {
            assert!(text.contains(field), "{label}: {field} not named in {text}");
        }
        let bad_date = c
            .get_aging(pb::GetAgingRequest {
                as_of: "2026-13-01".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_date.code(), Code::InvalidArgument);
        assert_eq!(t.last_sequence().await, before, "{label}: nothing appended");
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_backlog_entered_late_takes_every_step_due_by_now_in_order(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let plate = "沪AD30004";
        t.register_vehicle("V4", plate, T0 - Duration::days(60)).await;
        let o = order_id(41);
        t.place_with_deposit(&o, "C-41", 0).await;
        t.pickup(&o, "V4", plate, T0 + Duration::hours(1)).await;
        t.return_car(&o, T0 + Duration::days(2)).await;
        // The feed reached the desk on day 20; it is entered 45 days later.
        let received = T0 + Duration::days(20);
        let now = received + Duration::days(45);
        t.clock.set(now);
        let rec = record(plate, T0 + Duration::hours(3), 1);

        // A receipt in the future, or an offence after the receipt, is refused by field.
        let before = t.last_sequence().await;
        let future = t.import_received(vec![rec.clone()], now + Duration::days(1)).await.unwrap_err();
        assert_eq!(future.code(), Code::InvalidArgument, "{label}: {future:?}");
        assert!(future.message().contains("received_at") || format!("{future:?}").contains("received_at"), "{future:?}");
        let early = t.import_received(vec![rec.clone()], T0 - Duration::days(2)).await.unwrap();
        assert_eq!((early.new, early.rejected.len()), (0, 1), "{label}: {early:?}");
        assert_eq!(early.rejected[0].field, "records[0].offence_at", "{label}: {early:?}");
        assert_eq!(t.last_sequence().await, before, "{label}: nothing appended");

        let s = t.import_received(vec![rec.clone()], received).await.unwrap();
        assert_eq!((s.new, s.matched), (1, 1), "{label}: {s:?}");
        let v = t.violation_of(&rec, s.sequence).await;
        let id = v.violation_id;
        assert_eq!(v.r#match.unwrap().matched_at.unwrap().seconds, received.unix_timestamp(), "{label}: matched as of the receipt");

        // One pass takes each step due by now, in order, counted from the receipt; collections
        // (D+60) is not due yet. More passes at that moment take nothing again.
        let seq = t.ladder_at(now).await;
        assert_eq!(steps(&t.get(&id, seq).await).len(), 6, "{label}: caught up in one pass");
        t.ladder_at(now).await;
        let seq = t.ladder_at(now).await;
        let v = t.get(&id, seq).await;
        use pb::LadderStep::*;
        let expected = [(Notice, 0), (Reminder, 3), (FinalReminder, 10), (Deadline, 15), (Escalation, 16), (Charge, 30)];
        assert_eq!(steps(&v), expected.iter().map(|(s, _)| *s as i32).collect::<Vec<_>>(), "{label}");
        let taken: Vec<_> = v
            .timeline
            .iter()
            .filter_map(|e| match e.event.as_ref().and_then(|e| e.event.as_ref()) {
                Some(pb::violation_event::Event::StepTaken(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        for (step, (_, day)) in taken.iter().zip(expected) {
            let due = received + Duration::days(day);
            assert_eq!(step.due_at.unwrap().seconds, due.unix_timestamp(), "{label}: {step:?}");
            assert_eq!(step.taken_at.unwrap().seconds, now.unix_timestamp(), "{label}: {step:?}");
        }
        assert_eq!(v.deadline.unwrap().seconds, (received + Duration::days(15)).unix_timestamp(), "{label}");
        assert_eq!(v.status, pb::ViolationStatus::Charged as i32, "{label}");
        assert_eq!(v.next_step, Collections as i32, "{label}");
        assert_eq!(v.next_step_due_at.unwrap().seconds, (received + Duration::days(60)).unix_timestamp(), "{label}");
        let statement = t
            .client
            .clone()
            .get_statement(pb::GetStatementRequest {
                customer_id: "C-41".into(),
                as_of: String::new(),
                consistency: wait(seq),
                page: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(statement.balance_fen, 25_000, "{label}: the fine and the fee, once");
        t.stop().await;
    }
}
