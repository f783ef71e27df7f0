//! The chart of accounts and the posting, the one line of a booking.
//!
//! Balances are signed the same way for every account: debits minus credits. So an asset
//! (the customer's receivable, cash) is positive when it holds something and a liability or an
//! income (deposits held, fines payable, fee income) is negative; the books balance when the sum
//! over all accounts is zero.

use std::fmt;

use rentops_kernel::{CustomerId, Fen};
use serde::{Deserialize, Serialize};

/// An account of the ledger. The two that belong to one customer carry their id; the others are
/// the company's, and a customer's ledger holds that customer's share of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Account {
    /// What the customer owes (positive) or has paid in advance (negative: a credit).
    Receivable(CustomerId),
    /// The customer's violation deposits the company holds and owes back: a liability, so its
    /// balance is never above zero.
    DepositsHeld(CustomerId),
    /// Cash and bank, including the payment provider's settlement account.
    Cash,
    /// Fines the company owes the traffic authority for offences it handles on the renter's
    /// behalf; the fine is recovered from the renter, never earned.
    FinesPayable,
    /// The service fee charged for handling a violation the renter left unhandled.
    ServiceFeeIncome,
    /// The admin fee on a repair claim.
    AdminFeeIncome,
    /// Repair costs recovered from the renter.
    RepairRecoveryIncome,
    /// Loss of use: the days the car spent in repair, where the cover tier says so.
    LossOfUseIncome,
    /// Waivers granted (a contra-income): a charge the company chose not to collect.
    Waivers,
    /// Receivables written off as uncollectable.
    WriteOffExpense,
}

impl Account {
    /// The account's name in statements and reports, e.g. `receivable:C-1`.
    pub fn name(&self) -> String {
        match self {
            Account::Receivable(c) => format!("receivable:{c}"),
            Account::DepositsHeld(c) => format!("deposits_held:{c}"),
            Account::Cash => "cash".into(),
            Account::FinesPayable => "fines_payable".into(),
            Account::ServiceFeeIncome => "service_fee_income".into(),
            Account::AdminFeeIncome => "admin_fee_income".into(),
            Account::RepairRecoveryIncome => "repair_recovery_income".into(),
            Account::LossOfUseIncome => "loss_of_use_income".into(),
            Account::Waivers => "waivers".into(),
            Account::WriteOffExpense => "write_off_expense".into(),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Which side of an account a posting is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// One line of a booking: an amount, always positive, on one side of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: Account,
    pub side: Side,
    pub amount: Fen,
}

impl Posting {
    pub fn debit(account: Account, amount: Fen) -> Self {
        Self {
            account,
            side: Side::Debit,
            amount,
        }
    }

    pub fn credit(account: Account, amount: Fen) -> Self {
        Self {
            account,
            side: Side::Credit,
            amount,
        }
    }

    /// The posting's effect on its account's balance (debits minus credits), or `None` for
    /// the one amount whose negation overflows.
    pub fn signed(&self) -> Option<Fen> {
        match self.side {
            Side::Debit => Some(self.amount),
            Side::Credit => self.amount.checked_neg(),
        }
    }

    /// The same amount on the other side: the line of a reversal.
    pub fn reversed(&self) -> Posting {
        Posting {
            account: self.account.clone(),
            side: self.side.opposite(),
            amount: self.amount,
        }
    }
}

/// What a line of a charge is for, and so which account it is credited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChargeKind {
    /// A traffic fine the company pays the authority and recovers from the renter.
    Fine,
    ServiceFee,
    AdminFee,
    Repair,
    LossOfUse,
}

impl ChargeKind {
    /// The account a line of this kind is credited to.
    pub fn account(self) -> Account {
        match self {
            ChargeKind::Fine => Account::FinesPayable,
            ChargeKind::ServiceFee => Account::ServiceFeeIncome,
            ChargeKind::AdminFee => Account::AdminFeeIncome,
            ChargeKind::Repair => Account::RepairRecoveryIncome,
            ChargeKind::LossOfUse => Account::LossOfUseIncome,
        }
    }
}

/// One line of a charge: what it is for and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    pub kind: ChargeKind,
    pub amount: Fen,
}
