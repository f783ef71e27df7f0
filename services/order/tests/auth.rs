//! Authentication at the edge, from outside: tokens and roles decide who may call what, the
//! actor recorded is the token's subject, and a refused call appends nothing. Then TLS.
//!
//! On SQLite only: every refusal here happens before the request reaches the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use rentops_proto::admin as apb;
use rentops_proto::admin::projection_admin_client::ProjectionAdminClient;
use rentops_proto::common::{CommandContext, Consistency};
use rentops_proto::order as pb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_testkit::{NatsServer, SqliteDatabase, TestCertificates, TestDatabase, TokenIssuer, bearer};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_decide_and_a_refused_call_appends_nothing() {
    rentops_testkit::init_tracing();
    let issuer = TokenIssuer::new().unwrap();
    let nats = NatsServer::start().await.unwrap();
    let db = TestDatabase::Sqlite(SqliteDatabase::new().unwrap());
    let replica = Replica::start_with(&nats.url(), db.url(), issuer.env()).await.unwrap();
    let t = TestApp { nats, db, replica };
    let mut client: OrderServiceClient<_> = t.client();

    let place = |reference: &str| {
        let mut r = place_request(reference);
        // Whatever the request claims, the token's subject is recorded.
        r.context = Some(CommandContext {
            request_id: uuid::Uuid::new_v4().to_string(),
            actor: "someone-else".into(),
            correlation_id: String::new(),
        });
        r
    };

    // No token, a forged one, an expired one, one for another audience: UNAUTHENTICATED.
    let refused = [
        client.place_order(place("A-1")).await.unwrap_err(),
        client
            .place_order(bearer(place("A-2"), &issuer.forged("desk-li", &["desk"])))
            .await
            .unwrap_err(),
        client
            .place_order(bearer(
                place("A-3"),
                &issuer.token_with("desk-li", &["desk"], "rentops", -3600),
            ))
            .await
            .unwrap_err(),
        client
            .place_order(bearer(
                place("A-4"),
                &issuer.token_with("desk-li", &["desk"], "billing", 3600),
            ))
            .await
            .unwrap_err(),
    ];
    for status in &refused {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    assert!(refused[2].message().contains("expired"), "{:?}", refused[2]);
    // The analyst reads but may not place: PERMISSION_DENIED, naming the roles needed.
    let analyst = issuer.token("analyst-wu", &["analyst"]);
    let denied = client.place_order(bearer(place("A-5"), &analyst)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("desk"), "{denied:?}");
    assert_eq!(t.stream_last_sequence().await, 0, "a refused call appends nothing");

    // The desk places; the event's actor is the token's subject, not the request's field.
    let desk = issuer.token("desk-li", &["desk"]);
    let placed = client
        .place_order(bearer(place("A-6"), &desk))
        .await
        .unwrap()
        .into_inner();
    let history = client
        .get_order_history(bearer(
            pb::GetOrderHistoryRequest {
                order_id: placed.order_id.clone(),
                consistency: Some(Consistency {
                    min_sequence: placed.sequence,
                    timeout_ms: 10_000,
                }),
            },
            &analyst,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.entries[0].actor, "desk-li");

    // The admin API is for sre only.
    let mut admin = ProjectionAdminClient::connect(format!("http://{}", t.replica.app.addr))
        .await
        .unwrap();
    let denied = admin
        .list_projections(bearer(apb::ListProjectionsRequest {}, &desk))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let sre = issuer.token("sre-zhao", &["sre"]);
    let listed = admin
        .list_projections(bearer(apb::ListProjectionsRequest {}, &sre))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.projections.len(), 1);

    // Probes carry no token: health stays open.
    assert!(
        rentops_testkit::grpc::is_serving(t.replica.app.addr, "rentops.order.v1.OrderService")
            .await
            .unwrap()
    );
    t.replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_service_speaks_tls_only() {
    rentops_testkit::init_tracing();
    let certs = TestCertificates::new().unwrap();
    let nats = NatsServer::start().await.unwrap();
    let db = TestDatabase::Sqlite(SqliteDatabase::new().unwrap());
    let mut env = vec![
        ("RENTOPS_NATS_URL".to_owned(), nats.url()),
        ("RENTOPS_DATABASE_URL".to_owned(), db.url().to_owned()),
    ];
    env.extend(certs.env());
    let service = rentops_testkit::start_in_process(
        rentops_order::app::start,
        std::sync::Arc::new(rentops_runtime::SystemClock),
        env,
    )
    .await
    .unwrap();

    let channel = certs.channel(service.app.addr).await.unwrap();
    let placed = OrderServiceClient::new(channel)
        .place_order(place_request("TLS-1"))
        .await
        .unwrap()
        .into_inner();
    assert!(placed.created);

    // A plaintext client gets no answer from a TLS server.
    let plain = async {
        let mut client = OrderServiceClient::connect(service.url.clone()).await?;
        client.place_order(place_request("TLS-2")).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(plain.await.is_err(), "a plaintext call must fail");
    service.stop().await;
}
