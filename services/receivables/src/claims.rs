//! A repair claim's confirmation and adjustment cross two aggregates: the charge is booked on
//! the customer's ledger first, under a booking id derived from the claim and how many times it
//! has been charged, and then the claim records it. A retry after a crash in between finds the
//! booking made ("booking id already used") and goes on, so nothing is charged twice.

use std::sync::Arc;

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, Executed};
use rentops_kernel::{CityCode, CustomerId, Fen, OrderId};
use rentops_kit::api::{self, DomainStatus};
use rentops_ledger::{Action, BookingId, ChargeKind, ChargeLine, LedgerCommand, LedgerError};
use rentops_runtime::invalid_argument;
use time::OffsetDateTime;
use tonic::Status;

use crate::domain::claim::{Claim, ClaimCommand, ClaimError, InvoiceLine, Liability, adjusted};
use crate::domain::ledger::LedgerRefused;
use crate::domain::{BOOKING_NAMESPACE, ClaimAggregate, LedgerAggregate, Terms};

impl DomainStatus for ClaimError {
    fn status(self) -> Status {
        let text = self.to_string();
        match self {
            ClaimError::NotFound => Status::not_found(text),
            ClaimError::AlreadyOpened(_) => Status::already_exists(text),
            ClaimError::AmountChanged { .. } => invalid_argument("expected_total", text),
            ClaimError::Overflow { .. } => Status::out_of_range(text),
            ClaimError::Confirmed | ClaimError::NotConfirmed | ClaimError::NoLines | ClaimError::NothingChanged => {
                Status::failed_precondition(text)
            }
        }
    }
}

pub struct Claims {
    pub claims: Arc<CommandHandler<ClaimAggregate>>,
    pub ledgers: Arc<CommandHandler<LedgerAggregate>>,
    pub terms: Terms,
}

fn booking_id(claim: &str, what: &str, generation: usize) -> BookingId {
    BookingId(uuid::Uuid::new_v5(
        &BOOKING_NAMESPACE,
        format!("claim:{claim}:{what}:{generation}").as_bytes(),
    ))
}

/// The charge lines of `l` (its non-zero parts).
fn charge_lines(l: &Liability) -> Vec<ChargeLine> {
    [
        (ChargeKind::Repair, l.repair),
        (ChargeKind::LossOfUse, l.loss_of_use),
        (ChargeKind::AdminFee, l.admin_fee),
    ]
    .into_iter()
    .filter(|(_, amount)| *amount > Fen::ZERO)
    .map(|(kind, amount)| ChargeLine { kind, amount })
    .collect()
}

/// The number of the claim's next charge: 0 for the confirmation, then one more per
/// adjustment (each reverses the one before).
fn generation(c: &Claim) -> usize {
    if c.charged.is_some() { 1 + c.adjustments } else { 0 }
}

impl Claims {
    async fn ledger(&self, customer: &CustomerId, meta: &CommandMeta, command: LedgerCommand) -> Result<(), Status> {
        match self.ledgers.execute(customer.as_str(), meta, &command, true).await {
            Ok(_) | Err(ExecuteError::Domain(LedgerRefused(LedgerError::DuplicateBookingId { .. }))) => Ok(()),
            Err(e) => Err(api::status(e)),
        }
    }

    fn ledger_meta(ctx: &rentops_runtime::validate::Context, what: &str, now: OffsetDateTime) -> CommandMeta {
        CommandMeta {
            request_id: format!("{}:{what}", ctx.request_id),
            fingerprint: None,
            correlation_id: ctx.correlation_id.clone(),
            causation_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
            time: now,
        }
    }

    fn charge(
        claim_id: &str,
        c: &Claim,
        l: &Liability,
        booking: BookingId,
        now: OffsetDateTime,
    ) -> Result<Option<(CustomerId, LedgerCommand)>, Status> {
        let o = c.opened.as_ref().ok_or_else(|| Status::not_found("claim not found"))?;
        let lines = charge_lines(l);
        if lines.is_empty() {
            return Ok(None);
        }
        let customer = CustomerId::parse(&o.customer_id)
            .map_err(|e| Status::failed_precondition(format!("the hire's customer: {e}")))?;
        let city =
            CityCode::parse(&o.city).map_err(|e| Status::failed_precondition(format!("the hire's city: {e}")))?;
        Ok(Some((
            customer.clone(),
            LedgerCommand {
                customer,
                booking,
                at: now,
                roles: Vec::new(),
                memo: format!("维修款 claim {claim_id}: {}", o.damage_noted),
                action: Action::Charge {
                    lines,
                    due: now.date(),
                    about: claim_id.to_owned(),
                    order: OrderId::parse(&o.order_id).ok(),
                    city,
                },
            },
        )))
    }

