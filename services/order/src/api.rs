//! The order service's gRPC API: parse → command → reply, and queries over the read model.
//! Every invalid field is answered INVALID_ARGUMENT naming it; nothing is appended then.

use std::collections::HashSet;
use std::sync::Arc;

use rentops_eventstore::{CommandHandler, Executed};
use rentops_kit::api::{self, DomainStatus};
use rentops_projection::{Checkpoints, Db};
use rentops_proto::common;
use rentops_proto::order as pb;
use rentops_runtime::auth::{Caller, Declaration, Role};
use rentops_runtime::{Clock, invalid_argument};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::codec::{self, channel_from_pb, outcome_from_pb, status_from_pb, ts, ts_opt};
use crate::domain::order::{BookingChanges, Order};
use crate::domain::*;
use crate::projections::queries::{self, HistoryRow, ListFilter, OrderRow, QueryError, QueueFilter};
use crate::validate::{OrderFields, Violations, context, page_size};

const DESK: &[Role] = &[Role::Desk, Role::Supervisor];
/// Handovers are recorded at the counter or by the fleet's staff who bring the car.
const HANDOVER: &[Role] = &[Role::Desk, Role::Supervisor, Role::Fleet];
const READ: &[Role] = &[Role::Desk, Role::Supervisor, Role::Fleet, Role::Finance, Role::Analyst];

/// Who may call each RPC of `rentops.order.v1.OrderService` when callers are authenticated.
pub const POLICY: Declaration = (
    "rentops.order.v1.OrderService",
    &[
        ("PlaceOrder", DESK),
        ("RecordContactAttempt", DESK),
        ("ConfirmOrder", DESK),
        ("ChangeOrder", DESK),
        ("CancelOrder", DESK),
        ("RecordPickup", HANDOVER),
        ("RecordSwap", HANDOVER),
        ("RecordReturn", HANDOVER),
        ("CompleteOrder", DESK),
        ("MarkNoShow", DESK),
        ("GetOrder", READ),
        ("ListOrders", READ),
        ("GetOrderHistory", READ),
        ("ListConfirmationQueue", DESK),
        ("ListLapsedOrders", DESK),
    ],
);

/// Business settings of the order service (configuration, not code).
#[derive(Debug, Clone, Default)]
pub struct OrderSettings {
    pub policy: ContactPolicy,
    /// Channel codes (`APP`, `PARTNER:CTRIP`, …) whose orders arrive verified, so they may be
    /// confirmed without a reached call.
    pub pre_verified_channels: HashSet<String>,
}

pub struct OrderApi {
    pub handler: Arc<CommandHandler<OrderAggregate>>,
    pub db: Db,
    pub checkpoints: Checkpoints,
    pub clock: Arc<dyn Clock>,
    pub settings: OrderSettings,
}

impl DomainStatus for OrderError {
    fn status(self) -> Status {
        match self {
            OrderError::NotFound => Status::not_found("order not found"),
            e @ OrderError::AlreadyPlacedDifferently(_) => Status::already_exists(e.to_string()),
            e @ (OrderError::NotReached
            | OrderError::WrongStatus { .. }
            | OrderError::PickupPassed
            | OrderError::BeforePickup { .. }) => Status::failed_precondition(e.to_string()),
            OrderError::Invalid { field, message } => invalid_argument(field, message),
            OrderError::NothingChanged => invalid_argument("order", "the change changes nothing"),
        }
    }
}

fn query_status(e: QueryError) -> Status {
    e.into()
}

impl OrderApi {
    async fn run(
        &self,
        id: Uuid,
        ctx: crate::validate::Context,
        command: OrderCommand,
        create: bool,
    ) -> Result<Executed<OrderState>, Status> {
        api::execute(&self.handler, &id.to_string(), ctx, self.clock.now(), &command, create).await
    }

    /// Read-your-writes: waits for the projection to reach `consistency.min_sequence`.
    async fn consistent(&self, c: Option<&common::Consistency>) -> Result<(), Status> {
        self.checkpoints.consistent(c).await
    }

    fn channel_key(channel: Channel, partner_code: &str) -> String {
        if channel == Channel::Partner {
            format!("PARTNER:{partner_code}")
        } else {
            channel.code().to_owned()
        }
    }
}

