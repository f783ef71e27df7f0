//! The report's charts, drawn as static inline SVG by hand: a line chart (rates by day), grouped
//! bars (a figure per model or month, several series side by side) and horizontal bars (a
//! funnel, ageing buckets). Each has axes with labelled ticks, labels on the categories and a
//! legend; every data point is an element of class `mark` carrying its value in `data-value`,
//! so a test (or the browser check) can count what a chart shows.
//!
//! A value of `None` (a rate with nothing to divide by) draws no mark: its place is labelled
//! "—" instead. A zero draws a thin bar on the baseline, so "none at all" and "no figure" look
//! different.

use std::fmt::Write as _;

use crate::text::attr;
use crate::text::esc;

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// How the value axis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 0..=1 shown as 0 %..100 %.
    Percent,
    /// Counts or amounts from 0 to a round maximum above the largest value.
    Count,
    /// Fen, shown as yuan.
    Yuan,
}

/// Series colours: distinguishable, and still apart in greyscale print.
const COLOURS: [&str; 4] = ["#1f6feb", "#f0883e", "#2da44e", "#8250df"];

const W: f64 = 640.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const PLOT_H: f64 = 170.0;
const BOTTOM: f64 = 44.0;

/// Whether a chart would show anything: at least one value that is a figure.
pub fn has_figures(series: &[Series]) -> bool {
    series
        .iter()
        .any(|s| s.values.iter().any(|v| v.is_some_and(f64::is_finite)))
}

/// The axis' top and its ticks.
fn axis(scale: Scale, series: &[Series]) -> (f64, Vec<f64>) {
    if scale == Scale::Percent {
        return (1.0, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let step = nice_step(max / 4.0);
    let top = (max / step).ceil().max(1.0) * step;
    let ticks = (0..=((top / step).round() as i64)).map(|i| i as f64 * step).collect();
    (top, ticks)
}

/// A round step (1, 2 or 5 times a power of ten) at least `raw`; counts step by whole numbers.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(1.0)
}

fn tick_label(scale: Scale, v: f64) -> String {
    match scale {
        Scale::Percent => format!("{:.0}%", v * 100.0),
        Scale::Count => format!("{v:.0}"),
        Scale::Yuan => format!("{:.0}", v / 100.0),
    }
}

/// The value as a data label.
fn value_label(scale: Scale, v: f64) -> String {
    match scale {
        Scale::Percent => format!("{:.1}%", v * 100.0),
        Scale::Count => format!("{v:.0}"),
        Scale::Yuan => crate::text::yuan(rentops_kernel::Fen(v.round() as i64)),
    }
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"{}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {W} {height}\" \
         width=\"{W}\" height=\"{height}\">\
         <text class=\"title\" x=\"{LEFT}\" y=\"16\">{}</text>",
        attr(id),
        attr(title),
        esc(title)
    );
}

fn legend(out: &mut String, series: &[Series], y: f64) {
    let mut x = LEFT;
    for (i, s) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let _ = write!(
            out,
            "<rect class=\"key\" x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y - 9.0,
            x + 14.0,
            y,
            esc(&s.name)
        );
        x += 22.0 + 7.0 * s.name.chars().count() as f64;
    }
}

/// The value axis with its grid lines, from `TOP` down to the baseline.
fn value_axis(out: &mut String, scale: Scale, top: f64, ticks: &[f64]) {
    for t in ticks {
        let y = TOP + PLOT_H - t / top * PLOT_H;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&tick_label(scale, *t))
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        TOP + PLOT_H,
        W - RIGHT,
        TOP + PLOT_H,
        TOP + PLOT_H
    );
}

fn category_labels(out: &mut String, categories: &[String], slot: f64) {
    for (i, c) in categories.iter().enumerate() {
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            out,
            "<text class=\"cat\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + PLOT_H + 16.0,
            esc(c)
        );
    }
}

