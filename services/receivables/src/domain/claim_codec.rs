//! The repair claim's events on the wire (`ClaimOpened`, …), one mapping each way.

use prost::Message;
use rentops_kernel::{DecodeError, EventCodec};
use rentops_proto::cover::{cover_from_pb, cover_to_pb};
use rentops_proto::receivables as pb;
use rentops_proto::timestamp::{event_time, to_timestamp};

use super::claim::{Cause, Charged, ClaimAggregate, ClaimEvent, InvoiceLine, Liability, LineKind, Opened};
use super::codec::amount;

const OPENED: &str = "ClaimOpened";
const LINES_ADDED: &str = "ClaimLinesAdded";
const DETAILS_SET: &str = "ClaimDetailsSet";
const CONFIRMED: &str = "ClaimConfirmed";
const ADJUSTED: &str = "ClaimAdjusted";

pub fn cause_pb(c: Cause) -> pb::DamageCause {
    match c {
        Cause::Ordinary => pb::DamageCause::Ordinary,
        Cause::DrunkDriving => pb::DamageCause::DrunkDriving,
        Cause::UnlicensedDriver => pb::DamageCause::UnlicensedDriver,
        Cause::ProhibitedUse => pb::DamageCause::ProhibitedUse,
    }
}

pub fn cause_from_pb(v: i32) -> Option<Cause> {
    Some(match pb::DamageCause::try_from(v).ok()? {
        pb::DamageCause::Ordinary => Cause::Ordinary,
        pb::DamageCause::DrunkDriving => Cause::DrunkDriving,
        pb::DamageCause::UnlicensedDriver => Cause::UnlicensedDriver,
        pb::DamageCause::ProhibitedUse => Cause::ProhibitedUse,
        pb::DamageCause::Unspecified => return None,
    })
}

pub fn line_kind_from_pb(v: i32) -> Option<LineKind> {
    Some(match pb::InvoiceLineKind::try_from(v).ok()? {
        pb::InvoiceLineKind::Parts => LineKind::Parts,
        pb::InvoiceLineKind::Labour => LineKind::Labour,
        pb::InvoiceLineKind::Paint => LineKind::Paint,
        pb::InvoiceLineKind::Unspecified => return None,
    })
}

fn line_kind_pb(k: LineKind) -> pb::InvoiceLineKind {
    match k {
        LineKind::Parts => pb::InvoiceLineKind::Parts,
        LineKind::Labour => pb::InvoiceLineKind::Labour,
        LineKind::Paint => pb::InvoiceLineKind::Paint,
    }
}

pub fn lines_pb(lines: &[InvoiceLine]) -> Vec<pb::InvoiceLine> {
    lines
        .iter()
        .map(|l| pb::InvoiceLine {
            kind: line_kind_pb(l.kind) as i32,
            description: l.description.clone(),
            amount_fen: l.amount.0,
            document_ref: l.document.clone(),
        })
        .collect()
}

fn lines_from_pb(name: &str, lines: Vec<pb::InvoiceLine>) -> Result<Vec<InvoiceLine>, DecodeError> {
    lines
        .into_iter()
        .map(|l| {
            Ok(InvoiceLine {
                kind: line_kind_from_pb(l.kind)
                    .ok_or_else(|| DecodeError::invalid(name, "lines.kind", format!("unknown value {}", l.kind)))?,
                description: l.description,
                amount: amount(name, "lines.amount_fen", l.amount_fen)?,
                document: l.document_ref,
            })
        })
        .collect()
}

pub fn liability_pb(l: &Liability) -> pb::Liability {
    pb::Liability {
        invoice_total_fen: l.invoice_total.0,
        repair_fen: l.repair.0,
        loss_of_use_fen: l.loss_of_use.0,
        admin_fee_fen: l.admin_fee.0,
        total_fen: l.total.0,
        derivation: l.derivation.clone(),
        deductible_fen: l.deductible.0,
        loss_of_use_per_day_fen: l.loss_of_use_per_day.0,
    }
}

