//! Ageing, the overdue list, the statement and the open items as of a date, over the ledger read
//! model as the receivables projection writes it from real bookings, on both databases: what was
//! open then, not what is open now (a payment after the date, a reversal after the date, a match
//! released by a reversal), and a statement read a page at a time that is the ledger crate's
//! statement of the same events.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rentops_eventstore::testing::recorded;
use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use rentops_ledger::{Action, BookingId, ChargeKind, ChargeLine, Ledger, LedgerCommand, LedgerEvent, Role};
use rentops_projection::{Db, Projection};
use rentops_receivables::domain::{Ladder, LedgerAggregate};
use rentops_receivables::projections::{ReceivablesProjection, queries};
use rentops_testkit::TestDatabase;
use time::macros::date;
use time::{Date, OffsetDateTime, Time};

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

/// Ledgers whose bookings are decided by the ledger's rules and applied by the receivables
/// projection, one event per transaction, as the projector would.
struct Books {
    db: Db,
    projection: ReceivablesProjection,
    ledgers: BTreeMap<String, Ledger>,
    events: BTreeMap<String, Vec<LedgerEvent>>,
    sequence: u64,
}

fn id(n: u128) -> BookingId {
    BookingId(uuid::Uuid::from_u128(n))
}

fn charge(amount: i64, due: Date, city: &str) -> Action {
    Action::Charge {
        lines: vec![ChargeLine {
            kind: ChargeKind::Fine,
            amount: Fen(amount),
        }],
        due,
        about: format!("v-{amount}-{due}"),
        order: None,
        city: CityCode::parse(city).unwrap(),
    }
}

fn pay(amount: i64, reference: &str, pays: Option<u128>) -> Action {
    Action::Pay {
        amount: Fen(amount),
        reference: reference.into(),
        pays: pays.map(id),
    }
}

impl Books {
    fn new(db: Db) -> Books {
        Books {
            db,
            projection: ReceivablesProjection {
                ladder: Ladder::default(),
            },
            ledgers: BTreeMap::new(),
            events: BTreeMap::new(),
            sequence: 0,
        }
    }

    async fn book(&mut self, customer: &str, booking: u128, day: Date, action: Action) {
        let at = OffsetDateTime::new_utc(day, Time::from_hms(12, 0, 0).unwrap());
        let ledger = self.ledgers.entry(customer.to_owned()).or_default();
        let command = LedgerCommand {
            customer: CustomerId::parse(customer).unwrap(),
            booking: id(booking),
            at,
            roles: vec![Role::Supervisor, Role::Finance],
            memo: format!("booking {booking}"),
            action,
        };
        let events = rentops_ledger::decide(ledger, &command).unwrap();
        for event in events {
            *ledger = std::mem::take(ledger).evolved(&event);
            self.sequence += 1;
            let e = recorded::<LedgerAggregate>("receivables", self.sequence, customer, &event, at);
            let mut tx = self.db.pool.begin().await.unwrap();
            self.projection.apply(&mut tx, &[e]).await.unwrap();
            tx.commit().await.unwrap();
            self.events.entry(customer.to_owned()).or_default().push(event);
        }
    }
}

rentops_testkit::per_backend! {
    async fn ageing_counts_what_was_open_on_the_date_by_due_date(t: TestDatabase) {
        let label = t.label();
        let db = db(&t).await;
        let mut books = Books::new(db.clone());
        // a: due 2026-10-01, half paid on 2026-10-20, the rest paid on 2026-12-20.
        books.book("C-1", 1, date!(2026 - 10 - 01), charge(10_000, date!(2026 - 10 - 01), "SHA")).await;
        books.book("C-1", 2, date!(2026 - 10 - 20), pay(5_000, "P1", Some(1))).await;
        // c: reversed itself on 2026-11-15: open before, not after.
        books.book("C-1", 3, date!(2026 - 11 - 01), charge(7_000, date!(2026 - 11 - 01), "SHA")).await;
        books.book("C-1", 4, date!(2026 - 11 - 15), Action::Reverse { booking: id(3) }).await;
        // b: due 2026-11-20 in another city; a payment on it was reversed on 2026-11-30.
        books.book("C-1", 5, date!(2026 - 11 - 20), charge(3_000, date!(2026 - 11 - 20), "BJS")).await;
        books.book("C-1", 6, date!(2026 - 11 - 25), pay(3_000, "P3", Some(5))).await;
        books.book("C-1", 7, date!(2026 - 11 - 30), Action::Reverse { booking: id(6) }).await;
        // Oldest due first: the rest of a.
        books.book("C-1", 8, date!(2026 - 12 - 20), pay(5_000, "P2", None)).await;

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
        let later = queries::open_by_due(&db, date!(2026 - 12 - 21), None).await.unwrap();
        assert_eq!(later, vec![("BJS".to_owned(), date!(2026 - 11 - 20), 3_000)], "{label}");
        assert!(queries::open_by_due(&db, date!(2026 - 09 - 30), None).await.unwrap().is_empty());

        // The same as the ledger's own ageing of the ledger as it stood on each date.
        for day in [date!(2026 - 10 - 01), date!(2026 - 11 - 14), date!(2026 - 11 - 15), date!(2026 - 11 - 27), as_of] {
            let ledger = rentops_ledger::ledger_as_of(&books.events["C-1"], day);
            let report = rentops_ledger::aging([&ledger], day).unwrap();
            let mut total = rentops_ledger::AgingBuckets::default();
            for (_, due, open) in queries::open_by_due(&db, day, None).await.unwrap() {
                total.add((day - due).whole_days(), Fen(open)).unwrap();
            }
            assert_eq!(total, report.total, "{label} {day}");
        }

        let (page, next) = queries::overdue(&db, as_of, None, 1, "").await.unwrap();
        assert_eq!((page[0].booking_id.as_str(), page[0].open_fen), (id(1).to_string().as_str(), 5_000), "{label}");
        let (rest, last) = queries::overdue(&db, as_of, None, 1, &next).await.unwrap();
        assert_eq!(rest[0].booking_id, id(5).to_string(), "{label}");
        assert!(last.is_empty());
        assert!(matches!(
            queries::overdue(&db, as_of, None, 1, "nonsense").await,
            Err(queries::QueryError::BadPageToken)
        ));
    }
}

