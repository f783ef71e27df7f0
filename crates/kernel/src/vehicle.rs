//! The vehicle models of DOMAIN.md's glossary, the class each belongs to, and the class ladder:
//! which models may serve an order for a model as a free upgrade.
//!
//! The ladder is the planning examples', which fleet gives each new city and
//! a city may replace; it is not derived from the classes. The classes state the rule the
//! ladder must keep (DOMAIN.md: a car of a higher class may serve, never a lower one): every
//! upgrade in the default ladder is of the same body family and a higher tier, which a test
//! checks. Saloons and SUVs are not comparable: neither is an upgrade of the other.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A vehicle model. The order of the variants is fleet's (it keys the ladder's map) and is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum VehicleModel {
    Et5,
    Et5t,
    Et7,
    Es6,
    Ec6,
    Es7,
    Ec7,
    Es8,
}

/// A body family: classes compare only within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BodyFamily {
    Saloon,
    Suv,
}

/// A model's class: its body family and its tier in that family (1 is the entry tier).
///
/// `PartialOrd` compares tiers within a family and answers `None` across families, so
/// `a > b` reads "a is of a higher class than b".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VehicleClass {
    pub family: BodyFamily,
    pub tier: u8,
}

impl PartialOrd for VehicleClass {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self.family == other.family).then(|| self.tier.cmp(&other.tier))
    }
}

/// A text that names no model we run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a vehicle model (ET5, ET5T, ET7, ES6, EC6, ES7, EC7, ES8)")]
pub struct UnknownModel(pub String);

impl VehicleModel {
    pub const ALL: [VehicleModel; 8] = [
        Self::Et5,
        Self::Et5t,
        Self::Et7,
        Self::Es6,
        Self::Ec6,
        Self::Es7,
        Self::Ec7,
        Self::Es8,
    ];

    /// The model's code, as the planner, the databases and the desk write it.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Et5 => "ET5",
            Self::Et5t => "ET5T",
            Self::Et7 => "ET7",
            Self::Es6 => "ES6",
            Self::Ec6 => "EC6",
            Self::Es7 => "ES7",
            Self::Ec7 => "EC7",
            Self::Es8 => "ES8",
        }
    }

    /// A model from its code, in any case (`ET5T`, `et5t`), surrounding whitespace trimmed.
    /// Any case because fleet accepted it so, and because the services' stored JSON spells the
    /// models as Rust variant names (`Et5t`), which must still read.
    pub fn parse(text: &str) -> Result<Self, UnknownModel> {
        let code = text.trim();
        Self::ALL
            .into_iter()
            .find(|m| m.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| UnknownModel(text.to_owned()))
    }

    pub const fn class(self) -> VehicleClass {
        use BodyFamily::*;
        let (family, tier) = match self {
            Self::Et5 => (Saloon, 1),
            Self::Et5t => (Saloon, 2),
            Self::Et7 => (Saloon, 3),
            Self::Es6 => (Suv, 1),
            Self::Ec6 | Self::Es7 => (Suv, 2),
            Self::Ec7 | Self::Es8 => (Suv, 3),
        };
        VehicleClass { family, tier }
    }

    /// The models the default ladder lets serve an order for this one as a free upgrade.
    pub const fn default_upgrades(self) -> &'static [VehicleModel] {
        use VehicleModel::*;
        match self {
            Et5 => &[Et5t, Et7],
            Et5t => &[Et7],
            Et7 => &[],
            Es6 => &[Ec6, Es7, Es8],
            Ec6 => &[Ec7],
            Es7 => &[Es8],
            Ec7 => &[],
            Es8 => &[],
        }
    }

    /// Whether a car of this model may serve an order for `requested` under the default
    /// ladder: the same model, or one of its allowed upgrades.
    pub fn may_serve(self, requested: VehicleModel) -> bool {
        self == requested || requested.default_upgrades().contains(&self)
    }
}

/// The serde form the services' stored JSON has always used for models: the Rust variant names
/// (`Et5t`), not the codes this type's own serde writes (`ET5T`). For the read models' state
/// columns: replicas still running a build from before the kernel read the rows a newer one
/// writes, and they know only the variant names. Reading accepts both, as the type's own serde
/// does. Use with `#[serde(with = "rentops_kernel::vehicle::stored_json")]` (or its `option` /
/// `ladder` modules).
pub mod stored_json {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::VehicleModel;

