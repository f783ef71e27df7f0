//! Chinese licence plates, normalised by one rule so that a violation record, a handover and the
//! fleet's register name the same car the same way: `沪A·D12345`, `沪AD12345`, `沪ad12345` and
//! `沪A-D 12345` are one plate.
//!
//! **Normalisation**: full-width ASCII forms (as Chinese input methods type them: `Ａ`, `１`,
//! `．`) become ASCII; separators are removed wherever they stand (whitespace, the middle dots
//! `·` `•` `・` `‧` `∙`, `.`, and the hyphens and dashes `-` `‐` `–` `—`); ASCII letters are
//! upper-cased.
//!
//! **Validation** (the pattern of GA 36 for civilian small and large vehicles):
//!
//! - position 1: the abbreviation of one of the 31 provinces, autonomous regions and
//!   municipalities (`京`, `沪`, `粤`, …);
//! - position 2: the issuing office's letter, A–Z;
//! - then the serial, of letters and digits; serial letters never include `I` or `O`, which
//!   GA 36 leaves out as too like `1` and `0`:
//!   - 5 characters: an ordinary plate (`沪A·12345`, `沪A·D1234`);
//!   - 6 characters: a new-energy plate, either a small vehicle's, `D` (battery electric) or
//!     `F` (other new-energy) first, then a letter or digit, then 4 digits (`沪A·D12345`,
//!     `沪A·DF1234`), or a large vehicle's, 5 digits and then `D` or `F` (`沪A·12345D`).
//!
//! Plates a rental car never carries are refused rather than guessed at: special-use plates
//! with a trailing character such as `学`, `警`, `挂`, `领`; embassy, Hong Kong and Macao plates;
//! military plates. A plate is shown with the middle dot after the issuing office's letter.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 31 provincial-level abbreviations a mainland civilian plate starts with.
pub const PROVINCES: [char; 31] = [
    '京', '津', '沪', '渝', '冀', '豫', '云', '辽', '黑', '湘', '皖', '鲁', '新', '苏', '浙', '赣', '鄂', '桂', '甘',
    '晋', '蒙', '陕', '吉', '闽', '贵', '粤', '青', '藏', '川', '宁', '琼',
];

/// A valid, normalised plate. Equal plates are equal whatever form they were written in.
///
/// [`as_str`](Self::as_str) is the compact form (`沪AD12345`), for keys and matching;
/// [`Display`](fmt::Display) and serde use the form with the middle dot (`沪A·D12345`), as the
/// services have stored plates so far. Deserialising accepts any form that parses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Plate(String);

/// What kind of plate the serial makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlateKind {
    /// 5 serial characters.
    Ordinary,
    /// A small new-energy vehicle's: `D`/`F` first of 6.
    NewEnergySmall,
    /// A large new-energy vehicle's: `D`/`F` last of 6.
    NewEnergyLarge,
}

/// Why a text is not a plate. Positions count the characters of the normalised plate from 1
/// (1 is the province).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    #[error("a plate is required")]
    Empty,
    #[error("a plate has 7 characters (8 for new-energy vehicles) besides separators, not {characters}")]
    Length { characters: usize },
    #[error("a plate starts with a province's abbreviation such as 沪 or 粤, not {character:?}")]
    UnknownProvince { character: char },
    #[error("the second character of a plate is the issuing office's letter A-Z, not {character:?}")]
    NotAnOfficeLetter { character: char },
    #[error(
        "a plate's serial holds only digits and letters other than I and O; {character:?} at position {position} is not allowed"
    )]
    InvalidSerialCharacter { character: char, position: usize },
    #[error(
        "a new-energy plate's serial is D or F, a letter or digit, then 4 digits (D12345), or 5 digits then D or F (12345D); {serial:?} is neither"
    )]
    NotNewEnergy { serial: String },
}

