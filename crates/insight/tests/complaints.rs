//! The keywords, hot spots' evidence and briefs of twenty complaints written the way customers
//! of an electric-car rental write them (in `testdata/complaints.tsv`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use rentops_insight::lexicon::STOP_WORDS;
use rentops_insight::{CaseFacts, Keywords, evidence_brief};

/// Building the segmenter takes a tenth of a second: once for all tests of this file.
static KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| Keywords::new(&[]));

/// The complaints, as (category, text).
fn complaints() -> Vec<(&'static str, &'static str)> {
    include_str!("../testdata/complaints.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split_once('\t').expect("category <tab> text"))
        .collect()
}

fn texts_of(category: &str) -> Vec<&'static str> {
    complaints()
        .into_iter()
        .filter(|(c, _)| *c == category)
        .map(|(_, t)| t)
        .collect()
}

fn all_texts() -> Vec<&'static str> {
    complaints().into_iter().map(|(_, t)| t).collect()
}

fn terms(text: &str) -> Vec<String> {
    KEYWORDS.terms(text)
}

fn has(terms: &[String], term: &str) -> bool {
    terms.iter().any(|t| t == term)
}

#[test]
fn the_desks_words_stay_whole() {
    let assessed = terms("定损金额太高了，一个小划痕要赔1500元，门店说是定损中心定的。");
    assert!(has(&assessed, "定损"), "{assessed:?}");
    assert!(has(&assessed, "划痕"), "{assessed:?}");
    assert!(!has(&assessed, "损"), "{assessed:?}");

    let delivered = terms("送车上门迟到两个小时，司机电话也打不通，客服也联系不上。");
    assert!(has(&delivered, "送车上门"), "{delivered:?}");
    assert!(!has(&delivered, "送车") && !has(&delivered, "上门"), "{delivered:?}");

    for text in texts_of("续航") {
        assert!(has(&terms(text), "续航"), "{text}: {:?}", terms(text));
    }
    let pickup = terms("到门店取车等了一个多小时，取车流程太慢了。");
    assert!(has(&pickup, "取车") && has(&pickup, "门店"), "{pickup:?}");
}

#[test]
fn a_domain_word_inside_a_longer_dictionary_word_is_still_counted() {
    let t = terms("客服热线打不通，违章罚款乱扣，月租金也涨了");
    for word in ["客服", "热线", "违章", "罚款", "租金"] {
        assert!(has(&t, word), "{word} missing from {t:?}");
    }
    assert!(!has(&t, "客服热线") && !has(&t, "违章罚款"), "{t:?}");
    // A word of its own that merely begins with one (a bumper, not insurance) stays whole.
    assert!(has(&terms("还车时说保险杠有剐蹭"), "保险杠"));
}

#[test]
fn stop_words_punctuation_and_numbers_are_gone() {
    for text in all_texts() {
        let t = terms(text);
        assert!(!t.is_empty(), "{text}");
        for term in &t {
            assert!(!STOP_WORDS.contains(&term.as_str()), "stop word {term} in {text}");
            assert!(
                term.chars().all(char::is_alphanumeric),
                "punctuation in {term} of {text}"
            );
            assert!(
                !term.chars().all(|c| c.is_ascii_digit()) || term == "12315",
                "number {term} in {text}"
            );
        }
    }
    let t = terms("押金2000元被冻结了四十多天，申请退款一直显示审核中，太过分了。");
    assert_eq!(t, ["押金", "冻结", "申请", "退款", "显示", "审核", "过分"]);
}

#[test]
fn terms_are_lower_case_and_once_per_text() {
    let t = terms("冬天开暖气续航掉得特别快，满电只能跑200公里，续航虚标太严重了。APP也不准");
    assert_eq!(t.iter().filter(|term| *term == "续航").count(), 1, "{t:?}");
    assert!(has(&t, "app"), "{t:?}");
    // Full-width Latin and digits as typed with a Chinese input method give the same terms.
    assert_eq!(terms("ＡＰＰ上投诉，打１２３１５"), terms("APP上投诉，打12315"));
    assert!(has(&terms("我要打12315投诉"), "12315"));
}

