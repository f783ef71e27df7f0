//! The ledger's rules as given / when / then, one test per rule and per refusal.

use rentops_kernel::testing::{given, given_state};
use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::*;

type L = CustomerLedger;

const T0: OffsetDateTime = datetime!(2026-03-01 10:00 +08:00);

fn customer() -> CustomerId {
    CustomerId::parse("C-1").unwrap()
}

fn receivable() -> Account {
    Account::Receivable(customer())
}

fn deposits() -> Account {
    Account::DepositsHeld(customer())
}

fn id(n: u128) -> BookingId {
    BookingId(Uuid::from_u128(n))
}

fn order() -> OrderId {
    OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap()
}

fn sha() -> CityCode {
    CityCode::parse("SHA").unwrap()
}

fn command(n: u128, at: OffsetDateTime, roles: &[Role], action: Action) -> LedgerCommand {
    LedgerCommand {
        customer: customer(),
        booking: id(n),
        at,
        roles: roles.to_vec(),
        memo: String::new(),
        action,
    }
}

/// A fine of `fine` and a service fee of `fee`, due on 2026-03-16.
fn charge_action(fine: i64, fee: i64) -> Action {
    Action::Charge {
        lines: vec![
            ChargeLine {
                kind: ChargeKind::Fine,
                amount: Fen(fine),
            },
            ChargeLine {
                kind: ChargeKind::ServiceFee,
                amount: Fen(fee),
            },
        ],
        due: date!(2026 - 03 - 16),
        about: "V-1".into(),
        order: Some(order()),
        city: sha(),
    }
}

fn pay(amount: i64, reference: &str) -> Action {
    Action::Pay {
        amount: Fen(amount),
        reference: reference.into(),
        pays: None,
    }
}

/// The events of running `commands` one after the other, each accepted.
fn history(commands: impl IntoIterator<Item = LedgerCommand>) -> Vec<LedgerEvent> {
    let mut ledger = Ledger::default();
    let mut events = vec![];
    for c in commands {
        let new = decide(&ledger, &c).unwrap();
        for e in new {
            ledger = ledger.evolved(&e);
            events.push(e);
        }
    }
    events
}

fn ledger_of(events: &[LedgerEvent]) -> Ledger {
    events.iter().fold(Ledger::default(), |l, e| l.evolved(e))
}

/// A charge of 200 + 20 yuan (booking 1) on the ledger.
fn charged() -> Vec<LedgerEvent> {
    history([command(1, T0, &[], charge_action(20_000, 2_000))])
}

fn open_of(ledger: &Ledger, charge: u128) -> Fen {
    ledger.item(&id(charge)).map(|i| i.open).unwrap_or(Fen(-1))
}

#[test]
fn a_charge_debits_the_receivable_and_credits_each_line_to_its_account() {
    let state = given::<L>([])
        .when(command(1, T0, &[], charge_action(20_000, 2_000)))
        .then([LedgerEvent::Booked {
            booking: Booking {
                id: id(1),
                kind: BookingKind::Charge,
                customer: customer(),
                booked_at: T0,
                postings: vec![
                    Posting::debit(receivable(), Fen(22_000)),
                    Posting::credit(Account::FinesPayable, Fen(20_000)),
                    Posting::credit(Account::ServiceFeeIncome, Fen(2_000)),
                ],
                due: Some(date!(2026 - 03 - 16)),
                reference: Some("V-1".into()),
                about: None,
                order: Some(order()),
                city: Some(sha()),
                memo: String::new(),
            },
            settlement: Settlement::default(),
        }]);
    assert_eq!(state.customer_balance(), Fen(22_000));
    assert_eq!(state.balance(&Account::FinesPayable), Fen(-20_000));
    let open = state.open_items();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].booking, open[0].open), (id(1), Fen(22_000)));
}

