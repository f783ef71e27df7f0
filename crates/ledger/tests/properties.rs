//! The ledger's invariants over random sequences of operations, valid and not, with amounts
//! from a few fen to the edge of `i64`: after every step the books balance, every balance is
//! the sum of its entries, open items and holds stay within their amounts, a reversal and a
//! payment reference happen at most once, and nothing panics.
//!
//! The figures checked against are recomputed from the events in `i128`, apart from the code
//! under test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed step should stop it loudly

use std::collections::BTreeMap;

use proptest::prelude::*;
use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use rentops_ledger::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const START: OffsetDateTime = datetime!(2026-01-01 09:00 +08:00);

/// An amount: a fixed number of fen, or a share of what the target has open (so that waivers
/// and deductions that fit are generated as often as those that do not).
#[derive(Debug, Clone, Copy)]
enum Amount {
    Fen(i64),
    /// quarters of the target's open amount: 1 to 5 (5 is more than is open)
    Quarters(u8),
}

#[derive(Debug, Clone)]
enum Op {
    Charge {
        fine: i64,
        fee: i64,
        due_in_days: i64,
        city: bool,
        hire: u8,
    },
    Pay {
        amount: i64,
        reference: u8,
        pays: Option<u8>,
    },
    Waive {
        charge: u8,
        amount: Amount,
    },
    WriteOff {
        charge: u8,
        amount: Amount,
    },
    Refund {
        amount: Amount,
        reference: u8,
    },
    Hold {
        amount: i64,
        hire: u8,
    },
    Deduct {
        hold: u8,
        against: Vec<(u8, Amount)>,
    },
    Release {
        hold: u8,
    },
    Reverse {
        target: u8,
    },
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    roles: Vec<Role>,
    /// Minutes after the previous step; now and then negative, to try a backdated booking.
    minutes: i64,
}

fn fen() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 1i64..500_000,
        1 => -1_000i64..=0,
        1 => (i64::MAX / 4)..=i64::MAX,
        1 => Just(i64::MAX),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![fen().prop_map(Amount::Fen), (1u8..=5).prop_map(Amount::Quarters)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (fen(), fen(), -120i64..60, any::<bool>(), 0u8..3).prop_map(|(fine, fee, due_in_days, city, hire)| Op::Charge { fine, fee, due_in_days, city, hire }),
        4 => (fen(), 0u8..6, proptest::option::of(any::<u8>())).prop_map(|(amount, reference, pays)| Op::Pay { amount, reference, pays }),
        1 => (any::<u8>(), amount()).prop_map(|(charge, amount)| Op::Waive { charge, amount }),
        1 => (any::<u8>(), amount()).prop_map(|(charge, amount)| Op::WriteOff { charge, amount }),
        1 => (amount(), 0u8..6).prop_map(|(amount, reference)| Op::Refund { amount, reference }),
        2 => (fen(), 0u8..3).prop_map(|(amount, hire)| Op::Hold { amount, hire }),
        2 => (any::<u8>(), proptest::collection::vec((any::<u8>(), amount()), 0..3)).prop_map(|(hold, against)| Op::Deduct { hold, against }),
        1 => any::<u8>().prop_map(|hold| Op::Release { hold }),
        2 => any::<u8>().prop_map(|target| Op::Reverse { target }),
    ]
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    prop_oneof![
        1 => Just(vec![]),
        1 => Just(vec![Role::Supervisor]),
        1 => Just(vec![Role::Finance]),
        3 => Just(vec![Role::Supervisor, Role::Finance]),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (op(), roles(), prop_oneof![9 => 0i64..5_000, 1 => -60i64..0]).prop_map(|(op, roles, minutes)| Step {
        op,
        roles,
        minutes,
    })
}

fn customer() -> CustomerId {
    CustomerId::parse("C-7").unwrap()
}

fn hire(n: u8) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(0x1000 + u128::from(n))).unwrap()
}