#[test]
fn a_degree_adverb_is_taken_off_a_word() {
    assert!(has(&terms("车辆很脏"), "脏"));
    assert!(has(&terms("取车流程太慢了"), "慢"));
}

#[test]
fn words_from_configuration_stay_whole() {
    let text = "电池衰减严重，满电续航只有三百公里";
    assert!(!has(&terms(text), "电池衰减"));
    let configured = Keywords::new(&["电池衰减".to_owned(), "  ".to_owned()]);
    assert!(has(&configured.terms(text), "电池衰减"), "{:?}", configured.terms(text));
}

#[test]
fn the_deposit_complaints_are_about_the_deposit_first() {
    let deposits = texts_of("押金");
    let top = KEYWORDS.top(&deposits, &all_texts(), 5);
    assert_eq!(top.len(), 5);
    assert_eq!(top[0].term, "押金", "{top:?}");
    assert_eq!(top[0].cases, 4);
    assert!(top.iter().any(|k| k.term == "退款"), "{top:?}");
    for pair in top.windows(2) {
        assert!(pair[0].score >= pair[1].score, "{top:?}");
    }
}

#[test]
fn a_word_in_every_complaint_ranks_below_one_particular_to_the_set() {
    // 门店 is in every complaint of the period and in all three of the set; 划痕 in two of the
    // set and nowhere else.
    let background = [
        "门店取车等了很久",
        "门店还车验车很慢",
        "门店说押金下周退",
        "门店定损太贵，划痕很小",
        "门店说划痕要赔钱",
        "门店送车上门迟到",
    ];
    let set = ["门店定损太贵，划痕很小", "门店说划痕要赔钱", "门店还车验车很慢"];
    let top = KEYWORDS.top(&set, &background, 10);
    let rank_of = |term: &str| top.iter().position(|k| k.term == term).unwrap();
    assert!(rank_of("划痕") < rank_of("门店"), "{top:?}");
    let store = &top[rank_of("门店")];
    assert_eq!(store.cases, 3);
    assert!((store.score - 1.0).abs() < 1e-12, "{store:?}");
}

#[test]
fn keywords_with_equal_scores_are_ordered_by_term() {
    // No background: every term of one text scores the same.
    let top = KEYWORDS.top(&["违章扣分和罚款根本不是我租车期间发生的"], &[], 10);
    assert!(top.len() >= 4, "{top:?}");
    let terms: Vec<&str> = top.iter().map(|k| k.term.as_str()).collect();
    let mut sorted = terms.clone();
    sorted.sort_unstable();
    assert_eq!(terms, sorted);
    assert_eq!(KEYWORDS.top(&["违章扣分和罚款根本不是我租车期间发生的"], &[], 10), top);
}

#[test]
fn counting_the_background_once_ranks_the_same() {
    let background = all_texts();
    let frequencies = KEYWORDS.document_frequencies(&background);
    assert_eq!(frequencies.documents(), 20);
    assert_eq!(frequencies.of("押金"), 5);
    for category in ["押金", "续航", "客服"] {
        let texts = texts_of(category);
        assert_eq!(
            KEYWORDS.top_against(&texts, &frequencies, 8),
            KEYWORDS.top(&texts, &background, 8)
        );
    }
    assert!(KEYWORDS.top(&[], &background, 5).is_empty());
    assert!(KEYWORDS.top(&texts_of("押金"), &background, 0).is_empty());
}

fn case(id: &str, text: &str, station: Option<&str>, vehicle: Option<&str>, channel: &str, at: i64) -> CaseFacts {
    CaseFacts {
        case_id: id.to_owned(),
        text: text.to_owned(),
        station: station.map(str::to_owned),
        vehicle_id: vehicle.map(str::to_owned),
        model: vehicle.map(|v| {
            if v.starts_with("A") {
                "比亚迪秦PLUS"
            } else {
                "埃安S"
            }
            .to_owned()
        }),
        channel: channel.to_owned(),
        opened_at_unix: at,
    }
}