/// Full-width ASCII (U+FF01..=U+FF5E) to ASCII; every other character as it is.
fn half_width(c: char) -> char {
    match u32::from(c) {
        // The full-width block mirrors ASCII 0x21..=0x7E at an offset of 0xFEE0.
        cp @ 0xFF01..=0xFF5E => char::from_u32(cp - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '·' | '•' | '・' | '‧' | '∙' | '.' | '-' | '‐' | '–' | '—')
}

/// A serial letter or digit: GA 36 never uses I or O in a serial.
fn serial_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

impl Plate {
    /// Normalises `text` and checks it is a plate; see the module's documentation for the rule.
    pub fn parse(text: &str) -> Result<Self, PlateError> {
        let chars: Vec<char> = text
            .chars()
            .map(half_width)
            .filter(|&c| !is_separator(c))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let (&province, rest) = chars.split_first().ok_or(PlateError::Empty)?;
        if !(7..=8).contains(&chars.len()) {
            return Err(PlateError::Length {
                characters: chars.len(),
            });
        }
        if !PROVINCES.contains(&province) {
            return Err(PlateError::UnknownProvince { character: province });
        }
        let (&office, serial) = rest.split_first().ok_or(PlateError::Length { characters: 1 })?;
        if !office.is_ascii_uppercase() {
            return Err(PlateError::NotAnOfficeLetter { character: office });
        }
        if let Some((i, &character)) = serial.iter().enumerate().find(|&(_, &c)| !serial_char(c)) {
            return Err(PlateError::InvalidSerialCharacter {
                character,
                position: i + 3,
            });
        }
        let plate = Plate(chars.iter().collect());
        if serial.len() == 6 && plate.kind() == PlateKind::Ordinary {
            return Err(PlateError::NotNewEnergy {
                serial: serial.iter().collect(),
            });
        }
        Ok(plate)
    }

    /// The compact form, `沪AD12345`: the key to match plates by.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An ASCII key for the plate, stable for ever: the province's code point in hex, then the
    /// office letter and the serial (`6caa-AD12345` for `沪A·D12345`). For ids and subjects,
    /// which take ASCII only; every spelling of a plate has the same key.
    pub fn key(&self) -> String {
        let rest: String = self.0.chars().skip(1).collect();
        format!("{:x}-{rest}", u32::from(self.province()))
    }

    pub fn province(&self) -> char {
        // A parsed plate has at least 7 characters; the fallback is never reached.
        self.0.chars().next().unwrap_or(' ')
    }

    /// The issuing office's letter (`A` in `沪A·D12345`).
    pub fn office(&self) -> char {
        self.0.chars().nth(1).unwrap_or(' ')
    }

    /// The serial after the office's letter (`D12345`).
    pub fn serial(&self) -> &str {
        // Position 1 is one CJK character and position 2 one ASCII letter; char_indices finds
        // where the serial starts without assuming byte widths.
        let start = self.0.char_indices().nth(2).map_or(self.0.len(), |(i, _)| i);
        &self.0[start..]
    }

    /// The kind the serial makes the plate. An eight-character plate is new-energy by
    /// construction: parsing refuses any other.
    pub fn kind(&self) -> PlateKind {
        let serial = self.serial().as_bytes();
        let energy = |b: u8| b == b'D' || b == b'F';
        match serial {
            [first, second, rest @ ..]
                if serial.len() == 6
                    && energy(*first)
                    && serial_char(char::from(*second))
                    && rest.iter().all(u8::is_ascii_digit) =>
            {
                PlateKind::NewEnergySmall
            }
            [digits @ .., last] if serial.len() == 6 && energy(*last) && digits.iter().all(u8::is_ascii_digit) => {
                PlateKind::NewEnergyLarge
            }
            _ => PlateKind::Ordinary,
        }
    }

    pub fn is_new_energy(&self) -> bool {
        self.kind() != PlateKind::Ordinary
    }
}

impl fmt::Display for Plate {
    /// `沪A·D12345`: the middle dot after the issuing office's letter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}·{}", self.province(), self.office(), self.serial())
    }
}

