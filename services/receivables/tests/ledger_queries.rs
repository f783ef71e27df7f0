//! Ageing and the overdue list as of a date, straight over the ledger read model on both
//! databases: what was open then, not what is open now (a payment after the date, a reversal
//! after the date, a match released by a reversal).
#![allow(clippy::unwrap_used)]

use rentops_projection::Db;
use rentops_receivables::projections::queries;
use rentops_testkit::TestDatabase;
use time::macros::date;

async fn db(t: &TestDatabase) -> Db {
    let db = Db::connect(t.url()).await.unwrap();
    db.migrate(
        &sqlx::migrate!("./migrations/sqlite"),
        &sqlx::migrate!("./migrations/postgres"),
    )
    .await
    .unwrap();
    db
}

async fn item(db: &Db, id: &str, city: &str, amount: i64, due: &str, booked: &str, reversed: Option<&str>) {
    sqlx::query(
        "INSERT INTO rx_items (booking_id, customer_id, kind, amount_fen, due, city, order_id, reference, booked_day, \
         reversed_day) VALUES ($1, 'C-1', 'charge', $2, $3, $4, '', '', $5, $6)",
    )
    .bind(id.to_owned())
    .bind(amount)
    .bind(due.to_owned())
    .bind(city.to_owned())
    .bind(booked.to_owned())
    .bind(reversed.map(str::to_owned))
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn matched(db: &Db, debit: &str, credit: &str, amount: i64, applied: &str, released: Option<&str>) {
    sqlx::query(
        "INSERT INTO rx_matches (debit_id, credit_id, amount_fen, applied_day, released_day) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(debit.to_owned())
    .bind(credit.to_owned())
    .bind(amount)
    .bind(applied.to_owned())
    .bind(released.map(str::to_owned))
    .execute(&db.pool)
    .await
    .unwrap();
}

rentops_testkit::per_backend! {
    async fn ageing_counts_what_was_open_on_the_date_by_due_date(t: TestDatabase) {
        let label = t.label();
        let db = db(&t).await;
        // Due 2026-10-01, half paid on 2026-10-20, the rest paid on 2026-12-20.
        item(&db, "a", "SHA", 10_000, "2026-10-01", "2026-10-01", None).await;
        matched(&db, "a", "p1", 5_000, "2026-10-20", None).await;
        matched(&db, "a", "p2", 5_000, "2026-12-20", None).await;
        // Due 2026-11-20 in another city; a payment on it was reversed on 2026-11-30.
        item(&db, "b", "BJS", 3_000, "2026-11-20", "2026-11-20", None).await;
        matched(&db, "b", "p3", 3_000, "2026-11-25", Some("2026-11-30")).await;
        // Reversed itself on 2026-11-15: open before, not after.
        item(&db, "c", "SHA", 7_000, "2026-11-01", "2026-11-01", Some("2026-11-15")).await;

        let as_of = date!(2026 - 12 - 01);
        let rows = queries::open_by_due(&db, as_of, None).await.unwrap();
        assert_eq!(
            rows,
            vec![
                ("BJS".to_owned(), date!(2026 - 11 - 20), 3_000),
                ("SHA".to_owned(), date!(2026 - 10 - 01), 5_000),
            ],
            "{label}"
        );
        let earlier = queries::open_by_due(&db, date!(2026 - 11 - 10), None).await.unwrap();
        assert_eq!(
            earlier,
            vec![
                ("SHA".to_owned(), date!(2026 - 10 - 01), 5_000),
                ("SHA".to_owned(), date!(2026 - 11 - 01), 7_000),
            ],
            "{label}"
        );
        let sha = queries::open_by_due(&db, as_of, Some("SHA")).await.unwrap();
        assert_eq!(sha.len(), 1, "{label}");
        assert!(queries::open_by_due(&db, date!(2026 - 12 - 21), None).await.unwrap().iter().all(|r| r.0 == "BJS"));

        let (page, next) = queries::overdue(&db, as_of, None, 1, "").await.unwrap();
        assert_eq!((page[0].booking_id.as_str(), page[0].open_fen), ("a", 5_000), "{label}");
        let (rest, last) = queries::overdue(&db, as_of, None, 1, &next).await.unwrap();
        assert_eq!(rest[0].booking_id, "b", "{label}");
        assert!(last.is_empty());
        assert!(matches!(
            queries::overdue(&db, as_of, None, 1, "nonsense").await,
            Err(queries::QueryError::BadPageToken)
        ));
    }
}