/// The run so far: the ledger, its events, and a source of fresh ids.
struct Run {
    ledger: Ledger,
    events: Vec<LedgerEvent>,
    next_id: u128,
    at: OffsetDateTime,
}

impl Run {
    fn fresh(&mut self) -> BookingId {
        self.next_id += 1;
        BookingId(Uuid::from_u128(self.next_id))
    }

    /// A booking already made, picked by `n`; now and then one that does not exist.
    fn pick(&self, n: u8) -> BookingId {
        if n == u8::MAX || self.events.is_empty() {
            return BookingId(Uuid::from_u128(u128::MAX));
        }
        self.events[usize::from(n) % self.events.len()].booking().id
    }

    /// A booking of `kind` picked by `n`; one in eight picks any booking (mostly of another
    /// kind), to be refused.
    fn pick_kind(&self, n: u8, kind: BookingKind) -> BookingId {
        let of_kind: Vec<BookingId> = self
            .events
            .iter()
            .map(LedgerEvent::booking)
            .filter(|b| b.kind == kind)
            .map(|b| b.id)
            .collect();
        if n.is_multiple_of(8) || of_kind.is_empty() {
            return self.pick(n);
        }
        of_kind[usize::from(n) % of_kind.len()]
    }

    fn resolve(&self, amount: Amount, open: Fen) -> Fen {
        match amount {
            Amount::Fen(f) => Fen(f),
            Amount::Quarters(q) => {
                Fen((i128::from(open.fen()) * i128::from(q) / 4).clamp(1, i128::from(i64::MAX)) as i64)
            }
        }
    }

    fn open_of(&self, id: &BookingId) -> Fen {
        self.ledger.item(id).map(|i| i.open).unwrap_or(Fen(1))
    }

    fn command(&mut self, step: &Step) -> LedgerCommand {
        self.at += Duration::minutes(step.minutes);
        let booking = self.fresh();
        let action = match &step.op {
            Op::Charge {
                fine,
                fee,
                due_in_days,
                city,
                hire: h,
            } => Action::Charge {
                lines: vec![
                    ChargeLine {
                        kind: ChargeKind::Fine,
                        amount: Fen(*fine),
                    },
                    ChargeLine {
                        kind: ChargeKind::ServiceFee,
                        amount: Fen(*fee),
                    },
                ],
                due: self.at.date() + Duration::days(*due_in_days),
                about: format!("V-{}", booking.0.as_u128()),
                order: Some(hire(*h)),
                city: CityCode::parse(if *city { "SHA" } else { "BJS" }).unwrap(),
            },
            Op::Pay {
                amount,
                reference,
                pays,
            } => Action::Pay {
                amount: Fen(*amount),
                reference: format!("P-{reference}"),
                pays: pays.map(|p| self.pick_kind(p, BookingKind::Charge)),
            },
            Op::Waive { charge, amount } => {
                let charge = self.pick_kind(*charge, BookingKind::Charge);
                Action::Waive {
                    charge,
                    amount: self.resolve(*amount, self.open_of(&charge)),
                }
            }
            Op::WriteOff { charge, amount } => {
                let charge = self.pick_kind(*charge, BookingKind::Charge);
                Action::WriteOff {
                    charge,
                    amount: self.resolve(*amount, self.open_of(&charge)),
                }
            }
            Op::Refund { amount, reference } => Action::Refund {
                amount: self.resolve(*amount, self.ledger.credit().unwrap_or(Fen(1))),
                reference: format!("R-{reference}"),
            },
            Op::Hold { amount, hire: h } => Action::HoldDeposit {
                amount: Fen(*amount),
                order: hire(*h),
            },
            Op::Deduct { hold, against } => {
                let hold = self.pick_kind(*hold, BookingKind::DepositHold);
                let against = against
                    .iter()
                    .map(|(c, a)| {
                        let charge = self.pick_kind(*c, BookingKind::Charge);
                        Apply {
                            charge,
                            amount: self.resolve(*a, self.open_of(&charge)),
                        }
                    })
                    .collect();
                Action::DeductDeposit {
                    hold,
                    against,
                    release: self.fresh(),
                }
            }
            Op::Release { hold } => Action::ReleaseDeposit {
                hold: self.pick_kind(*hold, BookingKind::DepositHold),
            },
            Op::Reverse { target } => Action::Reverse {
                booking: self.pick(*target),
            },
        };
        LedgerCommand {
            customer: customer(),
            booking,
            at: self.at,
            roles: step.roles.clone(),
            memo: String::new(),
            action,
        }
    }
}

