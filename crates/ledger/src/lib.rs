//! The customers' ledger (台账) of the receivables service, as pure rules: no I/O, no clock, no
//! randomness. Times, ids and the caller's roles come in with each command.
//!
//! # The model
//!
//! **Double entry.** Every change is a [`Booking`]: a set of [`Posting`]s, each an amount on
//! the debit or credit side of an [`Account`], whose debits and credits are equal. So the books
//! balance after every booking (the balances of all accounts sum to zero), and a customer's
//! balance is the sum of their receivable's entries. The chart of accounts: the customer's
//! receivable and the deposits held for them; cash; fines payable to the traffic authority; the
//! service fee, admin fee, repair recovery and loss-of-use incomes; waivers; write-offs.
//!
//! | booking | debit | credit |
//! |---|---|---|
//! | charge | receivable | fines payable / the fee and recovery incomes, one line each |
//! | payment | cash | receivable |
//! | waiver | waivers | receivable |
//! | write-off | write-off expense | receivable |
//! | refund | receivable | cash |
//! | deposit hold | cash | deposits held |
//! | deposit deduction | deposits held | receivable |
//! | deposit release | deposits held | cash |
//! | reversal | the original's credits | the original's debits |
//!
//! **Open items.** Beside the balances, the receivable keeps which charge is still open by how
//! much. Every booking that touches it is an item, a debit (charge, refund) or a credit
//! (payment, waiver, write-off, deduction), and credits are matched against debits: a waiver,
//! a write-off and a deduction against the charges they name, a payment against the charge it
//! names and then, like every other credit, against the open charges oldest due first. After
//! every booking open debits and open credits never stand side by side; what is open of the
//! credits is the customer's credit, the only thing a refund may pay out. Each event records the
//! matches its booking made (and, for a reversal, undid), so `evolve` and every projection
//! replay `decide`'s choice instead of making it again.
//!
//! **Never edited, reversed once.** A booking is put right by a [`BookingKind::Reversal`] with
//! the opposite postings, at most once per booking, never of a reversal. Reversing a credit
//! reopens what it paid; reversing a charge turns what was paid on it into credit (a waiver or
//! write-off on it must be reversed first, or it would forgive a charge that no longer
//! exists).
//!
//! **Idempotent references.** A payment or refund reference is applied once: the same
//! reference with the same amount again is a repeat and changes nothing, with another amount it
//! is refused.
//!
//! **Two-phase deposit holds.** A hold reserves the deposit for a hire and resolves exactly
//! once: a deduction posts part of it against open charges and releases the rest in the same
//! decision, or a release voids all of it (refused while charges of the hire are open).
//! Deposits held never go below zero.
//!
//! **Checked money.** Amounts are integer [`Fen`](rentops_kernel::Fen); `decide` applies what
//! it books to a copy of the part of the ledger it touches, with checked arithmetic, so an overflow anywhere is a
//! [`LedgerError::Overflow`], never a panic or a wrapped balance. Bookings are never dated
//! before the latest one, so the history up to a date is the ledger as it stood then.
//!
//! # Layout
//!
//! - [`account`]: [`Account`], [`Side`], [`Posting`], what a charge line is for.
//! - [`booking`]: [`Booking`], [`BookingKind`], [`BookingId`], the open-item [`Match`]es.
//! - [`command`] and [`rules`]: [`LedgerCommand`] and [`decide`], wrapped as the
//!   [`CustomerLedger`] aggregate.
//! - [`event`] and [`state`]: [`LedgerEvent`] and the [`Ledger`] it folds to (balances, open
//!   items, holds, references: compact enough to snapshot).
//! - [`query`]: statements (and their CSV), the ledger as of a date, ageing by due date.
//! - [`compact`]: the state in a compact binary form, for snapshots.

pub mod account;
pub mod booking;
pub mod command;
pub mod compact;
pub mod error;
pub mod event;
pub mod query;
pub mod rules;
pub mod state;

pub use account::{Account, ChargeKind, ChargeLine, Posting, Side};
pub use booking::{Booking, BookingId, BookingKind, Match, Settlement};
pub use command::{Action, Apply, LedgerCommand, Role};
pub use compact::CompactError;
pub use error::LedgerError;
pub use event::LedgerEvent;
pub use query::{
    AgingBuckets, AgingReport, STATEMENT_CSV_HEADER, Statement, StatementLine, aging, csv_rows, ledger_as_of, statement,
};
pub use rules::{CustomerLedger, decide};
pub use state::{Hold, Item, Ledger, OpenItem, SeenReference};

#[cfg(test)]
mod tests;
