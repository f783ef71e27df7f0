//! The ledger's rules (`decide`): which bookings a command makes, or which rule it breaks.
//!
//! Every booking `decide` makes is applied with checked arithmetic, before it is handed out, to
//! a copy of the part of the ledger it reads and changes (the balances, the holds, the items it
//! matches or reverses), so an amount that would overflow any balance is refused here and a
//! stored event always applies; the rest of the ledger is not copied.

use std::collections::{BTreeMap, BTreeSet};

use rentops_kernel::{Aggregate, Fen};
use time::Date;

use crate::account::{Account, Posting, Side};
use crate::booking::{Booking, BookingId, BookingKind, Match, Settlement};
use crate::command::{Action, Apply, LedgerCommand, Role};
use crate::error::LedgerError;
use crate::event::LedgerEvent;
use crate::state::{Item, Ledger};

/// References and the violation or claim a charge is about: at most this many characters.
pub const MAX_REFERENCE: usize = 128;
pub const MAX_MEMO: usize = 1_000;

/// One customer's ledger as an aggregate of the event log.
pub struct CustomerLedger;

impl Aggregate for CustomerLedger {
    const TYPE: &'static str = "ledger";
    type State = Ledger;
    type Command = LedgerCommand;
    type Event = LedgerEvent;
    type Error = LedgerError;

    fn decide(state: &Ledger, command: &LedgerCommand) -> Result<Vec<LedgerEvent>, LedgerError> {
        decide(state, command)
    }

    fn evolve(state: Ledger, event: &LedgerEvent) -> Ledger {
        state.evolved(event)
    }
}

/// The bookings `command` makes on `ledger`, in order, or the rule it breaks. An empty list: a
/// repeat of a payment or refund already applied.
pub fn decide(ledger: &Ledger, command: &LedgerCommand) -> Result<Vec<LedgerEvent>, LedgerError> {
    if let Some(reason) = &ledger.broken {
        return Err(LedgerError::Broken { reason: reason.clone() });
    }
    if let Some(customer) = &ledger.customer
        && customer != &command.customer
    {
        return Err(LedgerError::WrongCustomer {
            ledger: customer.clone(),
            command: command.customer.clone(),
        });
    }
    if let Some(latest) = ledger.last_booked_at
        && command.at < latest
    {
        return Err(LedgerError::Backdated { at: command.at, latest });
    }
    let memo = command.memo.trim().to_owned();
    check_length("memo", &memo, MAX_MEMO)?;
    // A repeat is recognised by its reference before its id: a client that retries may well
    // have made a new id.
    if let Action::Pay { amount, reference, .. } | Action::Refund { amount, reference } = &command.action {
        let kind = match command.action {
            Action::Pay { .. } => BookingKind::Payment,
            _ => BookingKind::Refund,
        };
        let reference = text("reference", reference, MAX_REFERENCE)?;
        if let Some(seen) = ledger.references.get(&reference) {
            if seen.kind == kind && seen.amount == *amount {
                return Ok(Vec::new());
            }
            return Err(LedgerError::ReferenceReused {
                reference,
                kind: seen.kind,
                applied: seen.amount,
                asked: *amount,
            });
        }
    }
    if ledger.ids.contains(&command.booking) {
        return Err(LedgerError::DuplicateBookingId { id: command.booking });
    }
    let mut decision = Decision {
        ledger,
        probe: ledger.part(),
        command,
        memo,
        events: Vec::new(),
    };
    decision.run()?;
    Ok(decision.events)
}

/// A decision in progress. It reads the ledger as it was (every read comes before the first
/// booking, or is of the part the bookings changed), and applies each booking it makes to
/// `probe`: not a copy of the whole ledger, only of what the bookings read and change (see
/// [`Ledger::part`]), so a decision costs what it touches, not what the ledger holds.
struct Decision<'a> {
    ledger: &'a Ledger,
    probe: Ledger,
    command: &'a LedgerCommand,
    memo: String,
    events: Vec<LedgerEvent>,
}