fn liability_from_pb(name: &str, l: Option<pb::Liability>) -> Result<Liability, DecodeError> {
    let l = l.ok_or_else(|| DecodeError::missing(name, "liability"))?;
    Ok(Liability {
        invoice_total: amount(name, "liability.invoice_total_fen", l.invoice_total_fen)?,
        repair: amount(name, "liability.repair_fen", l.repair_fen)?,
        loss_of_use: amount(name, "liability.loss_of_use_fen", l.loss_of_use_fen)?,
        admin_fee: amount(name, "liability.admin_fee_fen", l.admin_fee_fen)?,
        total: amount(name, "liability.total_fen", l.total_fen)?,
        derivation: l.derivation,
        deductible: amount(name, "liability.deductible_fen", l.deductible_fen)?,
        loss_of_use_per_day: amount(name, "liability.loss_of_use_per_day_fen", l.loss_of_use_per_day_fen)?,
    })
}

fn cause(name: &str, v: i32) -> Result<Cause, DecodeError> {
    cause_from_pb(v).ok_or_else(|| DecodeError::invalid(name, "cause", format!("unknown value {v}")))
}

pub fn opened_pb(id: &str, o: &Opened) -> pb::ClaimOpened {
    pb::ClaimOpened {
        claim_id: id.to_owned(),
        order_id: o.order_id.clone(),
        customer_id: o.customer_id.clone(),
        city: o.city.clone(),
        vehicle_id: o.vehicle_id.clone(),
        cover_tier: cover_to_pb(o.cover),
        cause: cause_pb(o.cause) as i32,
        damage_noted: o.damage_noted.clone(),
        opened_at: Some(to_timestamp(o.opened_at)),
        from_return: o.from_return,
        lines: lines_pb(&o.lines),
        repair_days: o.repair_days,
    }
}

impl EventCodec for ClaimAggregate {
    type Event = ClaimEvent;

