//! Disputes, from the complaint service's events (ADR 0020): a case about a violation (or its
//! charge) stops that violation's ladder while it is open — opened or reopened it disputes, closed
//! or resolved it ends the dispute, and the ladder's days come later by the time it stood still.
//! A resolution's waiver remedy waives what is open of the charge on the ledger, or, before the
//! charge, closes the violation as waived. Request and booking ids are fixed by the case and the
//! event, so a redelivered event changes nothing more.

use std::sync::Arc;

use prost::Message;
use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, RecordedEvent};
use rentops_kernel::{CustomerId, Fen};
use rentops_ledger::{Action, BookingId, LedgerCommand, LedgerError, Role};
use rentops_projection::Db;
use rentops_proto::complaint as cpb;
use rentops_reactor::{React, Reaction, Subscription};
use rentops_runtime::Clock;
use sqlx::Row;
use time::OffsetDateTime;

use crate::domain::ledger::LedgerRefused;
use crate::domain::{BOOKING_NAMESPACE, LedgerAggregate, ViolationAggregate, ViolationCommand};

pub struct Disputes {
    pub violations: Arc<CommandHandler<ViolationAggregate>>,
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

impl Disputes {
    /// The subscription to the complaint service's cases (`stream`: its stream, `COMPLAINT`).
    pub fn subscription(stream: &str) -> Subscription {
        let mut s = Subscription::new(stream, "receivables-disputes", &["rentops.complaint.case.>"]);
        s.description = "rentops receivables: complaint cases as disputes of violations and charges".into();
        s.max_ack_pending = 1;
        s
    }
}

/// What the reactor remembers of a case: (violation, charge booking, customer).
type Case = (String, String, String);

/// A failure a later delivery may not meet (the log unreachable, a lost race).
fn transient<E: std::error::Error + 'static>(e: &ExecuteError<E>) -> bool {
    matches!(e, ExecuteError::Unavailable(_) | ExecuteError::Conflict { .. })
}

fn retry(what: &str, e: impl std::fmt::Display) -> Reaction {
    Reaction::Retry(format!("{what}: {e}"))
}

impl Disputes {
    fn meta(&self, e: &RecordedEvent, part: &str, actor: &str, now: OffsetDateTime) -> CommandMeta {
        let request_id = format!("complaint:{}:{}:{part}", e.meta.event_id, e.sequence);
        CommandMeta {
            causation_id: e.meta.event_id.to_string(),
            request_id,
            fingerprint: None,
            correlation_id: e.meta.correlation_id.clone(),
            actor: actor.to_owned(),
            time: now,
        }
    }

    async fn remember(&self, case_id: &str, links: &cpb::CaseLinks) -> Result<Case, sqlx::Error> {
        let mut violation = links.violation_id.trim().to_owned();
        if violation.is_empty() && !links.charge_booking_id.trim().is_empty() {
            let row = sqlx::query("SELECT violation_id FROM rx_violations WHERE charge_booking_id = $1")
                .bind(links.charge_booking_id.trim().to_owned())
                .fetch_optional(&self.db.pool)
                .await?;
            if let Some(r) = row {
                violation = r.try_get(0)?;
            }
        }
        let case = (
            violation,
            links.charge_booking_id.trim().to_owned(),
            links.customer_id.trim().to_owned(),
        );
        sqlx::query(
            "INSERT INTO rx_cases (case_id, violation_id, charge_booking_id, customer_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (case_id) DO UPDATE SET violation_id = excluded.violation_id, \
             charge_booking_id = excluded.charge_booking_id, customer_id = excluded.customer_id",
        )
        .bind(case_id.to_owned())
        .bind(case.0.clone())
        .bind(case.1.clone())
        .bind(case.2.clone())
        .execute(&self.db.pool)
        .await?;
        Ok(case)
    }

    async fn recall(&self, case_id: &str) -> Result<Option<Case>, sqlx::Error> {
        let row = sqlx::query("SELECT violation_id, charge_booking_id, customer_id FROM rx_cases WHERE case_id = $1")
            .bind(case_id.to_owned())
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(match row {
            None => None,
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        })
    }

    async fn violation(&self, e: &RecordedEvent, id: &str, part: &str, command: ViolationCommand) -> Reaction {
        if id.is_empty() {
            return Reaction::Done;
        }
        let meta = self.meta(e, part, "system:disputes", self.clock.now());
        match self.violations.execute(id, &meta, &command, false).await {
            Ok(_) => Reaction::Done,
            // A violation this service has not recorded: nothing of it to stop.
            Err(ExecuteError::Domain(crate::domain::ViolationError::NotFound)) => Reaction::Done,
            Err(err) if transient(&err) => retry("the event log", err),
            Err(err) => Reaction::Skipped(format!("violation {id}: {err}")),
        }
    }

