//! What one customer's ledger knows, and how a booking changes it (`evolve`).
//!
//! The state keeps what the rules decide on, not the history: the balance of every account, the
//! open-item bookkeeping of the customer's receivable (each charge, payment, waiver, write-off,
//! deduction and refund with what is still open of it and what it is matched with), the
//! deposit holds, the payment and refund references already applied, and, for the bookings
//! that may still be reversed, their postings (a reversal is their exact opposite). Memos,
//! times and references of past bookings are not kept: the statement reads them from the
//! events (see [`crate::query`]).

use std::collections::{BTreeMap, BTreeSet};

use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::account::{Account, Posting, Side};
use crate::booking::{BookingId, BookingKind, Match};
use crate::error::LedgerError;
use crate::event::LedgerEvent;

/// One customer's ledger. `Default` is the ledger before its first booking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Set by the first booking; every later command must be for the same customer.
    pub(crate) customer: Option<CustomerId>,
    /// Debits minus credits per account. Serialised as pairs: JSON map keys must be strings.
    #[serde(with = "pairs")]
    pub(crate) balances: BTreeMap<Account, Fen>,
    /// The receivable's items, keyed by the booking that made them.
    pub(crate) items: BTreeMap<BookingId, Item>,
    pub(crate) holds: BTreeMap<BookingId, Hold>,
    /// Payment and refund references applied, so a repeat is recognised whatever its id.
    pub(crate) references: BTreeMap<String, SeenReference>,
    /// The postings of bookings that may still be reversed; gone once reversed.
    pub(crate) reversible: BTreeMap<BookingId, Vec<Posting>>,
    /// Reversed booking → the reversal, so a second reversal is refused by name.
    pub(crate) reversed: BTreeMap<BookingId, BookingId>,
    /// Every booking id used, so an id cannot name two bookings.
    pub(crate) ids: BTreeSet<BookingId>,
    /// How many bookings there are: the sequence number of the next item, which orders credits
    /// (oldest first) and debits of the same due date.
    pub(crate) bookings: u64,
    /// The latest booking time: no booking may be dated before it.
    pub(crate) last_booked_at: Option<OffsetDateTime>,
    /// Why a stored event could not be applied. Only a corrupted log gets here (`decide` applies
    /// its events to a copy before it hands them out); the ledger then refuses every command
    /// rather than book on figures that do not add up.
    pub(crate) broken: Option<String>,
}

/// A debit (charge, refund) or credit (payment, waiver, write-off, deduction) of the receivable,
/// with what is still open of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: BookingKind,
    pub side: Side,
    pub amount: Fen,
    /// The amount not yet matched: `amount` minus the sum of `matches`.
    pub open: Fen,
    /// When it falls due: a charge's due date, a refund's booking date, a credit's booking date.
    pub due: Date,
    pub seq: u64,
    pub order: Option<OrderId>,
    pub city: Option<CityCode>,
    /// The items on the other side this one is matched with, and by how much.
    pub matches: BTreeMap<BookingId, Fen>,
}

/// A deposit hold: pending until it is resolved, once, by a deduction (whose rest is released
/// with it) or a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub order: OrderId,
    pub amount: Fen,
    /// What is still held: the amount until the hold is resolved, zero after.
    pub remaining: Fen,
    pub deduction: Option<BookingId>,
    pub release: Option<BookingId>,
}

impl Hold {
    pub fn is_resolved(&self) -> bool {
        self.deduction.is_some() || self.release.is_some()
    }
}

/// A payment or refund reference that was applied, with what it was applied as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenReference {
    pub kind: BookingKind,
    pub amount: Fen,
    pub booking: BookingId,
}

/// An open charge (or a refund that became owed again), as the open-items list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItem {
    pub booking: BookingId,
    pub kind: BookingKind,
    pub due: Date,
    pub order: Option<OrderId>,
    pub city: Option<CityCode>,
    pub amount: Fen,
    pub open: Fen,
}

impl Ledger {
    pub fn customer(&self) -> Option<&CustomerId> {
        self.customer.as_ref()
    }

