//! The ledger's one event: a booking was made, with how it changed the open items.

use serde::{Deserialize, Serialize};

use crate::booking::{Booking, Settlement};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerEvent {
    Booked { booking: Booking, settlement: Settlement },
}

impl LedgerEvent {
    pub fn booking(&self) -> &Booking {
        match self {
            LedgerEvent::Booked { booking, .. } => booking,
        }
    }

    pub fn settlement(&self) -> &Settlement {
        match self {
            LedgerEvent::Booked { settlement, .. } => settlement,
        }
    }
}