#[test]
fn a_charge_needs_lines_of_positive_amounts_and_a_subject() {
    let mut no_lines = charge_action(1, 1);
    if let Action::Charge { lines, .. } = &mut no_lines {
        lines.clear();
    }
    given::<L>([])
        .when(command(1, T0, &[], no_lines))
        .then_err(LedgerError::Missing { field: "lines" });
    given::<L>([])
        .when(command(1, T0, &[], charge_action(100, 0)))
        .then_err(LedgerError::NotPositive {
            field: "lines[1].amount".into(),
            amount: Fen(0),
        });
    let mut no_subject = charge_action(1, 1);
    if let Action::Charge { about, .. } = &mut no_subject {
        *about = "  ".into();
    }
    given::<L>([])
        .when(command(1, T0, &[], no_subject))
        .then_err(LedgerError::Missing { field: "about" });
}

#[test]
fn a_charge_whose_lines_overflow_is_refused() {
    given::<L>([])
        .when(command(1, T0, &[], charge_action(i64::MAX, 1)))
        .then_err(LedgerError::Overflow {
            what: "the charge's total".into(),
        });
    // Each charge fits, their sum on the receivable does not.
    let events = history([command(1, T0, &[], charge_action(i64::MAX - 1, 1))]);
    given::<L>(events)
        .when(command(2, T0, &[], charge_action(1, 1)))
        .then_err_matching("an overflow", |e| matches!(e, LedgerError::Overflow { .. }));
}

#[test]
fn a_payment_needs_the_finance_role() {
    given::<L>(charged())
        .when(command(2, T0, &[Role::Supervisor], pay(100, "P-1")))
        .then_err(LedgerError::RoleRequired {
            action: "book a payment",
            role: Role::Finance,
        });
}

#[test]
fn a_payment_debits_cash_and_settles_the_oldest_due_charge_first() {
    let later_due = repair_due_later();
    // The later-due charge is booked first: the order of due dates decides, not of bookings.
    let events = history([
        command(1, T0, &[], later_due),
        command(2, T0, &[], charge_action(20_000, 2_000)),
    ]);
    let events = given::<L>(events)
        .when(command(3, T0, &[Role::Finance], pay(30_000, "P-1")))
        .then_ok();
    assert_eq!(
        events[0].settlement().applied,
        vec![
            Match {
                debit: id(2),
                credit: id(3),
                amount: Fen(22_000)
            },
            Match {
                debit: id(1),
                credit: id(3),
                amount: Fen(8_000)
            },
        ]
    );
    assert_eq!(
        events[0].booking().postings,
        vec![
            Posting::debit(Account::Cash, Fen(30_000)),
            Posting::credit(receivable(), Fen(30_000))
        ]
    );
}

#[test]
fn a_payment_that_names_a_charge_pays_it_first() {
    let later_due = repair_due_later();
    let base = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[], later_due),
    ]);
    let events = given::<L>(base.clone())
        .when(command(
            3,
            T0,
            &[Role::Finance],
            Action::Pay {
                amount: Fen(60_000),
                reference: "P-1".into(),
                pays: Some(id(2)),
            },
        ))
        .then_ok();
    let ledger = ledger_of(&[base, events.clone()].concat());
    assert_eq!(events[0].settlement().applied[0].debit, id(2));
    assert_eq!(events[0].settlement().applied[0].amount, Fen(50_000));
    // The rest went to the other charge.
    assert_eq!(events[0].settlement().applied[1].debit, id(1));
    assert_eq!(events[0].settlement().applied[1].amount, Fen(10_000));
    assert_eq!(open_of(&ledger, 1), Fen(12_000));
}