    /// Debits minus credits of `account` (zero for an account never booked to).
    pub fn balance(&self, account: &Account) -> Fen {
        self.balances.get(account).copied().unwrap_or(Fen::ZERO)
    }

    /// Every account booked to, with its balance.
    pub fn balances(&self) -> impl Iterator<Item = (&Account, Fen)> {
        self.balances.iter().map(|(a, f)| (a, *f))
    }

    /// What the customer owes (negative: their credit): the balance of their receivable.
    pub fn customer_balance(&self) -> Fen {
        match &self.customer {
            Some(c) => self.balance(&Account::Receivable(c.clone())),
            None => Fen::ZERO,
        }
    }

    /// The deposits held for the customer.
    pub fn deposit_held(&self) -> Fen {
        match &self.customer {
            // `apply` refuses a balance of i64::MIN fen, so the negation always exists.
            Some(c) => self
                .balance(&Account::DepositsHeld(c.clone()))
                .checked_neg()
                .unwrap_or(Fen::ZERO),
            None => Fen::ZERO,
        }
    }

    /// The open debits, oldest due first (then in booking order): the order in which credits
    /// are applied to them.
    pub fn open_items(&self) -> Vec<OpenItem> {
        let mut open: Vec<(&BookingId, &Item)> = self
            .items
            .iter()
            .filter(|(_, i)| i.side == Side::Debit && i.open > Fen::ZERO)
            .collect();
        open.sort_by_key(|(_, i)| (i.due, i.seq));
        open.into_iter()
            .map(|(id, i)| OpenItem {
                booking: *id,
                kind: i.kind,
                due: i.due,
                order: i.order,
                city: i.city.clone(),
                amount: i.amount,
                open: i.open,
            })
            .collect()
    }

    /// The customer's unapplied credit: what is open of their payments and deductions.
    pub fn credit(&self) -> Result<Fen, LedgerError> {
        self.open_total(Side::Credit)
    }

    /// What is open on one side of the receivable.
    pub fn open_total(&self, side: Side) -> Result<Fen, LedgerError> {
        Fen::try_sum(self.items.values().filter(|i| i.side == side).map(|i| i.open))
            .map_err(|_| LedgerError::overflow("the open items' total"))
    }

    pub fn item(&self, booking: &BookingId) -> Option<&Item> {
        self.items.get(booking)
    }

    pub fn hold(&self, booking: &BookingId) -> Option<&Hold> {
        self.holds.get(booking)
    }

    pub fn holds(&self) -> impl Iterator<Item = (&BookingId, &Hold)> {
        self.holds.iter()
    }

    /// The reversal of `booking`, if it was reversed.
    pub fn reversed_by(&self, booking: &BookingId) -> Option<BookingId> {
        self.reversed.get(booking).copied()
    }

    /// Why the history could not be applied, if it could not.
    /// The payment or refund booked under `reference`, if one was.
    pub fn reference(&self, reference: &str) -> Option<&SeenReference> {
        self.references.get(reference)
    }

    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// The part of the ledger every booking's `apply` reads and changes whatever it books: the
    /// customer, balances, holds and counters, with none of the items, references and ids
    /// (`decide` checks its ids and references against the whole ledger itself). What a booking
    /// reads of the rest is added by [`Ledger::take_part`] before it is applied.
    pub(crate) fn part(&self) -> Ledger {
        Ledger {
            customer: self.customer.clone(),
            balances: self.balances.clone(),
            items: BTreeMap::new(),
            holds: self.holds.clone(),
            references: BTreeMap::new(),
            reversible: BTreeMap::new(),
            reversed: BTreeMap::new(),
            ids: BTreeSet::new(),
            bookings: self.bookings,
            last_booked_at: self.last_booked_at,
            broken: self.broken.clone(),
        }
    }

