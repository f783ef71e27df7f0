//! `Keywords::terms` on any text: it never panics, and what it returns is always a clean term.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::LazyLock;

use proptest::prelude::*;
use rentops_insight::Keywords;
use rentops_insight::lexicon::STOP_WORDS;

static KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| Keywords::new(&[]));

/// Pieces of complaints, stop words and numbers, so the generated texts reach the splitting
/// and filtering rules and not only the segmenter's handling of random characters.
const FRAGMENTS: &[&str] = &[
    "押金",
    "没退",
    "的",
    "了",
    "客服热线",
    "违章罚款",
    "很脏",
    "太",
    "送车上门",
    "定损",
    "12315",
    "300",
    "公里",
    "四十多天",
    "一个多",
    "ＡＰＰ",
    "The",
    "CAR",
    "，",
    "。",
    "！",
    " ",
    "\n",
    "e.g.",
    "-",
    "续航",
    "百分之",
    "第",
    "很",
    "月租金",
    "抵押金",
];

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let terms = KEYWORDS.terms(text);
    let mut seen = HashSet::new();
    for term in &terms {
        prop_assert!(
            !STOP_WORDS.contains(&term.as_str()),
            "stop word {:?} in {:?}",
            term,
            text
        );
        prop_assert!(seen.insert(term), "{:?} twice in {:?}", term, text);
        let first = term.chars().next();
        let last = term.chars().last();
        prop_assert!(first.is_some_and(char::is_alphanumeric), "{:?} of {:?}", term, text);
        prop_assert!(last.is_some_and(char::is_alphanumeric), "{:?} of {:?}", term, text);
        prop_assert_eq!(&term.to_lowercase(), term);
        prop_assert!(
            !term.chars().all(|c| c.is_ascii_digit()) || term == "12315",
            "number {:?}",
            term
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn terms_of_any_unicode_text_are_clean(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn terms_of_complaint_like_text_are_clean(text in text()) {
        check(&text)?;
    }
}

#[test]
fn a_very_long_token_costs_no_more_than_its_length() {
    // One run of digits jieba gives as a single token, splitting into 12315 forty thousand
    // times: must finish in time proportional to its length, and keep only 12315.
    let text = "12315".repeat(40_000);
    assert_eq!(KEYWORDS.terms(&text), ["12315"]);
}