#[test]
fn a_payment_naming_what_is_not_a_charge_is_refused_by_field() {
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(1_000, "P-1")),
    ]);
    given::<L>(events.clone())
        .when(command(
            3,
            T0,
            &[Role::Finance],
            Action::Pay {
                amount: Fen(1),
                reference: "P-2".into(),
                pays: Some(id(2)),
            },
        ))
        .then_err(LedgerError::WrongKind {
            field: "pays",
            id: id(2),
            kind: BookingKind::Payment,
            expected: BookingKind::Charge,
        });
    given::<L>(events)
        .when(command(
            3,
            T0,
            &[Role::Finance],
            Action::Pay {
                amount: Fen(1),
                reference: "P-2".into(),
                pays: Some(id(99)),
            },
        ))
        .then_err(LedgerError::UnknownBooking {
            field: "pays",
            id: id(99),
        });
}

#[test]
fn more_than_is_owed_becomes_the_customers_credit() {
    let events = given::<L>(charged())
        .when(command(2, T0, &[Role::Finance], pay(30_000, "P-1")))
        .then_ok();
    let ledger = ledger_of(&[charged(), events].concat());
    assert_eq!(ledger.customer_balance(), Fen(-8_000));
    assert_eq!(ledger.credit(), Ok(Fen(8_000)));
    assert!(ledger.open_items().is_empty());
}

#[test]
fn a_credit_pays_the_next_charge() {
    let events = history([
        command(1, T0, &[Role::Finance], pay(5_000, "P-1")),
        command(2, T0, &[], charge_action(20_000, 2_000)),
    ]);
    let ledger = ledger_of(&events);
    assert_eq!(open_of(&ledger, 2), Fen(17_000));
    assert_eq!(ledger.credit(), Ok(Fen::ZERO));
}

#[test]
fn a_payment_reference_applies_once() {
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(10_000, "P-1")),
    ]);
    // The same payment again, even under a new booking id, changes nothing.
    given::<L>(events.clone())
        .when(command(3, T0, &[Role::Finance], pay(10_000, " P-1 ")))
        .then_nothing();
    given::<L>(events)
        .when(command(3, T0, &[Role::Finance], pay(10_001, "P-1")))
        .then_err(LedgerError::ReferenceReused {
            reference: "P-1".into(),
            kind: BookingKind::Payment,
            applied: Fen(10_000),
            asked: Fen(10_001),
        });
}

#[test]
fn a_reference_cannot_be_both_a_payment_and_a_refund() {
    let events = history([command(1, T0, &[Role::Finance], pay(10_000, "X-1"))]);
    given::<L>(events)
        .when(command(
            2,
            T0,
            &[Role::Finance],
            Action::Refund {
                amount: Fen(10_000),
                reference: "X-1".into(),
            },
        ))
        .then_err_matching("ReferenceReused", |e| matches!(e, LedgerError::ReferenceReused { .. }));
}

#[test]
fn a_payment_needs_a_positive_amount_and_a_reference() {
    given::<L>([])
        .when(command(1, T0, &[Role::Finance], pay(0, "P-1")))
        .then_err(LedgerError::NotPositive {
            field: "amount".into(),
            amount: Fen(0),
        });
    given::<L>([])
        .when(command(1, T0, &[Role::Finance], pay(-5, "P-1")))
        .then_err(LedgerError::NotPositive {
            field: "amount".into(),
            amount: Fen(-5),
        });
    given::<L>([])
        .when(command(1, T0, &[Role::Finance], pay(5, "")))
        .then_err(LedgerError::Missing { field: "reference" });
    given::<L>([])
        .when(command(1, T0, &[Role::Finance], pay(5, &"x".repeat(129))))
        .then_err(LedgerError::TooLong {
            field: "reference",
            max: 128,
            actual: 129,
        });
}