    /// A command the claim refuses as it stands: a retry of a request already answered is
    /// answered again (the handler knows its request id); anything else gets the refusal.
    async fn replayed(
        &self,
        claim_id: &str,
        ctx: rentops_runtime::validate::Context,
        command: ClaimCommand,
        now: OffsetDateTime,
    ) -> Result<(Executed<Claim>, String), Status> {
        let done = api::execute(&self.claims, claim_id, ctx, now, &command, false).await?;
        let booking = done
            .state
            .charged
            .as_ref()
            .map(|c| c.booking.clone())
            .unwrap_or_default();
        Ok((done, booking))
    }

    /// Confirms `claim_id` at the amount finance saw (`expected`), charging it.
    pub async fn confirm(
        &self,
        claim_id: &str,
        ctx: rentops_runtime::validate::Context,
        expected: Option<Fen>,
        now: OffsetDateTime,
    ) -> Result<(Executed<Claim>, String), Status> {
        let (state, _) = self.claims.state(claim_id).await.map_err(api::status)?;
        if state.opened.is_none() {
            return Err(Status::not_found("claim not found"));
        }
        // The domain refuses what is wrong (already confirmed, no lines, another amount) before
        // anything is booked.
        let probe = ClaimCommand::Confirm {
            expected,
            terms: self.terms,
            booking: String::new(),
            by: ctx.actor.clone(),
            at: now,
        };
        if crate::domain::claim::decide(&state, &probe).is_err() {
            return self.replayed(claim_id, ctx, probe, now).await;
        }
        let liability = state.liability(&self.terms).map_err(DomainStatus::status)?;
        let booking = booking_id(claim_id, "charge", generation(&state));
        let booked = match Self::charge(claim_id, &state, &liability, booking, now)? {
            Some((customer, command)) => {
                self.ledger(&customer, &Self::ledger_meta(&ctx, "charge", now), command)
                    .await?;
                booking.to_string()
            }
            None => String::new(),
        };
        let by = ctx.actor.clone();
        let command = ClaimCommand::Confirm {
            expected,
            terms: self.terms,
            booking: booked.clone(),
            by,
            at: now,
        };
        let done = api::execute(&self.claims, claim_id, ctx, now, &command, false).await?;
        Ok((done, booked))
    }

    /// Adjusts a confirmed claim: the standing charge is reversed and the new amount charged.
    #[allow(clippy::too_many_arguments)]
    pub async fn adjust(
        &self,
        claim_id: &str,
        ctx: rentops_runtime::validate::Context,
        lines: Option<Vec<InvoiceLine>>,
        repair_days: Option<u32>,
        recovery: Option<Fen>,
        reason: String,
        now: OffsetDateTime,
    ) -> Result<(Executed<Claim>, String), Status> {
        let (state, _) = self.claims.state(claim_id).await.map_err(api::status)?;
        let probe = ClaimCommand::Adjust {
            lines: lines.clone(),
            repair_days,
            recovery,
            terms: self.terms,
            reversal: String::new(),
            booking: String::new(),
            by: ctx.actor.clone(),
            reason: reason.clone(),
            at: now,
        };
        if crate::domain::claim::decide(&state, &probe).is_err() {
            return self.replayed(claim_id, ctx, probe, now).await;
        }
        let standing = state
            .charged
            .as_ref()
            .ok_or_else(|| ClaimError::NotConfirmed.status())?;
        let new =
            adjusted(&state, lines.as_deref(), repair_days, recovery, &self.terms).map_err(DomainStatus::status)?;
        let o = state
            .opened
            .as_ref()
            .ok_or_else(|| Status::not_found("claim not found"))?;
        let customer = CustomerId::parse(&o.customer_id)
            .map_err(|e| Status::failed_precondition(format!("the hire's customer: {e}")))?;
        let generation = generation(&state);
        let mut reversal = String::new();
        if !standing.booking.is_empty() {
            let target = BookingId(
                uuid::Uuid::parse_str(&standing.booking)
                    .map_err(|e| Status::internal(format!("stored booking id: {e}")))?,
            );
            let id = booking_id(claim_id, "reversal", generation);
            let command = LedgerCommand {
                customer: customer.clone(),
                booking: id,
                at: now,
                roles: vec![rentops_ledger::Role::Finance, rentops_ledger::Role::Supervisor],
                memo: format!("维修款调整 claim {claim_id}: {reason}"),
                action: Action::Reverse { booking: target },
            };
            self.ledger(&customer, &Self::ledger_meta(&ctx, "reversal", now), command)
                .await?;
            reversal = id.to_string();
        }
        let booking = booking_id(claim_id, "charge", generation);
        let booked = match Self::charge(claim_id, &state, &new, booking, now)? {
            Some((customer, command)) => {
                self.ledger(&customer, &Self::ledger_meta(&ctx, "charge", now), command)
                    .await?;
                booking.to_string()
            }
            None => String::new(),
        };
        let command = ClaimCommand::Adjust {
            lines,
            repair_days,
            recovery,
            terms: self.terms,
            reversal,
            booking: booked.clone(),
            by: ctx.actor.clone(),
            reason,
            at: now,
        };
        let done = api::execute(&self.claims, claim_id, ctx, now, &command, false).await?;
        Ok((done, booked))
    }
}
