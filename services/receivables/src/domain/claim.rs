//! A repair claim (维修款追缴): the damage found on a car after a hire, the invoice lines of its
//! repair, and what the renter pays by the agreement — computed, shown line by line, confirmed
//! by finance before it is charged, and put right afterwards only by reversing and charging
//! again. Pure: the terms, times and booking ids come in with the commands.

use rentops_kernel::{Aggregate, CoverTier, Fen};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    Ordinary,
    DrunkDriving,
    UnlicensedDriver,
    ProhibitedUse,
}

impl Cause {
    /// Causes the cover does not cover: the renter pays the whole cost.
    pub fn is_excluded(self) -> bool {
        self != Cause::Ordinary
    }

    fn text(self) -> &'static str {
        match self {
            Cause::Ordinary => "ordinary use",
            Cause::DrunkDriving => "drunk driving (excluded)",
            Cause::UnlicensedDriver => "an unlicensed driver (excluded)",
            Cause::ProhibitedUse => "prohibited use (excluded)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineKind {
    Parts,
    Labour,
    Paint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    pub amount: Fen,
    pub document: String,
}

/// The agreement's money terms (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Basic cover: the most the renter pays for the repair of one incident.
    pub deductible: Fen,
    /// Each day the car spends in repair, where the tier charges loss of use.
    pub loss_of_use_per_day: Fen,
    /// Whether basic cover charges loss of use (excluded causes always do, full cover never).
    pub basic_pays_loss_of_use: bool,
    /// On top of any repair the renter pays.
    pub admin_fee: Fen,
}

impl Default for Terms {
    fn default() -> Self {
        Self {
            deductible: Fen(150_000),
            loss_of_use_per_day: Fen(20_000),
            basic_pays_loss_of_use: true,
            admin_fee: Fen(10_000),
        }
    }
}

/// What the renter pays, with how it was derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liability {
    pub invoice_total: Fen,
    pub repair: Fen,
    pub loss_of_use: Fen,
    pub admin_fee: Fen,
    pub total: Fen,
    pub derivation: Vec<String>,
    pub deductible: Fen,
    pub loss_of_use_per_day: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("claim not found")]
    NotFound,
    #[error("the claim exists already, for order {0}")]
    AlreadyOpened(String),
    #[error("the claim is confirmed: adjust it instead")]
    Confirmed,
    #[error("the claim is not confirmed yet: change it, then confirm")]
    NotConfirmed,
    #[error("expected_total: the amount is now {now}, not the {expected} confirmed")]
    AmountChanged { expected: Fen, now: Fen },
    #[error("the claim has no invoice lines to confirm")]
    NoLines,
    #[error("the adjustment changes nothing")]
    NothingChanged,
    #[error("{what} overflows")]
    Overflow { what: &'static str },
}