#[test]
fn a_waiver_needs_a_supervisor_and_never_exceeds_what_is_open() {
    let waive = |amount| Action::Waive {
        charge: id(1),
        amount: Fen(amount),
    };
    given::<L>(charged())
        .when(command(2, T0, &[Role::Finance], waive(2_000)))
        .then_err(LedgerError::RoleRequired {
            action: "waive a charge",
            role: Role::Supervisor,
        });
    given::<L>(charged())
        .when(command(2, T0, &[Role::Supervisor], waive(22_001)))
        .then_err(LedgerError::ExceedsOpen {
            field: "amount".into(),
            charge: id(1),
            asked: Fen(22_001),
            open: Fen(22_000),
        });
    let events = given::<L>(charged())
        .when(command(2, T0, &[Role::Supervisor], waive(2_000)))
        .then_ok();
    assert_eq!(
        events[0].booking().postings,
        vec![
            Posting::debit(Account::Waivers, Fen(2_000)),
            Posting::credit(receivable(), Fen(2_000))
        ]
    );
    let ledger = ledger_of(&[charged(), events].concat());
    assert_eq!(open_of(&ledger, 1), Fen(20_000));
    // What was paid no longer counts as open for a waiver either.
    let paid = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(21_000, "P-1")),
    ]);
    given::<L>(paid)
        .when(command(3, T0, &[Role::Supervisor], waive(1_001)))
        .then_err_matching(
            "ExceedsOpen",
            |e| matches!(e, LedgerError::ExceedsOpen { open, .. } if *open == Fen(1_000)),
        );
}

#[test]
fn a_write_off_needs_a_supervisor_and_books_the_expense() {
    let write_off = Action::WriteOff {
        charge: id(1),
        amount: Fen(22_000),
    };
    given::<L>(charged())
        .when(command(2, T0, &[], write_off.clone()))
        .then_err(LedgerError::RoleRequired {
            action: "write a charge off",
            role: Role::Supervisor,
        });
    let events = given::<L>(charged())
        .when(command(2, T0, &[Role::Supervisor], write_off))
        .then_ok();
    let ledger = ledger_of(&[charged(), events].concat());
    assert_eq!(ledger.balance(&Account::WriteOffExpense), Fen(22_000));
    assert_eq!(ledger.customer_balance(), Fen::ZERO);
    assert!(ledger.open_items().is_empty());
}

#[test]
fn a_refund_needs_finance_and_never_exceeds_the_credit() {
    let refund = |amount| Action::Refund {
        amount: Fen(amount),
        reference: "RF-1".into(),
    };
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(25_000, "P-1")),
    ]);
    given::<L>(events.clone())
        .when(command(3, T0, &[Role::Supervisor], refund(3_000)))
        .then_err(LedgerError::RoleRequired {
            action: "book a refund",
            role: Role::Finance,
        });
    given::<L>(events.clone())
        .when(command(3, T0, &[Role::Finance], refund(3_001)))
        .then_err(LedgerError::ExceedsCredit {
            asked: Fen(3_001),
            credit: Fen(3_000),
        });
    let new = given::<L>(events.clone())
        .when(command(3, T0, &[Role::Finance], refund(3_000)))
        .then_ok();
    let ledger = ledger_of(&[events, new].concat());
    assert_eq!(ledger.customer_balance(), Fen::ZERO);
    assert_eq!(ledger.credit(), Ok(Fen::ZERO));
    assert_eq!(ledger.balance(&Account::Cash), Fen(22_000));
}

fn held() -> Vec<LedgerEvent> {
    history([
        command(
            1,
            T0,
            &[],
            Action::HoldDeposit {
                amount: Fen(200_000),
                order: order(),
            },
        ),
        command(2, T0, &[], charge_action(20_000, 2_000)),
    ])
}

#[test]
fn a_hold_reserves_the_deposit() {
    let ledger = ledger_of(&held());
    assert_eq!(ledger.deposit_held(), Fen(200_000));
    assert_eq!(ledger.balance(&deposits()), Fen(-200_000));
    let hold = ledger.hold(&id(1)).unwrap();
    assert!(!hold.is_resolved());
    assert_eq!(hold.remaining, Fen(200_000));
}

