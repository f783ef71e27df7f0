//! The ids the services share, each parsed once where it enters and valid from then on, so a
//! station id cannot be passed where a vehicle id belongs and no rule has to check a string
//! again.
//!
//! Vehicle, station and customer ids and city codes become tokens of event-log subjects
//! (`rentops.fleet.vehicle.<id>.…`), so they hold only characters a subject token may: no dot,
//! no wildcard, no space. Parsing trims surrounding whitespace, as every gRPC field is trimmed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a text is not an id of its kind. `kind` names the id (`"vehicle id"`), so the message
/// can go to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is required")]
    Empty { kind: &'static str },
    #[error("{kind} must be {min} to {max} characters long, not {actual}")]
    Length {
        kind: &'static str,
        min: usize,
        max: usize,
        actual: usize,
    },
    /// `position` counts characters from 1.
    #[error("{kind} may hold only {allowed}; {character:?} at character {position} is not allowed")]
    InvalidCharacter {
        kind: &'static str,
        character: char,
        position: usize,
        allowed: &'static str,
    },
    #[error("{kind} is not a UUID")]
    NotAUuid { kind: &'static str },
    /// The nil UUID is what a missing id decodes to; no order has it.
    #[error("{kind} must not be the nil UUID")]
    NilUuid { kind: &'static str },
}

/// Checks `text` (already trimmed) against a length range and an allowed set of characters.
fn check(
    kind: &'static str,
    text: &str,
    (min, max): (usize, usize),
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if let Some((position, character)) = text.chars().enumerate().find(|&(_, c)| !ok(c)) {
        return Err(IdError::InvalidCharacter {
            kind,
            character,
            position: position + 1,
            allowed,
        });
    }
    // Every allowed character is ASCII, so bytes count characters here.
    if !(min..=max).contains(&text.len()) {
        return Err(IdError::Length {
            kind,
            min,
            max,
            actual: text.len(),
        });
    }
    Ok(())
}

/// A subject-token id: ASCII letters, digits, `_` and `-`.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $range:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                let text = text.trim();
                check($kind, text, $range, $allowed, $ok)?;
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

token_id!(
    /// A vehicle's id in the fleet (not its VIN, not its plate): 1 to 64 of A–Z, a–z, 0–9, `_`
    /// and `-`.
    VehicleId,
    "vehicle id",
    (1, 64),
    "A-Z, a-z, 0-9, '_' and '-'",
    token_char
);

token_id!(
    /// A pickup / return station's id (e.g. `PVG`): 1 to 64 of A–Z, a–z, 0–9, `_` and `-`.
    StationId,
    "station id",
    (1, 64),
    "A-Z, a-z, 0-9, '_' and '-'",
    token_char
);

token_id!(
    /// A customer's id as the sales channels give it: 1 to 64 of A–Z, a–z, 0–9, `_` and `-`.
    /// Strict because a customer's ledger and complaints are keyed by it in the event log.
    CustomerId,
    "customer id",
    (1, 64),
    "A-Z, a-z, 0-9, '_' and '-'",
    token_char
);

token_id!(
    /// A city's code (e.g. `SHA`): 2 to 8 of A–Z and 0–9, as fleet has configured cities.
    CityCode,
    "city code",
    (2, 8),
    "A-Z and 0-9",
    |c: char| c.is_ascii_uppercase() || c.is_ascii_digit()
);

/// An order's id: a UUID, never the nil one. The order service derives it from the channel's
/// order reference ([`OrderId::new_v5`]) so a retried placement finds the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct OrderId(Uuid);

impl OrderId {
    const KIND: &'static str = "order id";

    /// Any of the UUID text forms (`67e55044-10b1-426f-9247-bb680e5fe0c8`, without hyphens,
    /// braced, `urn:uuid:`); Display gives the hyphenated lower-case form.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(IdError::Empty { kind: Self::KIND });
        }
        let uuid = Uuid::parse_str(text).map_err(|_| IdError::NotAUuid { kind: Self::KIND })?;
        Self::from_uuid(uuid)
    }

    pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
        if uuid.is_nil() {
            return Err(IdError::NilUuid { kind: Self::KIND });
        }
        Ok(Self(uuid))
    }

    /// The name-based id of `name` in `namespace`. Infallible: a v5 UUID carries its version
    /// bits, so it is never nil.
    pub fn new_v5(namespace: &Uuid, name: &[u8]) -> Self {
        Self(Uuid::new_v5(namespace, name))
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for OrderId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<Uuid> for OrderId {
    type Error = IdError;

    fn try_from(uuid: Uuid) -> Result<Self, Self::Error> {
        Self::from_uuid(uuid)
    }
}

impl From<OrderId> for Uuid {
    fn from(id: OrderId) -> Uuid {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ids_are_trimmed_and_kept_as_given() {
        assert_eq!(VehicleId::parse(" V0001 ").unwrap().as_str(), "V0001");
        assert_eq!(StationId::parse("sha-hq_2").unwrap().to_string(), "sha-hq_2");
        assert_eq!(CityCode::parse("SHA").unwrap().as_str(), "SHA");
        assert_eq!(CustomerId::parse("C-123").unwrap().as_str(), "C-123");
    }

    #[test]
    fn bad_ids_name_the_kind_and_the_fault() {
        assert_eq!(VehicleId::parse("  "), Err(IdError::Empty { kind: "vehicle id" }));
        assert_eq!(
            StationId::parse("PVG.T2"),
            Err(IdError::InvalidCharacter {
                kind: "station id",
                character: '.',
                position: 4,
                allowed: "A-Z, a-z, 0-9, '_' and '-'",
            })
        );
        assert_eq!(
            VehicleId::parse(&"V".repeat(65)),
            Err(IdError::Length {
                kind: "vehicle id",
                min: 1,
                max: 64,
                actual: 65
            })
        );
        assert!(matches!(
            CityCode::parse("sha"),
            Err(IdError::InvalidCharacter {
                kind: "city code",
                character: 's',
                ..
            })
        ));
        assert!(matches!(CityCode::parse("S"), Err(IdError::Length { actual: 1, .. })));
        assert!(matches!(
            CityCode::parse("SHANGHAI1"),
            Err(IdError::Length { actual: 9, .. })
        ));
        // A subject wildcard in a customer id would let one ledger's subject match others.
        assert!(matches!(
            CustomerId::parse("C*"),
            Err(IdError::InvalidCharacter { character: '*', .. })
        ));
        assert!(matches!(
            CustomerId::parse("张三"),
            Err(IdError::InvalidCharacter { position: 1, .. })
        ));
        assert_eq!(
            VehicleId::parse("V 1").unwrap_err().to_string(),
            "vehicle id may hold only A-Z, a-z, 0-9, '_' and '-'; ' ' at character 2 is not allowed"
        );
    }

    #[test]
    fn order_ids_are_uuids_but_never_nil() {
        let id = OrderId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(OrderId::parse("67e5504410b1426f9247bb680e5fe0c8"), Ok(id));
        assert_eq!(
            OrderId::parse("00000000-0000-0000-0000-000000000000"),
            Err(IdError::NilUuid { kind: "order id" })
        );
        assert_eq!(OrderId::parse("O00001"), Err(IdError::NotAUuid { kind: "order id" }));
        assert_eq!(OrderId::parse(""), Err(IdError::Empty { kind: "order id" }));
        let ns = Uuid::from_u128(0x6f0c_3c1e_8d7b_4e5a_9a51_2f1d_0c7e_a001);
        assert_eq!(OrderId::new_v5(&ns, b"APP||A1"), OrderId::new_v5(&ns, b"APP||A1"));
        assert_ne!(OrderId::new_v5(&ns, b"APP||A1"), OrderId::new_v5(&ns, b"APP||A2"));
    }

    #[test]
    fn serde_uses_the_plain_text_and_refuses_what_parse_refuses() {
        let v = VehicleId::parse("V0001").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"V0001\"");
        assert_eq!(serde_json::from_str::<VehicleId>("\"V0001\"").unwrap(), v);
        assert!(serde_json::from_str::<CityCode>("\"sh\"").is_err());
        let id = OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"67e55044-10b1-426f-9247-bb680e5fe0c8\""
        );
        assert_eq!(
            serde_json::from_str::<OrderId>("\"67e55044-10b1-426f-9247-bb680e5fe0c8\"").unwrap(),
            id
        );
        assert!(serde_json::from_str::<OrderId>("\"00000000-0000-0000-0000-000000000000\"").is_err());
    }

    proptest! {
        #[test]
        fn every_token_id_parses_to_itself(text in "[A-Za-z0-9_-]{1,64}") {
            let id = VehicleId::parse(&text).unwrap();
            prop_assert_eq!(id.as_str(), text.as_str());
            prop_assert_eq!(StationId::parse(&text).unwrap().to_string(), text);
        }

        #[test]
        fn parsing_never_panics_and_accepts_only_subject_safe_text(text in any::<String>()) {
            if let Ok(id) = CustomerId::parse(&text) {
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            }
            let _ = CityCode::parse(&text);
            let _ = OrderId::parse(&text);
        }
    }
}
