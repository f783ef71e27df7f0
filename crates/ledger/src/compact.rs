//! The ledger's state in a compact binary form, for snapshots: what `decide` needs (balances,
//! items with their matches and, while reversible, their postings, holds, references, reversals
//! and ids), without JSON's names and quoting. Integers are LEB128 varints (signed ones
//! zig-zagged), ids 16 raw bytes; a match names the other item by its place in the list of
//! items; the customer's own accounts do not repeat the customer; the ids every booking leaves
//! in the items, holds and reversals are not listed again.
//!
//! [`Ledger::from_compact`] reads any input without panicking: a wrong length, tag or value is a
//! [`CompactError`].

use std::collections::{BTreeMap, BTreeSet};

use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use time::{Date, OffsetDateTime, Time, UtcOffset};
use uuid::Uuid;

use crate::account::{Account, Posting, Side};
use crate::booking::{BookingId, BookingKind};
use crate::state::{Hold, Item, Ledger, SeenReference};

/// The first byte: which layout follows.
const LAYOUT: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compact ledger state unreadable: {0}")]
pub struct CompactError(String);

fn err<T>(what: impl Into<String>) -> Result<T, CompactError> {
    Err(CompactError(what.into()))
}

const KINDS: [BookingKind; 9] = [
    BookingKind::Charge,
    BookingKind::Payment,
    BookingKind::Waiver,
    BookingKind::WriteOff,
    BookingKind::Refund,
    BookingKind::DepositHold,
    BookingKind::DepositDeduction,
    BookingKind::DepositRelease,
    BookingKind::Reversal,
];

fn kind_code(k: BookingKind) -> u8 {
    KINDS.iter().position(|x| *x == k).unwrap_or(0) as u8
}

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn u(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }

    fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }

    fn len(&mut self, n: usize) {
        self.u(n as u64);
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn id(&mut self, id: &BookingId) {
        self.0.extend_from_slice(id.0.as_bytes());
    }

    fn date(&mut self, d: Date) {
        self.i(i64::from(d.to_julian_day()));
    }

    fn time(&mut self, t: OffsetDateTime) {
        self.date(t.date());
        let (h, m, s, n) = t.time().as_hms_nano();
        self.u(((u64::from(h) * 60 + u64::from(m)) * 60 + u64::from(s)) * 1_000_000_000 + u64::from(n));
        self.i(i64::from(t.offset().whole_seconds()));
    }

    fn account(&mut self, a: &Account, customer: Option<&CustomerId>) {
        let (code, own) = match a {
            Account::Receivable(c) => (0, Some(c)),
            Account::DepositsHeld(c) => (1, Some(c)),
            Account::Cash => (2, None),
            Account::FinesPayable => (3, None),
            Account::ServiceFeeIncome => (4, None),
            Account::AdminFeeIncome => (5, None),
            Account::RepairRecoveryIncome => (6, None),
            Account::LossOfUseIncome => (7, None),
            Account::Waivers => (8, None),
            Account::WriteOffExpense => (9, None),
        };
        match own {
            None => self.byte(code),
            // The ledger's own customer is implied; another is spelled out.
            Some(c) if Some(c) == customer => self.byte(code),
            Some(c) => {
                self.byte(code | 0x80);
                self.str(c.as_str());
            }
        }
    }

    fn postings(&mut self, ps: &[Posting], customer: Option<&CustomerId>) {
        self.len(ps.len());
        for p in ps {
            self.account(&p.account, customer);
            self.byte(u8::from(p.side == Side::Credit));
            self.i(p.amount.0);
        }
    }
}