    /// Adds to this part of `whole` (see [`Ledger::part`]) what applying `event` reads of it:
    /// the items its matches name, the booking it reverses (with its postings), and its id if
    /// `whole` used it already (so that `apply` refuses it as it would on the whole ledger).
    /// What the part has already (changed by an earlier booking of the same decision) is kept.
    pub(crate) fn take_part(&mut self, whole: &Ledger, event: &LedgerEvent) {
        let b = event.booking();
        let s = event.settlement();
        let mut named: Vec<BookingId> = s
            .released
            .iter()
            .chain(&s.applied)
            .flat_map(|m| [m.debit, m.credit])
            .collect();
        if b.kind == BookingKind::Reversal
            && let Some(of) = b.about
        {
            named.push(of);
            if !self.reversible.contains_key(&of)
                && let Some(postings) = whole.reversible.get(&of)
            {
                self.reversible.insert(of, postings.clone());
            }
            if let Some(by) = whole.reversed.get(&of) {
                self.reversed.entry(of).or_insert(*by);
            }
        }
        for id in named {
            if !self.items.contains_key(&id)
                && !self.ids.contains(&id)
                && let Some(item) = whole.items.get(&id)
            {
                self.items.insert(id, item.clone());
            }
        }
        if whole.ids.contains(&b.id) {
            self.ids.insert(b.id);
        }
    }

    /// The ledger after `event`; total, as `evolve` must be. An event that does not apply
    /// (impossible for events `decide` made) marks the ledger broken.
    pub fn evolved(mut self, event: &LedgerEvent) -> Ledger {
        if self.broken.is_none()
            && let Err(e) = self.apply(event)
        {
            self.broken = Some(e.to_string());
        }
        self
    }