fn y_of(v: f64, top: f64) -> f64 {
    TOP + PLOT_H - (v / top).clamp(0.0, 1.0) * PLOT_H
}

/// A line per series over `categories` (e.g. the seven days), a circle on each figure; a gap in
/// the line and "—" where there is no figure.
pub fn line_chart(id: &str, title: &str, categories: &[String], series: &[Series], scale: Scale) -> String {
    let height = TOP + PLOT_H + BOTTOM;
    let mut out = String::new();
    open(&mut out, id, title, height);
    let (top, ticks) = axis(scale, series);
    value_axis(&mut out, scale, top, &ticks);
    let n = categories.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    category_labels(&mut out, categories, slot);
    let mut dashes = vec![false; n];
    for (si, s) in series.iter().enumerate() {
        let c = COLOURS[si % COLOURS.len()];
        // A polyline per run of figures: a day without one breaks the line.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (i, v) in s.values.iter().enumerate().take(n) {
            match v.filter(|v| v.is_finite()) {
                Some(v) => run.push((LEFT + slot * (i as f64 + 0.5), y_of(v, top))),
                None => {
                    dashes[i] = true;
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
        runs.push(run);
        for r in runs.iter().filter(|r| r.len() > 1) {
            let points: Vec<String> = r.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                out,
                "<polyline class=\"line\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
        }
        for (i, v) in s.values.iter().enumerate().take(n) {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                let (x, y) = (LEFT + slot * (i as f64 + 0.5), y_of(v, top));
                let _ = write!(
                    out,
                    "<circle class=\"mark\" data-series=\"{}\" data-value=\"{v}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" \
                     fill=\"{c}\"><title>{}: {}</title></circle>",
                    attr(&s.name),
                    esc(&s.name),
                    esc(&value_label(scale, v))
                );
            }
        }
    }
    for (i, dash) in dashes.iter().enumerate() {
        if *dash {
            let _ = write!(
                out,
                "<text class=\"none\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">—</text>",
                LEFT + slot * (i as f64 + 0.5),
                TOP + PLOT_H - 6.0
            );
        }
    }
    legend(&mut out, series, height - 8.0);
    out.push_str("</svg>");
    out
}

/// Vertical bars, the series side by side in each category, each labelled with its value.
pub fn bar_chart(id: &str, title: &str, categories: &[String], series: &[Series], scale: Scale) -> String {
    let height = TOP + PLOT_H + BOTTOM;
    let mut out = String::new();
    open(&mut out, id, title, height);
    let (top, ticks) = axis(scale, series);
    value_axis(&mut out, scale, top, &ticks);
    let n = categories.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    category_labels(&mut out, categories, slot);
    let k = series.len().max(1) as f64;
    let bar = (slot * 0.8 / k).min(36.0);
    for (si, s) in series.iter().enumerate() {
        let c = COLOURS[si % COLOURS.len()];
        for (i, v) in s.values.iter().enumerate().take(n) {
            let x = LEFT + slot * (i as f64 + 0.5) - bar * k / 2.0 + bar * si as f64;
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    let y = y_of(v, top);
                    // A zero stays visible as a hairline on the baseline.
                    let h = (TOP + PLOT_H - y).max(1.5);
                    let _ = write!(
                        out,
                        "<rect class=\"mark\" data-series=\"{}\" data-value=\"{v}\" x=\"{:.1}\" y=\"{:.1}\" \
                         width=\"{:.1}\" height=\"{h:.1}\" fill=\"{c}\"><title>{}: {}</title></rect>\
                         <text class=\"val\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                        attr(&s.name),
                        x + 1.0,
                        TOP + PLOT_H - h,
                        (bar - 2.0).max(1.0),
                        esc(&s.name),
                        esc(&value_label(scale, v)),
                        x + bar / 2.0,
                        TOP + PLOT_H - h - 3.0,
                        esc(&value_label(scale, v))
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<text class=\"none\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">—</text>",
                        x + bar / 2.0,
                        TOP + PLOT_H - 6.0
                    );
                }
            }
        }
    }
    legend(&mut out, series, height - 8.0);
    out.push_str("</svg>");
    out
}