struct R<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl R<'_> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let Some(b) = self.bytes.get(self.at) else {
            return err("it ends too soon");
        };
        self.at += 1;
        Ok(*b)
    }

    fn u(&mut self) -> Result<u64, CompactError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        err("a number is too long")
    }

    fn i(&mut self) -> Result<i64, CompactError> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of things of at least one byte each: never more than the bytes left.
    fn len(&mut self) -> Result<usize, CompactError> {
        let n = self.u()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.bytes.len().saturating_sub(self.at) => Ok(n),
            _ => err(format!("a count of {n} is more than the bytes left")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CompactError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return err("it ends too soon");
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn str(&mut self) -> Result<String, CompactError> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).or_else(|_| err("a text is not UTF-8"))
    }

    fn uuid(&mut self) -> Result<Uuid, CompactError> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_bytes(a))
    }

    fn id(&mut self) -> Result<BookingId, CompactError> {
        self.uuid().map(BookingId)
    }

    fn fen(&mut self) -> Result<Fen, CompactError> {
        self.i().map(Fen)
    }

    fn flag(&mut self) -> Result<bool, CompactError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => err(format!("flag {b}")),
        }
    }

    fn kind(&mut self) -> Result<BookingKind, CompactError> {
        let b = self.byte()?;
        KINDS
            .get(usize::from(b))
            .copied()
            .map_or_else(|| err(format!("booking kind {b}")), Ok)
    }

    fn date(&mut self) -> Result<Date, CompactError> {
        let j = self.i()?;
        i32::try_from(j)
            .ok()
            .and_then(|j| Date::from_julian_day(j).ok())
            .map_or_else(|| err(format!("julian day {j}")), Ok)
    }

    fn time(&mut self) -> Result<OffsetDateTime, CompactError> {
        let date = self.date()?;
        let n = self.u()?;
        let offset = self.i()?;
        let secs = n / 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let time = u8::try_from(h)
            .ok()
            .and_then(|h| Time::from_hms_nano(h, m as u8, s as u8, (n % 1_000_000_000) as u32).ok());
        let offset = i32::try_from(offset)
            .ok()
            .and_then(|o| UtcOffset::from_whole_seconds(o).ok());
        match (time, offset) {
            (Some(t), Some(o)) => Ok(OffsetDateTime::new_in_offset(date, t, o)),
            _ => err("a time out of range"),
        }
    }

    fn customer(&mut self) -> Result<CustomerId, CompactError> {
        let text = self.str()?;
        CustomerId::parse(&text).or_else(|e| err(format!("customer {text:?}: {e}")))
    }

    fn account(&mut self, customer: Option<&CustomerId>) -> Result<Account, CompactError> {
        let b = self.byte()?;
        let own = |r: &mut Self| -> Result<CustomerId, CompactError> {
            if b & 0x80 != 0 {
                return r.customer();
            }
            customer
                .cloned()
                .map_or_else(|| err("a customer's account in a ledger of no customer"), Ok)
        };
        Ok(match b & 0x7f {
            0 => Account::Receivable(own(self)?),
            1 => Account::DepositsHeld(own(self)?),
            _ if b & 0x80 != 0 => return err(format!("account {b}")),
            2 => Account::Cash,
            3 => Account::FinesPayable,
            4 => Account::ServiceFeeIncome,
            5 => Account::AdminFeeIncome,
            6 => Account::RepairRecoveryIncome,
            7 => Account::LossOfUseIncome,
            8 => Account::Waivers,
            9 => Account::WriteOffExpense,
            _ => return err(format!("account {b}")),
        })
    }

    fn postings(&mut self, customer: Option<&CustomerId>) -> Result<Vec<Posting>, CompactError> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let account = self.account(customer)?;
            let side = if self.flag()? { Side::Credit } else { Side::Debit };
            let amount = self.fen()?;
            out.push(Posting { account, side, amount });
        }
        Ok(out)
    }
}

/// A match as stored: 1 + the other item's place (0: the other's id follows), the amount.
type StoredMatch = (u64, Option<BookingId>, Fen);

/// The ids a ledger's items, holds and reversals name: every one is an id the ledger used.
fn named_ids(l: &Ledger) -> BTreeSet<BookingId> {
    let mut ids: BTreeSet<BookingId> = l.items.keys().copied().collect();
    for (id, h) in &l.holds {
        ids.insert(*id);
        ids.extend(h.deduction);
        ids.extend(h.release);
    }
    for (of, by) in &l.reversed {
        ids.insert(*of);
        ids.insert(*by);
    }
    ids
}