fn handover_pb(h: &Handover) -> pb::Handover {
    pb::Handover {
        at: Some(ts(h.at)),
        vehicle_id: h.vehicle_id.clone(),
        plate: h.plate.as_ref().map(Plate::to_string).unwrap_or_default(),
        odometer_km: h.odometer_km,
        charge_percent: h.charge_percent,
        damage_noted: h.damage_noted.clone(),
        location: h.location.as_ref().map(codec::location_pb),
        planned_vehicle_id: h.planned_vehicle_id.clone().unwrap_or_default(),
    }
}

pub fn order_pb(row: &OrderRow) -> pb::Order {
    let o: &Order = &row.order;
    let b = &o.booking;
    let on_hire = o.vehicle_on_hire();
    pb::Order {
        order_id: o.order_id.to_string(),
        status: codec::status_pb(o.status),
        channel: codec::channel_pb(b.channel),
        partner_code: b.partner_code.clone(),
        channel_order_ref: b.channel_order_ref.clone(),
        customer: Some(codec::customer_pb(&b.customer)),
        city: b.city.to_string(),
        pickup_location: Some(codec::location_pb(&b.pickup_location)),
        pickup_at: Some(ts(b.pickup_at)),
        return_location: Some(codec::location_pb(&b.return_location)),
        return_at: Some(ts(b.return_at)),
        requested_model: codec::model_pb(b.model),
        add_ons: b.add_ons.clone(),
        price: Some(codec::money(b.price)),
        rental_deposit: Some(codec::money(b.rental_deposit)),
        violation_deposit: Some(codec::money(b.violation_deposit)),
        cover_tier: rentops_proto::cover::cover_to_pb(b.cover),
        placed_at: Some(ts(o.placed_at)),
        pre_verified: o.pre_verified,
        contact_due_at: Some(ts(o.contact_due_at)),
        contact_attempts: o.contact_attempts,
        last_contact_outcome: o.last_outcome.map(codec::outcome_pb).unwrap_or_default(),
        reached: o.reached,
        contact_overdue: o.contact_overdue,
        confirmed_at: ts_opt(o.confirmed_at),
        pickup: o.pickup.as_ref().map(handover_pb),
        r#return: o.ret.as_ref().map(handover_pb),
        cancelled_by: o.cancelled_by.map(codec::cancelled_by_pb).unwrap_or_default(),
        cancel_reason: o.cancel_reason.clone(),
        notes: b.notes.clone(),
        sequence: row.sequence,
        updated_at: Some(ts(row.updated_at)),
        assigned_vehicle_id: o
            .assigned_vehicle
            .as_ref()
            .map(|v| v.vehicle_id.clone())
            .unwrap_or_default(),
        assigned_plate: o
            .assigned_vehicle
            .as_ref()
            .and_then(|v| v.plate.as_ref())
            .map(Plate::to_string)
            .unwrap_or_default(),
        assigned_model: o
            .assigned_vehicle
            .as_ref()
            .and_then(|v| v.model)
            .map(codec::model_pb)
            .unwrap_or_default(),
        upgrade: o.assigned_vehicle.as_ref().is_some_and(|v| v.upgrade),
        at_risk: o.at_risk.is_some(),
        at_risk_reason: o.at_risk.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
        at_risk_explanation: o.at_risk.as_ref().map(|r| r.explanation.clone()).unwrap_or_default(),
        vehicle_on_hire_id: on_hire.as_ref().map(|c| c.vehicle_id.clone()).unwrap_or_default(),
        plate_on_hire: on_hire.and_then(|c| c.plate).map(|p| p.to_string()).unwrap_or_default(),
        swaps: o
            .swaps
            .iter()
            .map(|s| codec::swap_pb(s, o.order_id.to_string()))
            .collect(),
    }
}

fn history_pb(h: HistoryRow) -> pb::HistoryEntry {
    pb::HistoryEntry {
        sequence: h.sequence,
        event_id: h.event_id,
        event_type: h.event_type,
        recorded_at: Some(ts(h.recorded_at)),
        actor: h.actor,
        request_id: h.request_id,
        correlation_id: h.correlation_id,
        event: Some(pb::OrderEvent {
            event: Some(codec::event_pb(&h.event, &h.order_id)),
        }),
    }
}

