//! A booking: one balanced set of postings, with what it is and what it is about.

use std::fmt;

use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::account::{Account, Posting, Side};

/// A booking's id, chosen by the caller (a v7 UUID, or one derived from what the booking is
/// about) so that every booking can be named by the commands that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookingId(pub Uuid);

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What a booking does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BookingKind {
    /// The customer owes: a fine with its service fee, a repair with its fees.
    Charge,
    /// The customer paid.
    Payment,
    /// Part or all of a charge is not collected, by a supervisor's decision.
    Waiver,
    /// Part or all of a charge is given up as uncollectable.
    WriteOff,
    /// Money paid back out of the customer's credit.
    Refund,
    /// A violation deposit is taken and held for the hire: the first phase of a two-phase hold.
    DepositHold,
    /// Part of a hold is kept to settle open charges (the rest is released at the same time).
    DepositDeduction,
    /// What is left of a hold goes back to the customer.
    DepositRelease,
    /// The opposite postings of an earlier booking, which stands reversed.
    Reversal,
}

impl BookingKind {
    pub fn name(self) -> &'static str {
        match self {
            BookingKind::Charge => "charge",
            BookingKind::Payment => "payment",
            BookingKind::Waiver => "waiver",
            BookingKind::WriteOff => "write_off",
            BookingKind::Refund => "refund",
            BookingKind::DepositHold => "deposit_hold",
            BookingKind::DepositDeduction => "deposit_deduction",
            BookingKind::DepositRelease => "deposit_release",
            BookingKind::Reversal => "reversal",
        }
    }

    /// The kind whose [`name`](Self::name) is `name`.
    pub fn parse(name: &str) -> Option<BookingKind> {
        [
            BookingKind::Charge,
            BookingKind::Payment,
            BookingKind::Waiver,
            BookingKind::WriteOff,
            BookingKind::Refund,
            BookingKind::DepositHold,
            BookingKind::DepositDeduction,
            BookingKind::DepositRelease,
            BookingKind::Reversal,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

impl fmt::Display for BookingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One balanced set of postings. Only the ledger's `decide` makes one, so every stored booking
/// balances and obeys its kind's rules; the fields that only some kinds carry are `Option`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub kind: BookingKind,
    pub customer: CustomerId,
    /// When it was booked. Bookings of one ledger are never dated before the one before them,
    /// so the history read up to a date is the ledger as it stood then.
    pub booked_at: OffsetDateTime,
    pub postings: Vec<Posting>,
    /// When a charge falls due; ageing counts from it. Charges only.
    pub due: Option<Date>,
    /// A payment's or refund's reference (applied once), or the violation or claim a charge is
    /// about.
    pub reference: Option<String>,
    /// The booking this one acts on: the charge waived or written off, the charge a payment
    /// names, the hold deducted from or released, the booking reversed.
    pub about: Option<BookingId>,
    /// The hire a charge or a deposit hold belongs to.
    pub order: Option<OrderId>,
    /// The city of the hire a charge is about, for the ageing report per city.
    pub city: Option<CityCode>,
    pub memo: String,
}

impl Booking {
    /// The sums of the debits and of the credits, or `None` if a sum overflows.
    pub fn totals(&self) -> Option<(Fen, Fen)> {
        let mut debits = Fen::ZERO;
        let mut credits = Fen::ZERO;
        for p in &self.postings {
            match p.side {
                Side::Debit => debits = debits.checked_add(p.amount)?,
                Side::Credit => credits = credits.checked_add(p.amount)?,
            }
        }
        Some((debits, credits))
    }

    /// Debits equal credits, every amount is positive and the sums fit.
    pub fn is_balanced(&self) -> bool {
        !self.postings.is_empty()
            && self.postings.iter().all(|p| p.amount > Fen::ZERO)
            && self.totals().is_some_and(|(d, c)| d == c)
    }

    /// The booking's net effect on `account` (debits minus credits), or `None` on overflow.
    pub fn net(&self, account: &Account) -> Option<Fen> {
        self.postings
            .iter()
            .filter(|p| &p.account == account)
            .try_fold(Fen::ZERO, |sum, p| sum.checked_add(p.signed()?))
    }
}

/// An amount of a credit (a payment, a waiver, a deduction) set against a debit (a charge, a
/// refund): the open-item bookkeeping behind "what is still open of this charge".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub debit: BookingId,
    pub credit: BookingId,
    pub amount: Fen,
}

/// How a booking changed the open items, written into its event so that `evolve` and every
/// projection replay exactly what `decide` chose: the matches it undid (a reversal frees what
/// the reversed booking was matched with) and then the matches it made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub released: Vec<Match>,
    pub applied: Vec<Match>,
}