impl Ledger {
    /// The state in the compact form (see the module's documentation).
    pub fn to_compact(&self) -> Vec<u8> {
        let mut w = W::default();
        w.byte(LAYOUT);
        let customer = self.customer.as_ref();
        match customer {
            None => w.byte(0),
            Some(c) => {
                w.byte(1);
                w.str(c.as_str());
            }
        }
        match &self.broken {
            None => w.byte(0),
            Some(reason) => {
                w.byte(1);
                w.str(reason);
            }
        }
        w.u(self.bookings);
        match self.last_booked_at {
            None => w.byte(0),
            Some(t) => {
                w.byte(1);
                w.time(t);
            }
        }
        w.len(self.balances.len());
        for (a, f) in &self.balances {
            w.account(a, customer);
            w.i(f.0);
        }
        let place: BTreeMap<BookingId, usize> = self.items.keys().enumerate().map(|(i, id)| (*id, i)).collect();
        w.len(self.items.len());
        for (id, item) in &self.items {
            w.id(id);
            w.byte(kind_code(item.kind));
            w.byte(u8::from(item.side == Side::Credit));
            w.i(item.amount.0);
            w.i(item.open.0);
            w.date(item.due);
            w.u(item.seq);
            match &item.order {
                None => w.byte(0),
                Some(o) => {
                    w.byte(1);
                    w.0.extend_from_slice(o.as_uuid().as_bytes());
                }
            }
            match &item.city {
                None => w.byte(0),
                Some(c) => {
                    w.byte(1);
                    w.str(c.as_ref());
                }
            }
            w.len(item.matches.len());
            for (other, amount) in &item.matches {
                // 1 + the other's place among the items; 0 and the id for one that is none.
                match place.get(other) {
                    Some(i) => w.u(*i as u64 + 1),
                    None => {
                        w.u(0);
                        w.id(other);
                    }
                }
                w.i(amount.0);
            }
            match self.reversible.get(id) {
                None => w.byte(0),
                Some(ps) => {
                    w.byte(1);
                    w.postings(ps, customer);
                }
            }
        }
        let other_reversible: Vec<_> = self
            .reversible
            .iter()
            .filter(|(id, _)| !self.items.contains_key(id))
            .collect();
        w.len(other_reversible.len());
        for (id, ps) in other_reversible {
            w.id(id);
            w.postings(ps, customer);
        }
        w.len(self.holds.len());
        for (id, h) in &self.holds {
            w.id(id);
            w.0.extend_from_slice(h.order.as_uuid().as_bytes());
            w.i(h.amount.0);
            w.i(h.remaining.0);
            for resolved in [h.deduction, h.release] {
                match resolved {
                    None => w.byte(0),
                    Some(b) => {
                        w.byte(1);
                        w.id(&b);
                    }
                }
            }
        }
        w.len(self.references.len());
        for (reference, seen) in &self.references {
            w.str(reference);
            w.byte(kind_code(seen.kind));
            w.i(seen.amount.0);
            w.id(&seen.booking);
        }
        w.len(self.reversed.len());
        for (of, by) in &self.reversed {
            w.id(of);
            w.id(by);
        }
        let named = named_ids(self);
        let extra: Vec<_> = self.ids.iter().filter(|id| !named.contains(id)).collect();
        w.len(extra.len());
        for id in extra {
            w.id(id);
        }
        w.0
    }