fn add_ons(v: &mut Violations, items: &[String]) -> Vec<String> {
    if items.len() > 20 {
        v.add("add_ons", "at most 20");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, a)| v.text(&format!("add_ons[{i}]"), a, 64, true))
        .collect()
}

#[tonic::async_trait]
impl pb::order_service_server::OrderService for OrderApi {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let channel = v.enum_value("channel", "channel", r.channel, channel_from_pb(r.channel));
        let partner_code = if channel == Some(Channel::Partner) {
            v.code("partner_code", &r.partner_code, 32)
        } else {
            if !r.partner_code.trim().is_empty() {
                v.add("partner_code", "only for channel CHANNEL_PARTNER");
            }
            String::new()
        };
        let channel_order_ref = v.text("channel_order_ref", &r.channel_order_ref, 64, true);
        let c = r.customer.clone().unwrap_or_default();
        if r.customer.is_none() {
            v.add("customer", "required");
        }
        let customer = Customer {
            customer_id: v.text("customer.customer_id", &c.customer_id, 64, true),
            name: v.text("customer.name", &c.name, 100, true),
            phone: v.phone("customer.phone", &c.phone),
        };
        let city = v.city("city", &r.city);
        let pickup_location = v.location("pickup_location", r.pickup_location.as_ref(), true);
        let return_location = v.location("return_location", r.return_location.as_ref(), true);
        let pickup_at = v.required_time("pickup_at", r.pickup_at.as_ref());
        let return_at = v.required_time("return_at", r.return_at.as_ref());
        if r.pickup_at.is_some() && r.return_at.is_some() && v.is_empty() {
            if return_at <= pickup_at {
                v.add("return_at", "must be after pickup_at");
            } else if return_at - pickup_at > time::Duration::days(90) {
                v.add("return_at", "a rental lasts at most 90 days");
            }
        }
        let requested_model = v.model("requested_model", r.requested_model, true);
        let add_ons = add_ons(&mut v, &r.add_ons);
        let price = v.money("price", r.price.as_ref(), true);
        let rental_deposit = v
            .money("rental_deposit", r.rental_deposit.as_ref(), false)
            .unwrap_or_default();
        let violation_deposit = v
            .money("violation_deposit", r.violation_deposit.as_ref(), false)
            .unwrap_or_default();
        let notes = v.text("notes", &r.notes, 2000, false);
        let cover = rentops_proto::cover::cover_from_pb(r.cover_tier);
        if cover.is_none() {
            v.add("cover_tier", format!("unknown cover tier {}", r.cover_tier));
        }
        let now = self.clock.now();
        let placed_at = v.happened("placed_at", r.placed_at.as_ref(), now);
        let (Some(channel), Some(city), Some(pickup_location), Some(return_location), Some(model), Some(price)) =
            (channel, city, pickup_location, return_location, requested_model, price)
        else {
            // Each missing piece has added its violation: this returns them all.
            v.finish(())?;
            return Err(Status::invalid_argument("invalid request"));
        };
        let booking = Booking {
            channel,
            partner_code: partner_code.clone(),
            channel_order_ref: channel_order_ref.clone(),
            customer,
            city,
            pickup_location,
            pickup_at,
            return_location,
            return_at,
            model,
            add_ons,
            price,
            rental_deposit,
            violation_deposit,
            notes,
            cover: cover.unwrap_or_default(),
        };
        v.finish(())?;
        let order_id = order_id_for(channel, &partner_code, &channel_order_ref);
        let pre_verified = self
            .settings
            .pre_verified_channels
            .contains(&Self::channel_key(channel, &partner_code));
        let command = OrderCommand::Place {
            order_id,
            booking,
            placed_at,
            pre_verified,
            policy: self.settings.policy,
        };
        let done = self.run(order_id, ctx, command, true).await?;
        Ok(Response::new(pb::PlaceOrderResponse {
            order_id: order_id.to_string(),
            sequence: done.sequence,
            // A retry is answered as the first call was: created if that call created it.
            created: done.events_appended > 0,
        }))
    }

    async fn record_contact_attempt(
        &self,
        request: Request<pb::RecordContactAttemptRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let outcome = v.enum_value("outcome", "outcome", r.outcome, outcome_from_pb(r.outcome));
        let notes = v.text("notes", &r.notes, 2000, false);
        let call_back_at = v.time("call_back_at", r.call_back_at.as_ref());
        if outcome == Some(ContactOutcome::CallBackLater) && r.call_back_at.is_none() {
            v.add("call_back_at", "required when the outcome is CALL_BACK_LATER");
        }
        let now = self.clock.now();
        let at = v.happened("attempted_at", r.attempted_at.as_ref(), now);
        let outcome = v
            .finish(outcome)?
            .ok_or_else(|| invalid_argument("outcome", "required"))?;
        let agent = ctx.actor.clone();
        let command = OrderCommand::RecordContactAttempt {
            at,
            outcome,
            agent,
            notes,
            call_back_at,
            policy: self.settings.policy,
        };
        let done = self.run(id, ctx, command, false).await?;
        Ok(Response::new(api::command_result(&done)))
    }

    async fn confirm_order(
        &self,
        request: Request<pb::ConfirmOrderRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let notes = v.text("notes", &r.notes, 2000, false);
        v.finish(())?;
        let command = OrderCommand::Confirm {
            at: self.clock.now(),
            notes,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, command, false).await?,
        )))
    }

    async fn change_order(
        &self,
        request: Request<pb::ChangeOrderRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let changes = BookingChanges {
            pickup_location: v.location("pickup_location", r.pickup_location.as_ref(), false),
            pickup_at: v.time("pickup_at", r.pickup_at.as_ref()),
            return_location: v.location("return_location", r.return_location.as_ref(), false),
            return_at: v.time("return_at", r.return_at.as_ref()),
            model: v.model("requested_model", r.requested_model, false),
            add_ons: if r.replace_add_ons {
                Some(add_ons(&mut v, &r.add_ons))
            } else {
                if !r.add_ons.is_empty() {
                    v.add("add_ons", "set replace_add_ons to replace the add-ons");
                }
                None
            },
            price: v.money("price", r.price.as_ref(), false),
        };
        if let (Some(p), Some(ret)) = (changes.pickup_at, changes.return_at)
            && ret <= p
        {
            v.add("return_at", "must be after pickup_at");
        }
        let reason = v.text("reason", &r.reason, 500, false);
        if changes.field_names().is_empty() && v.is_empty() {
            v.add("order", "nothing to change: set at least one field");
        }
        v.finish(())?;
        let command = OrderCommand::Change {
            at: self.clock.now(),
            changes,
            reason,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, command, false).await?,
        )))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let by = v.enum_value(
            "cancelled_by",
            "value",
            r.cancelled_by,
            codec::cancelled_by_from_pb(r.cancelled_by),
        );
        let reason = v.text("reason", &r.reason, 500, true);
        let by = v
            .finish(by)?
            .ok_or_else(|| invalid_argument("cancelled_by", "required"))?;
        let command = OrderCommand::Cancel {
            at: self.clock.now(),
            by,
            reason,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, command, false).await?,
        )))
    }

    async fn record_pickup(
        &self,
        request: Request<pb::RecordPickupRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let vehicle_id = v.text("vehicle_id", &r.vehicle_id, 64, true);
        let plate = v.plate("plate", &r.plate);
        check_reading(&mut v, r.odometer_km, r.charge_percent);
        let damage_noted = v.text("damage_noted", &r.damage_noted, 2000, false);
        let now = self.clock.now();
        let at = v.happened("picked_up_at", r.picked_up_at.as_ref(), now);
        v.finish(())?;
        let h = Handover {
            at,
            vehicle_id,
            // Parsed above: an unparsable plate has already been answered as invalid.
            plate,
            odometer_km: r.odometer_km,
            charge_percent: r.charge_percent,
            damage_noted,
            location: None,
            planned_vehicle_id: None,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, OrderCommand::RecordPickup(h), false).await?,
        )))
    }

    async fn record_swap(
        &self,
        request: Request<pb::RecordSwapRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let location = v.location("location", r.location.as_ref(), false);
        let from_vehicle_id = v.text("from_vehicle_id", &r.from_vehicle_id, 64, false);
        check_reading_fields(
            &mut v,
            ("from_odometer_km", r.from_odometer_km),
            ("from_charge_percent", r.from_charge_percent),
        );
        let vehicle_id = v.text("vehicle_id", &r.vehicle_id, 64, true);
        let plate = v.plate("plate", &r.plate);
        check_reading(&mut v, r.odometer_km, r.charge_percent);
        let reason = v.text("reason", &r.reason, 200, false);
        let notes = v.text("notes", &r.notes, 2000, false);
        let now = self.clock.now();
        let at = v.happened("swapped_at", r.swapped_at.as_ref(), now);
        v.finish(())?;
        let swap = Swap {
            at,
            location,
            broken: SwapReading {
                vehicle_id: from_vehicle_id,
                // The order knows the plate of the car on hire.
                plate: None,
                odometer_km: r.from_odometer_km,
                charge_percent: r.from_charge_percent,
            },
            replacement: SwapReading {
                vehicle_id,
                plate,
                odometer_km: r.odometer_km,
                charge_percent: r.charge_percent,
            },
            reason: if reason.is_empty() {
                "breakdown".to_owned()
            } else {
                reason
            },
            notes,
            recorded_by: ctx.actor.clone(),
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, OrderCommand::RecordSwap(swap), false).await?,
        )))
    }

    async fn record_return(
        &self,
        request: Request<pb::RecordReturnRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let location = v.location("return_location", r.return_location.as_ref(), false);
        check_reading(&mut v, r.odometer_km, r.charge_percent);
        let damage_noted = v.text("damage_noted", &r.damage_noted, 2000, false);
        let now = self.clock.now();
        let at = v.happened("returned_at", r.returned_at.as_ref(), now);
        v.finish(())?;
        let h = Handover {
            at,
            vehicle_id: String::new(),
            plate: None,
            odometer_km: r.odometer_km,
            charge_percent: r.charge_percent,
            damage_noted,
            location,
            planned_vehicle_id: None,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, OrderCommand::RecordReturn(h), false).await?,
        )))
    }

    async fn complete_order(
        &self,
        request: Request<pb::CompleteOrderRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        v.finish(())?;
        Ok(Response::new(api::command_result(
            &self
                .run(id, ctx, OrderCommand::Complete { at: self.clock.now() }, false)
                .await?,
        )))
    }

    async fn mark_no_show(
        &self,
        request: Request<pb::MarkNoShowRequest>,
    ) -> Result<Response<common::CommandResult>, Status> {
        let caller = Caller::of(&request);
        let r = request.into_inner();
        let mut v = Violations::default();
        let ctx = context(&mut v, &r, caller.as_ref());
        let id = v.order_id(&r.order_id);
        let notes = v.text("notes", &r.notes, 2000, false);
        v.finish(())?;
        let command = OrderCommand::MarkNoShow {
            at: self.clock.now(),
            notes,
        };
        Ok(Response::new(api::command_result(
            &self.run(id, ctx, command, false).await?,
        )))
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Result<Response<pb::GetOrderResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.order_id(&r.order_id);
        let as_of = v.time("as_of", r.as_of.as_ref());
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let row = match as_of {
            Some(t) => queries::get_as_of(&self.db, &id.to_string(), t).await,
            None => queries::get(&self.db, &id.to_string()).await,
        }
        .map_err(query_status)?
        .ok_or_else(|| Status::not_found(format!("order {id} not found")))?;
        Ok(Response::new(pb::GetOrderResponse {
            order: Some(order_pb(&row)),
        }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let mut statuses = Vec::new();
        for (i, s) in r.statuses.iter().enumerate() {
            match status_from_pb(*s) {
                Some(s) => statuses.push(s),
                None => v.add(format!("statuses[{i}]"), format!("unknown status {s}")),
            }
        }
        let city = (!r.city.trim().is_empty())
            .then(|| v.city("city", &r.city))
            .flatten()
            .map(String::from);
        let channel = match r.channel {
            0 => None,
            c => {
                let ch = channel_from_pb(c);
                if ch.is_none() {
                    v.add("channel", format!("unknown channel {c}"));
                }
                ch
            }
        };
        let customer_id = (!r.customer_id.trim().is_empty()).then(|| v.text("customer_id", &r.customer_id, 64, true));
        let pickup_from = v.time("pickup_from", r.pickup_from.as_ref());
        let pickup_to = v.time("pickup_to", r.pickup_to.as_ref());
        if let (Some(a), Some(b)) = (pickup_from, pickup_to)
            && b <= a
        {
            v.add("pickup_to", "must be after pickup_from");
        }
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !queries::check_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let filter = ListFilter {
            statuses,
            city,
            channel,
            customer_id,
            pickup_from,
            pickup_to,
            at_risk_only: r.at_risk_only,
        };
        let (rows, next) = queries::list(&self.db, &filter, size, &token)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: rows.iter().map(order_pb).collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn get_order_history(
        &self,
        request: Request<pb::GetOrderHistoryRequest>,
    ) -> Result<Response<pb::GetOrderHistoryResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.order_id(&r.order_id);
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let rows = queries::history(&self.db, &id.to_string())
            .await
            .map_err(query_status)?;
        if rows.is_empty() {
            return Err(Status::not_found(format!("order {id} not found")));
        }
        Ok(Response::new(pb::GetOrderHistoryResponse {
            entries: rows.into_iter().map(history_pb).collect(),
        }))
    }

    async fn list_confirmation_queue(
        &self,
        request: Request<pb::ListConfirmationQueueRequest>,
    ) -> Result<Response<pb::ListConfirmationQueueResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = (!r.city.trim().is_empty())
            .then(|| v.city("city", &r.city))
            .flatten()
            .map(String::from);
        let due_before = v.time("due_before", r.due_before.as_ref());
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !queries::check_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let filter = QueueFilter {
            city,
            due_before,
            overdue_only: r.overdue_only,
        };
        let (rows, next) = queries::confirmation_queue(&self.db, &filter, self.clock.now(), size, &token)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListConfirmationQueueResponse {
            entries: rows.iter().map(queue_entry).collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }

    async fn list_lapsed_orders(
        &self,
        request: Request<pb::ListLapsedOrdersRequest>,
    ) -> Result<Response<pb::ListLapsedOrdersResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let city = (!r.city.trim().is_empty())
            .then(|| v.city("city", &r.city))
            .flatten()
            .map(String::from);
        let size = page_size(&mut v, r.page.as_ref());
        let token = r.page.as_ref().map(|p| p.page_token.clone()).unwrap_or_default();
        if !queries::check_page_token(&token) {
            v.add("page.page_token", "not a token this service issued");
        }
        v.finish(())?;
        self.consistent(r.consistency.as_ref()).await?;
        let (rows, next) = queries::lapsed(&self.db, city.as_deref(), self.clock.now(), size, &token)
            .await
            .map_err(query_status)?;
        Ok(Response::new(pb::ListLapsedOrdersResponse {
            entries: rows.iter().map(queue_entry).collect(),
            page: Some(common::PageResponse { next_page_token: next }),
        }))
    }
}