    /// Applies `event` with checked arithmetic. The balances are computed in full before any
    /// field changes, so an overflow leaves the ledger as it was; a later failure means the
    /// event contradicts the ledger, which only a corrupted log can cause.
    pub(crate) fn apply(&mut self, event: &LedgerEvent) -> Result<(), LedgerError> {
        let LedgerEvent::Booked { booking, settlement } = event;
        let b = booking;
        let inconsistent = |reason: String| LedgerError::Inconsistent { booking: b.id, reason };
        if !b.is_balanced() {
            return Err(inconsistent("its postings do not balance".into()));
        }
        if let Some(c) = &self.customer
            && c != &b.customer
        {
            return Err(inconsistent(format!(
                "it is for customer {}, the ledger is {c}'s",
                b.customer
            )));
        }
        if self.ids.contains(&b.id) {
            return Err(inconsistent("its id is already used".into()));
        }
        let mut updated: BTreeMap<&Account, Fen> = BTreeMap::new();
        for p in &b.postings {
            let current = updated
                .get(&p.account)
                .copied()
                .unwrap_or_else(|| self.balance(&p.account));
            let next = p
                .signed()
                .and_then(|s| current.checked_add(s))
                .filter(|f| f.fen() != i64::MIN)
                .ok_or_else(|| LedgerError::overflow(format!("the balance of {}", p.account)))?;
            updated.insert(&p.account, next);
        }
        let receivable = Account::Receivable(b.customer.clone());
        let deposits = Account::DepositsHeld(b.customer.clone());
        let net_receivable = b
            .net(&receivable)
            .ok_or_else(|| LedgerError::overflow("the booking's receivable"))?;
        let net_deposits = b
            .net(&deposits)
            .ok_or_else(|| LedgerError::overflow("the booking's deposits"))?;
        // The new receivable item, if the booking makes one.
        let item = |side: Side, amount: Fen, due: Date| Item {
            kind: b.kind,
            side,
            amount,
            open: amount,
            due,
            seq: self.bookings,
            order: b.order,
            city: b.city.clone(),
            matches: BTreeMap::new(),
        };
        let new_item = match b.kind {
            BookingKind::Charge | BookingKind::Refund if net_receivable > Fen::ZERO => {
                Some(item(Side::Debit, net_receivable, b.due.unwrap_or(b.booked_at.date())))
            }
            BookingKind::Payment | BookingKind::Waiver | BookingKind::WriteOff | BookingKind::DepositDeduction
                if net_receivable < Fen::ZERO =>
            {
                Some(item(
                    Side::Credit,
                    net_receivable.checked_neg().unwrap_or(Fen::ZERO),
                    b.booked_at.date(),
                ))
            }
            BookingKind::Charge
            | BookingKind::Refund
            | BookingKind::Payment
            | BookingKind::Waiver
            | BookingKind::WriteOff
            | BookingKind::DepositDeduction => {
                return Err(inconsistent(format!("a {} must move the receivable its way", b.kind)));
            }
            BookingKind::DepositHold | BookingKind::DepositRelease | BookingKind::Reversal => None,
        };
        // Checks of the kind's own fields, before anything changes.
        match b.kind {
            BookingKind::DepositHold if net_deposits >= Fen::ZERO || b.order.is_none() => {
                return Err(inconsistent("a hold credits deposits held for a hire".into()));
            }
            BookingKind::DepositDeduction | BookingKind::DepositRelease => {
                let hold = b
                    .about
                    .and_then(|h| self.holds.get(&h))
                    .ok_or_else(|| inconsistent("it names no hold".into()))?;
                if net_deposits <= Fen::ZERO || net_deposits > hold.remaining {
                    return Err(inconsistent("it takes more than the hold has left".into()));
                }
            }
            BookingKind::Reversal => {
                let of = b.about.ok_or_else(|| inconsistent("it names no booking".into()))?;
                if !self.reversible.contains_key(&of) {
                    return Err(inconsistent(format!("{of} cannot be reversed")));
                }
            }
            BookingKind::Payment | BookingKind::Refund if b.reference.is_none() => {
                return Err(inconsistent("it has no reference".into()));
            }
            _ => {}
        }

        // From here on the event is applied.
        for (account, balance) in updated {
            self.balances.insert(account.clone(), balance);
        }
        if let Some(item) = new_item {
            if b.kind != BookingKind::DepositDeduction {
                self.reversible.insert(b.id, b.postings.clone());
            }
            self.items.insert(b.id, item);
        }
        match b.kind {
            BookingKind::Payment | BookingKind::Refund => {
                if let Some(reference) = &b.reference {
                    // A payment credits the receivable, a refund debits it; both are checked
                    // non-zero above and neither is i64::MIN fen.
                    let amount = if b.kind == BookingKind::Payment {
                        net_receivable.checked_neg().unwrap_or(Fen::ZERO)
                    } else {
                        net_receivable
                    };
                    self.references.insert(
                        reference.clone(),
                        SeenReference {
                            kind: b.kind,
                            amount,
                            booking: b.id,
                        },
                    );
                }
            }
            BookingKind::DepositHold => {
                if let Some(order) = b.order {
                    let amount = net_deposits.checked_neg().unwrap_or(Fen::ZERO);
                    self.holds.insert(
                        b.id,
                        Hold {
                            order,
                            amount,
                            remaining: amount,
                            deduction: None,
                            release: None,
                        },
                    );
                }
            }
            BookingKind::DepositDeduction | BookingKind::DepositRelease => {
                if let Some(hold) = b.about.and_then(|h| self.holds.get_mut(&h)) {
                    hold.remaining = hold.remaining.checked_sub(net_deposits).unwrap_or(Fen::ZERO);
                    if b.kind == BookingKind::DepositDeduction {
                        hold.deduction = Some(b.id);
                    } else {
                        hold.release = Some(b.id);
                    }
                }
            }
            _ => {}
        }
        for m in &settlement.released {
            self.unmatch(m).map_err(inconsistent)?;
        }
        if b.kind == BookingKind::Reversal
            && let Some(of) = b.about
        {
            self.reversible.remove(&of);
            self.reversed.insert(of, b.id);
            if let Some(item) = self.items.remove(&of)
                && !item.matches.is_empty()
            {
                return Err(inconsistent(format!("{of} is reversed but still matched")));
            }
        }
        for m in &settlement.applied {
            self.make_match(m).map_err(inconsistent)?;
        }
        self.ids.insert(b.id);
        self.bookings = self.bookings.saturating_add(1);
        self.last_booked_at = Some(self.last_booked_at.map_or(b.booked_at, |t| t.max(b.booked_at)));
        if self.customer.is_none() {
            self.customer = Some(b.customer.clone());
        }
        Ok(())
    }

