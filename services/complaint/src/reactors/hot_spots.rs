//! The hot-spot scan: once a period is over, every category up by the rule on the period
//! before (the desk's default: 50 % or more, with at least 5 cases) is raised as a hot spot,
//! with its evidence brief. The hot spot's id derives from the period and the category, and
//! the aggregate raises it once, so however many replicas scan, each is raised once.

use std::sync::Arc;
use std::time::Duration;

use rentops_eventstore::{CommandHandler, CommandMeta};
use rentops_insight::{EvidenceBrief, HotSpotRule, Keywords, Share, evidence_brief, hot_spots};
use rentops_projection::Db;
use rentops_reactor::Scan;
use rentops_runtime::Clock;
use time::OffsetDateTime;

use crate::domain::hot_spot::{HotSpotAggregate, HotSpotRaised, hot_spot_id};
use crate::projections::analysis;
use crate::projections::queries::QueryError;

/// Periods are counted from Monday 1 January 2024, 00:00 in China: with the default of 7 days,
/// each period is a calendar week from Monday.
pub const PERIOD_ORIGIN: OffsetDateTime = time::macros::datetime!(2024-01-01 00:00 +8);

/// The last period of `days` days that is over at `now`: `[start, end)`.
pub fn last_complete_period(now: OffsetDateTime, days: i64) -> (OffsetDateTime, OffsetDateTime) {
    let len = time::Duration::days(days.max(1));
    let elapsed = (now - PERIOD_ORIGIN).whole_seconds().max(0);
    let k = elapsed / len.whole_seconds();
    let end = PERIOD_ORIGIN + len * (k as i32);
    (end - len, end)
}

fn shares(what: &str, list: &[Share]) -> Option<String> {
    if list.is_empty() {
        return None;
    }
    let items: Vec<String> = list
        .iter()
        .take(5)
        .map(|s| format!("{} {} ({} %)", s.value, s.cases, s.percent))
        .collect();
    Some(format!("{what}: {}", items.join(", ")))
}

/// The brief as the lines a hot spot carries.
pub fn brief_lines(b: &EvidenceBrief) -> Vec<String> {
    let mut out = Vec::new();
    if !b.keywords.is_empty() {
        let k: Vec<String> = b.keywords.iter().map(|k| format!("{} ({})", k.term, k.cases)).collect();
        out.push(format!("keywords: {}", k.join(", ")));
    }
    out.extend(shares("stations", &b.stations));
    out.extend(shares("vehicles", &b.vehicles));
    out.extend(shares("models", &b.models));
    out.extend(shares("channels", &b.channels));
    if !b.examples.is_empty() {
        out.push(format!("examples: {}", b.examples.join(", ")));
    }
    out
}

pub struct HotSpotScan {
    pub hot_spots: Arc<CommandHandler<HotSpotAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keywords: Arc<Keywords>,
    pub rule: HotSpotRule,
    pub period_days: i64,
}

impl Scan for HotSpotScan {
    type Error = QueryError;

    fn name(&self) -> &str {
        "complaint-hot-spots"
    }

    async fn pass(&self) -> Result<Option<Duration>, QueryError> {
        self.scan_once().await?;
        Ok(None)
    }
}

impl HotSpotScan {
    /// One pass: the hot spots it raised.
    pub async fn scan_once(&self) -> Result<usize, QueryError> {
        let now = self.clock.now();
        let (from, to) = last_complete_period(now, self.period_days);
        let counts = analysis::category_counts(&self.db, from, to).await?;
        let mut raised = 0;
        for spot in hot_spots(&counts, &self.rule) {
            let id = hot_spot_id(from, &spot.category);
            match self.hot_spots.state(&id).await {
                Ok((Some(_), _)) => continue,
                Ok((None, _)) => {}
                Err(e) => {
                    tracing::warn!(hot_spot_id = %id, error = %e, "hot spot not readable; the next pass retries");
                    continue;
                }
            }
            let (facts, background) = analysis::facts(&self.db, &spot.category, from, to).await?;
            let refs: Vec<&str> = background.iter().map(String::as_str).collect();
            let brief = evidence_brief(&self.keywords, &facts, &refs, 5, 3);
            let command = HotSpotRaised {
                hot_spot_id: id.clone(),
                category: spot.category.clone(),
                period_start: from,
                period_end: to,
                current: spot.current,
                previous: spot.previous,
                rise_percent: spot.rise_percent,
                brief: brief_lines(&brief),
                at: now,
            };
            let request_id = format!("hotspot:{id}");
            let meta = CommandMeta {
                causation_id: request_id.clone(),
                request_id,
                fingerprint: None,
                correlation_id: format!("hotspot:{id}"),
                actor: "system:hot-spots".into(),
                time: now,
            };
            match self.hot_spots.execute(&id, &meta, &command, true).await {
                Ok(done) if done.events_appended > 0 && !done.replayed => {
                    raised += 1;
                    metrics::counter!("rentops_complaint_hot_spots_total").increment(1);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(hot_spot_id = %id, error = %e, "hot spot not raised; the next pass retries"),
            }
        }
        Ok(raised)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn periods_are_weeks_from_monday_in_china() {
        let (from, to) = last_complete_period(datetime!(2026-11-11 10:00 +8), 7);
        assert_eq!(from, datetime!(2026-11-02 00:00 +8));
        assert_eq!(to, datetime!(2026-11-09 00:00 +8));
        // At the very start of a week, the week before is the last complete one.
        let (from, _) = last_complete_period(datetime!(2026-11-09 00:00 +8), 7);
        assert_eq!(from, datetime!(2026-11-02 00:00 +8));
    }
}
