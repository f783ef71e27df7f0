//! Races, retries, crashes, rebuilds and a broker outage: nothing acknowledged is lost and
//! nothing takes effect twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use rentops_proto::common::VehicleModel;
use rentops_proto::order as pb;
use tonic::Code;

rentops_testkit::per_backend! {
    async fn concurrent_commands_on_one_order_lose_no_update(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        // Two replicas, each with the order in its cache at the same version: both decide on
        // that state, exactly one append wins, the other is retried on fresh state.
        let b = t.another_replica(&[]).await;
        let mut a_client = t.client();
        let mut b_client = b.client.clone();
        let placed = place(&mut a_client, "APP-RACE").await;
        let id = placed.order_id.clone();
        // Warm both caches.
        a_client
            .get_order(pb::GetOrderRequest {
                order_id: id.clone(),
                ..Default::default()
            })
            .await
            .ok();
        b.app.handler.state(&id).await.unwrap();
        t.replica.app.handler.state(&id).await.unwrap();

        let change_model = pb::ChangeOrderRequest {
            context: rid(),
            order_id: id.clone(),
            requested_model: VehicleModel::Es8 as i32,
            ..Default::default()
        };
        let change_price = pb::ChangeOrderRequest {
            context: rid(),
            order_id: id.clone(),
            price: cny(150_000),
            ..Default::default()
        };
        let (r1, r2) = tokio::join!(a_client.change_order(change_model), b_client.change_order(change_price));
        let s1 = r1.expect("first change").into_inner().sequence;
        let s2 = r2.expect("second change").into_inner().sequence;
        assert_ne!(s1, s2);
        let o = get(&mut a_client, &id, s1.max(s2)).await;
        assert_eq!(o.requested_model, VehicleModel::Es8 as i32, "{label}: no update lost");
        assert_eq!(o.price.unwrap().amount_fen, 150_000, "{label}: no update lost");
        let history = a_client
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: id,
                consistency: after(s1.max(s2)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            history
                .entries
                .iter()
                .filter(|e| e.event_type == "OrderChanged")
                .count(),
            2
        );
        b.stop().await;
        t.replica.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn a_retried_place_order_creates_no_second_order(db: TestDatabase) {
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        let request = place_request("APP-RETRY");
        let first = c.place_order(request.clone()).await.unwrap().into_inner();
        // The same request again, on the same replica and on another one (whose cache is cold,
        // so its append is refused by the expected-sequence check and it must recognise its own
        // earlier append).
        let again = c.place_order(request.clone()).await.unwrap().into_inner();
        let other = t.another_replica(&[]).await;
        let elsewhere = other
            .client
            .clone()
            .place_order(request.clone())
            .await
            .unwrap()
            .into_inner();
        for r in [&again, &elsewhere] {
            assert_eq!(r.order_id, first.order_id);
            assert_eq!(r.sequence, first.sequence, "answered as the first time");
            assert!(r.created, "the first call created it");
        }
        // A new request id for the same channel order is not a new order either.
        let mut fresh = request.clone();
        fresh.context = rid();
        let repeat = c.place_order(fresh).await.unwrap().into_inner();
        assert_eq!(repeat.order_id, first.order_id);
        assert!(!repeat.created);
        // Different details under the same channel reference are refused.
        let mut different = request.clone();
        different.context = rid();
        different.price = cny(1);
        let err = c.place_order(different).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists);
        assert_eq!(
            t.stream_last_sequence().await,
            first.sequence,
            "exactly one event in the log"
        );
        other.stop().await;
        t.replica.stop().await;
    }
}