/// An order waiting for confirmation (or lapsed without it), as the desk's lists show it.
fn queue_entry(row: &OrderRow) -> pb::ConfirmationQueueEntry {
    let o = &row.order;
    pb::ConfirmationQueueEntry {
        order_id: o.order_id.to_string(),
        city: o.booking.city.to_string(),
        customer: Some(codec::customer_pb(&o.booking.customer)),
        pickup_at: Some(ts(o.booking.pickup_at)),
        contact_due_at: Some(ts(o.contact_due_at)),
        next_contact_at: ts_opt(o.next_contact_at),
        attempts: o.contact_attempts,
        last_outcome: o.last_outcome.map(codec::outcome_pb).unwrap_or_default(),
        reached: o.reached,
        overdue: o.contact_overdue,
        requested_model: codec::model_pb(o.booking.model),
    }
}

fn check_reading(v: &mut Violations, odometer_km: i64, charge_percent: u32) {
    check_reading_fields(v, ("odometer_km", odometer_km), ("charge_percent", charge_percent));
}

/// An odometer and a charge reading, under the names of their fields.
fn check_reading_fields(
    v: &mut Violations,
    (odometer_field, odometer_km): (&'static str, i64),
    (charge_field, charge_percent): (&'static str, u32),
) {
    if !(0..=2_000_000).contains(&odometer_km) {
        v.add(odometer_field, "between 0 and 2,000,000 km");
    }
    if charge_percent > 100 {
        v.add(charge_field, "between 0 and 100");
    }
}