impl FromStr for Plate {
    type Err = PlateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Plate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Plate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Plate::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn plate(text: &str) -> Plate {
        Plate::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn the_written_forms_of_one_plate_are_one_plate() {
        let p = plate("沪A·D12345");
        for form in [
            "沪AD12345",
            "沪ad12345",
            "沪A•D12345",
            "沪A.D12345",
            "沪A D12345",
            "沪A-D12345",
            " 沪 A · D 1 2 3 4 5 ",
            "沪Ａ·Ｄ１２３４５",
            "沪a．d12345",
            "沪A・D12345",
        ] {
            assert_eq!(plate(form), p, "{form:?}");
        }
        assert_eq!(p.as_str(), "沪AD12345");
        assert_eq!(p.to_string(), "沪A·D12345");
        assert_eq!(p.province(), '沪');
        assert_eq!(p.office(), 'A');
        assert_eq!(p.serial(), "D12345");
        assert_eq!(p.kind(), PlateKind::NewEnergySmall);
    }

    #[test]
    fn ordinary_and_new_energy_plates_are_told_apart() {
        assert_eq!(plate("粤B·12345").kind(), PlateKind::Ordinary);
        // Five characters with a D first are an ordinary plate that happens to start with D.
        assert_eq!(plate("沪A·D1234").kind(), PlateKind::Ordinary);
        assert_eq!(plate("京A·DF1234").kind(), PlateKind::NewEnergySmall);
        assert_eq!(plate("京A·F12345").kind(), PlateKind::NewEnergySmall);
        assert_eq!(plate("川A·12345D").kind(), PlateKind::NewEnergyLarge);
        assert_eq!(plate("川A·12345F").kind(), PlateKind::NewEnergyLarge);
        assert!(!plate("粤B·12345").is_new_energy());
        assert!(plate("川A·12345D").is_new_energy());
    }

    #[test]
    fn what_is_not_a_plate_is_named() {
        assert_eq!(Plate::parse(""), Err(PlateError::Empty));
        assert_eq!(Plate::parse(" · "), Err(PlateError::Empty));
        assert_eq!(Plate::parse("ABC123"), Err(PlateError::Length { characters: 6 }));
        assert_eq!(Plate::parse("沪A·D123456"), Err(PlateError::Length { characters: 9 }));
        assert_eq!(
            Plate::parse("港A·12345"),
            Err(PlateError::UnknownProvince { character: '港' })
        );
        assert_eq!(
            Plate::parse("SHA·12345"),
            Err(PlateError::UnknownProvince { character: 'S' })
        );
        assert_eq!(
            Plate::parse("沪1·12345"),
            Err(PlateError::NotAnOfficeLetter { character: '1' })
        );
        assert_eq!(
            Plate::parse("沪A·1234学"),
            Err(PlateError::InvalidSerialCharacter {
                character: '学',
                position: 7
            })
        );
        assert_eq!(
            Plate::parse("沪A·O1234"),
            Err(PlateError::InvalidSerialCharacter {
                character: 'O',
                position: 3
            })
        );
        assert_eq!(
            Plate::parse("沪A·AB1234"),
            Err(PlateError::NotNewEnergy {
                serial: "AB1234".into()
            })
        );
        // D first, but a letter among the last four: neither new-energy pattern.
        assert_eq!(
            Plate::parse("沪A·D1234A"),
            Err(PlateError::NotNewEnergy {
                serial: "D1234A".into()
            })
        );
    }

    #[test]
    fn serde_writes_the_dotted_form_and_reads_any() {
        let p = plate("沪AD12345");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"沪A·D12345\"");
        assert_eq!(serde_json::from_str::<Plate>("\"沪ad12345\"").unwrap(), p);
        assert!(serde_json::from_str::<Plate>("\"ABC123\"").is_err());
    }

    fn province() -> impl Strategy<Value = char> {
        proptest::sample::select(PROVINCES.to_vec())
    }

    fn letter() -> impl Strategy<Value = char> {
        proptest::char::range('A', 'Z')
    }