    /// The state [`Ledger::to_compact`] wrote.
    pub fn from_compact(bytes: &[u8]) -> Result<Ledger, CompactError> {
        let mut r = R { bytes, at: 0 };
        let layout = r.byte()?;
        if layout != LAYOUT {
            return err(format!("layout {layout}, this code reads {LAYOUT}"));
        }
        let mut l = Ledger::default();
        if r.flag()? {
            l.customer = Some(r.customer()?);
        }
        if r.flag()? {
            l.broken = Some(r.str()?);
        }
        l.bookings = r.u()?;
        if r.flag()? {
            l.last_booked_at = Some(r.time()?);
        }
        let customer = l.customer.clone();
        let customer = customer.as_ref();
        for _ in 0..r.len()? {
            let a = r.account(customer)?;
            let f = r.fen()?;
            l.balances.insert(a, f);
        }
        let n = r.len()?;
        let mut order: Vec<BookingId> = Vec::with_capacity(n);
        let mut pending: Vec<(BookingId, Vec<StoredMatch>)> = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.id()?;
            let kind = r.kind()?;
            let side = if r.flag()? { Side::Credit } else { Side::Debit };
            let amount = r.fen()?;
            let open = r.fen()?;
            let due = r.date()?;
            let seq = r.u()?;
            let item_order = if r.flag()? {
                Some(OrderId::from_uuid(r.uuid()?).or_else(|e| err(format!("order id: {e}")))?)
            } else {
                None
            };
            let city = if r.flag()? {
                let text = r.str()?;
                Some(CityCode::parse(&text).or_else(|e| err(format!("city {text:?}: {e}")))?)
            } else {
                None
            };
            let mut matches = Vec::new();
            for _ in 0..r.len()? {
                let place = r.u()?;
                let other = if place == 0 { Some(r.id()?) } else { None };
                matches.push((place, other, r.fen()?));
            }
            if r.flag()? {
                l.reversible.insert(id, r.postings(customer)?);
            }
            order.push(id);
            pending.push((id, matches));
            l.items.insert(
                id,
                Item {
                    kind,
                    side,
                    amount,
                    open,
                    due,
                    seq,
                    order: item_order,
                    city,
                    matches: BTreeMap::new(),
                },
            );
        }
        if l.items.len() != order.len() || order.windows(2).any(|w| w[0] >= w[1]) {
            return err("the items are not listed once each in order");
        }
        for (id, matches) in pending {
            let mut resolved = BTreeMap::new();
            for (place, other, amount) in matches {
                let other = match other {
                    Some(o) => o,
                    None => match usize::try_from(place - 1).ok().and_then(|i| order.get(i)) {
                        Some(o) => *o,
                        None => return err(format!("a match names item {place} of {}", order.len())),
                    },
                };
                resolved.insert(other, amount);
            }
            if let Some(item) = l.items.get_mut(&id) {
                item.matches = resolved;
            }
        }
        for _ in 0..r.len()? {
            let id = r.id()?;
            let ps = r.postings(customer)?;
            l.reversible.insert(id, ps);
        }
        for _ in 0..r.len()? {
            let id = r.id()?;
            let hold_order = OrderId::from_uuid(r.uuid()?).or_else(|e| err(format!("order id: {e}")))?;
            let amount = r.fen()?;
            let remaining = r.fen()?;
            let deduction = if r.flag()? { Some(r.id()?) } else { None };
            let release = if r.flag()? { Some(r.id()?) } else { None };
            l.holds.insert(
                id,
                Hold {
                    order: hold_order,
                    amount,
                    remaining,
                    deduction,
                    release,
                },
            );
        }
        for _ in 0..r.len()? {
            let reference = r.str()?;
            let kind = r.kind()?;
            let amount = r.fen()?;
            let booking = r.id()?;
            l.references.insert(reference, SeenReference { kind, amount, booking });
        }
        for _ in 0..r.len()? {
            let of = r.id()?;
            let by = r.id()?;
            l.reversed.insert(of, by);
        }
        let mut ids = named_ids(&l);
        for _ in 0..r.len()? {
            ids.insert(r.id()?);
        }
        l.ids = ids;
        if r.at != bytes.len() {
            return err(format!("{} bytes left over", bytes.len() - r.at));
        }
        Ok(l)
    }
}