/// What the renter pays for `lines` (less `recovery`) under `cover` for `cause`, by `terms`.
pub fn liability(
    lines: &[InvoiceLine],
    recovery: Fen,
    repair_days: u32,
    cover: CoverTier,
    cause: Cause,
    terms: &Terms,
) -> Result<Liability, ClaimError> {
    let overflow = |what| ClaimError::Overflow { what };
    let invoice_total = Fen::try_sum(lines.iter().map(|l| l.amount)).map_err(|_| overflow("the invoice total"))?;
    let cost = invoice_total
        .checked_sub(recovery)
        .ok_or(overflow("the cost"))?
        .max(Fen::ZERO);
    let mut derivation = Vec::new();
    let sum_of = |kind| Fen::try_sum(lines.iter().filter(|l| l.kind == kind).map(|l| l.amount));
    derivation.push(format!(
        "invoice total {invoice_total} (parts {}, labour {}, paint {}) over {} line(s)",
        sum_of(LineKind::Parts).map_err(|_| overflow("parts"))?,
        sum_of(LineKind::Labour).map_err(|_| overflow("labour"))?,
        sum_of(LineKind::Paint).map_err(|_| overflow("paint"))?,
        lines.len()
    ));
    if recovery > Fen::ZERO {
        derivation.push(format!("less the insurer's recovery {recovery}: cost {cost}"));
    }
    let (repair, pays_loss_of_use) = if cause.is_excluded() {
        derivation.push(format!(
            "cause: {}: the renter pays the whole cost {cost}",
            cause.text()
        ));
        (cost, true)
    } else {
        match cover {
            CoverTier::Full => {
                derivation.push("full cover: the renter pays nothing for the repair".to_owned());
                (Fen::ZERO, false)
            }
            CoverTier::Basic => {
                let repair = cost.min(terms.deductible);
                derivation.push(format!(
                    "basic cover: the renter pays the cost up to the deductible {}: {repair}",
                    terms.deductible
                ));
                (repair, terms.basic_pays_loss_of_use)
            }
        }
    };
    let loss_of_use = if pays_loss_of_use && repair_days > 0 {
        let l = terms
            .loss_of_use_per_day
            .checked_mul(i64::from(repair_days))
            .ok_or(overflow("loss of use"))?;
        derivation.push(format!(
            "loss of use: {repair_days} day(s) in repair × {} = {l}",
            terms.loss_of_use_per_day
        ));
        l
    } else {
        Fen::ZERO
    };
    let liable = repair > Fen::ZERO || loss_of_use > Fen::ZERO;
    let admin_fee = if liable { terms.admin_fee } else { Fen::ZERO };
    if admin_fee > Fen::ZERO {
        derivation.push(format!("admin fee {admin_fee}"));
    }
    let total = Fen::try_sum([repair, loss_of_use, admin_fee]).map_err(|_| overflow("the total"))?;
    derivation.push(format!("total {total}"));
    Ok(Liability {
        invoice_total,
        repair,
        loss_of_use,
        admin_fee,
        total,
        derivation,
        deductible: terms.deductible,
        loss_of_use_per_day: terms.loss_of_use_per_day,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub order_id: String,
    pub customer_id: String,
    pub city: String,
    pub vehicle_id: String,
    pub cover: CoverTier,
    pub cause: Cause,
    pub damage_noted: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub from_return: bool,
    pub lines: Vec<InvoiceLine>,
    pub repair_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charged {
    pub liability: Liability,
    pub booking: String,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimEvent {
    Opened(Opened),
    LinesAdded {
        lines: Vec<InvoiceLine>,
        at: OffsetDateTime,
    },
    DetailsSet {
        cause: Cause,
        repair_days: u32,
        at: OffsetDateTime,
    },
    Confirmed(Charged),
    Adjusted {
        lines: Vec<InvoiceLine>,
        repair_days: u32,
        recovery: Fen,
        charged: Charged,
        reversal: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub opened: Option<Opened>,
    pub lines: Vec<InvoiceLine>,
    pub cause: Option<Cause>,
    pub repair_days: u32,
    pub recovery: Fen,
    /// The charge standing now (after the latest confirmation or adjustment).
    pub charged: Option<Charged>,
    /// How many adjustments there have been.
    #[serde(default)]
    pub adjustments: usize,
}

impl Claim {
    /// What the renter would pay now (the confirmed figure once confirmed).
    pub fn liability(&self, terms: &Terms) -> Result<Liability, ClaimError> {
        if let Some(c) = &self.charged {
            return Ok(c.liability.clone());
        }
        let o = self.opened.as_ref().ok_or(ClaimError::NotFound)?;
        liability(
            &self.lines,
            self.recovery,
            self.repair_days,
            o.cover,
            self.cause.unwrap_or(o.cause),
            terms,
        )
    }

    pub fn is_confirmed(&self) -> bool {
        self.charged.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimCommand {
    Open(Opened),
    AddLines {
        lines: Vec<InvoiceLine>,
        at: OffsetDateTime,
    },
    SetDetails {
        cause: Option<Cause>,
        repair_days: Option<u32>,
        at: OffsetDateTime,
    },
    /// Finance confirms what it saw (`expected`), charged as `booking` (empty: nothing owed).
    Confirm {
        expected: Option<Fen>,
        terms: Terms,
        booking: String,
        by: String,
        at: OffsetDateTime,
    },
    /// The final invoice (`lines`, when given), repair days or an insurer's recovery change
    /// what is owed: `reversal` undid the standing charge, `booking` charges the new amount.
    Adjust {
        lines: Option<Vec<InvoiceLine>>,
        repair_days: Option<u32>,
        recovery: Option<Fen>,
        terms: Terms,
        reversal: String,
        booking: String,
        by: String,
        reason: String,
        at: OffsetDateTime,
    },
}

pub struct ClaimAggregate;

impl Aggregate for ClaimAggregate {
    const TYPE: &'static str = "claim";
    type State = Claim;
    type Command = ClaimCommand;
    type Event = ClaimEvent;
    type Error = ClaimError;

    fn decide(state: &Claim, command: &ClaimCommand) -> Result<Vec<ClaimEvent>, ClaimError> {
        decide(state, command)
    }

    fn evolve(state: Claim, event: &ClaimEvent) -> Claim {
        evolve(state, event)
    }
}

/// The adjusted claim's figures: what `Adjust` would charge.
pub fn adjusted(
    state: &Claim,
    lines: Option<&[InvoiceLine]>,
    repair_days: Option<u32>,
    recovery: Option<Fen>,
    terms: &Terms,
) -> Result<Liability, ClaimError> {
    let o = state.opened.as_ref().ok_or(ClaimError::NotFound)?;
    liability(
        lines.unwrap_or(&state.lines),
        recovery.unwrap_or(state.recovery),
        repair_days.unwrap_or(state.repair_days),
        o.cover,
        state.cause.unwrap_or(o.cause),
        terms,
    )
}

pub fn decide(state: &Claim, command: &ClaimCommand) -> Result<Vec<ClaimEvent>, ClaimError> {
    if let ClaimCommand::Open(o) = command {
        return match &state.opened {
            None => Ok(vec![ClaimEvent::Opened(o.clone())]),
            Some(known) if known.order_id == o.order_id => Ok(Vec::new()),
            Some(known) => Err(ClaimError::AlreadyOpened(known.order_id.clone())),
        };
    }
    if state.opened.is_none() {
        return Err(ClaimError::NotFound);
    }
    match command {
        ClaimCommand::Open(_) => Ok(Vec::new()),
        ClaimCommand::AddLines { lines, at } => {
            if state.is_confirmed() {
                return Err(ClaimError::Confirmed);
            }
            Ok(vec![ClaimEvent::LinesAdded {
                lines: lines.clone(),
                at: *at,
            }])
        }
        ClaimCommand::SetDetails { cause, repair_days, at } => {
            if state.is_confirmed() {
                return Err(ClaimError::Confirmed);
            }
            let o = state.opened.as_ref().ok_or(ClaimError::NotFound)?;
            let cause = cause.unwrap_or(state.cause.unwrap_or(o.cause));
            let repair_days = repair_days.unwrap_or(state.repair_days);
            if Some(cause) == state.cause.or(Some(o.cause)) && repair_days == state.repair_days {
                return Ok(Vec::new());
            }
            Ok(vec![ClaimEvent::DetailsSet {
                cause,
                repair_days,
                at: *at,
            }])
        }
        ClaimCommand::Confirm {
            expected,
            terms,
            booking,
            by,
            at,
        } => {
            if state.is_confirmed() {
                return Err(ClaimError::Confirmed);
            }
            if state.lines.is_empty() {
                return Err(ClaimError::NoLines);
            }
            let liability = state.liability(terms)?;
            if let Some(expected) = expected
                && *expected != liability.total
            {
                return Err(ClaimError::AmountChanged {
                    expected: *expected,
                    now: liability.total,
                });
            }
            Ok(vec![ClaimEvent::Confirmed(Charged {
                liability,
                booking: booking.clone(),
                by: by.clone(),
                at: *at,
            })])
        }
        ClaimCommand::Adjust {
            lines,
            repair_days,
            recovery,
            terms,
            reversal,
            booking,
            by,
            reason,
            at,
        } => {
            let Some(standing) = &state.charged else {
                return Err(ClaimError::NotConfirmed);
            };
            let new = adjusted(state, lines.as_deref(), *repair_days, *recovery, terms)?;
            let same_lines = lines.as_ref().is_none_or(|l| *l == state.lines);
            if same_lines
                && repair_days.is_none_or(|d| d == state.repair_days)
                && recovery.is_none_or(|r| r == state.recovery)
                && new.total == standing.liability.total
            {
                return Err(ClaimError::NothingChanged);
            }
            Ok(vec![ClaimEvent::Adjusted {
                lines: lines.clone().unwrap_or_else(|| state.lines.clone()),
                repair_days: repair_days.unwrap_or(state.repair_days),
                recovery: recovery.unwrap_or(state.recovery),
                charged: Charged {
                    liability: new,
                    booking: booking.clone(),
                    by: by.clone(),
                    at: *at,
                },
                reversal: reversal.clone(),
                reason: reason.clone(),
            }])
        }
    }
}

pub fn evolve(mut state: Claim, event: &ClaimEvent) -> Claim {
    match event {
        ClaimEvent::Opened(o) => {
            state.lines = o.lines.clone();
            state.repair_days = o.repair_days;
            state.cause = Some(o.cause);
            state.opened = Some(o.clone());
        }
        ClaimEvent::LinesAdded { lines, .. } => state.lines.extend(lines.iter().cloned()),
        ClaimEvent::DetailsSet { cause, repair_days, .. } => {
            state.cause = Some(*cause);
            state.repair_days = *repair_days;
        }
        ClaimEvent::Confirmed(c) => state.charged = Some(c.clone()),
        ClaimEvent::Adjusted {
            lines,
            repair_days,
            recovery,
            charged,
            ..
        } => {
            state.lines = lines.clone();
            state.repair_days = *repair_days;
            state.recovery = *recovery;
            state.charged = Some(charged.clone());
            state.adjustments += 1;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<InvoiceLine> {
        vec![
            InvoiceLine {
                kind: LineKind::Parts,
                description: "front bumper".into(),
                amount: Fen(200_000),
                document: "INV-1".into(),
            },
            InvoiceLine {
                kind: LineKind::Labour,
                description: "fitting".into(),
                amount: Fen(80_000),
                document: "INV-1".into(),
            },
            InvoiceLine {
                kind: LineKind::Paint,
                description: "paint".into(),
                amount: Fen(40_000),
                document: "INV-1".into(),
            },
        ]
    }

    #[test]
    fn the_cover_tier_and_the_cause_decide_what_the_renter_pays() {
        let t = Terms::default();
        let basic = liability(&lines(), Fen::ZERO, 3, CoverTier::Basic, Cause::Ordinary, &t).unwrap();
        assert_eq!(basic.invoice_total, Fen(320_000));
        assert_eq!(basic.repair, Fen(150_000), "up to the deductible");
        assert_eq!(basic.loss_of_use, Fen(60_000), "3 days × 200");
        assert_eq!(basic.admin_fee, Fen(10_000));
        assert_eq!(basic.total, Fen(220_000));
        assert_eq!(basic.derivation.len(), 5, "{:?}", basic.derivation);
        assert!(basic.derivation[1].contains("1500.00"), "{:?}", basic.derivation);

        let full = liability(&lines(), Fen::ZERO, 3, CoverTier::Full, Cause::Ordinary, &t).unwrap();
        assert_eq!(
            (full.repair, full.loss_of_use, full.admin_fee, full.total),
            (Fen::ZERO, Fen::ZERO, Fen::ZERO, Fen::ZERO)
        );

        let drunk = liability(&lines(), Fen::ZERO, 3, CoverTier::Full, Cause::DrunkDriving, &t).unwrap();
        assert_eq!(drunk.repair, Fen(320_000), "an excluded cause: the whole cost");
        assert_eq!(drunk.total, Fen(390_000));

        let small = liability(&lines()[2..], Fen::ZERO, 0, CoverTier::Basic, Cause::Ordinary, &t).unwrap();
        assert_eq!(
            small.total,
            Fen(50_000),
            "a cost under the deductible, and the admin fee"
        );

        let recovered = liability(&lines(), Fen(400_000), 0, CoverTier::Basic, Cause::UnlicensedDriver, &t).unwrap();
        assert_eq!(recovered.total, Fen::ZERO, "an insurer recovered it all");
    }

    #[test]
    fn amounts_that_overflow_are_refused() {
        let huge = vec![
            InvoiceLine {
                kind: LineKind::Parts,
                description: String::new(),
                amount: Fen(i64::MAX),
                document: String::new(),
            };
            2
        ];
        assert_eq!(
            liability(
                &huge,
                Fen::ZERO,
                0,
                CoverTier::Basic,
                Cause::Ordinary,
                &Terms::default()
            ),
            Err(ClaimError::Overflow {
                what: "the invoice total"
            })
        );
    }
}