#[test]
fn a_deduction_posts_part_of_the_hold_and_releases_the_rest() {
    let deduct = Action::DeductDeposit {
        hold: id(1),
        against: vec![Apply {
            charge: id(2),
            amount: Fen(22_000),
        }],
        release: id(4),
    };
    let events = given::<L>(held()).when(command(3, T0, &[], deduct)).then_ok();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].booking().kind, BookingKind::DepositDeduction);
    assert_eq!(
        events[0].booking().postings,
        vec![
            Posting::debit(deposits(), Fen(22_000)),
            Posting::credit(receivable(), Fen(22_000))
        ]
    );
    assert_eq!(events[1].booking().kind, BookingKind::DepositRelease);
    assert_eq!(events[1].booking().id, id(4));
    assert_eq!(
        events[1].booking().postings,
        vec![
            Posting::debit(deposits(), Fen(178_000)),
            Posting::credit(Account::Cash, Fen(178_000))
        ]
    );
    let ledger = ledger_of(&[held(), events].concat());
    assert_eq!(ledger.deposit_held(), Fen::ZERO);
    assert!(ledger.open_items().is_empty());
    assert!(ledger.hold(&id(1)).unwrap().is_resolved());
}

#[test]
fn a_hold_resolves_exactly_once() {
    let release = Action::ReleaseDeposit { hold: id(1) };
    let only_hold = held()[..1].to_vec();
    let released = history([
        command(
            1,
            T0,
            &[],
            Action::HoldDeposit {
                amount: Fen(200_000),
                order: order(),
            },
        ),
        command(2, T0, &[], release.clone()),
    ]);
    assert_eq!(ledger_of(&released).deposit_held(), Fen::ZERO);
    given::<L>(released.clone())
        .when(command(3, T0, &[], release))
        .then_err(LedgerError::HoldResolved { hold: id(1), by: id(2) });
    given::<L>(released)
        .when(command(
            3,
            T0,
            &[],
            Action::DeductDeposit {
                hold: id(1),
                against: vec![],
                release: id(4),
            },
        ))
        .then_err(LedgerError::HoldResolved { hold: id(1), by: id(2) });
    given::<L>(only_hold)
        .when(command(2, T0, &[], Action::ReleaseDeposit { hold: id(9) }))
        .then_err(LedgerError::UnknownBooking {
            field: "hold",
            id: id(9),
        });
}

#[test]
fn a_deduction_never_takes_more_than_the_hold_or_the_charge() {
    let deduct = |amount, release| Action::DeductDeposit {
        hold: id(1),
        against: vec![Apply {
            charge: id(2),
            amount: Fen(amount),
        }],
        release: id(release),
    };
    given::<L>(held())
        .when(command(3, T0, &[], deduct(22_001, 4)))
        .then_err(LedgerError::ExceedsOpen {
            field: "against[0].amount".into(),
            charge: id(2),
            asked: Fen(22_001),
            open: Fen(22_000),
        });
    given::<L>(held())
        .when(command(3, T0, &[], deduct(1, 3)))
        .then_err(LedgerError::DuplicateBookingId { id: id(3) });
    let small_hold = history([
        command(
            1,
            T0,
            &[],
            Action::HoldDeposit {
                amount: Fen(10_000),
                order: order(),
            },
        ),
        command(2, T0, &[], charge_action(20_000, 2_000)),
    ]);
    given::<L>(small_hold)
        .when(command(3, T0, &[], deduct(20_000, 4)))
        .then_err(LedgerError::ExceedsHold {
            hold: id(1),
            asked: Fen(20_000),
            held: Fen(10_000),
        });
    given::<L>(held())
        .when(command(
            3,
            T0,
            &[],
            Action::DeductDeposit {
                hold: id(1),
                against: vec![
                    Apply {
                        charge: id(2),
                        amount: Fen(1),
                    },
                    Apply {
                        charge: id(2),
                        amount: Fen(1),
                    },
                ],
                release: id(4),
            },
        ))
        .then_err(LedgerError::NamedTwice {
            field: "against",
            id: id(2),
        });
}

