//! Text as the report prints it: HTML-escaped (whatever a customer, an authority's record or a
//! service wrote), fen as yuan, rates as percentages or "—", times in China time.

use rentops_kernel::Fen;
use time::{OffsetDateTime, UtcOffset};

/// China Standard Time, +08:00 all year: where the desk works and how the CLI prints times.
pub const CHINA: UtcOffset = time::macros::offset!(+8);

/// Text for an element's content.
pub fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// Text for a double-quoted attribute value.
pub fn attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// Fen as yuan with two decimals, through integers only: 45000 → "450.00".
pub fn yuan(f: Fen) -> String {
    f.to_string()
}

/// A rate as a percentage with one decimal, or "—" when there was nothing to divide by.
pub fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{:.1}%", r * 100.0),
        _ => "—".to_owned(),
    }
}

/// Cases per 1,000 orders with two decimals, or "—" without orders.
pub fn per_thousand(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() => format!("{r:.2}"),
        _ => "—".to_owned(),
    }
}

/// A change in percent with its sign ("+50%"), or "—" when there was nothing before.
pub fn change(p: Option<i64>) -> String {
    match p {
        Some(p) if p > 0 => format!("+{p}%"),
        Some(p) => format!("{p}%"),
        None => "—".to_owned(),
    }
}

/// A time in China time to the minute ("2026-12-07 09:30"), or "—".
pub fn china_time(t: Option<OffsetDateTime>) -> String {
    match t {
        Some(t) => {
            let t = t.to_offset(CHINA);
            format!(
                "{}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        None => "—".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        assert_eq!(
            esc("<script>alert('x')</script>&"),
            "&lt;script&gt;alert('x')&lt;/script&gt;&amp;"
        );
        assert_eq!(attr("a\"b<c"), "a&quot;b&lt;c");
        assert_eq!(esc("车辆很脏"), "车辆很脏");
    }

    #[test]
    fn figures_print_as_the_desk_reads_them() {
        assert_eq!(yuan(Fen(45_000)), "450.00");
        assert_eq!(yuan(Fen(-5)), "-0.05");
        assert_eq!(rate(Some(0.875)), "87.5%");
        assert_eq!(rate(None), "—");
        assert_eq!(rate(Some(f64::NAN)), "—");
        assert_eq!(per_thousand(Some(12.5)), "12.50");
        assert_eq!(per_thousand(None), "—");
        assert_eq!(
            (change(Some(50)), change(Some(-20)), change(None)),
            ("+50%".into(), "-20%".into(), "—".into())
        );
        assert_eq!(
            china_time(Some(time::macros::datetime!(2026-12-07 01:30 UTC))),
            "2026-12-07 09:30"
        );
    }
}
