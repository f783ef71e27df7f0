//! Parsing gRPC input into the order domain's values. The checks every service shares
//! (text, times, phone, plate, command context, paging) are `rentops_runtime::validate`; these
//! are the order service's own, as an extension of the same `Violations`.

use rentops_proto::order as pb;
use uuid::Uuid;

pub use rentops_runtime::validate::{Context, Violations, context, page_size};

use crate::domain::{CityCode, Location};

pub use rentops_runtime::validate::MAX_FEN;

/// The order service's field checks.
pub trait OrderFields {
    /// A code: 1..=max of A–Z, 0–9, '_' or '-'.
    fn code(&mut self, field: &str, value: &str, max: usize) -> String;

    fn location(&mut self, field: &str, value: Option<&pb::Location>, required: bool) -> Option<Location>;

    /// A city code by the kernel's rule, the one fleet configures cities by (2 to 8 of A–Z and
    /// 0–9): an order for a city fleet cannot have would never be served.
    fn city(&mut self, field: &str, value: &str) -> Option<CityCode>;

    fn order_id(&mut self, value: &str) -> Uuid;
}

impl OrderFields for Violations {
    fn code(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required");
        } else if v.len() > max
            || !v
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            self.add(field, format!("1 to {max} of A-Z, 0-9, '_' or '-'"));
        }
        v.to_owned()
    }

    fn location(&mut self, field: &str, value: Option<&pb::Location>, required: bool) -> Option<Location> {
        match value.and_then(|l| l.place.as_ref()) {
            None => {
                if required {
                    self.add(field, "required: a station_id or an address");
                }
                None
            }
            Some(pb::location::Place::StationId(s)) => {
                let s = self.code(&format!("{field}.station_id"), s, 64);
                Some(Location::Station(s))
            }
            Some(pb::location::Place::Address(a)) => {
                let a = self.text(&format!("{field}.address"), a, 300, true);
                Some(Location::Address(a))
            }
        }
    }

    fn city(&mut self, field: &str, value: &str) -> Option<CityCode> {
        match CityCode::parse(value) {
            Ok(city) => Some(city),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    fn order_id(&mut self, value: &str) -> Uuid {
        match Uuid::parse_str(value.trim()) {
            Ok(id) => id,
            Err(_) => {
                self.add(
                    "order_id",
                    if value.trim().is_empty() {
                        "required"
                    } else {
                        "not a valid order id (UUID)"
                    },
                );
                Uuid::nil()
            }
        }
    }
}