/// One horizontal bar per category (a funnel's steps, ageing buckets), labelled at its end.
pub fn hbar_chart(id: &str, title: &str, categories: &[String], values: &[Option<f64>], scale: Scale) -> String {
    const LABEL_W: f64 = 120.0;
    const ROW: f64 = 22.0;
    let n = categories.len().max(1);
    let height = TOP + ROW * n as f64 + 34.0;
    let mut out = String::new();
    open(&mut out, id, title, height);
    let series = [Series {
        name: String::new(),
        values: values.to_vec(),
    }];
    let (top, ticks) = axis(scale, &series);
    let plot_w = W - LABEL_W - RIGHT - 60.0;
    let base = TOP + ROW * n as f64;
    for t in &ticks {
        let x = LABEL_W + t / top * plot_w;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{base:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base + 14.0,
            esc(&tick_label(scale, *t))
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LABEL_W}\" x2=\"{LABEL_W}\" y1=\"{TOP}\" y2=\"{base:.1}\"/>"
    );
    for (i, c) in categories.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let _ = write!(
            out,
            "<text class=\"cat\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 6.0,
            y + ROW / 2.0 + 4.0,
            esc(c)
        );
        match values.get(i).copied().flatten().filter(|v| v.is_finite()) {
            Some(v) => {
                let w = ((v / top).clamp(0.0, 1.0) * plot_w).max(1.5);
                let _ = write!(
                    out,
                    "<rect class=\"mark\" data-value=\"{v}\" x=\"{LABEL_W}\" y=\"{:.1}\" width=\"{w:.1}\" \
                     height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>\
                     <text class=\"val\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    y + 3.0,
                    ROW - 6.0,
                    COLOURS[0],
                    esc(c),
                    esc(&value_label(scale, v)),
                    LABEL_W + w + 4.0,
                    y + ROW / 2.0 + 4.0,
                    esc(&value_label(scale, v))
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<text class=\"none\" x=\"{:.1}\" y=\"{:.1}\">—</text>",
                    LABEL_W + 4.0,
                    y + ROW / 2.0 + 4.0
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(svg: &str) -> usize {
        svg.matches("class=\"mark\"").count()
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(nice_step(4_100.0), 5_000.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn every_figure_is_a_mark_and_a_missing_one_a_dash() {
        let s = [
            Series {
                name: "actual".into(),
                values: vec![Some(0.5), None, Some(1.0)],
            },
            Series {
                name: "planned".into(),
                values: vec![Some(0.0), Some(0.25), None],
            },
        ];
        let days = ["a", "b", "c"].map(String::from);
        for svg in [
            line_chart("l", "t", &days, &s, Scale::Percent),
            bar_chart("b", "t", &days, &s, Scale::Percent),
        ] {
            assert_eq!(marks(&svg), 4, "{svg}");
            assert!(svg.contains(">—</text>"), "{svg}");
            assert!(
                svg.contains(">100%</text>") && svg.contains(">0%</text>"),
                "axis ticks: {svg}"
            );
            assert!(svg.contains(">planned</text>"), "legend: {svg}");
        }
        let h = hbar_chart("h", "t", &days, &[Some(3.0), Some(0.0), None], Scale::Count);
        assert_eq!(marks(&h), 2, "{h}");
        // The zero is still drawn, as a hairline.
        assert!(h.contains("width=\"1.5\""), "{h}");
    }

    #[test]
    fn nothing_but_gaps_has_no_figures() {
        let s = [Series {
            name: "x".into(),
            values: vec![None, None],
        }];
        assert!(!has_figures(&s));
        assert!(has_figures(&[Series {
            name: "x".into(),
            values: vec![None, Some(0.0)],
        }]));
    }
}
