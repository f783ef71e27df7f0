//! Every invalid input is answered with the right status, the field named, and nothing appended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use rentops_proto::common::{Money, PageRequest};
use rentops_proto::order as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[track_caller]
fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    let named = fields(&status);
    assert!(
        named.iter().any(|f| f == field),
        "expected a violation on {field}, got {named:?} ({})",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_placement_is_refused_naming_the_field_and_appends_nothing() {
    let db = rentops_testkit::TestDatabase::Sqlite(rentops_testkit::SqliteDatabase::new().unwrap());
    let t = TestApp::spawn(db).await;
    let mut c = t.client();
    let ok = place(&mut c, "GOOD-1").await;
    let base = place_request("BAD-1");
    type Mutate = Box<dyn Fn(&mut pb::PlaceOrderRequest)>;
    let cases: Vec<(&str, Mutate)> = vec![
        ("context", Box::new(|r| r.context = None)),
        ("context.request_id", Box::new(|r| r.context = ctx(""))),
        ("context.request_id", Box::new(|r| r.context = ctx(&"x".repeat(129)))),
        ("channel", Box::new(|r| r.channel = 0)),
        ("channel", Box::new(|r| r.channel = 99)),
        ("partner_code", Box::new(|r| r.channel = pb::Channel::Partner as i32)),
        ("partner_code", Box::new(|r| r.partner_code = "CTRIP".into())),
        ("channel_order_ref", Box::new(|r| r.channel_order_ref = "  ".into())),
        ("channel_order_ref", Box::new(|r| r.channel_order_ref = "r".repeat(65))),
        ("customer", Box::new(|r| r.customer = None)),
        (
            "customer.phone",
            Box::new(|r| r.customer.as_mut().unwrap().phone = "call me".into()),
        ),
        (
            "customer.name",
            Box::new(|r| r.customer.as_mut().unwrap().name = "名".repeat(101)),
        ),
        ("city", Box::new(|r| r.city = "shanghai!".into())),
        ("pickup_location", Box::new(|r| r.pickup_location = None)),
        (
            "pickup_location.station_id",
            Box::new(|r| r.pickup_location = station("P V G")),
        ),
        ("pickup_at", Box::new(|r| r.pickup_at = None)),
        (
            "pickup_at",
            Box::new(|r| r.pickup_at = Some(prost_types::Timestamp { seconds: -5, nanos: 0 })),
        ),
        ("return_at", Box::new(|r| r.return_at = r.pickup_at)),
        (
            "return_at",
            Box::new(|r| {
                r.return_at = Some(prost_types::Timestamp {
                    seconds: r.pickup_at.unwrap().seconds + 91 * 86_400,
                    nanos: 0,
                })
            }),
        ),
        ("requested_model", Box::new(|r| r.requested_model = 0)),
        ("requested_model", Box::new(|r| r.requested_model = 42)),
        ("price", Box::new(|r| r.price = None)),
        ("price.amount_fen", Box::new(|r| r.price = cny(-1))),
        ("price.amount_fen", Box::new(|r| r.price = cny(i64::MAX))),
        (
            "price.currency",
            Box::new(|r| {
                r.price = Some(Money {
                    amount_fen: 1,
                    currency: "USD".into(),
                })
            }),
        ),
        ("rental_deposit.amount_fen", Box::new(|r| r.rental_deposit = cny(-100))),
        ("add_ons[0]", Box::new(|r| r.add_ons = vec!["".into()])),
        (
            "add_ons",
            Box::new(|r| r.add_ons = (0..21).map(|i| format!("a{i}")).collect()),
        ),
        ("notes", Box::new(|r| r.notes = "n".repeat(2001))),
        ("cover_tier", Box::new(|r| r.cover_tier = 7)),
        (
            "placed_at",
            Box::new(|r| r.placed_at = Some(ts(time::OffsetDateTime::now_utc() + time::Duration::days(1)))),
        ),
    ];
    for (field, mutate) in cases {
        let mut r = base.clone();
        mutate(&mut r);
        assert_invalid(c.place_order(r).await, field);
    }

    let id = ok.order_id.clone();
    assert_invalid(
        c.confirm_order(pb::ConfirmOrderRequest {
            context: rid(),
            order_id: "not-a-uuid".into(),
            notes: String::new(),
        })
        .await,
        "order_id",
    );
    assert_invalid(
        c.confirm_order(pb::ConfirmOrderRequest {
            context: rid(),
            order_id: String::new(),
            notes: String::new(),
        })
        .await,
        "order_id",
    );
    assert_invalid(
        c.record_contact_attempt(pb::RecordContactAttemptRequest {
            context: rid(),
            order_id: id.clone(),
            outcome: 0,
            ..Default::default()
        })
        .await,
        "outcome",
    );
    assert_invalid(
        c.record_contact_attempt(pb::RecordContactAttemptRequest {
            context: rid(),
            order_id: id.clone(),
            outcome: pb::ContactOutcome::CallBackLater as i32,
            ..Default::default()
        })
        .await,
        "call_back_at",
    );
    assert_invalid(
        c.change_order(pb::ChangeOrderRequest {
            context: rid(),
            order_id: id.clone(),
            ..Default::default()
        })
        .await,
        "order",
    );
    assert_invalid(
        c.change_order(pb::ChangeOrderRequest {
            context: rid(),
            order_id: id.clone(),
            price: cny(-5),
            ..Default::default()
        })
        .await,
        "price.amount_fen",
    );
    assert_invalid(
        c.cancel_order(pb::CancelOrderRequest {
            context: rid(),
            order_id: id.clone(),
            cancelled_by: 0,
            reason: "x".into(),
        })
        .await,
        "cancelled_by",
    );
    assert_invalid(
        c.cancel_order(pb::CancelOrderRequest {
            context: rid(),
            order_id: id.clone(),
            cancelled_by: 1,
            reason: String::new(),
        })
        .await,
        "reason",
    );
    let pickup = |plate: &str, km: i64, charge: u32| pb::RecordPickupRequest {
        context: rid(),
        order_id: id.clone(),
        vehicle_id: "V1".into(),
        plate: plate.into(),
        odometer_km: km,
        charge_percent: charge,
        ..Default::default()
    };
    assert_invalid(c.record_pickup(pickup("ABC123", 10, 50)).await, "plate");
    assert_invalid(c.record_pickup(pickup("沪A·D12345", -1, 50)).await, "odometer_km");
    assert_invalid(c.record_pickup(pickup("沪A·D12345", 10, 101)).await, "charge_percent");
    assert_invalid(
        c.list_orders(pb::ListOrdersRequest {
            page: Some(PageRequest {
                page_size: 501,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await,
        "page.page_size",
    );
    assert_invalid(
        c.list_orders(pb::ListOrdersRequest {
            page: Some(PageRequest {
                page_size: 5,
                page_token: "garbage".into(),
            }),
            ..Default::default()
        })
        .await,
        "page.page_token",
    );
    assert_invalid(
        c.list_orders(pb::ListOrdersRequest {
            statuses: vec![77],
            ..Default::default()
        })
        .await,
        "statuses[0]",
    );
    assert_invalid(
        c.get_order(pb::GetOrderRequest {
            order_id: id.clone(),
            as_of: None,
            consistency: Some(rentops_proto::common::Consistency {
                min_sequence: 1,
                timeout_ms: 60_000,
            }),
        })
        .await,
        "consistency.timeout_ms",
    );

    // A rule broken is FAILED_PRECONDITION; none of the above appended anything.
    let err = c.record_pickup(pickup("沪A·D12345", 10, 50)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "pickup before confirmation");
    assert_eq!(
        t.stream_last_sequence().await,
        ok.sequence,
        "nothing appended by any refused command"
    );
    t.replica.stop().await;
}
