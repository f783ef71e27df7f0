//! Why the ledger refused a command. Each case names the field or the booking at fault and the
//! amounts involved, so the service can pass it on as a field violation as it is.

use rentops_kernel::{CustomerId, Fen, OrderId};
use time::OffsetDateTime;

use crate::booking::{BookingId, BookingKind};
use crate::command::Role;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("{field} must be more than zero, not {amount}")]
    NotPositive { field: String, amount: Fen },
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} may be at most {max} characters, not {actual}")]
    TooLong {
        field: &'static str,
        max: usize,
        actual: usize,
    },
    #[error("this is customer {ledger}'s ledger, not {command}'s")]
    WrongCustomer { ledger: CustomerId, command: CustomerId },
    /// Entries are never backdated: the ledger read up to a date must be the ledger as it was.
    #[error("a booking at {at} would come before the latest one, at {latest}")]
    Backdated { at: OffsetDateTime, latest: OffsetDateTime },
    #[error("booking id {id} is already used")]
    DuplicateBookingId { id: BookingId },
    #[error("to {action} needs the {role} role")]
    RoleRequired { action: &'static str, role: Role },
    #[error("{field}: no booking {id} in this ledger")]
    UnknownBooking { field: &'static str, id: BookingId },
    #[error("{field}: booking {id} is a {kind}, not a {expected}")]
    WrongKind {
        field: &'static str,
        id: BookingId,
        kind: BookingKind,
        expected: BookingKind,
    },
    #[error("{field}: {id} is named twice")]
    NamedTwice { field: &'static str, id: BookingId },
    #[error("{field}: {asked} is more than the {open} still open of charge {charge}")]
    ExceedsOpen {
        field: String,
        charge: BookingId,
        asked: Fen,
        open: Fen,
    },
    #[error("amount: a refund of {asked} is more than the customer's credit of {credit}")]
    ExceedsCredit { asked: Fen, credit: Fen },
    /// The same reference with the same amount is a repeat and changes nothing; with another
    /// amount (or as another kind of booking) it is a mistake.
    #[error("reference {reference:?} was applied as a {kind} of {applied}; it cannot be applied again as {asked}")]
    ReferenceReused {
        reference: String,
        kind: BookingKind,
        applied: Fen,
        asked: Fen,
    },
    #[error("hold: {hold} was already resolved by {by}")]
    HoldResolved { hold: BookingId, by: BookingId },
    #[error("against: deducting {asked} is more than the {held} held by {hold}")]
    ExceedsHold { hold: BookingId, asked: Fen, held: Fen },
    /// A deposit is released only when nothing of its hire is still owed: deduct first.
    #[error("hold: {open} of charges of order {order} is still open; deduct it before the release")]
    OpenChargesOnHire { hold: BookingId, order: OrderId, open: Fen },
    #[error("booking: {id} is a {kind}, which is not reversed (a hold resolves once; a reversal stands)")]
    NotReversible { id: BookingId, kind: BookingKind },
    #[error("booking: {id} was already reversed by {by}")]
    AlreadyReversed { id: BookingId, by: BookingId },
    /// A waiver or write-off of a charge would outlive the charge; reverse it first.
    #[error("booking: charge {charge} has a {kind} ({by}) standing against it; reverse that first")]
    AllowanceStands {
        charge: BookingId,
        by: BookingId,
        kind: BookingKind,
    },
    #[error("booking {booking}'s time cannot be written: {reason}")]
    Unwritable { booking: BookingId, reason: String },
    #[error("{what} overflows")]
    Overflow { what: String },
    /// Only a stored event that contradicts the ledger (a corrupted log) causes this.
    #[error("the ledger's history does not add up at booking {booking}: {reason}")]
    Inconsistent { booking: BookingId, reason: String },
    /// The history did not add up (see [`LedgerError::Inconsistent`]); nothing more is booked
    /// until a person has looked.
    #[error("the ledger is closed to bookings: {reason}")]
    Broken { reason: String },
}

impl LedgerError {
    pub(crate) fn overflow(what: impl Into<String>) -> Self {
        Self::Overflow { what: what.into() }
    }

    pub(crate) fn not_positive(field: impl Into<String>, amount: Fen) -> Self {
        Self::NotPositive {
            field: field.into(),
            amount,
        }
    }
}