fn deposit_cases() -> Vec<CaseFacts> {
    let texts = texts_of("押金");
    vec![
        case("C-101", texts[0], Some("虹桥站"), Some("A-1"), "app", 1_700_000_100),
        case("C-102", texts[1], Some("虹桥站"), Some("B-7"), "hotline", 1_700_000_300),
        case(
            "C-103",
            texts[2],
            Some("浦东机场站"),
            Some("A-1"),
            "12315",
            1_700_000_200,
        ),
        case("C-104", texts[3], None, None, "app", 1_700_000_400),
        case("C-105", "押金没退", Some("虹桥站"), None, "app", 1_700_000_050),
    ]
}

#[test]
fn a_brief_shows_where_the_cases_concentrate() {
    let brief = evidence_brief(&KEYWORDS, &deposit_cases(), &all_texts(), 5, 3);
    let shares = |list: &[rentops_insight::Share]| -> Vec<(String, u32, u32)> {
        list.iter().map(|s| (s.value.clone(), s.cases, s.percent)).collect()
    };
    assert_eq!(brief.keywords[0].term, "押金");
    assert_eq!(brief.keywords[0].cases, 5);
    assert_eq!(
        shares(&brief.stations),
        [("虹桥站".into(), 3, 60), ("浦东机场站".into(), 1, 20)]
    );
    assert_eq!(shares(&brief.vehicles), [("A-1".into(), 2, 40), ("B-7".into(), 1, 20)]);
    assert_eq!(
        shares(&brief.models),
        [("比亚迪秦PLUS".into(), 2, 40), ("埃安S".into(), 1, 20)]
    );
    assert_eq!(
        shares(&brief.channels),
        [
            ("app".into(), 3, 60),
            ("12315".into(), 1, 20),
            ("hotline".into(), 1, 20)
        ]
    );
    assert_eq!(brief.examples.len(), 3);
}

#[test]
fn the_examples_are_the_cases_with_most_top_keywords_then_the_newest() {
    let kw = &KEYWORDS;
    let cases = vec![
        case("C-1", "押金没退", None, None, "app", 300),
        case("C-2", "押金冻结一个月，退款审核中", None, None, "app", 100),
        case("C-3", "押金冻结了，退款也没到", None, None, "app", 200),
        case("C-4", "押金", None, None, "app", 400),
    ];
    let brief = evidence_brief(kw, &cases, &[], 3, 4);
    let top: Vec<&str> = brief.keywords.iter().map(|k| k.term.as_str()).collect();
    // 押金 in four cases, 冻结 and 退款 in two: the top three.
    assert_eq!(top, ["押金", "冻结", "退款"]);
    // C-2 and C-3 hold all three (C-3 is newer), C-1 and C-4 one (C-4 is newer).
    assert_eq!(brief.examples, ["C-3", "C-2", "C-4", "C-1"]);
    assert_eq!(evidence_brief(kw, &cases, &[], 3, 2).examples, ["C-3", "C-2"]);
}

#[test]
fn a_brief_does_not_depend_on_the_order_of_its_cases() {
    let background = all_texts();
    let cases = deposit_cases();
    let mut reversed = cases.clone();
    reversed.reverse();
    assert_eq!(
        evidence_brief(&KEYWORDS, &cases, &background, 6, 5),
        evidence_brief(&KEYWORDS, &reversed, &background, 6, 5)
    );
}

#[test]
fn a_brief_of_no_cases_is_empty() {
    let brief = evidence_brief(&KEYWORDS, &[], &all_texts(), 5, 3);
    assert!(brief.keywords.is_empty() && brief.stations.is_empty() && brief.channels.is_empty());
    assert!(brief.examples.is_empty());
}
