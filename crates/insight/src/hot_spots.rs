//! Hot spots: the categories whose complaints rose sharply period over period.
//!
//! The desk's rule: a category is a hot spot when it is up 50 % or more on the previous period
//! with at least 5 cases. Judged in integers (`current × 100 ≥ previous × (100 + rise)`), so an
//! exact +50 % counts and no rounding of a float decides a borderline case.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One category's number of cases in a period and in the period before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    /// The category, as the complaint service names it.
    pub category: String,
    /// Cases opened in the period looked at.
    pub current: u32,
    /// Cases opened in the period before it, of the same length.
    pub previous: u32,
}

/// When a category counts as a hot spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotSpotRule {
    /// The least rise on the previous period, in percent (the desk's rule: 50).
    pub min_rise_percent: u32,
    /// The least number of cases in the current period (the desk's rule: 5), so that 1 → 2
    /// cases is not a "100 % rise".
    pub min_cases: u32,
}

impl Default for HotSpotRule {
    /// The desk's rule: up 50 % or more with at least 5 cases.
    fn default() -> Self {
        HotSpotRule {
            min_rise_percent: 50,
            min_cases: 5,
        }
    }
}

/// A category that rose sharply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotSpot {
    /// The category.
    pub category: String,
    /// Cases in the period looked at.
    pub current: u32,
    /// Cases in the period before.
    pub previous: u32,
    /// The rise on the previous period in whole percent, rounded down; `None` when `previous`
    /// is 0 (a new topic: no percentage describes it).
    pub rise_percent: Option<u32>,
}

/// The hot spots among `counts` under `rule`: the categories with `current ≥ min_cases` and
/// `current × 100 ≥ previous × (100 + min_rise_percent)`; a category with no case in the
/// previous period counts once it has `min_cases`. Counts given twice for one category are
/// added up first. Sorted by `current`, highest first, then by category.
pub fn hot_spots(counts: &[CategoryCount], rule: &HotSpotRule) -> Vec<HotSpot> {
    let mut by_category: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for count in counts {
        let (current, previous) = by_category.entry(count.category.as_str()).or_insert((0, 0));
        *current = current.saturating_add(count.current);
        *previous = previous.saturating_add(count.previous);
    }
    let mut spots: Vec<HotSpot> = by_category
        .into_iter()
        .filter(|&(_, (current, previous))| is_hot(current, previous, rule))
        .map(|(category, (current, previous))| HotSpot {
            category: category.to_owned(),
            current,
            previous,
            rise_percent: rise_percent(current, previous),
        })
        .collect();
    spots.sort_by(|a, b| b.current.cmp(&a.current).then_with(|| a.category.cmp(&b.category)));
    spots
}

/// The rule itself. `u128`: `previous × (100 + rise)` overflows `u64` for the largest `u32`s.
fn is_hot(current: u32, previous: u32, rule: &HotSpotRule) -> bool {
    let enough_cases = current >= rule.min_cases;
    let risen = u128::from(current) * 100 >= u128::from(previous) * (100 + u128::from(rule.min_rise_percent));
    enough_cases && risen
}

/// `(current − previous) / previous` in whole percent, rounded down (0 for a fall, which the
/// rule never lets through anyway); `None` for `previous == 0`.
fn rise_percent(current: u32, previous: u32) -> Option<u32> {
    if previous == 0 {
        return None;
    }
    let rise = u64::from(current.saturating_sub(previous)) * 100 / u64::from(previous);
    Some(u32::try_from(rise).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(category: &str, current: u32, previous: u32) -> CategoryCount {
        CategoryCount {
            category: category.to_owned(),
            current,
            previous,
        }
    }

    fn categories(spots: &[HotSpot]) -> Vec<&str> {
        spots.iter().map(|s| s.category.as_str()).collect()
    }

    #[test]
    fn exactly_fifty_percent_up_with_five_cases_is_a_hot_spot() {
        // 2 → 3 is +50 % but only 3 cases; 4 → 6 is +50 % with 6; 10 → 15 is +50 % with 15.
        let spots = hot_spots(
            &[count("押金", 15, 10), count("续航", 6, 4), count("违章", 3, 2)],
            &HotSpotRule::default(),
        );
        assert_eq!(categories(&spots), ["押金", "续航"]);
        assert_eq!(spots[0].rise_percent, Some(50));
        assert_eq!(spots[1].rise_percent, Some(50));
    }

    #[test]
    fn five_cases_is_enough_and_four_is_not() {
        let rule = HotSpotRule {
            min_rise_percent: 50,
            min_cases: 5,
        };
        assert_eq!(categories(&hot_spots(&[count("定损", 5, 2)], &rule)), ["定损"]);
        assert!(hot_spots(&[count("定损", 4, 2)], &rule).is_empty());
    }

    #[test]
    fn forty_nine_percent_up_is_not_a_hot_spot() {
        // 100 → 149 is +49 %; 100 → 150 is +50 %.
        let spots = hot_spots(
            &[count("取车", 149, 100), count("还车", 150, 100)],
            &HotSpotRule::default(),
        );
        assert_eq!(categories(&spots), ["还车"]);
    }

    #[test]
    fn a_new_topic_is_a_hot_spot_with_no_percentage_once_it_has_enough_cases() {
        let spots = hot_spots(&[count("充电桩", 5, 0), count("异味", 4, 0)], &HotSpotRule::default());
        assert_eq!(
            spots,
            [HotSpot {
                category: "充电桩".to_owned(),
                current: 5,
                previous: 0,
                rise_percent: None,
            }]
        );
    }

    #[test]
    fn the_rise_is_rounded_down_and_a_fall_is_never_a_hot_spot() {
        let spots = hot_spots(&[count("客服", 20, 3), count("送车", 5, 9)], &HotSpotRule::default());
        // 17 / 3 = 566.67 %.
        assert_eq!(spots.len(), 1);
        assert_eq!(spots[0].rise_percent, Some(566));
    }

    #[test]
    fn hot_spots_are_sorted_by_current_cases_then_by_category() {
        let spots = hot_spots(
            &[
                count("违章", 8, 1),
                count("定损", 12, 0),
                count("押金", 8, 2),
                count("续航", 9, 9),
            ],
            &HotSpotRule::default(),
        );
        assert_eq!(categories(&spots), ["定损", "押金", "违章"]);
    }

    #[test]
    fn counts_given_twice_for_a_category_are_added_up() {
        let spots = hot_spots(&[count("押金", 3, 1), count("押金", 3, 1)], &HotSpotRule::default());
        assert_eq!(spots.len(), 1);
        assert_eq!((spots[0].current, spots[0].previous), (6, 2));
    }

    #[test]
    fn the_largest_counts_and_rises_do_not_overflow() {
        let rule = HotSpotRule {
            min_rise_percent: u32::MAX,
            min_cases: 0,
        };
        assert!(hot_spots(&[count("押金", u32::MAX, u32::MAX)], &rule).is_empty());
        let spots = hot_spots(&[count("押金", u32::MAX, 1)], &HotSpotRule::default());
        assert_eq!(spots[0].rise_percent, Some(u32::MAX));
    }
}
