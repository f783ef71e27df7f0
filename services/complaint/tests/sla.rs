//! SLA clocks with a moved clock: at risk at 80 %, breached and escalated at 100 %, each
//! exactly once with three replicas of the service scanning one broker and one database; a
//! wait stands the clocks still; a reopened case keeps what it spent; a resolved case closes
//! itself after the silence. On real NATS and both databases.

mod common;

use common::*;
use rentops_proto::complaint as pb;
use time::Duration;

rentops_testkit::per_backend! {
    async fn three_replicas_raise_at_risk_breach_and_escalation_once_each(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn_replicas(db, 3, &[]).await;
        // P2 (a billing dispute): first response within 4 h, at risk at 3 h 12 min.
        let opened = t.open(complaint("C-10", "billing", "overcharge")).await;
        assert_eq!(opened.severity, "P2");
        let id = opened.case_id;
        let after = t.scan_at(T0 + Duration::hours(3)).await;
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 0, "{label}: not yet");
        let after = t.scan_at(T0 + Duration::hours(3) + Duration::minutes(20)).await;
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 1, "{label}");
        // More passes of every replica change nothing.
        let after = t.scan_at(T0 + Duration::hours(3) + Duration::minutes(30)).await;
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 1, "{label}");
        let case = t.get(&id, after).await;
        assert_eq!(clock_of(&case, pb::SlaClock::FirstResponse).state, "at_risk");
        let after = t.scan_at(T0 + Duration::hours(4) + Duration::minutes(1)).await;
        let after = t.scan_at(T0 + Duration::hours(4) + Duration::minutes(2)).await.max(after);
        assert_eq!(t.count(&id, "SlaBreached", after).await, 1, "{label}");
        assert_eq!(t.count(&id, "CaseEscalated", after).await, 1, "{label}");
        let case = t.get(&id, after).await;
        assert!(case.escalated);
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!(fr.state, "breached");
        assert!(fr.left_seconds < 0);
        // The resolution clock (72 h) is untouched so far; the escalated list shows the case.
        assert_eq!(clock_of(&case, pb::SlaClock::Resolution).state, "running");
        let list = t
            .client()
            .list_cases(pb::ListCasesRequest { escalated_only: true, consistency: wait(after), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.cases.len(), 1);
        // Every event of the stream: exactly one of each raise.
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 1);
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn waiting_on_the_customer_stands_the_clocks_still(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let opened = t.open(complaint("C-11", "billing", "overcharge")).await;
        let id = opened.case_id;
        let mut c = t.client();
        t.clock.set(T0 + Duration::hours(1));
        c.wait_on_customer(pb::WaitRequest { context: rid(), case_id: id.clone(), reason: "发票照片".into(), at: None })
            .await
            .unwrap();
        // Ten hours of waiting: the 4 h first-response target is not reached.
        let after = t.scan_at(T0 + Duration::hours(11)).await;
        let case = t.get(&id, after).await;
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 0, "{label}");
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!((fr.state.as_str(), fr.spent_seconds), ("paused", 3600), "{label}");
        assert!(fr.breach_at.is_none());
        let resumed = c
            .resume_case(pb::ResumeCaseRequest { context: rid(), case_id: id.clone(), at: None })
            .await
            .unwrap()
            .into_inner();
        let case = t.get(&id, resumed.sequence).await;
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!(fr.state, "running");
        assert_eq!(fr.breach_at, Some(ts(T0 + Duration::hours(14))), "3 h left after the wait");
        let after = t.scan_at(T0 + Duration::hours(14) + Duration::minutes(1)).await;
        assert_eq!(t.count(&id, "SlaBreached", after).await, 1, "{label}");
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 1, "{label}: the at-risk first, once");
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_reopened_case_goes_on_from_what_it_spent_and_a_silent_one_closes(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        // P3 (service quality): resolution within 5 days.
        let opened = t.open(complaint("C-12", "service", "no_callback")).await;
        assert_eq!(opened.severity, "P3");
        let id = opened.case_id;
        let mut c = t.client();
        t.clock.set(T0 + Duration::hours(2));
        c.record_first_response(pb::RecordFirstResponseRequest { context: rid(), case_id: id.clone(), note: "回电".into(), at: None })
            .await
            .unwrap();
        t.clock.set(T0 + Duration::days(3));
        c.resolve_case(pb::ResolveCaseRequest { context: rid(), case_id: id.clone(), explanation: "已解释".into(), remedies: vec![], at: None })
            .await
            .unwrap();
        // Six days of silence: not yet closed (the default silence is 7 days).
        let after = t.scan_at(T0 + Duration::days(9)).await;
        assert_eq!(t.get(&id, after).await.status, "RESOLVED", "{label}");
        let after = t.scan_at(T0 + Duration::days(10) + Duration::minutes(1)).await;
        let case = t.get(&id, after).await;
        assert_eq!(case.status, "CLOSED", "{label}");
        assert_eq!(case.close_reason, pb::CloseReason::Silence as i32);
        assert_eq!(t.count(&id, "CaseClosed", after).await, 1);
        // Reopened a day later: 3 of its 5 days are spent, so it is at risk in 1 day (at 4 days)
        // and breached in 2.
        let reopened_at = T0 + Duration::days(11);
        t.clock.set(reopened_at);
        let r = c
            .reopen_case(pb::ReopenCaseRequest { context: rid(), case_id: id.clone(), reason: "问题又出现".into(), at: None })
            .await
            .unwrap()
            .into_inner();
        let case = t.get(&id, r.sequence).await;
        let res = clock_of(&case, pb::SlaClock::Resolution);
        assert_eq!(res.spent_seconds, 3 * 86_400, "{label}");
        assert_eq!(res.breach_at, Some(ts(reopened_at + Duration::days(2))));
        let after = t.scan_at(reopened_at + Duration::days(1) + Duration::minutes(1)).await;
        assert_eq!(t.count(&id, "SlaAtRisk", after).await, 1, "{label}");
        assert_eq!(t.count(&id, "SlaBreached", after).await, 0, "{label}");
        t.stop().await;
    }
}