#[test]
fn a_whole_deduction_needs_no_release() {
    let events = given::<L>(held()[..1].to_vec())
        .when(command(2, T0, &[], charge_action(190_000, 10_000)))
        .then_ok();
    let events = [held()[..1].to_vec(), events].concat();
    let new = given::<L>(events)
        .when(command(
            3,
            T0,
            &[],
            Action::DeductDeposit {
                hold: id(1),
                against: vec![Apply {
                    charge: id(2),
                    amount: Fen(200_000),
                }],
                release: id(4),
            },
        ))
        .then_ok();
    assert_eq!(new.len(), 1, "nothing is left to release");
}

#[test]
fn a_deposit_is_not_released_while_charges_of_its_hire_are_open() {
    given::<L>(held())
        .when(command(3, T0, &[], Action::ReleaseDeposit { hold: id(1) }))
        .then_err(LedgerError::OpenChargesOnHire {
            hold: id(1),
            order: order(),
            open: Fen(22_000),
        });
}

#[test]
fn a_reversal_books_the_opposite_postings_once() {
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(22_000, "P-1")),
    ]);
    let reverse = |n| command(n, T0, &[Role::Finance], Action::Reverse { booking: id(2) });
    let new = given::<L>(events.clone()).when(reverse(3)).then_ok();
    assert_eq!(new[0].booking().kind, BookingKind::Reversal);
    assert_eq!(
        new[0].booking().postings,
        vec![
            Posting::credit(Account::Cash, Fen(22_000)),
            Posting::debit(receivable(), Fen(22_000))
        ]
    );
    let all = [events, new].concat();
    let ledger = ledger_of(&all);
    // The charge is open again, and the payment's reference is still spent.
    assert_eq!(open_of(&ledger, 1), Fen(22_000));
    assert_eq!(ledger.reversed_by(&id(2)), Some(id(3)));
    given::<L>(all.clone())
        .when(reverse(4))
        .then_err(LedgerError::AlreadyReversed { id: id(2), by: id(3) });
    given::<L>(all.clone())
        .when(command(4, T0, &[Role::Finance], Action::Reverse { booking: id(3) }))
        .then_err(LedgerError::NotReversible {
            id: id(3),
            kind: BookingKind::Reversal,
        });
    given::<L>(all)
        .when(command(4, T0, &[Role::Finance], pay(22_000, "P-1")))
        .then_nothing();
}

#[test]
fn reversing_a_paid_charge_turns_the_payment_into_credit() {
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(2, T0, &[Role::Finance], pay(10_000, "P-1")),
    ]);
    given::<L>(events.clone())
        .when(command(3, T0, &[Role::Finance], Action::Reverse { booking: id(1) }))
        .then_err(LedgerError::RoleRequired {
            action: "reverse a charge, waiver or write-off",
            role: Role::Supervisor,
        });
    let new = given::<L>(events.clone())
        .when(command(3, T0, &[Role::Supervisor], Action::Reverse { booking: id(1) }))
        .then_ok();
    let ledger = ledger_of(&[events, new].concat());
    assert_eq!(ledger.customer_balance(), Fen(-10_000));
    assert_eq!(ledger.credit(), Ok(Fen(10_000)));
    assert_eq!(ledger.balance(&Account::FinesPayable), Fen::ZERO);
}

#[test]
fn a_charge_with_a_waiver_standing_is_not_reversed() {
    let events = history([
        command(1, T0, &[], charge_action(20_000, 2_000)),
        command(
            2,
            T0,
            &[Role::Supervisor],
            Action::Waive {
                charge: id(1),
                amount: Fen(2_000),
            },
        ),
    ]);
    given::<L>(events.clone())
        .when(command(3, T0, &[Role::Supervisor], Action::Reverse { booking: id(1) }))
        .then_err(LedgerError::AllowanceStands {
            charge: id(1),
            by: id(2),
            kind: BookingKind::Waiver,
        });
    // Reverse the waiver first, then the charge.
    let mut ledger = ledger_of(&events);
    for (n, target) in [(3, 2), (4, 1)] {
        let new = decide(
            &ledger,
            &command(n, T0, &[Role::Supervisor], Action::Reverse { booking: id(target) }),
        )
        .unwrap();
        ledger = new.iter().fold(ledger, |l, e| l.evolved(e));
    }
    assert!(ledger.balances().all(|(_, f)| f.is_zero()), "{ledger:?}");
}

