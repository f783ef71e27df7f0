//! Parsing gRPC input into the fleet domain's values. The checks every service shares (text,
//! times, phone, plate, command context, paging) are `rentops_runtime::validate`; these are the
//! fleet service's own, as an extension of the same `Violations`.

pub use rentops_runtime::validate::{Context, Violations, context, page_size};

use crate::domain::{CityCode, is_id};

/// The fleet service's field checks.
pub trait FleetFields {
    /// An id usable as a subject token: 1..=64 of A–Z, a–z, 0–9, '_' or '-'.
    fn id(&mut self, field: &str, value: &str) -> String;

    fn city(&mut self, field: &str, value: &str) -> String;

    /// A VIN: 17 of A–Z (no I, O, Q) and 0–9.
    fn vin(&mut self, field: &str, value: &str) -> String;
}

impl FleetFields for Violations {
    fn id(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required");
        } else if !is_id(v) {
            self.add(field, "1 to 64 of A-Z, a-z, 0-9, '_' or '-'");
        }
        v.to_owned()
    }

    fn city(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required");
        } else if let Err(e) = CityCode::parse(v) {
            // The kernel's rule, which order applies to the cities of its orders too.
            self.add(field, e.to_string());
        }
        v.to_owned()
    }

    fn vin(&mut self, field: &str, value: &str) -> String {
        let v = value.trim().to_ascii_uppercase();
        if v.len() != 17
            || !v
                .bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOQ".contains(&b)))
        {
            self.add(field, "17 characters: A-Z (no I, O, Q) and 0-9");
        }
        v
    }
}