    /// The variant name the stored JSON spells `m` with.
    pub const fn variant_name(m: VehicleModel) -> &'static str {
        match m {
            VehicleModel::Et5 => "Et5",
            VehicleModel::Et5t => "Et5t",
            VehicleModel::Et7 => "Et7",
            VehicleModel::Es6 => "Es6",
            VehicleModel::Ec6 => "Ec6",
            VehicleModel::Es7 => "Es7",
            VehicleModel::Ec7 => "Ec7",
            VehicleModel::Es8 => "Es8",
        }
    }

    pub fn serialize<S: Serializer>(m: &VehicleModel, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(variant_name(*m))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VehicleModel, D::Error> {
        VehicleModel::deserialize(d)
    }

    /// An optional model: `null` when absent.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::{VehicleModel, variant_name};

        pub fn serialize<S: Serializer>(m: &Option<VehicleModel>, s: S) -> Result<S::Ok, S::Error> {
            match m {
                Some(m) => s.serialize_some(variant_name(*m)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VehicleModel>, D::Error> {
            Option::<VehicleModel>::deserialize(d)
        }
    }

    /// A class ladder (model → the models that may serve it), keys and values by variant name.
    pub mod ladder {
        use serde::ser::SerializeMap;

        use super::*;

        pub fn serialize<S: Serializer>(
            ladder: &BTreeMap<VehicleModel, Vec<VehicleModel>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(ladder.len()))?;
            for (m, ups) in ladder {
                let ups: Vec<&str> = ups.iter().map(|u| variant_name(*u)).collect();
                map.serialize_entry(variant_name(*m), &ups)?;
            }
            map.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<VehicleModel, Vec<VehicleModel>>, D::Error> {
            BTreeMap::deserialize(d)
        }
    }
}

/// The default ladder as a map, the form fleet keeps per city (and replaces by command).
pub fn default_ladder() -> BTreeMap<VehicleModel, Vec<VehicleModel>> {
    VehicleModel::ALL
        .into_iter()
        .map(|m| (m, m.default_upgrades().to_vec()))
        .collect()
}

impl fmt::Display for VehicleModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for VehicleModel {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for VehicleModel {
    type Error = UnknownModel;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<VehicleModel> for &'static str {
    fn from(m: VehicleModel) -> &'static str {
        m.code()
    }
}

#[cfg(test)]
mod tests {
    use super::VehicleModel::*;
    use super::*;

    #[test]
    fn the_ladder_is_the_one_fleet_gives_every_new_city() {
        // Written out as fleet's default_ladder() has it; the two must not drift apart while
        // fleet moves onto the kernel.
        let fleet = BTreeMap::from([
            (Et5, vec![Et5t, Et7]),
            (Et5t, vec![Et7]),
            (Et7, vec![]),
            (Es6, vec![Ec6, Es7, Es8]),
            (Ec6, vec![Ec7]),
            (Es7, vec![Es8]),
            (Ec7, vec![]),
            (Es8, vec![]),
        ]);
        assert_eq!(default_ladder(), fleet);
    }

    #[test]
    fn every_upgrade_is_a_higher_class_of_the_same_family() {
        for requested in VehicleModel::ALL {
            for &car in requested.default_upgrades() {
                assert!(
                    car.class() > requested.class(),
                    "{car} ({:?}) upgrades {requested} ({:?})",
                    car.class(),
                    requested.class()
                );
            }
        }
    }

    #[test]
    fn a_car_serves_its_own_model_and_upgrades_never_a_lower_class() {
        assert!(Es8.may_serve(Es6));
        assert!(Es6.may_serve(Es6));
        assert!(!Es6.may_serve(Es8), "never a lower class");
        assert!(!Ec7.may_serve(Es6), "the ladder does not include every higher tier");
        assert!(!Et7.may_serve(Es6), "a saloon does not serve an SUV order");
        for car in VehicleModel::ALL {
            for requested in VehicleModel::ALL {
                if car.may_serve(requested) && car != requested {
                    assert!(car.class() > requested.class(), "{car} serving {requested}");
                }
            }
        }
    }

    #[test]
    fn classes_compare_only_within_a_family() {
        assert!(Et7.class() > Et5.class());
        assert_eq!(Ec6.class().partial_cmp(&Es7.class()), Some(std::cmp::Ordering::Equal));
        assert_eq!(Et7.class().partial_cmp(&Es6.class()), None);
    }

    #[test]
    fn models_parse_from_their_codes_in_any_case() {
        for m in VehicleModel::ALL {
            assert_eq!(VehicleModel::parse(m.code()), Ok(m));
            assert_eq!(m.to_string().parse::<VehicleModel>(), Ok(m));
        }
        assert_eq!(VehicleModel::parse("et5t"), Ok(Et5t));
        assert_eq!(VehicleModel::parse(" Es8 "), Ok(Es8));
        assert_eq!(VehicleModel::parse("ES9"), Err(UnknownModel("ES9".into())));
        assert_eq!(VehicleModel::parse(""), Err(UnknownModel(String::new())));
    }

    #[test]
    fn the_stored_json_form_writes_variant_names_and_reads_both() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Row {
            #[serde(with = "stored_json")]
            model: VehicleModel,
            #[serde(with = "stored_json::option")]
            assigned: Option<VehicleModel>,
            #[serde(with = "stored_json::ladder")]
            upgrades: BTreeMap<VehicleModel, Vec<VehicleModel>>,
        }
        let row = Row {
            model: Et5t,
            assigned: Some(Ec7),
            upgrades: BTreeMap::from([(Es6, vec![Ec6, Es8]), (Et7, vec![])]),
        };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(
            json,
            r#"{"model":"Et5t","assigned":"Ec7","upgrades":{"Et7":[],"Es6":["Ec6","Es8"]}}"#
        );
        assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
        let codes = r#"{"model":"ET5T","assigned":null,"upgrades":{"ES6":["EC6","Es8"],"ET7":[]}}"#;
        let read = serde_json::from_str::<Row>(codes).unwrap();
        assert_eq!((read.model, read.assigned), (Et5t, None));
        assert_eq!(read.upgrades, row.upgrades);
        for m in VehicleModel::ALL {
            assert_eq!(VehicleModel::parse(stored_json::variant_name(m)), Ok(m));
        }
    }

    #[test]
    fn serde_writes_codes_and_reads_the_old_variant_names() {
        assert_eq!(serde_json::to_string(&Et5t).unwrap(), "\"ET5T\"");
        assert_eq!(serde_json::from_str::<VehicleModel>("\"ET5T\"").unwrap(), Et5t);
        assert_eq!(serde_json::from_str::<VehicleModel>("\"Et5t\"").unwrap(), Et5t);
        assert!(serde_json::from_str::<VehicleModel>("\"Model3\"").is_err());
    }
}
