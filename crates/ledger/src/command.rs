//! What may be asked of a ledger. Every command carries the booking's id, its time and the
//! caller's roles: the ledger has no clock, no id source and no session of its own.

use std::fmt;

use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::account::ChargeLine;
use crate::booking::BookingId;

/// A role of the desk that some bookings need. Anyone who may use the ledger may charge and
/// hold or resolve deposits; waivers and write-offs are a supervisor's, money going in and out
/// the finance team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Supervisor,
    Finance,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Supervisor => "supervisor",
            Role::Finance => "finance",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCommand {
    pub customer: CustomerId,
    /// The id of the booking the command makes (a deduction's release has its own, in the
    /// action).
    pub booking: BookingId,
    pub at: OffsetDateTime,
    /// The caller's roles.
    pub roles: Vec<Role>,
    pub memo: String,
    pub action: Action,
}

/// A charge's share of one deduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Apply {
    pub charge: BookingId,
    pub amount: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The customer owes `lines` (a fine and its service fee; a repair, its loss of use and
    /// admin fee), due on `due`. `about` is the violation or claim the charge is for.
    Charge {
        lines: Vec<ChargeLine>,
        due: Date,
        about: String,
        order: Option<OrderId>,
        city: CityCode,
    },
    /// A payment arrived under `reference`, applied once. It pays `pays` first when it names a
    /// charge, then the open charges oldest due first; the rest is the customer's credit.
    Pay {
        amount: Fen,
        reference: String,
        pays: Option<BookingId>,
    },
    /// A supervisor does not collect `amount` of `charge`.
    Waive { charge: BookingId, amount: Fen },
    /// A supervisor gives up `amount` of `charge` as uncollectable.
    WriteOff { charge: BookingId, amount: Fen },
    /// Finance pays `amount` of the customer's credit back, under `reference`, applied once.
    Refund { amount: Fen, reference: String },
    /// The hire's violation deposit is taken and held.
    HoldDeposit { amount: Fen, order: OrderId },
    /// Part of `hold` settles the charges `against`; what is left of it is released at once,
    /// as the booking `release`. This resolves the hold.
    DeductDeposit {
        hold: BookingId,
        against: Vec<Apply>,
        release: BookingId,
    },
    /// All of `hold` goes back to the customer. This resolves the hold.
    ReleaseDeposit { hold: BookingId },
    /// `booking` is undone by a booking of the opposite postings; once.
    Reverse { booking: BookingId },
}