/// Everything the read model says, for comparing two states of it.
async fn snapshot(
    c: &mut pb::order_service_client::OrderServiceClient<tonic::transport::Channel>,
    seq: u64,
) -> Vec<String> {
    let mut out = Vec::new();
    let orders = c
        .list_orders(pb::ListOrdersRequest {
            page: Some(rentops_proto::common::PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
            consistency: after(seq),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .orders;
    for mut o in orders {
        let history = c
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: o.order_id.clone(),
                consistency: None,
            })
            .await
            .unwrap()
            .into_inner();
        o.updated_at = None;
        out.push(format!("{o:?}"));
        out.push(format!("{:?}", history.entries));
    }
    let queue = c
        .list_confirmation_queue(pb::ListConfirmationQueueRequest::default())
        .await
        .unwrap()
        .into_inner();
    out.push(format!("{:?}", queue.entries));
    out
}

rentops_testkit::per_backend! {
    async fn a_killed_projector_applies_nothing_twice_and_a_rebuild_gives_the_same_answers(db: TestDatabase) {
        let label = db.label();
        let TestApp { nats, db, replica } = TestApp::spawn(db).await;
        replica.stop().await;
        // A short lease, so that a successor takes over from a killed replica quickly.
        let lease = [("RENTOPS_PROJECTOR_LEASE_SECS", "2")];
        let mut current = Replica::start(&nats.url(), db.url(), &lease).await;
        let mut last = 0;
        // Kill the only replica (every task aborted wherever it is: maybe between the commit of
        // a batch and its ack) while its projector is busy, then start a successor; four times.
        for round in 0..4 {
            let mut c = current.client.clone();
            for i in 0..15 {
                let r = place(&mut c, &format!("KILL-{round}-{i}")).await;
                last = r.sequence;
                if i % 5 == 0 {
                    last = last.max(reach_and_confirm(&mut c, &r.order_id).await);
                }
            }
            tokio::time::sleep(Duration::from_millis(3 * round as u64)).await;
            current.kill();
            current = Replica::start(&nats.url(), db.url(), &lease).await;
        }
        let mut c = current.client.clone();
        let before = snapshot(&mut c, last).await;
        // Every event is in the history exactly once.
        let total: usize = before.iter().map(|l| l.matches("HistoryEntry {").count()).sum();
        let client = async_nats::connect(nats.url()).await.unwrap();
        let stream_last = async_nats::jetstream::new(client)
            .get_stream("ORDER")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .last_sequence;
        assert_eq!(total as u64, stream_last, "{label}: each event applied exactly once");

        // A rebuild from sequence 1 while the service keeps answering gives the same answers.
        let indexes_before = secondary_indexes(db.url()).await;
        assert!(indexes_before.len() >= 7, "{label}: {indexes_before:?}");
        let target = current.rebuild_projection().await;
        assert_eq!(target, stream_last);
        let after_rebuild = snapshot(&mut c, target).await;
        assert_eq!(before, after_rebuild, "{label}: rebuild changed the answers");
        // The replay ran with the secondary indexes set aside; once caught up they are back.
        let mut status = current.projection_status().await;
        for _ in 0..200 {
            if !status.rebuilding {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            status = current.projection_status().await;
        }
        assert!(!status.rebuilding, "{label}: the rebuild never caught up");
        assert_eq!(status.projection_sequence, target);
        assert_eq!((status.stream_sequence, status.lag), (target, 0), "{label}");
        assert_eq!(
            secondary_indexes(db.url()).await,
            indexes_before,
            "{label}: indexes not restored"
        );
        current.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn while_the_broker_is_down_commands_are_unavailable_and_nothing_acknowledged_is_lost(db: TestDatabase) {
        let label = db.label();
        let mut t = TestApp::spawn(db).await;
        let mut c = t.client();
        let mut acknowledged = Vec::new();
        for i in 0..10 {
            acknowledged.push(place(&mut c, &format!("OUTAGE-{i}")).await);
        }
        t.nats.stop().await.unwrap();
        // Give the client a moment to notice the connection is gone.
        let mut code = Code::Ok;
        for _ in 0..50 {
            match c.place_order(place_request("OUTAGE-DOWN")).await {
                Err(e) => {
                    code = e.code();
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        assert_eq!(code, Code::Unavailable, "{label}");
        t.nats.restart().await.unwrap();
        let mut back = None;
        for _ in 0..100 {
            match c.place_order(place_request("OUTAGE-UP")).await {
                Ok(r) => {
                    back = Some(r.into_inner());
                    break;
                }
                Err(e) => {
                    assert_eq!(e.code(), Code::Unavailable, "{label}: {e:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let back = back.expect("commands succeed again after the broker restarts");
        // A projector caught in a broker call when the broker went away only starts over once
        // that call times out, so its catching up may take longer than one read's 10 s wait: the
        // read is asked again while it answers that the projection is still behind.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        for a in &acknowledged {
            let o = loop {
                let read = c
                    .get_order(pb::GetOrderRequest {
                        order_id: a.order_id.clone(),
                        as_of: None,
                        consistency: after(back.sequence),
                    })
                    .await;
                match read {
                    Ok(r) => break r.into_inner().order.expect("order"),
                    Err(e) if e.code() == Code::DeadlineExceeded && tokio::time::Instant::now() < deadline => {}
                    Err(e) => panic!("{label}: {e:?}"),
                }
            };
            assert_eq!(o.status, pb::OrderStatus::Placed as i32);
        }
        assert!(t.stream_last_sequence().await > acknowledged.len() as u64);
        t.replica.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn the_confirmation_deadline_is_marked_once_however_many_replicas_scan(db: TestDatabase) {
        let label = db.label();
        let t = TestApp::spawn(db).await;
        let mut c = t.client();
        // Placed three hours ago and never called: overdue.
        let mut late = place_request("LATE-1");
        late.placed_at = Some(ts(time::OffsetDateTime::now_utc() - time::Duration::hours(3)));
        let late = c.place_order(late).await.unwrap().into_inner();
        let fresh = place(&mut c, "FRESH-1").await;
        // Wait for the read model, then let three scanning replicas race.
        get(&mut c, &fresh.order_id, fresh.sequence.max(late.sequence)).await;
        let scanners = [
            t.another_replica(&[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "1")]).await,
            t.another_replica(&[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "1")]).await,
            t.another_replica(&[("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "1")]).await,
        ];
        // Each scanner runs a whole pass that began after the orders were in its read model:
        // progress waited on, not a timer.
        for s in &scanners {
            s.app
                .deadline_scan
                .next_full_pass(Duration::from_secs(20))
                .await
                .unwrap();
        }
        let seq = t.stream_last_sequence().await;
        let overdue = c
            .list_confirmation_queue(pb::ListConfirmationQueueRequest {
                overdue_only: true,
                consistency: after(seq),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert_eq!(overdue.len(), 1, "{label}");
        assert_eq!(overdue[0].order_id, late.order_id);
        // Two more passes each, and still one ContactOverdue.
        for _ in 0..2 {
            for s in &scanners {
                s.app
                    .deadline_scan
                    .next_full_pass(Duration::from_secs(20))
                    .await
                    .unwrap();
            }
        }
        let seq = t.stream_last_sequence().await;
        let history = c
            .get_order_history(pb::GetOrderHistoryRequest {
                order_id: late.order_id.clone(),
                consistency: after(seq),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            history
                .entries
                .iter()
                .filter(|e| e.event_type == "ContactOverdue")
                .count(),
            1,
            "{label}"
        );
        assert_eq!(seq, 3, "{label}: two placements and one overdue mark, nothing more");
        for s in scanners {
            s.stop().await;
        }
        t.replica.stop().await;
    }
}

rentops_testkit::per_backend! {
    async fn indexes_set_aside_by_a_rebuild_that_crashed_come_back_when_the_projector_catches_up(db: TestDatabase) {
        let label = db.label();
        let TestApp { nats, db, replica } = TestApp::spawn(db).await;
        let mut c = replica.client.clone();
        let mut last = 0;
        for i in 0..5 {
            last = place(&mut c, &format!("CRASH-{i}")).await.sequence;
        }
        let before = secondary_indexes(db.url()).await;
        replica.stop().await;

        // What a rebuild leaves behind when it dies before catching up: two indexes dropped and
        // their definitions recorded, in one transaction.
        {
            use sqlx::Row;
            let pool = rentops_projection::Db::connect(db.url()).await.unwrap();
            let ddl_sql = match pool.backend {
                rentops_projection::Backend::Sqlite => "SELECT sql FROM sqlite_master WHERE name = $1",
                rentops_projection::Backend::Postgres => "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
            };
            let mut tx = pool.pool.begin().await.unwrap();
            for name in ["orders_by_pickup", "orders_by_city_pickup"] {
                let ddl: String = sqlx::query(ddl_sql)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap()
                    .get(0);
                sqlx::query(
                    "INSERT INTO projection_deferred_indexes (projection, index_name, ddl) VALUES ($1, $2, $3)",
                )
                .bind("order-orders")
                .bind(name)
                .bind(ddl)
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }
        assert_eq!(secondary_indexes(db.url()).await.len(), before.len() - 2);

        // The next projector, once caught up, builds them again; queries answered meanwhile.
        let next = Replica::start(&nats.url(), db.url(), &[]).await;
        let mut c = next.client.clone();
        place(&mut c, "CRASH-AFTER").await;
        let listed = c
            .list_orders(pb::ListOrdersRequest {
                city: "SHA".into(),
                consistency: after(last),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.orders.len() >= 5, "{label}: {}", listed.orders.len());
        let mut restored = Vec::new();
        for _ in 0..200 {
            restored = secondary_indexes(db.url()).await;
            if restored == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(restored, before, "{label}: indexes not restored after the crash");
        let status = next.projection_status().await;
        assert!(!status.rebuilding, "{label}");
        next.stop().await;
    }
}

/// The read model's non-unique secondary indexes, by name, from the database's catalog.
async fn secondary_indexes(url: &str) -> Vec<String> {
    use sqlx::Row;
    let db = rentops_projection::Db::connect(url).await.unwrap();
    let sql = match db.backend {
        rentops_projection::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('orders', 'order_events') \
             AND sql IS NOT NULL ORDER BY name"
        }
        rentops_projection::Backend::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename IN ('orders', 'order_events') AND indexdef NOT LIKE 'CREATE UNIQUE%' ORDER BY indexname"
        }
    };
    sqlx::query(sql)
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}