    /// Waives what is open of `charge` on `customer`'s ledger (or `amount` of it).
    async fn waive_charge(
        &self,
        e: &RecordedEvent,
        case_id: &str,
        customer: &str,
        charge: &str,
        amount: Option<Fen>,
        by: &str,
    ) -> Reaction {
        let (Ok(customer), Ok(charge)) = (CustomerId::parse(customer), uuid::Uuid::parse_str(charge)) else {
            return Reaction::Skipped(format!(
                "case {case_id}: a waiver of {charge:?} for {customer:?} names no charge"
            ));
        };
        let charge = BookingId(charge);
        let ledger = match self.ledgers.state(customer.as_str()).await {
            Ok((l, _)) => l,
            Err(err) => return retry("the ledger", err),
        };
        let Some(item) = ledger.item(&charge) else {
            return Reaction::Skipped(format!("case {case_id}: no charge {charge} on {customer}'s ledger"));
        };
        let open = item.open;
        let amount = amount.unwrap_or(open).min(open);
        if amount <= Fen::ZERO {
            return Reaction::Done;
        }
        let now = self.clock.now();
        let command = LedgerCommand {
            customer: customer.clone(),
            booking: BookingId(uuid::Uuid::new_v5(
                &BOOKING_NAMESPACE,
                format!("complaint-waiver:{case_id}:{charge}").as_bytes(),
            )),
            at: now,
            // The complaint's resolution is the supervisor's decision the waiver carries out.
            roles: vec![Role::Supervisor],
            memo: format!("waived on complaint {case_id}"),
            action: Action::Waive { charge, amount },
        };
        let actor = if by.is_empty() { "system:disputes" } else { by };
        let meta = self.meta(e, &format!("waive:{charge}"), actor, now);
        match self.ledgers.execute(customer.as_str(), &meta, &command, false).await {
            Ok(_) | Err(ExecuteError::Domain(LedgerRefused(LedgerError::DuplicateBookingId { .. }))) => Reaction::Done,
            Err(err) if transient(&err) => retry("the event log", err),
            Err(err) => Reaction::Skipped(format!("case {case_id}: the waiver of {charge}: {err}")),
        }
    }

    async fn resolved(&self, e: &RecordedEvent, r: cpb::CaseResolved) -> Reaction {
        let now = self.clock.now();
        let case = match self.recall(&r.case_id).await {
            Ok(c) => c.unwrap_or_default(),
            Err(err) => return retry("the database", err),
        };
        let ended = ViolationCommand::EndDispute {
            case_id: r.case_id.clone(),
            at: now,
        };
        if let Reaction::Retry(why) = self.violation(e, &case.0, "end", ended).await {
            return Reaction::Retry(why);
        }
        for (i, remedy) in r.remedies.iter().enumerate() {
            let Some(cpb::remedy::Remedy::Waive(w)) = &remedy.remedy else {
                continue;
            };
            let violation = if w.violation_id.is_empty() {
                case.0.clone()
            } else {
                w.violation_id.clone()
            };
            let customer = if w.customer_id.is_empty() {
                case.2.clone()
            } else {
                w.customer_id.clone()
            };
            let amount = w.amount.as_ref().map(|m| Fen(m.amount_fen.max(0)));
            // The violation's charge, if it has one by now; else the charge the case named.
            let mut charge = w.charge_booking_id.clone();
            if !violation.is_empty() {
                match self.violations.state(&violation).await {
                    Ok((v, _)) if v.record.is_some() => {
                        if let Some(booked) = v.charge_booking_id() {
                            charge = booked.to_owned();
                        } else {
                            let waive = ViolationCommand::Waive {
                                case_id: r.case_id.clone(),
                                at: now,
                                by: r.resolved_by.clone(),
                            };
                            match self.violation(e, &violation, &format!("waive:{i}"), waive).await {
                                Reaction::Done => continue,
                                other => return other,
                            }
                        }
                        if customer.is_empty() {
                            return Reaction::Skipped(format!("case {}: no customer for the waiver", r.case_id));
                        }
                    }
                    Ok(_) => {}
                    Err(err) => return retry("the event log", err),
                }
            }
            if charge.is_empty() {
                continue;
            }
            let customer = if customer.is_empty() { case.2.clone() } else { customer };
            if let reaction @ (Reaction::Retry(_) | Reaction::Skipped(_)) = self
                .waive_charge(e, &r.case_id, &customer, &charge, amount, &r.resolved_by)
                .await
            {
                return reaction;
            }
        }
        Reaction::Done
    }
}

impl React for Disputes {
    fn name(&self) -> &str {
        "receivables-disputes"
    }

    async fn handle(&self, e: &RecordedEvent) -> Reaction {
        let payload = e.payload.as_ref();
        let bad = |err: prost::DecodeError| Reaction::Skipped(format!("{} does not decode: {err}", e.name));
        let now = self.clock.now();
        match e.name.as_str() {
            "CaseOpened" => {
                let o = match cpb::CaseOpened::decode(payload) {
                    Ok(o) => o,
                    Err(err) => return bad(err),
                };
                let case = match self.remember(&o.case_id, &o.links.unwrap_or_default()).await {
                    Ok(c) => c,
                    Err(err) => return retry("the database", err),
                };
                let dispute = ViolationCommand::Dispute {
                    case_id: o.case_id,
                    at: now,
                };
                self.violation(e, &case.0, "dispute", dispute).await
            }
            "CaseReopened" => {
                let o = match cpb::CaseReopened::decode(payload) {
                    Ok(o) => o,
                    Err(err) => return bad(err),
                };
                let case = match self.recall(&o.case_id).await {
                    Ok(c) => c.unwrap_or_default(),
                    Err(err) => return retry("the database", err),
                };
                let dispute = ViolationCommand::Dispute {
                    case_id: o.case_id,
                    at: now,
                };
                self.violation(e, &case.0, "dispute", dispute).await
            }
            "CaseClosed" => {
                let o = match cpb::CaseClosed::decode(payload) {
                    Ok(o) => o,
                    Err(err) => return bad(err),
                };
                let case = match self.recall(&o.case_id).await {
                    Ok(c) => c.unwrap_or_default(),
                    Err(err) => return retry("the database", err),
                };
                let ended = ViolationCommand::EndDispute {
                    case_id: o.case_id,
                    at: now,
                };
                self.violation(e, &case.0, "end", ended).await
            }
            "CaseResolved" => match cpb::CaseResolved::decode(payload) {
                Ok(r) => self.resolved(e, r).await,
                Err(err) => bad(err),
            },
            _ => Reaction::Done,
        }
    }
}