#[test]
fn deposit_bookings_are_not_reversed() {
    given::<L>(held())
        .when(command(
            3,
            T0,
            &[Role::Finance, Role::Supervisor],
            Action::Reverse { booking: id(1) },
        ))
        .then_err(LedgerError::NotReversible {
            id: id(1),
            kind: BookingKind::DepositHold,
        });
    given::<L>(held())
        .when(command(3, T0, &[Role::Finance], Action::Reverse { booking: id(7) }))
        .then_err(LedgerError::UnknownBooking {
            field: "booking",
            id: id(7),
        });
}

#[test]
fn reversing_a_refunded_payment_leaves_the_refund_owed() {
    let events = history([
        command(1, T0, &[Role::Finance], pay(10_000, "P-1")),
        command(
            2,
            T0,
            &[Role::Finance],
            Action::Refund {
                amount: Fen(4_000),
                reference: "RF-1".into(),
            },
        ),
        command(3, T0, &[Role::Finance], Action::Reverse { booking: id(1) }),
    ]);
    let ledger = ledger_of(&events);
    assert_eq!(ledger.customer_balance(), Fen(4_000));
    let open = ledger.open_items();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].kind, open[0].open), (BookingKind::Refund, Fen(4_000)));
}

#[test]
fn a_ledger_belongs_to_one_customer_and_its_ids_name_one_booking() {
    let mut other = command(2, T0, &[], charge_action(1, 1));
    other.customer = CustomerId::parse("C-2").unwrap();
    given::<L>(charged()).when(other).then_err(LedgerError::WrongCustomer {
        ledger: customer(),
        command: CustomerId::parse("C-2").unwrap(),
    });
    given::<L>(charged())
        .when(command(1, T0, &[], charge_action(1, 1)))
        .then_err(LedgerError::DuplicateBookingId { id: id(1) });
}

#[test]
fn bookings_are_never_backdated() {
    given::<L>(charged())
        .when(command(2, T0 - Duration::seconds(1), &[], charge_action(1, 1)))
        .then_err(LedgerError::Backdated {
            at: T0 - Duration::seconds(1),
            latest: T0,
        });
}

#[test]
fn a_broken_history_refuses_every_command() {
    let mut ledger = ledger_of(&charged());
    // The charge booked again under its own id: a log that repeats an event.
    ledger = ledger.evolved(&charged()[0]);
    assert!(ledger.broken().is_some());
    given_state::<L>(ledger)
        .when(command(5, T0, &[], charge_action(1, 1)))
        .then_err_matching("Broken", |e| matches!(e, LedgerError::Broken { .. }));
}

#[test]
fn state_and_events_survive_serde() {
    let events = history([
        command(
            1,
            T0,
            &[],
            Action::HoldDeposit {
                amount: Fen(200_000),
                order: order(),
            },
        ),
        command(2, T0, &[], charge_action(20_000, 2_000)),
        command(3, T0, &[Role::Finance], pay(30_000, "P-1")),
    ]);
    let ledger = ledger_of(&events);
    let json = serde_json::to_string(&ledger).unwrap();
    assert_eq!(serde_json::from_str::<Ledger>(&json).unwrap(), ledger);
    for e in &events {
        let json = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<LedgerEvent>(&json).unwrap(), e);
    }
}

