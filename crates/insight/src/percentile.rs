//! Percentiles of durations (first response, resolution), by the nearest-rank method: the
//! answer is always one of the values, never an interpolation between two.

/// The `p`-th percentile (0 ..= 100) of `sorted` (ascending) by nearest rank: the value at rank
/// `⌈p / 100 × n⌉`, counted from 1, and the smallest value for `p = 0`. `None` for no values or
/// `p > 100`. Values out of order are not sorted here: the caller sorts once and asks for several
/// percentiles.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() || p > 100 {
        return None;
    }
    let n = sorted.len() as u128;
    // ⌈p × n / 100⌉ in integers, at least rank 1.
    let rank = (u128::from(p) * n).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1).ok()?;
    sorted.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_ten_response_times() {
        let minutes = [3, 5, 8, 10, 12, 15, 20, 30, 45, 120];
        assert_eq!(percentile(&minutes, 0), Some(3));
        assert_eq!(percentile(&minutes, 10), Some(3));
        assert_eq!(percentile(&minutes, 11), Some(5));
        assert_eq!(percentile(&minutes, 50), Some(12));
        assert_eq!(percentile(&minutes, 90), Some(45));
        assert_eq!(percentile(&minutes, 95), Some(120));
        assert_eq!(percentile(&minutes, 100), Some(120));
    }

    #[test]
    fn no_values_or_a_percentile_above_a_hundred_give_none() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 101), None);
        assert_eq!(percentile(&[7], 1), Some(7));
    }
}