    fn name(event: &ClaimEvent) -> &'static str {
        match event {
            ClaimEvent::Opened(_) => OPENED,
            ClaimEvent::LinesAdded { .. } => LINES_ADDED,
            ClaimEvent::DetailsSet { .. } => DETAILS_SET,
            ClaimEvent::Confirmed(_) => CONFIRMED,
            ClaimEvent::Adjusted { .. } => ADJUSTED,
        }
    }

    fn encode(event: &ClaimEvent) -> Vec<u8> {
        match event {
            ClaimEvent::Opened(o) => opened_pb("", o).encode_to_vec(),
            ClaimEvent::LinesAdded { lines, at } => pb::ClaimLinesAdded {
                lines: lines_pb(lines),
                at: Some(to_timestamp(*at)),
            }
            .encode_to_vec(),
            ClaimEvent::DetailsSet { cause, repair_days, at } => pb::ClaimDetailsSet {
                cause: cause_pb(*cause) as i32,
                repair_days: *repair_days,
                at: Some(to_timestamp(*at)),
            }
            .encode_to_vec(),
            ClaimEvent::Confirmed(c) => pb::ClaimConfirmed {
                liability: Some(liability_pb(&c.liability)),
                charge_booking_id: c.booking.clone(),
                confirmed_by: c.by.clone(),
                at: Some(to_timestamp(c.at)),
            }
            .encode_to_vec(),
            ClaimEvent::Adjusted {
                lines,
                repair_days,
                recovery,
                charged,
                reversal,
                reason,
            } => pb::ClaimAdjusted {
                lines: lines_pb(lines),
                repair_days: *repair_days,
                liability: Some(liability_pb(&charged.liability)),
                reversal_booking_id: reversal.clone(),
                charge_booking_id: charged.booking.clone(),
                adjusted_by: charged.by.clone(),
                reason: reason.clone(),
                at: Some(to_timestamp(charged.at)),
                recovery_fen: recovery.0,
            }
            .encode_to_vec(),
        }
    }

    fn decode(name: &str, payload: &[u8]) -> Result<ClaimEvent, DecodeError> {
        let bad = |e: prost::DecodeError| DecodeError::malformed(name, e);
        Ok(match name {
            OPENED => {
                let m = pb::ClaimOpened::decode(payload).map_err(bad)?;
                ClaimEvent::Opened(Opened {
                    order_id: m.order_id,
                    customer_id: m.customer_id,
                    city: m.city,
                    vehicle_id: m.vehicle_id,
                    cover: cover_from_pb(m.cover_tier).ok_or_else(|| {
                        DecodeError::invalid(name, "cover_tier", format!("unknown value {}", m.cover_tier))
                    })?,
                    cause: cause(name, m.cause)?,
                    damage_noted: m.damage_noted,
                    opened_at: event_time(name, "opened_at", m.opened_at.as_ref())?,
                    from_return: m.from_return,
                    lines: lines_from_pb(name, m.lines)?,
                    repair_days: m.repair_days,
                })
            }
            LINES_ADDED => {
                let m = pb::ClaimLinesAdded::decode(payload).map_err(bad)?;
                ClaimEvent::LinesAdded {
                    lines: lines_from_pb(name, m.lines)?,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            DETAILS_SET => {
                let m = pb::ClaimDetailsSet::decode(payload).map_err(bad)?;
                ClaimEvent::DetailsSet {
                    cause: cause(name, m.cause)?,
                    repair_days: m.repair_days,
                    at: event_time(name, "at", m.at.as_ref())?,
                }
            }
            CONFIRMED => {
                let m = pb::ClaimConfirmed::decode(payload).map_err(bad)?;
                ClaimEvent::Confirmed(Charged {
                    liability: liability_from_pb(name, m.liability)?,
                    booking: m.charge_booking_id,
                    by: m.confirmed_by,
                    at: event_time(name, "at", m.at.as_ref())?,
                })
            }
            ADJUSTED => {
                let m = pb::ClaimAdjusted::decode(payload).map_err(bad)?;
                ClaimEvent::Adjusted {
                    lines: lines_from_pb(name, m.lines)?,
                    repair_days: m.repair_days,
                    recovery: amount(name, "recovery_fen", m.recovery_fen)?,
                    charged: Charged {
                        liability: liability_from_pb(name, m.liability)?,
                        booking: m.charge_booking_id,
                        by: m.adjusted_by,
                        at: event_time(name, "at", m.at.as_ref())?,
                    },
                    reversal: m.reversal_booking_id,
                    reason: m.reason,
                }
            }
            other => return Err(DecodeError::unknown(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use rentops_kernel::testing::assert_round_trip;
    use rentops_kernel::{CoverTier, Fen};
    use time::macros::datetime;

    use super::*;
    use crate::domain::claim::{Terms, liability};

    #[test]
    fn every_claim_event_round_trips_through_its_bytes() {
        let at = datetime!(2026-11-20 10:00 UTC);
        let lines = vec![InvoiceLine {
            kind: LineKind::Paint,
            description: "左前门喷漆".into(),
            amount: Fen(60_000),
            document: "INV-9".into(),
        }];
        let l = liability(
            &lines,
            Fen::ZERO,
            2,
            CoverTier::Basic,
            Cause::Ordinary,
            &Terms::default(),
        )
        .unwrap();
        let charged = Charged {
            liability: l,
            booking: "b-1".into(),
            by: "finance:zhao".into(),
            at,
        };
        assert_round_trip::<ClaimAggregate>([
            ClaimEvent::Opened(Opened {
                order_id: "o".into(),
                customer_id: "C-1".into(),
                city: "SHA".into(),
                vehicle_id: "V1".into(),
                cover: CoverTier::Full,
                cause: Cause::ProhibitedUse,
                damage_noted: "scratch".into(),
                opened_at: at,
                from_return: true,
                lines: lines.clone(),
                repair_days: 1,
            }),
            ClaimEvent::LinesAdded {
                lines: lines.clone(),
                at,
            },
            ClaimEvent::DetailsSet {
                cause: Cause::Ordinary,
                repair_days: 4,
                at,
            },
            ClaimEvent::Confirmed(charged.clone()),
            ClaimEvent::Adjusted {
                lines,
                repair_days: 2,
                recovery: Fen(1_000),
                charged,
                reversal: "r-1".into(),
                reason: "final invoice".into(),
            },
        ]);
    }
}
