//! Evidence briefs: what a person needs to propose a fix for a hot spot — its keywords, where
//! its cases concentrate (stations, vehicles, models, channels) and a few typical cases to read.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::keywords::{Keyword, Keywords, rank, saturating_u32};

/// The facts of one case that a brief draws on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFacts {
    /// The case's id, as the complaint service gives it.
    pub case_id: String,
    /// The customer's words (Chinese free text).
    pub text: String,
    /// The station the case is about, when it is about one.
    pub station: Option<String>,
    /// The vehicle the case is about, when known.
    pub vehicle_id: Option<String>,
    /// That vehicle's model, when known.
    pub model: Option<String>,
    /// Where the complaint came in (hotline, app, 12315, social media …).
    pub channel: String,
    /// When the case was opened, seconds since the Unix epoch; the newer case is the better
    /// example between two equally typical ones.
    pub opened_at_unix: i64,
}

/// How many of a brief's cases share one value (a station, a vehicle …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The value.
    pub value: String,
    /// How many of the cases have it.
    pub cases: u32,
    /// Those cases as a share of all the brief's cases (including those without the value), in
    /// whole percent rounded half up; so the shares of one list add up to at most about 100.
    pub percent: u32,
}

/// Where a hot spot's cases concentrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceBrief {
    /// The top keywords of the cases' texts against the period's background.
    pub keywords: Vec<Keyword>,
    /// The stations, most cases first (then by name); cases without a station are left out.
    pub stations: Vec<Share>,
    /// The vehicles, likewise.
    pub vehicles: Vec<Share>,
    /// The models, likewise.
    pub models: Vec<Share>,
    /// The channels, likewise.
    pub channels: Vec<Share>,
    /// A few example cases (ids), most typical first: the ones containing most of the top
    /// keywords, then the newest, then by id. Each case at most once.
    pub examples: Vec<String>,
}

/// The brief of `cases` (for example a hot spot's): the top `top_n` keywords of their texts
/// against `background` (all texts of the period, see [`Keywords::top`]), the shares of each
/// station, vehicle, model and channel (values trimmed; blank ones count as absent), and
/// `examples` example case ids.
pub fn evidence_brief(
    kw: &Keywords,
    cases: &[CaseFacts],
    background: &[&str],
    top_n: usize,
    examples: usize,
) -> EvidenceBrief {
    let term_sets: Vec<Vec<String>> = cases.iter().map(|case| kw.terms(&case.text)).collect();
    let keywords = rank(&term_sets, &kw.document_frequencies(background), top_n);
    let total = saturating_u32(cases.len());
    EvidenceBrief {
        stations: shares(cases.iter().map(|c| c.station.as_deref()), total),
        vehicles: shares(cases.iter().map(|c| c.vehicle_id.as_deref()), total),
        models: shares(cases.iter().map(|c| c.model.as_deref()), total),
        channels: shares(cases.iter().map(|c| Some(c.channel.as_str())), total),
        examples: typical_cases(cases, &term_sets, &keywords, examples),
        keywords,
    }
}

/// The shares of the values among `total` cases, most cases first, then by value.
fn shares<'a>(values: impl Iterator<Item = Option<&'a str>>, total: u32) -> Vec<Share> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for value in values.flatten().map(str::trim).filter(|v| !v.is_empty()) {
        let count = counts.entry(value).or_insert(0);
        *count = count.saturating_add(1);
    }
    let mut shares: Vec<Share> = counts
        .into_iter()
        .map(|(value, cases)| Share {
            value: value.to_owned(),
            cases,
            percent: percent_of(cases, total),
        })
        .collect();
    // Stable, and the map gave the values in order: equal counts stay sorted by value.
    shares.sort_by_key(|share| std::cmp::Reverse(share.cases));
    shares
}

/// `part` of `total` in whole percent, rounded half up; 0 of nothing.
fn percent_of(part: u32, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    let percent = (u64::from(part) * 100 + u64::from(total) / 2) / u64::from(total);
    u32::try_from(percent).unwrap_or(u32::MAX)
}

/// The ids of the `limit` most typical cases: most of the top keywords, then newest, then by id.
fn typical_cases(cases: &[CaseFacts], term_sets: &[Vec<String>], keywords: &[Keyword], limit: usize) -> Vec<String> {
    let top: HashSet<&str> = keywords.iter().map(|k| k.term.as_str()).collect();
    let mut ranked: Vec<(usize, &CaseFacts)> = cases
        .iter()
        .zip(term_sets)
        .map(|(case, terms)| (terms.iter().filter(|t| top.contains(t.as_str())).count(), case))
        .collect();
    ranked.sort_by(|(hits_a, a), (hits_b, b)| {
        hits_b
            .cmp(hits_a)
            .then_with(|| b.opened_at_unix.cmp(&a.opened_at_unix))
            .then_with(|| a.case_id.cmp(&b.case_id))
    });
    let mut seen = HashSet::new();
    ranked
        .into_iter()
        .map(|(_, case)| case.case_id.clone())
        .filter(|id| seen.insert(id.clone()))
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up_and_nothing_is_zero_percent() {
        assert_eq!(percent_of(1, 3), 33);
        assert_eq!(percent_of(2, 3), 67);
        assert_eq!(percent_of(1, 8), 13); // 12.5
        assert_eq!(percent_of(3, 3), 100);
        assert_eq!(percent_of(0, 0), 0);
        assert_eq!(percent_of(u32::MAX, u32::MAX), 100);
    }

    #[test]
    fn blank_values_are_absent_and_equal_counts_are_sorted_by_value() {
        let values = [
            Some("B站"),
            Some(" A站 "),
            None,
            Some("  "),
            Some("A站"),
            Some("B站"),
            Some("C站"),
        ];
        let shares = shares(values.into_iter(), 7);
        let got: Vec<(&str, u32, u32)> = shares.iter().map(|s| (s.value.as_str(), s.cases, s.percent)).collect();
        assert_eq!(got, [("A站", 2, 29), ("B站", 2, 29), ("C站", 1, 14)]);
    }
}
