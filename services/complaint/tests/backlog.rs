//! Work entered late (a backlog taken on paper, a demo replaying a past week): each command
//! names when it happened, the SLA clocks count from those times, one scan pass raises every
//! threshold reached by now, and the analysis counts a case in the week it was opened. A time
//! in the future, too far back or before the case's latest change is refused by name with
//! nothing appended. On real NATS and both databases.

mod common;

use common::*;
use rentops_proto::complaint as pb;
use time::Duration;
use tonic::Code;

/// As the services run: the scan leaves a case alone for 30 s after its latest change, so that
/// a case entered step by step with past times is complete before its thresholds are raised.
const SETTLE: &[(&str, &str)] = &[("RENTOPS_COMPLAINT_SETTLE_SECS", "30")];

rentops_testkit::per_backend! {
    async fn a_case_opened_ten_days_back_and_never_answered_is_breached_by_the_next_scan(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn_replicas(db, 1, SETTLE).await;
        // P2 (a billing dispute): first response within 4 h, resolution within 72 h.
        let opened_at = T0 - Duration::days(10);
        let opened = t
            .open(pb::OpenCaseRequest {
                opened_at: Some(ts(opened_at)),
                ..complaint("C-20", "billing", "overcharge")
            })
            .await;
        let id = opened.case_id.clone();
        let case = t.get(&id, opened.result.as_ref().unwrap().sequence).await;
        assert_eq!(case.opened_at, Some(ts(opened_at)), "{label}");
        // As of now the clocks ran out long ago; nothing is raised until the scan passes.
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!(fr.breach_at, Some(ts(opened_at + Duration::hours(4))));
        assert!(!case.escalated);

        // Within the settle time the scan leaves the case alone: the desk may still be entering
        // its later steps.
        let before = t.scan_at(T0).await;
        assert_eq!(before, opened.result.as_ref().unwrap().sequence, "{label}: nothing raised yet");
        // One pass once it has settled: every threshold reached by now, each once.
        let after = t.scan_at(T0 + Duration::seconds(30)).await;
        let case = t.get(&id, after).await;
        assert!(case.escalated, "{label}");
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        let res = clock_of(&case, pb::SlaClock::Resolution);
        assert_eq!(fr.state, "breached", "{label}");
        assert_eq!(res.state, "breached", "{label}");
        assert_eq!(fr.spent_seconds, 10 * 86_400 + 30);
        assert_eq!(res.left_seconds, (72 - 240) * 3600 - 30);
        for (name, n) in [("SlaAtRisk", 2), ("SlaBreached", 2), ("CaseEscalated", 2)] {
            assert_eq!(case.timeline.iter().filter(|e| e.event == name).count(), n, "{label}: {name}");
        }
        // Raised as of when each was reached, in time order.
        let at = |name: &str| -> Vec<prost_types::Timestamp> {
            case.timeline.iter().filter(|e| e.event == name).filter_map(|e| e.at).collect()
        };
        assert_eq!(
            at("SlaBreached"),
            vec![ts(opened_at + Duration::hours(4)), ts(opened_at + Duration::hours(72))],
            "{label}"
        );
        let times: Vec<_> = case
            .timeline
            .iter()
            .map(|e| rentops_proto::timestamp::from_timestamp(e.at.as_ref().unwrap()).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{label}: {times:?}");
        // Another pass raises nothing more.
        let again = t.scan_at(T0 + Duration::minutes(1)).await;
        assert_eq!(again, after, "{label}: nothing appended");

        // Listed and analysed in its real week, not in the week it was entered.
        let mut c = t.client();
        let listed = c
            .list_cases(pb::ListCasesRequest {
                opened_from: Some(ts(opened_at - Duration::hours(1))),
                opened_to: Some(ts(opened_at + Duration::hours(1))),
                consistency: wait(after),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.cases.len(), 1, "{label}");
        let analyse = |from: time::OffsetDateTime| pb::AnalyzeComplaintsRequest {
            period_from: Some(ts(from)),
            period_to: Some(ts(from + Duration::days(7))),
            consistency: wait(after),
            ..Default::default()
        };
        let then = c.analyze_complaints(analyse(opened_at - Duration::days(1))).await.unwrap().into_inner();
        let sla = then.sla.unwrap();
        assert_eq!((sla.cases, sla.escalated), (1, 1), "{label}");
        let entered = c.analyze_complaints(analyse(T0 - Duration::days(1))).await.unwrap().into_inner();
        assert_eq!(entered.sla.unwrap().cases, 0, "{label}: not in the week it was entered");
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_back_dated_case_answered_and_resolved_in_time_is_not_breached(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn_replicas(db, 1, SETTLE).await;
        let mut c = t.client();
        // A week that ended days ago, entered all at once now.
        let opened_at = T0 - Duration::days(7);
        let opened = t
            .open(pb::OpenCaseRequest {
                opened_at: Some(ts(opened_at)),
                ..complaint("C-21", "billing", "overcharge")
            })
            .await;
        let id = opened.case_id.clone();
        c.record_first_response(pb::RecordFirstResponseRequest {
            context: rid(),
            case_id: id.clone(),
            note: "已回电".into(),
            at: Some(ts(opened_at + Duration::minutes(30))),
        })
        .await
        .expect("the first response, 30 min after the opening");
        let done = c
            .resolve_case(pb::ResolveCaseRequest {
                context: rid(),
                case_id: id.clone(),
                explanation: "费用已核对".into(),
                remedies: vec![],
                at: Some(ts(opened_at + Duration::hours(2))),
            })
            .await
            .expect("the resolution, 2 h after the opening")
            .into_inner();
        let case = t.get(&id, done.sequence).await;
        // The scan finds nothing to raise (the silence before closing runs until 2 h from now).
        let after = t.scan_at(T0 + Duration::minutes(1)).await;
        assert_eq!(after, done.sequence, "{label}: the scan appended nothing");
        assert_eq!(case.status, "RESOLVED");
        assert!(!case.escalated, "{label}");
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        let res = clock_of(&case, pb::SlaClock::Resolution);
        assert_eq!((fr.state.as_str(), fr.spent_seconds), ("met", 30 * 60), "{label}");
        assert_eq!((res.state.as_str(), res.spent_seconds), ("met", 2 * 3600), "{label}");
        assert_eq!(case.first_response_at, Some(ts(opened_at + Duration::minutes(30))));
        assert_eq!(case.resolved_at, Some(ts(opened_at + Duration::hours(2))));
        let timeline: Vec<_> = case.timeline.iter().map(|e| (e.event.as_str(), e.at)).collect();
        assert_eq!(
            timeline,
            [
                ("CaseOpened", Some(ts(opened_at))),
                ("CaseFirstResponseRecorded", Some(ts(opened_at + Duration::minutes(30)))),
                ("CaseResolved", Some(ts(opened_at + Duration::hours(2)))),
            ],
            "{label}: the business times, not the times of entry"
        );
        let a = c
            .analyze_complaints(pb::AnalyzeComplaintsRequest {
                period_from: Some(ts(opened_at - Duration::days(1))),
                period_to: Some(ts(opened_at + Duration::days(6))),
                consistency: wait(after),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let sla = a.sla.unwrap();
        assert_eq!((sla.cases, sla.escalated), (1, 0), "{label}");
        assert_eq!((sla.first_response_stopped, sla.first_response_met), (1, 1), "{label}");
        assert_eq!((sla.resolution_stopped, sla.resolution_met), (1, 1), "{label}");
        assert_eq!(sla.first_response_p50_seconds, Some(30 * 60));
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_time_in_the_future_too_far_back_or_before_the_latest_change_is_refused_by_name(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn_replicas(db, 1, SETTLE).await;
        let mut c = t.client();
        let opened = t
            .open(pb::OpenCaseRequest {
                opened_at: Some(ts(T0 - Duration::hours(3))),
                ..complaint("C-22", "service", "staff_attitude")
            })
            .await;
        let id = opened.case_id.clone();
        c.record_first_response(pb::RecordFirstResponseRequest {
            context: rid(),
            case_id: id.clone(),
            note: "已致歉".into(),
            at: Some(ts(T0 - Duration::hours(1))),
        })
        .await
        .expect("answered an hour ago");
        let before = t.last_sequence().await;

        let refused = |r: Result<tonic::Response<rentops_proto::common::CommandResult>, tonic::Status>| {
            r.expect_err("refused")
        };
        // More than 5 minutes ahead of the service's clock.
        let e = refused(
            c.assign_case(pb::AssignCaseRequest {
                context: rid(),
                case_id: id.clone(),
                agent: "desk:wang".into(),
                at: Some(ts(T0 + Duration::minutes(6))),
            })
            .await,
        );
        assert_eq!(e.code(), Code::InvalidArgument, "{label}: {e:?}");
        assert_eq!(e.message(), "at: cannot be in the future");
        // Before the case's latest change (the first response an hour ago), though after the
        // opening: named, with the time of that change.
        let e = refused(
            c.assign_case(pb::AssignCaseRequest {
                context: rid(),
                case_id: id.clone(),
                agent: "desk:wang".into(),
                at: Some(ts(T0 - Duration::hours(2))),
            })
            .await,
        );
        assert_eq!(e.code(), Code::InvalidArgument, "{label}: {e:?}");
        assert!(e.message().starts_with("at: "), "{}", e.message());
        assert!(e.message().contains("before the case's latest change"), "{}", e.message());
        assert!(e.message().contains(&(T0 - Duration::hours(1)).to_string()), "{}", e.message());
        // The opening: ahead of now, or more than 400 days back.
        for opened_at in [T0 + Duration::minutes(6), T0 - Duration::days(401)] {
            let e = c
                .open_case(pb::OpenCaseRequest {
                    opened_at: Some(ts(opened_at)),
                    ..complaint("C-22", "service", "staff_attitude")
                })
                .await
                .expect_err("refused");
            assert_eq!(e.code(), Code::InvalidArgument, "{label}: {e:?}");
            assert!(e.message().starts_with("opened_at: "), "{}", e.message());
        }
        assert_eq!(t.last_sequence().await, before, "{label}: nothing was appended");
        // Within 5 minutes ahead is the desk's clock, not the future; after it, in order.
        c.assign_case(pb::AssignCaseRequest {
            context: rid(),
            case_id: id.clone(),
            agent: "desk:wang".into(),
            at: Some(ts(T0 + Duration::minutes(4))),
        })
        .await
        .expect("accepted");
        t.stop().await;
    }
}
