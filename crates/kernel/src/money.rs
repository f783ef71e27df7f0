//! Money: integer fen (1/100 CNY), never a float. Arithmetic is checked, because an amount that
//! silently wraps is a wrong bill; amounts in yuan are parsed digit by digit, because a vendor's
//! `"0.1"` must be exactly 10 fen, which no binary float holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount in fen (1/100 CNY). Negative amounts are allowed: refunds, reversals and credits
/// are amounts too; a field that must not be negative says so where it is parsed.
///
/// On the wire and in serde it is the integer number of fen; [`Display`](fmt::Display) and
/// [`FromStr`] use yuan with two decimals (`123.45`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

/// Why an amount could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("an amount in yuan is required")]
    Empty,
    /// Only ASCII digits, one `.` and a leading `-` make an amount: no `+`, no thousands
    /// separators, no exponent, no surrounding spaces. `position` counts characters from 1.
    #[error("{input:?} is not an amount in yuan: {character:?} at character {position}")]
    InvalidCharacter {
        input: String,
        character: char,
        position: usize,
    },
    /// A sign or a point without digits on both sides (`"-"`, `".5"`, `"5."`).
    #[error("{input:?} is not an amount in yuan: digits are missing")]
    MissingDigits { input: String },
    #[error("{input:?} has {decimals} decimals; an amount in yuan has at most 2 (fen)")]
    TooManyDecimals { input: String, decimals: usize },
    #[error("{input:?} is out of the range of an amount")]
    OutOfRange { input: String },
    /// Arithmetic on amounts left the range of `i64` fen.
    #[error("the amount overflows")]
    Overflow,
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const fn new(fen: i64) -> Self {
        Self(fen)
    }

    /// The amount in fen.
    pub const fn fen(self) -> i64 {
        self.0
    }

    /// Whole yuan as fen, or `None` when that overflows.
    pub const fn from_yuan(yuan: i64) -> Option<Fen> {
        match yuan.checked_mul(100) {
            Some(f) => Some(Fen(f)),
            None => None,
        }
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn checked_add(self, other: Fen) -> Option<Fen> {
        match self.0.checked_add(other.0) {
            Some(f) => Some(Fen(f)),
            None => None,
        }
    }

    pub const fn checked_sub(self, other: Fen) -> Option<Fen> {
        match self.0.checked_sub(other.0) {
            Some(f) => Some(Fen(f)),
            None => None,
        }
    }

    /// `count` times the amount (days of loss of use, items of a kind).
    pub const fn checked_mul(self, count: i64) -> Option<Fen> {
        match self.0.checked_mul(count) {
            Some(f) => Some(Fen(f)),
            None => None,
        }
    }

    /// The reversal of the amount; `None` only for `i64::MIN` fen.
    pub const fn checked_neg(self) -> Option<Fen> {
        match self.0.checked_neg() {
            Some(f) => Some(Fen(f)),
            None => None,
        }
    }

    /// The sum of `amounts` (a ledger's balance, an invoice's lines), or
    /// [`MoneyError::Overflow`]. Overflow is judged on the running total, so amounts that
    /// overflow only on the way and come back into range are still refused: a ledger's
    /// balance is meaningful at each entry, not only at the end.
    pub fn try_sum(amounts: impl IntoIterator<Item = Fen>) -> Result<Fen, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Fen::ZERO, |total, f| total.checked_add(f).ok_or(MoneyError::Overflow))
    }

    /// An amount in yuan, exactly: `"123.45"`, `"200"`, `"0.5"`, `"-1.20"`. At most two
    /// decimals (a third would be a fraction of a fen, which nothing is billed in); only ASCII
    /// digits, one `.` between digits and a leading `-`.
    pub fn parse_yuan(input: &str) -> Result<Fen, MoneyError> {
        if input.is_empty() {
            return Err(MoneyError::Empty);
        }
        let owned = || input.to_owned();
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (unsigned, None),
        };
        // Reject the first stray character, counting from the start of the input.
        let offset = usize::from(negative);
        let mut seen_point = false;
        for (i, c) in unsigned.chars().enumerate() {
            let second_point = c == '.' && std::mem::replace(&mut seen_point, true);
            if !(c.is_ascii_digit() || c == '.') || second_point {
                return Err(MoneyError::InvalidCharacter {
                    input: owned(),
                    character: c,
                    position: i + offset + 1,
                });
            }
        }
        if whole.is_empty() || fraction.is_some_and(str::is_empty) {
            return Err(MoneyError::MissingDigits { input: owned() });
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > 2 {
            return Err(MoneyError::TooManyDecimals {
                input: owned(),
                decimals: fraction.len(),
            });
        }
        // The magnitude in fen, as u64 so that i64::MIN fen (whose magnitude is i64::MAX + 1)
        // parses like every amount Display can print.
        let out_of_range = || MoneyError::OutOfRange { input: owned() };
        let mut magnitude: u64 = 0;
        let digits = whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', 2 - fraction.len()));
        for d in digits {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(d - b'0')))
                .ok_or_else(out_of_range)?;
        }
        let fen = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        fen.map(Fen).ok_or_else(out_of_range)
    }
}

impl fmt::Display for Fen {
    /// Yuan with two decimals: `123.45`, `-0.05`, `0.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", magnitude / 100, magnitude % 100)
    }
}

impl FromStr for Fen {
    type Err = MoneyError;