impl Decision<'_> {
    fn run(&mut self) -> Result<(), LedgerError> {
        let c = self.command;
        let customer = &c.customer;
        let receivable = Account::Receivable(customer.clone());
        let deposits = Account::DepositsHeld(customer.clone());
        match &c.action {
            Action::Charge {
                lines,
                due,
                about,
                order,
                city,
            } => {
                let about = text("about", about, MAX_REFERENCE)?;
                if lines.is_empty() {
                    return Err(LedgerError::Missing { field: "lines" });
                }
                let mut postings = vec![];
                let mut total = Fen::ZERO;
                for (i, line) in lines.iter().enumerate() {
                    positive(format!("lines[{i}].amount"), line.amount)?;
                    total = total
                        .checked_add(line.amount)
                        .ok_or_else(|| LedgerError::overflow("the charge's total"))?;
                    postings.push(Posting::credit(line.kind.account(), line.amount));
                }
                postings.insert(0, Posting::debit(receivable, total));
                let mut booking = self.booking(c.booking, BookingKind::Charge, postings);
                booking.due = Some(*due);
                booking.reference = Some(about);
                booking.order = *order;
                booking.city = Some(city.clone());
                let settlement = self.plan(Some((c.booking, Side::Debit, *due, total)), &[], None)?;
                self.book(booking, settlement)
            }
            Action::Pay {
                amount,
                reference,
                pays,
            } => {
                self.require(Role::Finance, "book a payment")?;
                positive("amount", *amount)?;
                let mut targeted = vec![];
                if let Some(charge) = pays {
                    let open = self.charge("pays", charge)?.open;
                    let part = (*amount).min(open);
                    if part > Fen::ZERO {
                        targeted.push(Match {
                            debit: *charge,
                            credit: c.booking,
                            amount: part,
                        });
                    }
                }
                let postings = vec![
                    Posting::debit(Account::Cash, *amount),
                    Posting::credit(receivable, *amount),
                ];
                let mut booking = self.booking(c.booking, BookingKind::Payment, postings);
                booking.reference = Some(text("reference", reference, MAX_REFERENCE)?);
                booking.about = *pays;
                let settlement = self.plan(Some((c.booking, Side::Credit, c.at.date(), *amount)), &targeted, None)?;
                self.book(booking, settlement)
            }
            Action::Waive { charge, amount } | Action::WriteOff { charge, amount } => {
                let (kind, account, action) = match c.action {
                    Action::Waive { .. } => (BookingKind::Waiver, Account::Waivers, "waive a charge"),
                    _ => (BookingKind::WriteOff, Account::WriteOffExpense, "write a charge off"),
                };
                self.require(Role::Supervisor, action)?;
                positive("amount", *amount)?;
                let item = self.charge("charge", charge)?;
                if *amount > item.open {
                    return Err(LedgerError::ExceedsOpen {
                        field: "amount".into(),
                        charge: *charge,
                        asked: *amount,
                        open: item.open,
                    });
                }
                let (order, city) = (item.order, item.city.clone());
                let postings = vec![Posting::debit(account, *amount), Posting::credit(receivable, *amount)];
                let mut booking = self.booking(c.booking, kind, postings);
                booking.about = Some(*charge);
                booking.order = order;
                booking.city = city;
                let targeted = [Match {
                    debit: *charge,
                    credit: c.booking,
                    amount: *amount,
                }];
                let settlement = self.plan(Some((c.booking, Side::Credit, c.at.date(), *amount)), &targeted, None)?;
                self.book(booking, settlement)
            }
            Action::Refund { amount, reference } => {
                self.require(Role::Finance, "book a refund")?;
                positive("amount", *amount)?;
                // Open debits and open credits never stand side by side (every booking settles
                // them), so the open credits are the customer's credit.
                let credit = self.ledger.credit()?;
                if *amount > credit {
                    return Err(LedgerError::ExceedsCredit { asked: *amount, credit });
                }
                let postings = vec![
                    Posting::debit(receivable, *amount),
                    Posting::credit(Account::Cash, *amount),
                ];
                let mut booking = self.booking(c.booking, BookingKind::Refund, postings);
                booking.reference = Some(text("reference", reference, MAX_REFERENCE)?);
                let settlement = self.plan(Some((c.booking, Side::Debit, c.at.date(), *amount)), &[], None)?;
                self.book(booking, settlement)
            }
            Action::HoldDeposit { amount, order } => {
                positive("amount", *amount)?;
                let postings = vec![
                    Posting::debit(Account::Cash, *amount),
                    Posting::credit(deposits, *amount),
                ];
                let mut booking = self.booking(c.booking, BookingKind::DepositHold, postings);
                booking.order = Some(*order);
                self.book(booking, Settlement::default())
            }
            Action::DeductDeposit { hold, against, release } => {
                let (order, remaining) = self.unresolved_hold(hold)?;
                if against.is_empty() {
                    return Err(LedgerError::Missing { field: "against" });
                }
                if *release == c.booking || self.ledger.ids.contains(release) {
                    return Err(LedgerError::DuplicateBookingId { id: *release });
                }
                let mut named = BTreeSet::new();
                let mut total = Fen::ZERO;
                let mut targeted = vec![];
                for (i, Apply { charge, amount }) in against.iter().enumerate() {
                    positive(format!("against[{i}].amount"), *amount)?;
                    if !named.insert(*charge) {
                        return Err(LedgerError::NamedTwice {
                            field: "against",
                            id: *charge,
                        });
                    }
                    let open = self.charge("against", charge)?.open;
                    if *amount > open {
                        return Err(LedgerError::ExceedsOpen {
                            field: format!("against[{i}].amount"),
                            charge: *charge,
                            asked: *amount,
                            open,
                        });
                    }
                    total = total
                        .checked_add(*amount)
                        .ok_or_else(|| LedgerError::overflow("the deduction's total"))?;
                    targeted.push(Match {
                        debit: *charge,
                        credit: c.booking,
                        amount: *amount,
                    });
                }
                if total > remaining {
                    return Err(LedgerError::ExceedsHold {
                        hold: *hold,
                        asked: total,
                        held: remaining,
                    });
                }
                let postings = vec![
                    Posting::debit(deposits.clone(), total),
                    Posting::credit(receivable, total),
                ];
                let mut booking = self.booking(c.booking, BookingKind::DepositDeduction, postings);
                booking.about = Some(*hold);
                booking.order = Some(order);
                let settlement = self.plan(Some((c.booking, Side::Credit, c.at.date(), total)), &targeted, None)?;
                self.book(booking, settlement)?;
                // Post part, void the rest: what is not deducted goes back in the same decision.
                let rest = remaining
                    .checked_sub(total)
                    .ok_or_else(|| LedgerError::overflow("the hold's rest"))?;
                if rest > Fen::ZERO {
                    self.release(*release, *hold, order, rest)?;
                }
                Ok(())
            }
            Action::ReleaseDeposit { hold } => {
                let (order, remaining) = self.unresolved_hold(hold)?;
                let open = Fen::try_sum(
                    self.ledger
                        .open_items()
                        .into_iter()
                        .filter(|i| i.order == Some(order))
                        .map(|i| i.open),
                )
                .map_err(|_| LedgerError::overflow("the hire's open charges"))?;
                if open > Fen::ZERO {
                    return Err(LedgerError::OpenChargesOnHire {
                        hold: *hold,
                        order,
                        open,
                    });
                }
                self.release(c.booking, *hold, order, remaining)
            }
            Action::Reverse { booking: target } => self.reverse(*target),
        }
    }

    fn reverse(&mut self, target: BookingId) -> Result<(), LedgerError> {
        let c = self.command;
        if let Some(by) = self.ledger.reversed.get(&target) {
            return Err(LedgerError::AlreadyReversed { id: target, by: *by });
        }
        let Some(postings) = self.ledger.reversible.get(&target).cloned() else {
            let kind = self.kind_of(&target).ok_or(LedgerError::UnknownBooking {
                field: "booking",
                id: target,
            })?;
            return Err(LedgerError::NotReversible { id: target, kind });
        };
        let item = self.ledger.items.get(&target).ok_or(LedgerError::Inconsistent {
            booking: target,
            reason: "a reversible booking has no item".into(),
        })?;
        let (kind, order, city) = (item.kind, item.order, item.city.clone());
        match kind {
            BookingKind::Charge | BookingKind::Waiver | BookingKind::WriteOff => {
                self.require(Role::Supervisor, "reverse a charge, waiver or write-off")?
            }
            _ => self.require(Role::Finance, "reverse a payment or refund")?,
        }
        if kind == BookingKind::Charge
            && let Some((by, allowance)) = item.matches.keys().find_map(|by| {
                let k = self.ledger.items.get(by)?.kind;
                matches!(k, BookingKind::Waiver | BookingKind::WriteOff).then_some((*by, k))
            })
        {
            return Err(LedgerError::AllowanceStands {
                charge: target,
                by,
                kind: allowance,
            });
        }
        let mut booking = self.booking(
            c.booking,
            BookingKind::Reversal,
            postings.iter().map(Posting::reversed).collect(),
        );
        booking.about = Some(target);
        booking.order = order;
        booking.city = city;
        let settlement = self.plan(None, &[], Some(target))?;
        self.book(booking, settlement)
    }

    fn release(
        &mut self,
        id: BookingId,
        hold: BookingId,
        order: rentops_kernel::OrderId,
        amount: Fen,
    ) -> Result<(), LedgerError> {
        let deposits = Account::DepositsHeld(self.command.customer.clone());
        let postings = vec![Posting::debit(deposits, amount), Posting::credit(Account::Cash, amount)];
        let mut booking = self.booking(id, BookingKind::DepositRelease, postings);
        booking.about = Some(hold);
        booking.order = Some(order);
        self.book(booking, Settlement::default())
    }

    fn booking(&self, id: BookingId, kind: BookingKind, postings: Vec<Posting>) -> Booking {
        Booking {
            id,
            kind,
            customer: self.command.customer.clone(),
            booked_at: self.command.at,
            postings,
            due: None,
            reference: None,
            about: None,
            order: None,
            city: None,
            memo: self.memo.clone(),
        }
    }

    /// Applies the booking to the probe (which checks every sum) and keeps its event.
    fn book(&mut self, booking: Booking, settlement: Settlement) -> Result<(), LedgerError> {
        let event = LedgerEvent::Booked { booking, settlement };
        self.probe.take_part(self.ledger, &event);
        self.probe.apply(&event)?;
        self.events.push(event);
        Ok(())
    }

    fn require(&self, role: Role, action: &'static str) -> Result<(), LedgerError> {
        if self.command.roles.contains(&role) {
            Ok(())
        } else {
            Err(LedgerError::RoleRequired { action, role })
        }
    }

    fn kind_of(&self, id: &BookingId) -> Option<BookingKind> {
        if let Some(item) = self.ledger.items.get(id) {
            return Some(item.kind);
        }
        if self.ledger.holds.contains_key(id) {
            return Some(BookingKind::DepositHold);
        }
        if self.ledger.holds.values().any(|h| h.release == Some(*id)) {
            return Some(BookingKind::DepositRelease);
        }
        if self.ledger.reversed.values().any(|r| r == id) {
            return Some(BookingKind::Reversal);
        }
        None
    }

    /// The charge `id` names in `field`, standing (not reversed).
    fn charge(&self, field: &'static str, id: &BookingId) -> Result<&Item, LedgerError> {
        if let Some(by) = self.ledger.reversed.get(id) {
            return Err(LedgerError::AlreadyReversed { id: *id, by: *by });
        }
        match self.ledger.items.get(id) {
            Some(item) if item.kind == BookingKind::Charge => Ok(item),
            Some(item) => Err(LedgerError::WrongKind {
                field,
                id: *id,
                kind: item.kind,
                expected: BookingKind::Charge,
            }),
            None => match self.kind_of(id) {
                Some(kind) => Err(LedgerError::WrongKind {
                    field,
                    id: *id,
                    kind,
                    expected: BookingKind::Charge,
                }),
                None => Err(LedgerError::UnknownBooking { field, id: *id }),
            },
        }
    }

    /// The hire and the amount of a hold that is still pending.
    fn unresolved_hold(&self, id: &BookingId) -> Result<(rentops_kernel::OrderId, Fen), LedgerError> {
        let Some(hold) = self.ledger.holds.get(id) else {
            return Err(match self.kind_of(id) {
                Some(kind) => LedgerError::WrongKind {
                    field: "hold",
                    id: *id,
                    kind,
                    expected: BookingKind::DepositHold,
                },
                None => LedgerError::UnknownBooking { field: "hold", id: *id },
            });
        };
        if let Some(by) = hold.deduction.or(hold.release) {
            return Err(LedgerError::HoldResolved { hold: *id, by });
        }
        Ok((hold.order, hold.remaining))
    }

    /// How a booking changes the open items: the matches a reversal of `removed` undoes, the
    /// `targeted` matches the command asks for, and then the open debits (oldest due first)
    /// settled with the open credits (oldest first) until one side is used up.
    fn plan(
        &self,
        new: Option<(BookingId, Side, Date, Fen)>,
        targeted: &[Match],
        removed: Option<BookingId>,
    ) -> Result<Settlement, LedgerError> {
        struct Open {
            side: Side,
            key: (Date, u64),
            open: Fen,
        }
        let items = &self.ledger.items;
        let mut work: BTreeMap<BookingId, Open> = items
            .iter()
            .filter(|(id, i)| i.open > Fen::ZERO && Some(**id) != removed)
            .map(|(id, i)| {
                let key = match i.side {
                    Side::Debit => (i.due, i.seq),
                    // Credits are used in the order they came: the sequence alone orders them.
                    Side::Credit => (Date::MIN, i.seq),
                };
                (
                    *id,
                    Open {
                        side: i.side,
                        key,
                        open: i.open,
                    },
                )
            })
            .collect();
        let overflow = || LedgerError::overflow("an open item");
        let mut released = vec![];
        if let Some(removed) = removed
            && let Some(item) = items.get(&removed)
        {
            for (other, amount) in &item.matches {
                let m = match item.side {
                    Side::Debit => Match {
                        debit: removed,
                        credit: *other,
                        amount: *amount,
                    },
                    Side::Credit => Match {
                        debit: *other,
                        credit: removed,
                        amount: *amount,
                    },
                };
                released.push(m);
                let Some(o) = items.get(other) else { continue };
                let key = match o.side {
                    Side::Debit => (o.due, o.seq),
                    Side::Credit => (Date::MIN, o.seq),
                };
                let entry = work.entry(*other).or_insert(Open {
                    side: o.side,
                    key,
                    open: o.open,
                });
                entry.open = entry.open.checked_add(*amount).ok_or_else(overflow)?;
            }
        }
        if let Some((id, side, due, amount)) = new {
            let key = match side {
                Side::Debit => (due, self.ledger.bookings),
                Side::Credit => (Date::MIN, self.ledger.bookings),
            };
            work.insert(
                id,
                Open {
                    side,
                    key,
                    open: amount,
                },
            );
        }
        let mut applied = vec![];
        for m in targeted {
            for id in [m.debit, m.credit] {
                let entry = work.get_mut(&id).ok_or_else(overflow)?;
                entry.open = entry
                    .open
                    .checked_sub(m.amount)
                    .filter(|f| *f >= Fen::ZERO)
                    .ok_or_else(overflow)?;
            }
            applied.push(*m);
        }
        let side = |s: Side| {
            let mut open: Vec<(BookingId, (Date, u64), Fen)> = work
                .iter()
                .filter(|(_, o)| o.side == s && o.open > Fen::ZERO)
                .map(|(id, o)| (*id, o.key, o.open))
                .collect();
            open.sort_by_key(|(_, key, _)| *key);
            open
        };
        let mut debits = side(Side::Debit).into_iter();
        let mut credits = side(Side::Credit).into_iter();
        let (mut d, mut cr) = (debits.next(), credits.next());
        while let (Some((debit, _, d_open)), Some((credit, _, c_open))) = (d.as_mut(), cr.as_mut()) {
            let amount = (*d_open).min(*c_open);
            applied.push(Match {
                debit: *debit,
                credit: *credit,
                amount,
            });
            *d_open = d_open.checked_sub(amount).ok_or_else(overflow)?;
            *c_open = c_open.checked_sub(amount).ok_or_else(overflow)?;
            if d_open.is_zero() {
                d = debits.next();
            }
            if c_open.is_zero() {
                cr = credits.next();
            }
        }
        Ok(Settlement { released, applied })
    }
}

fn positive(field: impl Into<String>, amount: Fen) -> Result<(), LedgerError> {
    if amount > Fen::ZERO {
        Ok(())
    } else {
        Err(LedgerError::not_positive(field, amount))
    }
}

/// `value` trimmed, present and not too long.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, LedgerError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(LedgerError::Missing { field });
    }
    check_length(field, value, max)?;
    Ok(value.to_owned())
}

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), LedgerError> {
    let actual = value.chars().count();
    if actual > max {
        return Err(LedgerError::TooLong { field, max, actual });
    }
    Ok(())
}