#[test]
fn the_statement_runs_the_balance_and_renders_csv() {
    let t1 = datetime!(2026-03-20 09:30 +08:00);
    let t2 = datetime!(2026-04-02 18:00 +08:00);
    let events = history([
        command(
            1,
            T0,
            &[],
            Action::HoldDeposit {
                amount: Fen(200_000),
                order: order(),
            },
        ),
        command(2, T0, &[], charge_action(20_000, 2_000)),
        LedgerCommand {
            memo: "=paid, \"by\" app".into(),
            ..command(3, t1, &[Role::Finance], pay(5_050, "P-1"))
        },
        command(4, t2, &[Role::Finance], pay(1_000, "P-2")),
    ]);
    let s = statement(&events, date!(2026 - 03 - 31)).unwrap();
    assert_eq!(s.lines.len(), 3, "the payment of April is after the date");
    let balances: Vec<Fen> = s.lines.iter().map(|l| l.balance).collect();
    assert_eq!(balances, vec![Fen(0), Fen(22_000), Fen(16_950)]);
    assert_eq!(
        s.balance,
        ledger_as_of(&events, date!(2026 - 03 - 31)).customer_balance()
    );
    assert_eq!(s.deposit_held, Fen(200_000));
    assert_eq!(s.open_items[0].open, Fen(16_950));
    let csv = s.to_csv().unwrap();
    let rows: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(rows[0], query::STATEMENT_CSV_HEADER);
    assert_eq!(
        rows[3],
        format!(
            "2026-03-20T09:30:00+08:00,{},payment,P-1,,,0.00,50.50,169.50,0.00,2000.00,\"'=paid, \"\"by\"\" app\"",
            id(3)
        )
    );
    assert!(
        rows[2].contains(",charge,V-1,,2026-03-16,220.00,0.00,220.00,"),
        "{}",
        rows[2]
    );
    assert_eq!(rows.len(), 5, "header, three lines and the final line end");
}

#[test]
fn ageing_counts_from_the_due_date_per_city() {
    let bj = CityCode::parse("BJS").unwrap();
    let charge = |n, amount, due, city: &CityCode| {
        command(
            n,
            T0,
            &[],
            Action::Charge {
                lines: vec![ChargeLine {
                    kind: ChargeKind::Fine,
                    amount: Fen(amount),
                }],
                due,
                about: format!("V-{n}"),
                order: None,
                city: city.clone(),
            },
        )
    };
    let events = history([
        charge(1, 100, date!(2026 - 06 - 01), &sha()),
        charge(2, 200, date!(2026 - 05 - 31), &sha()),
        charge(3, 300, date!(2026 - 05 - 02), &sha()),
        charge(4, 400, date!(2026 - 05 - 01), &bj),
        charge(5, 500, date!(2026 - 03 - 03), &bj),
        charge(6, 600, date!(2026 - 03 - 02), &bj),
    ]);
    let ledger = ledger_of(&events);
    let report = aging([&ledger], date!(2026 - 06 - 01)).unwrap();
    let sh = report.by_city[&Some(sha())];
    assert_eq!(
        (sh.current, sh.days_1_30, sh.days_31_60),
        (Fen(100), Fen(200 + 300), Fen(0))
    );
    let b = report.by_city[&Some(bj)];
    assert_eq!((b.days_31_60, b.days_61_90, b.over_90), (Fen(400), Fen(500), Fen(600)));
    assert_eq!(report.total.total(), Ok(Fen(2_100)));
    // As of a date before the charges nothing is open.
    let early = ledger_as_of(&events, date!(2026 - 02 - 28));
    assert_eq!(
        aging([&early], date!(2026 - 02 - 28)).unwrap().total,
        AgingBuckets::default()
    );
}

/// A repair charge of 500.00 due at the end of April: later than `charge_action`'s.
fn repair_due_later() -> Action {
    Action::Charge {
        lines: vec![ChargeLine {
            kind: ChargeKind::Repair,
            amount: Fen(50_000),
        }],
        due: date!(2026 - 04 - 30),
        about: "R-1".into(),
        order: None,
        city: sha(),
    }
}
