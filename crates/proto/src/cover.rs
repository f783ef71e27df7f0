//! `rentops.common.v1.CoverTier` to and from the kernel's `CoverTier`, written once for every
//! service. Unset (an order placed before the tier was recorded) reads as basic.

use rentops_kernel::CoverTier;

use crate::common::CoverTier as Pb;

pub fn cover_to_pb(c: CoverTier) -> i32 {
    (match c {
        CoverTier::Basic => Pb::Basic,
        CoverTier::Full => Pb::Full,
    }) as i32
}

/// The tier a wire value names (unset: basic); `None` for a number this code does not know.
pub fn cover_from_pb(v: i32) -> Option<CoverTier> {
    Some(match Pb::try_from(v).ok()? {
        Pb::Unspecified | Pb::Basic => CoverTier::Basic,
        Pb::Full => CoverTier::Full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_round_trips_and_unset_is_basic() {
        for c in [CoverTier::Basic, CoverTier::Full] {
            assert_eq!(cover_from_pb(cover_to_pb(c)), Some(c));
        }
        assert_eq!(cover_from_pb(0), Some(CoverTier::Basic));
        assert_eq!(cover_from_pb(99), None);
    }
}
