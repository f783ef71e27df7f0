//! The cover tier of a rental agreement: what the renter pays when the car is damaged.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CoverTier {
    /// Up to the deductible per incident, and loss of use while the car is repaired.
    #[default]
    Basic,
    /// Nothing (excluded causes aside: drunk driving, an unlicensed driver, prohibited use).
    Full,
}

impl CoverTier {
    pub fn code(self) -> &'static str {
        match self {
            CoverTier::Basic => "BASIC",
            CoverTier::Full => "FULL",
        }
    }

    pub fn parse(code: &str) -> Option<CoverTier> {
        match code.trim().to_ascii_uppercase().as_str() {
            "BASIC" => Some(CoverTier::Basic),
            "FULL" => Some(CoverTier::Full),
            _ => None,
        }
    }
}