    fn pair(&mut self, m: &Match) -> Result<(&mut Item, &mut Item), String> {
        if m.debit == m.credit {
            return Err("a match needs two items".into());
        }
        // Two mutable borrows of one map: take one item out and put it back by the caller.
        let mut iter = self
            .items
            .iter_mut()
            .filter(|(id, _)| **id == m.debit || **id == m.credit);
        let (first_id, first) = iter
            .next()
            .ok_or_else(|| format!("{} or {} is no item", m.debit, m.credit))?;
        let (_, second) = iter
            .next()
            .ok_or_else(|| format!("{} or {} is no item", m.debit, m.credit))?;
        let (debit, credit) = if *first_id == m.debit {
            (first, second)
        } else {
            (second, first)
        };
        if debit.side != Side::Debit || credit.side != Side::Credit {
            return Err(format!("{} and {} are not a debit and a credit", m.debit, m.credit));
        }
        Ok((debit, credit))
    }

    fn make_match(&mut self, m: &Match) -> Result<(), String> {
        let (debit, credit) = self.pair(m)?;
        if m.amount <= Fen::ZERO || m.amount > debit.open || m.amount > credit.open {
            return Err(format!(
                "{} between {} and {} exceeds what is open",
                m.amount, m.debit, m.credit
            ));
        }
        debit.open = debit.open.checked_sub(m.amount).unwrap_or(Fen::ZERO);
        credit.open = credit.open.checked_sub(m.amount).unwrap_or(Fen::ZERO);
        let add = |matches: &mut BTreeMap<BookingId, Fen>, other: BookingId| {
            let entry = matches.entry(other).or_insert(Fen::ZERO);
            // Matched amounts are bounded by the item's amount, so the sum fits.
            *entry = entry.checked_add(m.amount).unwrap_or(*entry);
        };
        add(&mut debit.matches, m.credit);
        add(&mut credit.matches, m.debit);
        Ok(())
    }

    fn unmatch(&mut self, m: &Match) -> Result<(), String> {
        let (debit, credit) = self.pair(m)?;
        if debit.matches.get(&m.credit) != Some(&m.amount) || credit.matches.get(&m.debit) != Some(&m.amount) {
            return Err(format!("{} and {} are not matched by {}", m.debit, m.credit, m.amount));
        }
        debit.matches.remove(&m.credit);
        credit.matches.remove(&m.debit);
        debit.open = debit.open.checked_add(m.amount).unwrap_or(debit.amount);
        credit.open = credit.open.checked_add(m.amount).unwrap_or(credit.amount);
        Ok(())
    }
}

/// A map whose keys are not strings, as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Vec::<(K, V)>::deserialize(deserializer).map(|pairs| pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{Booking, Settlement};

    #[test]
    fn an_empty_ledger_has_nothing() {
        let l = Ledger::default();
        assert_eq!(l.customer_balance(), Fen::ZERO);
        assert_eq!(l.deposit_held(), Fen::ZERO);
        assert!(l.open_items().is_empty());
        assert_eq!(l.credit(), Ok(Fen::ZERO));
    }

    #[test]
    fn a_booking_that_does_not_balance_marks_the_ledger_broken() {
        let customer = CustomerId::parse("C-1").unwrap();
        let booking = Booking {
            id: BookingId(uuid::Uuid::from_u128(1)),
            kind: BookingKind::Charge,
            customer: customer.clone(),
            booked_at: OffsetDateTime::UNIX_EPOCH,
            postings: vec![
                Posting::debit(Account::Receivable(customer), Fen(100)),
                Posting::credit(Account::FinesPayable, Fen(99)),
            ],
            due: None,
            reference: None,
            about: None,
            order: None,
            city: None,
            memo: String::new(),
        };
        let l = Ledger::default().evolved(&LedgerEvent::Booked {
            booking,
            settlement: Settlement::default(),
        });
        assert!(l.broken().is_some_and(|r| r.contains("do not balance")), "{l:?}");
        assert!(l.balances().next().is_none(), "nothing was applied");
    }
}