    fn serial_letter_or_digit() -> impl Strategy<Value = char> {
        proptest::sample::select("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789".chars().collect::<Vec<_>>())
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::char::range('0', '9'), n).prop_map(|d| d.into_iter().collect())
    }

    /// A valid plate's serial and the kind it makes.
    fn serial() -> impl Strategy<Value = (String, PlateKind)> {
        let energy = || proptest::sample::select(vec!['D', 'F']);
        prop_oneof![
            proptest::collection::vec(serial_letter_or_digit(), 5)
                .prop_map(|s| (s.into_iter().collect(), PlateKind::Ordinary)),
            (energy(), serial_letter_or_digit(), digits(4))
                .prop_map(|(e, c, d)| (format!("{e}{c}{d}"), PlateKind::NewEnergySmall)),
            (digits(5), energy()).prop_map(|(d, e)| (format!("{d}{e}"), PlateKind::NewEnergyLarge)),
        ]
    }

    fn separator() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["", "", "", "·", "•", ".", " ", "-", "　", "\t"])
    }

    /// `c` as someone might type it: as it is, lower-case, or full-width.
    fn typed(c: char) -> impl Strategy<Value = char> {
        let lower = c.to_ascii_lowercase();
        let full = if c.is_ascii_graphic() {
            char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c)
        } else {
            c
        };
        proptest::sample::select(vec![c, lower, full])
    }

    /// A valid plate (its parts) and a way of writing it with separators, case and widths
    /// varied.
    fn written_plate() -> impl Strategy<Value = (char, char, String, PlateKind, String)> {
        (province(), letter(), serial()).prop_flat_map(|(p, o, (s, kind))| {
            let chars: Vec<char> = std::iter::once(p).chain(std::iter::once(o)).chain(s.chars()).collect();
            let n = chars.len();
            let typed_chars: Vec<_> = chars.into_iter().map(typed).collect();
            (typed_chars, proptest::collection::vec(separator(), n + 1)).prop_map(move |(cs, seps)| {
                let mut text = String::new();
                for (c, sep) in cs.iter().zip(&seps) {
                    text.push_str(sep);
                    text.push(*c);
                }
                text.push_str(seps[n]);
                (p, o, s.clone(), kind, text)
            })
        })
    }

    proptest! {
        #[test]
        fn any_writing_of_a_valid_plate_parses_to_its_parts((p, o, s, kind, text) in written_plate()) {
            let plate = Plate::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            prop_assert_eq!(plate.province(), p);
            prop_assert_eq!(plate.office(), o);
            prop_assert_eq!(plate.serial(), s.as_str());
            prop_assert_eq!(plate.kind(), kind);
            prop_assert_eq!(plate.as_str(), format!("{p}{o}{s}"));
            prop_assert_eq!(plate.to_string(), format!("{p}{o}·{s}"));
        }

        #[test]
        fn a_parsed_plate_parses_again_to_itself_in_both_forms(text in "[京沪粤A-Za-z0-9·. -]{0,12}") {
            if let Ok(plate) = Plate::parse(&text) {
                prop_assert_eq!(Plate::parse(&plate.to_string()), Ok(plate.clone()));
                prop_assert_eq!(Plate::parse(plate.as_str()), Ok(plate));
            }
        }

        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = Plate::parse(&text);
        }

        #[test]
        fn a_plate_starts_with_a_province_or_is_refused(first in any::<char>(), o in letter(), (s, _) in serial()) {
            let text = format!("{first}{o}{s}");
            let first = half_width(first).to_ascii_uppercase();
            if !PROVINCES.contains(&first) && !is_separator(first) {
                prop_assert_eq!(Plate::parse(&text), Err(PlateError::UnknownProvince { character: first }));
            }
        }

        #[test]
        fn i_and_o_never_stand_in_a_serial(p in province(), o in letter(), (s, _) in serial(), at in 0usize..5, bad in proptest::sample::select(vec!['I', 'O', 'i', 'o'])) {
            let mut serial: Vec<char> = s.chars().collect();
            serial[at] = bad;
            let text = format!("{p}{o}{}", serial.iter().collect::<String>());
            prop_assert_eq!(
                Plate::parse(&text),
                Err(PlateError::InvalidSerialCharacter { character: bad.to_ascii_uppercase(), position: at + 3 })
            );
        }
    }

    #[test]
    fn every_spelling_of_a_plate_has_one_ascii_key() {
        let keys: Vec<String> = ["沪A·D12345", "沪AD12345", "沪ad12345", "沪A-D 12345"]
            .iter()
            .map(|t| Plate::parse(t).unwrap().key())
            .collect();
        assert!(keys.iter().all(|k| k == "6caa-AD12345"), "{keys:?}");
        assert!(keys[0].is_ascii());
        assert_ne!(Plate::parse("粤AD12345").unwrap().key(), keys[0]);
    }
}
