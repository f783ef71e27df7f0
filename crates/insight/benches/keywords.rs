//! How long the segmenter takes to build, how many complaints a second it segments, and how
//! much memory it holds: `cargo bench -p rentops-insight`. Plain timing with `Instant`, medians
//! of a few runs, printed; nothing is asserted.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rentops_insight::{CaseFacts, Keywords, evidence_brief};

/// The texts of the tests' complaints.
fn complaints() -> Vec<&'static str> {
    include_str!("../testdata/complaints.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_once('\t').map(|(_, text)| text))
        .collect()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

/// The process's resident memory from `/proc/self/status`, or "unknown" elsewhere.
fn resident_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .map(|line| line.trim_start_matches("VmRSS:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    const CASES: usize = 100_000;
    const RUNS: usize = 5;

    let before = resident_memory();
    let keywords = Keywords::new(&[]);
    let after = resident_memory();
    println!("resident memory: {before} before Keywords::new, {after} after");

    let builds: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(Keywords::new(&[]));
            start.elapsed()
        })
        .collect();
    println!(
        "Keywords::new: median {:.1} ms of {RUNS}",
        median(builds).as_secs_f64() * 1e3
    );

    let texts: Vec<&str> = complaints().into_iter().cycle().take(CASES).collect();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let segmenting: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for text in &texts {
                black_box(keywords.terms(text));
            }
            start.elapsed()
        })
        .collect();
    let segmenting = median(segmenting).as_secs_f64();
    println!(
        "terms: {CASES} cases ({:.0} characters each) in a median {:.0} ms: {:.0} cases/s",
        chars as f64 / CASES as f64,
        segmenting * 1e3,
        CASES as f64 / segmenting
    );

    let ranking: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(keywords.top(&texts[..CASES / 10], &texts, 10));
            start.elapsed()
        })
        .collect();
    println!(
        "top: 10 keywords of {} cases against {CASES}: median {:.0} ms",
        CASES / 10,
        median(ranking).as_secs_f64() * 1e3
    );

    let cases: Vec<CaseFacts> = texts[..1_000]
        .iter()
        .enumerate()
        .map(|(i, text)| CaseFacts {
            case_id: format!("C-{i}"),
            text: (*text).to_owned(),
            station: Some(format!("站{}", i % 7)),
            vehicle_id: Some(format!("V-{}", i % 50)),
            model: Some(format!("车型{}", i % 3)),
            channel: ["app", "hotline", "12315"][i % 3].to_owned(),
            opened_at_unix: 1_700_000_000 + i as i64,
        })
        .collect();
    let briefs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(evidence_brief(&keywords, &cases, &texts[..10_000], 10, 5));
            start.elapsed()
        })
        .collect();
    println!(
        "evidence_brief: 1000 cases against 10000: median {:.0} ms",
        median(briefs).as_secs_f64() * 1e3
    );
    println!("resident memory at the end: {}", resident_memory());
}