    /// [`Fen::parse_yuan`], so that `Display` and `parse` round-trip.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fen::parse_yuan(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn yuan_strings_parse_to_exact_fen() {
        assert_eq!(Fen::parse_yuan("123.45"), Ok(Fen(12_345)));
        assert_eq!(Fen::parse_yuan("200"), Ok(Fen(20_000)));
        assert_eq!(Fen::parse_yuan("0.5"), Ok(Fen(50)));
        assert_eq!(Fen::parse_yuan("0.1"), Ok(Fen(10)));
        assert_eq!(Fen::parse_yuan("-1.20"), Ok(Fen(-120)));
        assert_eq!(Fen::parse_yuan("-0"), Ok(Fen(0)));
        assert_eq!(Fen::parse_yuan("007.05"), Ok(Fen(705)));
        assert_eq!("2000".parse::<Fen>(), Ok(Fen(200_000)));
    }

    #[test]
    fn malformed_yuan_strings_say_what_is_wrong() {
        assert_eq!(Fen::parse_yuan(""), Err(MoneyError::Empty));
        assert_eq!(
            Fen::parse_yuan("1.234"),
            Err(MoneyError::TooManyDecimals {
                input: "1.234".into(),
                decimals: 3
            })
        );
        assert_eq!(
            Fen::parse_yuan("1,000"),
            Err(MoneyError::InvalidCharacter {
                input: "1,000".into(),
                character: ',',
                position: 2
            })
        );
        assert_eq!(
            Fen::parse_yuan("-1.2.3"),
            Err(MoneyError::InvalidCharacter {
                input: "-1.2.3".into(),
                character: '.',
                position: 5
            })
        );
        for bad in [" 1", "+1", "1e3", "--1", "1-", "¥1", "１"] {
            assert!(
                matches!(Fen::parse_yuan(bad), Err(MoneyError::InvalidCharacter { .. })),
                "{bad:?}"
            );
        }
        for bad in ["-", ".", ".5", "5.", "-.5"] {
            assert_eq!(
                Fen::parse_yuan(bad),
                Err(MoneyError::MissingDigits { input: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_range_ends_exactly_at_i64_fen() {
        assert_eq!(Fen::parse_yuan("92233720368547758.07"), Ok(Fen(i64::MAX)));
        assert_eq!(Fen::parse_yuan("-92233720368547758.08"), Ok(Fen(i64::MIN)));
        for over in [
            "92233720368547758.08",
            "-92233720368547758.09",
            "99999999999999999999999",
        ] {
            assert_eq!(
                Fen::parse_yuan(over),
                Err(MoneyError::OutOfRange { input: over.into() }),
                "{over}"
            );
        }
    }

    #[test]
    fn amounts_display_as_yuan_with_two_decimals() {
        assert_eq!(Fen(12_345).to_string(), "123.45");
        assert_eq!(Fen(-120).to_string(), "-1.20");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(0).to_string(), "0.00");
        assert_eq!(Fen(i64::MIN).to_string(), "-92233720368547758.08");
    }

    #[test]
    fn arithmetic_refuses_to_wrap() {
        assert_eq!(Fen(150_000).checked_add(Fen(5_000)), Some(Fen(155_000)));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
        assert_eq!(Fen(0).checked_sub(Fen(120)), Some(Fen(-120)));
        assert_eq!(Fen(i64::MIN).checked_sub(Fen(1)), None);
        assert_eq!(Fen(30_000).checked_mul(3), Some(Fen(90_000)));
        assert_eq!(Fen(i64::MAX / 2 + 1).checked_mul(2), None);
        assert_eq!(Fen(i64::MIN).checked_neg(), None);
        assert_eq!(Fen::from_yuan(1_500), Some(Fen(150_000)));
        assert_eq!(Fen::from_yuan(i64::MAX), None);
    }

    #[test]
    fn sums_are_checked_on_the_running_total() {
        assert_eq!(Fen::try_sum([Fen(200_000), Fen(-20_000), Fen(5_00)]), Ok(Fen(180_500)));
        assert_eq!(Fen::try_sum([]), Ok(Fen::ZERO));
        assert_eq!(
            Fen::try_sum([Fen(i64::MAX), Fen(1), Fen(-1)]),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn serde_carries_integer_fen() {
        assert_eq!(serde_json::to_string(&Fen(12_345)).unwrap(), "12345");
        assert_eq!(serde_json::from_str::<Fen>("-120").unwrap(), Fen(-120));
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(fen in any::<i64>()) {
            prop_assert_eq!(Fen::parse_yuan(&Fen(fen).to_string()), Ok(Fen(fen)));
        }

        #[test]
        fn parsing_agrees_with_integer_arithmetic(whole in 0u32..10_000_000, fraction in 0u32..100, short in any::<bool>(), negative in any::<bool>()) {
            // "12.5" and "12.50" are the same amount; the one-decimal form exists only for
            // fractions that end in 0.
            let short = short && fraction % 10 == 0;
            let text = if short { format!("{whole}.{}", fraction / 10) } else { format!("{whole}.{fraction:02}") };
            let text = if negative { format!("-{text}") } else { text };
            let magnitude = i64::from(whole) * 100 + i64::from(fraction);
            prop_assert_eq!(Fen::parse_yuan(&text), Ok(Fen(if negative { -magnitude } else { magnitude })));
        }

        #[test]
        fn parsing_never_panics(input in any::<String>()) {
            let _ = Fen::parse_yuan(&input);
        }

        #[test]
        fn checked_add_is_exact_or_none(a in any::<i64>(), b in any::<i64>()) {
            let exact = i128::from(a) + i128::from(b);
            let expected = i64::try_from(exact).ok().map(Fen);
            prop_assert_eq!(Fen(a).checked_add(Fen(b)), expected);
        }
    }
}
