//! A case from opening to closing and reopening through the gRPC API; every bad field refused
//! with its name and nothing appended; links checked against what the service heard from the
//! order, fleet and receivables streams. On real NATS and both databases.

mod common;

use common::*;
use prost::Message;
use rentops_proto::complaint as pb;
use rentops_proto::order as opb;
use tonic::Code;

rentops_testkit::per_backend! {
    async fn a_case_goes_from_opening_to_closing_and_back(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V1", "沪AD10001").await;
        t.place("O-1", "C-1", "SHA").await;
        t.pickup("O-1", "V1").await;
        let mut c = t.client();
        let opened = t
            .open(pb::OpenCaseRequest {
                order_id: "O-1".into(),
                ..complaint("C-1", "vehicle", "cleanliness")
            })
            .await;
        assert_eq!(opened.severity, "P4", "{label}");
        let id = opened.case_id.clone();
        let case = t.get(&id, opened.result.as_ref().unwrap().sequence).await;
        assert_eq!(case.status, "OPEN");
        assert_eq!(case.city, "SHA");
        assert_eq!(case.vehicle_model, "ET7", "the car's model, from fleet");
        assert_eq!(case.links.as_ref().unwrap().vehicle_id, "V1", "the order's car");
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!(fr.target_seconds, 48 * 3600);
        assert_eq!(fr.state, "running");

        let ok = |r: Result<tonic::Response<rentops_proto::common::CommandResult>, tonic::Status>| {
            r.expect("accepted").into_inner()
        };
        // Investigation before an agent: refused.
        let e = c
            .start_investigation(pb::StartInvestigationRequest { context: rid(), case_id: id.clone(), at: None })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{label}: {e:?}");
        ok(c.assign_case(pb::AssignCaseRequest { context: rid(), case_id: id.clone(), agent: "desk:wang".into(), at: None }).await);
        t.clock.set(T0 + time::Duration::minutes(40));
        ok(c
            .record_first_response(pb::RecordFirstResponseRequest {
                context: rid(),
                case_id: id.clone(),
                note: "已致电客户致歉".into(),
                at: None,
            })
            .await);
        ok(c.start_investigation(pb::StartInvestigationRequest { context: rid(), case_id: id.clone(), at: None }).await);
        ok(c.wait_on_customer(pb::WaitRequest { context: rid(), case_id: id.clone(), reason: "照片".into(), at: None }).await);
        t.clock.set(T0 + time::Duration::hours(5));
        ok(c.resume_case(pb::ResumeCaseRequest { context: rid(), case_id: id.clone(), at: None }).await);
        let e = c
            .set_root_cause(pb::SetRootCauseRequest {
                context: rid(),
                case_id: id.clone(),
                root_cause: "bad_luck".into(),
                note: String::new(),
                at: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("root_cause:"), "{}", e.message());
        ok(c
            .set_root_cause(pb::SetRootCauseRequest {
                context: rid(),
                case_id: id.clone(),
                root_cause: "vehicle_not_prepared".into(),
                note: "station skipped cleaning".into(),
                at: None,
            })
            .await);
        t.clock.set(T0 + time::Duration::hours(6));
        ok(c
            .resolve_case(pb::ResolveCaseRequest {
                context: rid(),
                case_id: id.clone(),
                explanation: "道歉并赠送优惠券".into(),
                remedies: vec![pb::Remedy {
                    remedy: Some(pb::remedy::Remedy::Voucher(rentops_proto::common::Money {
                        amount_fen: 5000,
                        currency: "CNY".into(),
                    })),
                }],
                at: None,
            })
            .await);
        let done = ok(c.close_case(pb::CloseCaseRequest { context: rid(), case_id: id.clone(), at: None }).await);
        let case = t.get(&id, done.sequence).await;
        assert_eq!(case.status, "CLOSED", "{label}");
        assert_eq!(case.close_reason, pb::CloseReason::CustomerAccepted as i32);
        assert_eq!(case.root_cause, "vehicle_not_prepared");
        let fr = clock_of(&case, pb::SlaClock::FirstResponse);
        assert_eq!((fr.state.as_str(), fr.spent_seconds), ("met", 40 * 60));
        // Resolution: 40 min before the wait, 1 h after it; the wait did not count.
        let res = clock_of(&case, pb::SlaClock::Resolution);
        assert_eq!((res.state.as_str(), res.spent_seconds), ("met", 100 * 60));
        let names: Vec<&str> = case.timeline.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "CaseOpened",
                "CaseAssigned",
                "CaseFirstResponseRecorded",
                "CaseInvestigationStarted",
                "CaseWaitingStarted",
                "CaseResumed",
                "CaseRootCauseSet",
                "CaseResolved",
                "CaseClosed",
            ]
        );

        t.clock.set(T0 + time::Duration::days(2));
        let reopened = ok(c
            .reopen_case(pb::ReopenCaseRequest { context: rid(), case_id: id.clone(), reason: "车又脏了".into(), at: None })
            .await);
        let case = t.get(&id, reopened.sequence).await;
        assert_eq!(case.status, "INVESTIGATING");
        assert_eq!(case.reopened, 1);
        let res = clock_of(&case, pb::SlaClock::Resolution);
        assert_eq!(res.spent_seconds, 100 * 60, "the time spent before is kept");
        assert_eq!(res.state, "running");

        // Listed, with filters.
        let list = c
            .list_cases(pb::ListCasesRequest {
                customer_id: "C-1".into(),
                status: "investigating".into(),
                consistency: wait(reopened.sequence),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.cases.len(), 1);
        assert_eq!(list.cases[0].case_id, id);
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_retried_open_is_the_same_case(db: TestDatabase) {
        let t = TestApp::spawn(db).await;
        let request = complaint("C-2", "service", "staff_attitude");
        let first = t.open(request.clone()).await;
        let again = t.open(request).await;
        assert_eq!(first.case_id, again.case_id);
        assert_eq!(first.severity, "P3");
        // Answered as the first time was: the same sequence, and the stream holds one event.
        assert_eq!(again.result.unwrap().sequence, first.result.unwrap().sequence);
        assert_eq!(t.last_sequence().await, 1);
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn every_bad_field_is_named_and_nothing_is_appended(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.register_vehicle("V2", "沪AD10002").await;
        t.place("O-2", "C-OTHER", "SHA").await;
        t.violation("v-other", "C-OTHER", "V2").await;
        t.violation("v-mine", "C-3", "V2").await;
        t.charge("C-OTHER", "5f0c4a52-2c7e-4a4e-9a55-1f0a3c6d7e99").await;
        // One good case first, so the stream exists.
        let good = t.open(complaint("C-3", "billing", "violation_charge")).await;
        let before = t.last_sequence().await;
        assert_eq!(before, good.result.unwrap().sequence);
        let base = || complaint("C-3", "billing", "violation_charge");
        let cases: Vec<(&str, pb::OpenCaseRequest)> = vec![
            ("context", pb::OpenCaseRequest { context: None, ..base() }),
            ("channel", pb::OpenCaseRequest { channel: "FAX".into(), ..base() }),
            ("channel", pb::OpenCaseRequest { channel: String::new(), ..base() }),
            ("customer_id", pb::OpenCaseRequest { customer_id: String::new(), ..base() }),
            ("category", pb::OpenCaseRequest { category: "weather".into(), ..base() }),
            ("sub_category", pb::OpenCaseRequest { sub_category: "rain".into(), ..base() }),
            ("text", pb::OpenCaseRequest { text: "   ".into(), ..base() }),
            ("order_id", pb::OpenCaseRequest { order_id: "O-404".into(), ..base() }),
            ("order_id", pb::OpenCaseRequest { order_id: "O-2".into(), ..base() }),
            ("vehicle_id", pb::OpenCaseRequest { vehicle_id: "V-404".into(), ..base() }),
            ("violation_id", pb::OpenCaseRequest { violation_id: "v-404".into(), ..base() }),
            ("violation_id", pb::OpenCaseRequest { violation_id: "v-other".into(), ..base() }),
            ("claim_id", pb::OpenCaseRequest { claim_id: "cl-404".into(), ..base() }),
            (
                "charge_booking_id",
                pb::OpenCaseRequest {
                    charge_booking_id: "5f0c4a52-2c7e-4a4e-9a55-1f0a3c6d7e99".into(),
                    ..base()
                },
            ),
        ];
        let mut c = t.client();
        for (field, request) in cases {
            let e = c.open_case(request).await.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{label} {field}: {e:?}");
            assert!(e.message().contains(&format!("{field}:")), "{label} {field}: {}", e.message());
        }
        // Commands on the good case with a bad field.
        let id = good.case_id.clone();
        let e = c
            .override_severity(pb::OverrideSeverityRequest {
                context: rid(),
                case_id: id.clone(),
                severity: "P0".into(),
                reason: "x".into(),
                at: None,
            })
            .await
            .unwrap_err();
        assert!(e.message().starts_with("severity:"), "{}", e.message());
        let e = c
            .override_severity(pb::OverrideSeverityRequest {
                context: rid(),
                case_id: id.clone(),
                severity: "P1".into(),
                reason: String::new(),
                at: None,
            })
            .await
            .unwrap_err();
        assert!(e.message().starts_with("reason:"), "{}", e.message());
        let e = c
            .assign_case(pb::AssignCaseRequest { context: rid(), case_id: id.clone(), agent: String::new(), at: None })
            .await
            .unwrap_err();
        assert!(e.message().starts_with("agent:"), "{}", e.message());
        let e = c
            .wait_on_third_party(pb::WaitRequest { context: rid(), case_id: id.clone(), reason: String::new(), at: None })
            .await
            .unwrap_err();
        assert!(e.message().starts_with("reason:"), "{}", e.message());
        let e = c
            .resolve_case(pb::ResolveCaseRequest {
                context: rid(),
                case_id: id.clone(),
                explanation: "waived".into(),
                remedies: vec![pb::Remedy {
                    remedy: Some(pb::remedy::Remedy::Waive(rentops_proto::complaint::WaiveCharge {
                        customer_id: "C-3".into(),
                        violation_id: "v-mine".into(),
                        ..Default::default()
                    })),
                }],
                at: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with("remedies[0].waive.violation_id:"), "{}", e.message());
        let e = c
            .resolve_case(pb::ResolveCaseRequest {
                context: rid(),
                case_id: id.clone(),
                explanation: String::new(),
                remedies: vec![pb::Remedy { remedy: None }],
                at: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = c
            .reopen_case(pb::ReopenCaseRequest { context: rid(), case_id: "nope".into(), reason: "x".into(), at: None })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let e = c
            .list_cases(pb::ListCasesRequest {
                page: Some(rentops_proto::common::PageRequest { page_size: 10, page_token: "garbage".into() }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(e.message().starts_with("page.page_token:"), "{}", e.message());
        assert_eq!(t.last_sequence().await, before, "{label}: nothing was appended");
        // The violation of this customer is fine.
        let ok = t
            .open(pb::OpenCaseRequest { violation_id: "v-mine".into(), ..base() })
            .await;
        assert_eq!(ok.severity, "P2");
        t.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_case_about_an_order_placed_a_moment_ago_waits_until_the_order_is_read(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        t.place("O-0", "C-1", "SHA").await;
        // 300 orders placed at once, the customer's own last: the orders' view is well behind
        // the order stream when the case about that last order is opened.
        let now = rentops_runtime::Clock::now(t.clock.as_ref());
        let placed = |order: String, customer: &str| opb::OrderPlaced {
            order_id: order,
            channel: opb::Channel::App as i32,
            customer: Some(opb::Customer {
                customer_id: customer.into(),
                name: "张三".into(),
                phone: "13800000000".into(),
            }),
            city: "PEK".into(),
            ..Default::default()
        };
        let others = (0..300).map(|i| {
            let order = format!("O-bulk-{i}");
            let body = placed(order.clone(), "C-OTHER").encode_to_vec();
            let log = &t.order_log;
            async move { TestApp::append(log, "order", &order, "OrderPlaced", body, now).await }
        });
        futures::future::join_all(others).await;
        let body = placed("O-9".into(), "C-1").encode_to_vec();
        TestApp::append(&t.order_log, "order", "O-9", "OrderPlaced", body, now).await;
        let opened = t
            .open(pb::OpenCaseRequest {
                order_id: "O-9".into(),
                ..complaint("C-1", "fulfilment", "late_handover")
            })
            .await;
        let case = t.get(&opened.case_id, opened.result.as_ref().map_or(0, |r| r.sequence)).await;
        assert_eq!(case.links.as_ref().map(|l| l.order_id.as_str()), Some("O-9"), "{label}");
        assert_eq!(case.city, "PEK", "{label}: the order was read before the case was judged");
        // An order nobody placed is refused all the same, after the views caught up.
        let e = t
            .client()
            .open_case(pb::OpenCaseRequest {
                order_id: "O-404".into(),
                ..complaint("C-1", "fulfilment", "late_handover")
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{label}: {e:?}");
        assert!(e.message().contains("order_id:"), "{label}: {}", e.message());
        t.stop().await;
    }
}