/// Every account's balance recomputed from the events, exactly.
fn balances_of(events: &[LedgerEvent]) -> BTreeMap<Account, i128> {
    let mut balances = BTreeMap::new();
    for e in events {
        for p in &e.booking().postings {
            let signed = match p.side {
                Side::Debit => i128::from(p.amount.fen()),
                Side::Credit => -i128::from(p.amount.fen()),
            };
            *balances.entry(p.account.clone()).or_insert(0) += signed;
        }
    }
    balances
}

fn check_invariants(run: &Run, new: &[LedgerEvent]) -> Result<(), TestCaseError> {
    let ledger = &run.ledger;
    prop_assert!(ledger.broken().is_none(), "the ledger broke: {:?}", ledger.broken());
    for e in new {
        let b = e.booking();
        let (mut debits, mut credits) = (0i128, 0i128);
        for p in &b.postings {
            prop_assert!(p.amount > Fen::ZERO, "a posting of {} in {b:?}", p.amount);
            match p.side {
                Side::Debit => debits += i128::from(p.amount.fen()),
                Side::Credit => credits += i128::from(p.amount.fen()),
            }
        }
        prop_assert_eq!(debits, credits, "booking {} does not balance", b.id);
    }

    // The books balance, and each balance is the sum of its entries.
    let expected = balances_of(&run.events);
    let total: i128 = ledger.balances().map(|(_, f)| i128::from(f.fen())).sum();
    prop_assert_eq!(total, 0, "the books do not balance");
    for (account, sum) in &expected {
        prop_assert_eq!(
            i128::from(ledger.balance(account).fen()),
            *sum,
            "the balance of {}",
            account
        );
    }
    let receivable = expected.get(&Account::Receivable(customer())).copied().unwrap_or(0);
    prop_assert_eq!(i128::from(ledger.customer_balance().fen()), receivable);

    // The open items explain the balance: open debits minus open credits.
    let mut open_debits = 0i128;
    let mut open_credits = 0i128;
    for e in &run.events {
        if let Some(item) = ledger.item(&e.booking().id) {
            prop_assert!(item.open >= Fen::ZERO && item.open <= item.amount, "item {:?}", item);
            let matched: i128 = item.matches.values().map(|f| i128::from(f.fen())).sum();
            prop_assert_eq!(matched + i128::from(item.open.fen()), i128::from(item.amount.fen()));
            match item.side {
                Side::Debit => open_debits += i128::from(item.open.fen()),
                Side::Credit => open_credits += i128::from(item.open.fen()),
            }
        }
    }
    prop_assert_eq!(
        open_debits - open_credits,
        receivable,
        "open items do not add up to the balance"
    );
    prop_assert!(
        open_debits == 0 || open_credits == 0,
        "open charges {} beside a credit {}",
        open_debits,
        open_credits
    );
    let listed: i128 = ledger.open_items().iter().map(|i| i128::from(i.open.fen())).sum();
    prop_assert_eq!(listed, open_debits);

    // Deposits: never below zero, each hold within its amount and resolved at most once.
    prop_assert!(ledger.deposit_held() >= Fen::ZERO);
    let deposits = expected.get(&Account::DepositsHeld(customer())).copied().unwrap_or(0);
    prop_assert!(deposits <= 0, "deposits held went below zero: {}", deposits);
    let mut resolutions: BTreeMap<BookingId, (usize, usize, i128)> = BTreeMap::new();
    for e in &run.events {
        let b = e.booking();
        if matches!(b.kind, BookingKind::DepositDeduction | BookingKind::DepositRelease) {
            let hold = b.about.ok_or_else(|| TestCaseError::fail("a resolution of no hold"))?;
            let entry = resolutions.entry(hold).or_default();
            if b.kind == BookingKind::DepositDeduction {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            entry.2 += i128::from(b.postings[0].amount.fen());
        }
    }
    let mut held = 0i128;
    for (id, hold) in ledger.holds() {
        prop_assert!(
            hold.remaining >= Fen::ZERO && hold.remaining <= hold.amount,
            "hold {:?}",
            hold
        );
        let (deductions, releases, taken) = resolutions.get(id).copied().unwrap_or_default();
        prop_assert!(deductions <= 1 && releases <= 1, "hold {} resolved more than once", id);
        prop_assert_eq!(taken + i128::from(hold.remaining.fen()), i128::from(hold.amount.fen()));
        prop_assert_eq!(hold.is_resolved(), hold.remaining.is_zero(), "hold {:?}", hold);
        held += i128::from(hold.remaining.fen());
    }
    prop_assert_eq!(-deposits, held, "the deposits held are the holds' remainders");

    // A booking is reversed at most once, and never a reversal or a deposit booking; a
    // payment or refund reference is booked at most once.
    let mut reversals: BTreeMap<BookingId, usize> = BTreeMap::new();
    let mut references: BTreeMap<String, usize> = BTreeMap::new();
    let kinds: BTreeMap<BookingId, BookingKind> =
        run.events.iter().map(|e| (e.booking().id, e.booking().kind)).collect();
    for e in &run.events {
        let b = e.booking();
        match b.kind {
            BookingKind::Reversal => {
                let of = b.about.ok_or_else(|| TestCaseError::fail("a reversal of nothing"))?;
                *reversals.entry(of).or_default() += 1;
                prop_assert!(
                    matches!(
                        kinds.get(&of),
                        Some(
                            BookingKind::Charge
                                | BookingKind::Payment
                                | BookingKind::Waiver
                                | BookingKind::WriteOff
                                | BookingKind::Refund
                        )
                    ),
                    "reversed a {:?}",
                    kinds.get(&of)
                );
            }
            BookingKind::Payment | BookingKind::Refund => {
                *references.entry(b.reference.clone().unwrap_or_default()).or_default() += 1;
            }
            _ => {}
        }
    }
    prop_assert!(reversals.values().all(|n| *n == 1), "{:?}", reversals);
    prop_assert!(references.values().all(|n| *n == 1), "{:?}", references);
    Ok(())
}

fn run(steps: &[Step]) -> Result<Run, TestCaseError> {
    let mut run = Run {
        ledger: Ledger::default(),
        events: vec![],
        next_id: 0,
        at: START,
    };
    for step in steps {
        let command = run.command(step);
        match decide(&run.ledger, &command) {
            Ok(new) => {
                for e in &new {
                    run.ledger = run.ledger.clone().evolved(e);
                    run.events.push(e.clone());
                }
                check_invariants(&run, &new)?;
                // A payment or refund sent again, under a new id, changes nothing.
                if !new.is_empty() && matches!(command.action, Action::Pay { .. } | Action::Refund { .. }) {
                    let again = LedgerCommand {
                        booking: run.fresh(),
                        ..command.clone()
                    };
                    prop_assert_eq!(decide(&run.ledger, &again), Ok(vec![]));
                }
                // A payment that names no charge settles the charges oldest due first.
                if let (Action::Pay { pays: None, .. }, Some(e)) = (&command.action, new.first()) {
                    let key = |id: &BookingId| run.ledger.item(id).map(|i| (i.due, i.seq));
                    let still_open: Vec<_> = run.ledger.open_items().iter().map(|i| key(&i.booking)).collect();
                    for m in &e.settlement().applied {
                        let paid = key(&m.debit);
                        prop_assert!(
                            still_open.iter().all(|o| paid <= *o),
                            "paid {:?} before an older open {:?}",
                            paid,
                            still_open
                        );
                    }
                }
            }
            Err(LedgerError::Inconsistent { .. } | LedgerError::Broken { .. }) => {
                return Err(TestCaseError::fail(format!(
                    "{command:?} found the ledger inconsistent"
                )));
            }
            Err(LedgerError::Backdated { latest, .. }) => {
                // The clock of the desk goes on from the latest booking.
                run.at = latest;
            }
            Err(_) => {
                // A refusal books nothing: the ledger is the fold of the events, unchanged.
            }
        }
    }
    Ok(run)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_invariants_hold_after_every_step(steps in proptest::collection::vec(step(), 1..60)) {
        let run = run(&steps)?;
        // The state is what its events fold to, survives a snapshot, and the statement agrees.
        let folded = run.events.iter().fold(Ledger::default(), |l, e| l.evolved(e));
        prop_assert_eq!(&folded, &run.ledger);
        let json = serde_json::to_string(&run.ledger).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Ledger>(&json).unwrap(), &run.ledger);
        let compact = run.ledger.to_compact();
        prop_assert_eq!(&Ledger::from_compact(&compact).unwrap(), &run.ledger);
        // Cut short or with a byte changed, it is refused or read as some ledger: never a panic.
        for cut in [0, 1, compact.len() / 2, compact.len().saturating_sub(1)] {
            prop_assert!(Ledger::from_compact(&compact[..cut]).is_err());
        }
        let mut bent = compact.clone();
        if let Some(b) = bent.get_mut(compact.len() / 3) {
            *b ^= 0x5a;
        }
        let _ = Ledger::from_compact(&bent);
        let last = run.at.date();
        let s = statement(&run.events, last).unwrap();
        prop_assert_eq!(s.balance, run.ledger.customer_balance());
        prop_assert_eq!(s.deposit_held, run.ledger.deposit_held());
        prop_assert_eq!(s.lines.len(), run.events.len());
        let report = aging([&run.ledger], last).unwrap();
        let open: i128 = run.ledger.open_items().iter().map(|i| i128::from(i.open.fen())).sum();
        prop_assert_eq!(i128::from(report.total.total().unwrap().fen()), open);
    }

    #[test]
    fn the_ledger_as_of_a_date_is_the_ledger_as_it_stood(steps in proptest::collection::vec(step(), 1..40), cut in any::<prop::sample::Index>()) {
        let run = run(&steps)?;
        prop_assume!(!run.events.is_empty());
        let date = run.events[cut.index(run.events.len())].booking().booked_at.date();
        let prefix: Vec<LedgerEvent> = run.events.iter().filter(|e| e.booking().booked_at.date() <= date).cloned().collect();
        let expected = prefix.iter().fold(Ledger::default(), |l, e| l.evolved(e));
        prop_assert_eq!(ledger_as_of(&run.events, date), expected);
    }

    #[test]
    fn a_payment_within_range_with_a_new_reference_is_always_booked(
        steps in proptest::collection::vec(step(), 0..30),
        amount in 1i64..1_000_000_000,
    ) {
        let mut run = run(&steps)?;
        // Far from the edge of i64, a finance user's new payment has no reason to be refused.
        prop_assume!(run.ledger.balances().all(|(_, f)| f.fen().abs() < i64::MAX / 4));
        let command = LedgerCommand {
            customer: customer(),
            booking: run.fresh(),
            at: run.events.last().map_or(run.at, |e| e.booking().booked_at.max(run.at)) + Duration::minutes(1),
            roles: vec![Role::Finance],
            memo: String::new(),
            action: Action::Pay { amount: Fen(amount), reference: "NEW".into(), pays: None },
        };
        let new = decide(&run.ledger, &command);
        prop_assert!(matches!(&new, Ok(events) if events.len() == 1), "{:?}", new);
        let before = run.ledger.customer_balance();
        let after = new.unwrap().iter().fold(run.ledger.clone(), |l, e| l.evolved(e));
        prop_assert_eq!(after.customer_balance(), before.checked_sub(Fen(amount)).unwrap());
    }
}