rentops_testkit::per_backend! {
    async fn the_statement_read_in_pages_is_the_ledgers_statement_of_its_events(t: TestDatabase) {
        let label = t.label();
        let db = db(&t).await;
        let mut books = Books::new(db.clone());
        let order = OrderId::parse("0190a1a2-0000-7000-8000-000000000001").unwrap();
        let mut n = 0;
        let mut day = date!(2026 - 09 - 01);
        for round in 0..6_i64 {
            n += 10;
            books.book("C-9", n, day, charge(4_000 + round * 100, day + time::Duration::days(10), "SHA")).await;
            books.book("C-9", n + 1, day, charge(2_500, day + time::Duration::days(20), "PEK")).await;
            if round == 1 {
                books.book("C-9", n + 2, day, Action::HoldDeposit { amount: Fen(20_000), order }).await;
            }
            day += time::Duration::days(3);
            books.book("C-9", n + 3, day, pay(3_000, &format!("P-{round}"), None)).await;
            if round == 3 {
                books.book("C-9", n + 4, day, Action::Reverse { booking: id(n) }).await;
            }
            day += time::Duration::days(4);
        }
        // Another customer's bookings between them change nothing of C-9's.
        books.book("C-8", 999, day, charge(1_000, day, "SHA")).await;

        let events = books.events["C-9"].clone();
        let dates = [date!(2026 - 08 - 31), date!(2026 - 09 - 04), date!(2026 - 09 - 20), day];
        for as_of in dates {
            let expected = rentops_ledger::statement(&events, as_of).unwrap();
            let mut lines = Vec::new();
            let mut token = String::new();
            let mut pages = 0;
            loop {
                let (page, next) = queries::statement_page(&db, "C-9", as_of, 4, &token).await.unwrap();
                assert!(page.len() <= 4);
                if let (Some(first), Some(before)) = (page.first(), lines.last()) {
                    let before: &rentops_ledger::StatementLine = before;
                    let l = &first.line;
                    // The opening balance of a page is the closing balance of the one before.
                    assert_eq!(l.balance.0 - (l.debit.0 - l.credit.0), before.balance.0, "{label}");
                }
                lines.extend(page.into_iter().map(|r| r.line));
                pages += 1;
                if next.is_empty() {
                    break;
                }
                token = next;
            }
            assert_eq!(lines, expected.lines, "{label} as of {as_of}");
            assert_eq!(pages, expected.lines.len().div_ceil(4).max(1), "{label}");
            let end = queries::statement_end(&db, "C-9", as_of).await.unwrap();
            assert_eq!(end.as_ref().is_some_and(|(_, last)| *last), as_of >= day, "{label}");
            let end = end.map(|(row, _)| row);
            assert_eq!(end.as_ref().map_or(Fen::ZERO, |e| e.line.balance), expected.balance, "{label}");
            assert_eq!(end.as_ref().map_or(Fen::ZERO, |e| e.line.deposit_held), expected.deposit_held, "{label}");
            assert_eq!(end.as_ref().map_or(0, |e| e.line_no), expected.lines.len() as u64, "{label}");
            let debits: i64 = expected.lines.iter().map(|l| l.debit.0).sum();
            let credits: i64 = expected.lines.iter().map(|l| l.credit.0).sum();
            assert_eq!(end.as_ref().map_or((0, 0), |e| (e.total_debit, e.total_credit)), (debits, credits), "{label}");
            let open = queries::open_items(&db, "C-9", as_of, false).await.unwrap();
            assert_eq!(open, expected.open_items, "{label} as of {as_of}");
            if as_of >= day {
                let now = queries::open_items(&db, "C-9", as_of, true).await.unwrap();
                assert_eq!(now, expected.open_items, "{label}: what is open now");
            }
            // The CSV of the pages one after the other is the statement's CSV.
            let mut csv = format!("{}\r\n", rentops_ledger::STATEMENT_CSV_HEADER);
            for chunk in lines.chunks(4) {
                csv.push_str(&rentops_ledger::csv_rows(chunk).unwrap());
            }
            assert_eq!(csv, expected.to_csv().unwrap(), "{label}");
        }
        assert!(!queries::open_items(&db, "C-9", day, true).await.unwrap().is_empty(), "{label}: the test books debts");
        assert!(matches!(
            queries::statement_page(&db, "C-9", day, 4, "12~not-a-date").await,
            Err(queries::QueryError::BadPageToken)
        ));
    }
}
