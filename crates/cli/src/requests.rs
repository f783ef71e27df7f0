//! Parsed flags → the order service's request messages. Pure functions, so what each flag
//! puts on the wire is tested without a server.

use rentops_proto::common::{CommandContext, Consistency, Money, PageRequest};
use rentops_proto::order::{self, Customer, Location, location::Place};

use crate::args::{
    CallArgs, CancelArgs, ChangeArgs, CompleteArgs, ConfirmArgs, ConsistencyArgs, GetArgs, HistoryArgs, LapsedArgs,
    ListArgs, NoShowArgs, PageArgs, PickupArgs, PlaceArgs, QueueArgs, ReturnArgs, SwapArgs,
};
use crate::format::timestamp;

/// rentops books in CNY: every amount typed in fen is CNY.
const CURRENCY: &str = "CNY";

/// Who sends this invocation's command, and the key that makes a retry of it harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub request_id: String,
    pub actor: String,
}

impl Context {
    /// The context of this invocation: the given request id or a fresh UUID v4 (printed, so the
    /// same command can be retried with it); the given actor, else the login name, else "cli".
    pub fn new(request_id: Option<String>, actor: Option<String>, login: Option<String>) -> Self {
        Self {
            request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            actor: actor
                .or(login.filter(|l| !l.trim().is_empty()))
                .unwrap_or_else(|| "cli".to_owned()),
        }
    }

    pub(crate) fn proto(&self) -> Option<CommandContext> {
        Some(CommandContext {
            request_id: self.request_id.clone(),
            actor: self.actor.clone(),
            // Empty: the service defaults it to the request id; the CLI starts no wider flow.
            correlation_id: String::new(),
        })
    }
}

fn money(fen: Option<i64>) -> Option<Money> {
    fen.map(|amount_fen| Money {
        amount_fen,
        currency: CURRENCY.to_owned(),
    })
}

/// A station or an address (clap lets at most one through).
fn location(station: Option<&String>, address: Option<&String>) -> Option<Location> {
    let place = match (station, address) {
        (Some(s), _) => Place::StationId(s.clone()),
        (None, Some(a)) => Place::Address(a.clone()),
        (None, None) => return None,
    };
    Some(Location { place: Some(place) })
}

fn text(s: Option<&String>) -> String {
    s.cloned().unwrap_or_default()
}

fn consistency(c: &ConsistencyArgs) -> Option<Consistency> {
    // timeout_ms 0: the service's own default wait (2 s).
    c.min_sequence.map(|min_sequence| Consistency {
        min_sequence,
        timeout_ms: 0,
    })
}

/// The page to ask for: `page_token` is the flag's on the first call, then the previous
/// page's `next_page_token` when following pages.
fn page(p: &PageArgs, page_token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: p.page_size.unwrap_or(0),
        page_token: page_token.to_owned(),
    })
}

pub fn place(a: &PlaceArgs, ctx: &Context) -> order::PlaceOrderRequest {
    order::PlaceOrderRequest {
        context: ctx.proto(),
        channel: a.channel.proto() as i32,
        partner_code: text(a.partner_code.as_ref()),
        channel_order_ref: a.channel_order_ref.clone(),
        customer: Some(Customer {
            customer_id: a.customer_id.clone(),
            name: a.customer_name.clone(),
            phone: a.phone.clone(),
        }),
        city: a.city.clone(),
        pickup_location: location(a.pickup_station.as_ref(), a.pickup_address.as_ref()),
        pickup_at: Some(timestamp(a.pickup_at)),
        return_location: location(a.return_station.as_ref(), a.return_address.as_ref()),
        return_at: Some(timestamp(a.return_at)),
        requested_model: a.model.proto() as i32,
        add_ons: a.add_ons.clone(),
        price: money(Some(a.price_fen)),
        rental_deposit: money(a.rental_deposit_fen),
        violation_deposit: money(a.violation_deposit_fen),
        notes: text(a.notes.as_ref()),
        placed_at: a.placed_at.map(timestamp),
        cover_tier: a.cover.proto() as i32,
    }
}

pub fn call(a: &CallArgs, ctx: &Context) -> order::RecordContactAttemptRequest {
    order::RecordContactAttemptRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        outcome: a.outcome.proto() as i32,
        notes: text(a.notes.as_ref()),
        call_back_at: a.call_back_at.map(timestamp),
        attempted_at: a.at.map(timestamp),
    }
}

pub fn confirm(a: &ConfirmArgs, ctx: &Context) -> order::ConfirmOrderRequest {
    order::ConfirmOrderRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        notes: text(a.notes.as_ref()),
    }
}

pub fn change(a: &ChangeArgs, ctx: &Context) -> order::ChangeOrderRequest {
    order::ChangeOrderRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        pickup_location: location(a.pickup_station.as_ref(), a.pickup_address.as_ref()),
        pickup_at: a.pickup_at.map(timestamp),
        return_location: location(a.return_station.as_ref(), a.return_address.as_ref()),
        return_at: a.return_at.map(timestamp),
        // 0 (unspecified): the model does not change.
        requested_model: a.model.map_or(0, |m| m.proto() as i32),
        add_ons: a.add_ons.clone(),
        replace_add_ons: a.replace_add_ons,
        price: money(a.price_fen),
        reason: text(a.reason.as_ref()),
    }
}

pub fn cancel(a: &CancelArgs, ctx: &Context) -> order::CancelOrderRequest {
    order::CancelOrderRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        cancelled_by: a.cancelled_by.proto() as i32,
        reason: a.reason.clone(),
    }
}

pub fn pickup(a: &PickupArgs, ctx: &Context) -> order::RecordPickupRequest {
    order::RecordPickupRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        vehicle_id: a.vehicle_id.clone(),
        plate: a.plate.clone(),
        odometer_km: a.odometer_km,
        charge_percent: a.charge_percent,
        damage_noted: text(a.damage.as_ref()),
        picked_up_at: a.at.map(timestamp),
    }
}

pub fn swap(a: &SwapArgs, ctx: &Context) -> order::RecordSwapRequest {
    order::RecordSwapRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        swapped_at: a.at.map(timestamp),
        location: location(a.station.as_ref(), a.address.as_ref()),
        from_vehicle_id: text(a.from_vehicle_id.as_ref()),
        from_odometer_km: a.from_odometer_km,
        from_charge_percent: a.from_charge_percent,
        vehicle_id: a.vehicle_id.clone(),
        plate: a.plate.clone(),
        odometer_km: a.odometer_km,
        charge_percent: a.charge_percent,
        reason: text(a.reason.as_ref()),
        notes: text(a.notes.as_ref()),
    }
}

pub fn return_(a: &ReturnArgs, ctx: &Context) -> order::RecordReturnRequest {
    order::RecordReturnRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        return_location: location(a.station.as_ref(), a.address.as_ref()),
        odometer_km: a.odometer_km,
        charge_percent: a.charge_percent,
        damage_noted: text(a.damage.as_ref()),
        returned_at: a.at.map(timestamp),
    }
}

pub fn complete(a: &CompleteArgs, ctx: &Context) -> order::CompleteOrderRequest {
    order::CompleteOrderRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
    }
}

pub fn no_show(a: &NoShowArgs, ctx: &Context) -> order::MarkNoShowRequest {
    order::MarkNoShowRequest {
        context: ctx.proto(),
        order_id: a.order_id.clone(),
        notes: text(a.notes.as_ref()),
    }
}

pub fn get(a: &GetArgs) -> order::GetOrderRequest {
    order::GetOrderRequest {
        order_id: a.order_id.clone(),
        as_of: a.as_of.map(timestamp),
        consistency: consistency(&a.consistency),
    }
}

pub fn list(a: &ListArgs, page_token: &str) -> order::ListOrdersRequest {
    order::ListOrdersRequest {
        statuses: a.statuses.iter().map(|s| s.proto() as i32).collect(),
        city: text(a.city.as_ref()),
        channel: a.channel.map_or(0, |c| c.proto() as i32),
        pickup_from: a.pickup_from.map(timestamp),
        pickup_to: a.pickup_to.map(timestamp),
        page: page(&a.page, page_token),
        consistency: consistency(&a.consistency),
        customer_id: text(a.customer_id.as_ref()),
        at_risk_only: a.at_risk,
    }
}

pub fn history(a: &HistoryArgs) -> order::GetOrderHistoryRequest {
    order::GetOrderHistoryRequest {
        order_id: a.order_id.clone(),
        consistency: consistency(&a.consistency),
    }
}

pub fn queue(a: &QueueArgs, page_token: &str) -> order::ListConfirmationQueueRequest {
    order::ListConfirmationQueueRequest {
        city: text(a.city.as_ref()),
        due_before: a.due_before.map(timestamp),
        overdue_only: a.overdue_only,
        page: page(&a.page, page_token),
        consistency: consistency(&a.consistency),
    }
}

pub fn lapsed(a: &LapsedArgs, page_token: &str) -> order::ListLapsedOrdersRequest {
    order::ListLapsedOrdersRequest {
        city: text(a.city.as_ref()),
        page: page(&a.page, page_token),
        consistency: consistency(&a.consistency),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, OrderCommand};
    use clap::Parser;
    use prost_types::Timestamp;
    use rentops_proto::common::VehicleModel;

    /// Parses `rentops order <line> <extra...>`; `extra` holds values with spaces in them.
    fn cmd_with(line: &str, extra: &[&str]) -> OrderCommand {
        let argv = ["rentops", "order"]
            .into_iter()
            .chain(line.split_whitespace())
            .chain(extra.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Order(c),
                ..
            }) => c,
            Ok(other) => panic!("parsed as {:?}", other.command),
            Err(e) => panic!("{e}"),
        }
    }

    fn cmd(line: &str) -> OrderCommand {
        cmd_with(line, &[])
    }

    fn ctx() -> Context {
        Context {
            request_id: "req-1".into(),
            actor: "li".into(),
        }
    }

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    fn station(s: &str) -> Option<Location> {
        Some(Location {
            place: Some(Place::StationId(s.into())),
        })
    }

    #[test]
    fn place_puts_every_flag_in_its_field() {
        let line = "place --channel partner --partner-code CTRIP --ref CT-998 --customer-id C1 --customer-name 王小明 \
                    --phone 13800000000 --city SHA --pickup-station SHA-PVG --pickup-at 2026-12-01T10:00:00+08:00 \
                    --return-at 2026-12-03T10:00:00+08:00 --model ES6 --add-on child-seat --price-fen 45000 \
                    --rental-deposit-fen 300000 --violation-deposit-fen 200000 --placed-at 2026-11-20T09:00:00+08:00";
        let extra = [
            "--return-address",
            "世纪大道 1号",
            "--notes",
            "late flight",
            "--cover",
            "full",
        ];
        let OrderCommand::Place(a) = cmd_with(line, &extra) else {
            panic!("not place")
        };
        let cny = |amount_fen| {
            Some(Money {
                amount_fen,
                currency: "CNY".into(),
            })
        };
        assert_eq!(
            place(&a, &ctx()),
            order::PlaceOrderRequest {
                context: Some(CommandContext {
                    request_id: "req-1".into(),
                    actor: "li".into(),
                    correlation_id: String::new()
                }),
                channel: order::Channel::Partner as i32,
                partner_code: "CTRIP".into(),
                channel_order_ref: "CT-998".into(),
                customer: Some(Customer {
                    customer_id: "C1".into(),
                    name: "王小明".into(),
                    phone: "13800000000".into()
                }),
                city: "SHA".into(),
                pickup_location: station("SHA-PVG"),
                pickup_at: at(1_796_090_400),
                return_location: Some(Location {
                    place: Some(Place::Address("世纪大道 1号".into()))
                }),
                return_at: at(1_796_090_400 + 2 * 86_400),
                requested_model: VehicleModel::Es6 as i32,
                add_ons: vec!["child-seat".into()],
                price: cny(45000),
                rental_deposit: cny(300_000),
                violation_deposit: cny(200_000),
                notes: "late flight".into(),
                placed_at: at(1_795_136_400),
                cover_tier: rentops_proto::common::CoverTier::Full as i32,
            }
        );
    }

    #[test]
    fn place_leaves_unset_optional_fields_empty() {
        let line = "place --channel web --ref W-1 --customer-id C1 --customer-name Li --phone 138 --city SHA \
                    --pickup-address A --pickup-at 2026-12-01T10:00:00+08:00 --return-station B \
                    --return-at 2026-12-02T10:00:00+08:00 --model ET5 --price-fen 0";
        let OrderCommand::Place(a) = cmd(line) else {
            panic!("not place")
        };
        let r = place(&a, &ctx());
        assert_eq!(
            r.pickup_location,
            Some(Location {
                place: Some(Place::Address("A".into()))
            })
        );
        assert_eq!(
            (r.return_location, r.placed_at, r.partner_code.as_str()),
            (station("B"), None, "")
        );
        assert_eq!(
            (r.rental_deposit, r.violation_deposit, r.notes.as_str()),
            (None, None, "")
        );
        assert_eq!(
            r.price,
            Some(Money {
                amount_fen: 0,
                currency: "CNY".into()
            })
        );
    }

    #[test]
    fn call_sends_outcome_and_times() {
        let OrderCommand::Call(a) = cmd("call o-1 --outcome call-back-later --call-back-at 2026-12-01T08:00:00+08:00")
        else {
            panic!("not call")
        };
        let r = call(&a, &ctx());
        assert_eq!(r.outcome, order::ContactOutcome::CallBackLater as i32);
        assert_eq!(
            (r.call_back_at, r.attempted_at, r.order_id.as_str()),
            (at(1_796_083_200), None, "o-1")
        );
        assert_eq!(r.context.map(|c| c.request_id), Some("req-1".into()));
    }

    #[test]
    fn change_sets_only_what_changes() {
        let OrderCommand::Change(a) = cmd_with("change o-1 --pickup-station SHA-HQ --reason", &["flight moved"]) else {
            panic!("not change")
        };
        let r = change(&a, &ctx());
        assert_eq!(
            (r.pickup_location, r.pickup_at, r.return_location),
            (station("SHA-HQ"), None, None)
        );
        assert_eq!((r.requested_model, r.price, r.replace_add_ons), (0, None, false));
        assert_eq!(r.reason, "flight moved");

        let OrderCommand::Change(a) = cmd("change o-1 --replace-add-ons --add-on wifi --model ES8") else {
            panic!("not change")
        };
        let r = change(&a, &ctx());
        assert_eq!((r.add_ons, r.replace_add_ons), (vec!["wifi".to_owned()], true));
        assert_eq!(r.requested_model, VehicleModel::Es8 as i32);
    }

    #[test]
    fn handover_requests_carry_the_readings() {
        let line = "pickup o-1 --vehicle-id V1 --plate 沪A·D12345 --odometer-km 12000 --charge-percent 90 \
                    --at 2026-12-01T10:05:00+08:00";
        let OrderCommand::Pickup(a) = cmd(line) else {
            panic!("not pickup")
        };
        let r = pickup(&a, &ctx());
        assert_eq!(
            (r.odometer_km, r.charge_percent, r.damage_noted.as_str()),
            (12000, 90, "")
        );
        assert_eq!(r.picked_up_at, at(1_796_090_700));

        let OrderCommand::Return(a) = cmd("return o-1 --odometer-km 12400 --charge-percent 35") else {
            panic!("not return")
        };
        let r = return_(&a, &ctx());
        assert_eq!((r.return_location, r.returned_at, r.odometer_km), (None, None, 12400));
    }

    #[test]
    fn cancel_and_the_short_commands() {
        let OrderCommand::Cancel(a) = cmd_with("cancel o-1 --by customer --reason", &["plans changed"]) else {
            panic!("not cancel")
        };
        let r = cancel(&a, &ctx());
        assert_eq!(
            (r.cancelled_by, r.reason.as_str()),
            (order::CancelledBy::Customer as i32, "plans changed")
        );
        let OrderCommand::NoShow(a) = cmd_with("no-show o-1 --notes", &["waited 1 h"]) else {
            panic!()
        };
        assert_eq!(no_show(&a, &ctx()).notes, "waited 1 h");
        let OrderCommand::Complete(a) = cmd("complete o-1") else {
            panic!()
        };
        assert_eq!(complete(&a, &ctx()).order_id, "o-1");
        let OrderCommand::Confirm(a) = cmd("confirm o-1") else {
            panic!()
        };
        assert_eq!(confirm(&a, &ctx()).notes, "");
    }

    #[test]
    fn queries_carry_filters_paging_and_consistency() {
        let line = "list --status placed,confirmed --channel call-center --pickup-to 2026-12-01T08:00:00+08:00 \
                    --page-size 20 --page-token abc --min-sequence 9";
        let OrderCommand::List(a) = cmd(line) else {
            panic!("not list")
        };
        let r = list(&a, "abc");
        assert_eq!(
            r.statuses,
            [order::OrderStatus::Placed as i32, order::OrderStatus::Confirmed as i32]
        );
        assert_eq!(
            (r.channel, r.pickup_from, r.pickup_to),
            (order::Channel::CallCenter as i32, None, at(1_796_083_200))
        );
        assert_eq!(
            r.page,
            Some(PageRequest {
                page_size: 20,
                page_token: "abc".into()
            })
        );
        assert_eq!(
            r.consistency,
            Some(Consistency {
                min_sequence: 9,
                timeout_ms: 0
            })
        );

        let OrderCommand::List(a) = cmd("list --at-risk --city SHA") else {
            panic!("not list")
        };
        let r = list(&a, "");
        assert!(r.at_risk_only && r.city == "SHA");
        let OrderCommand::List(a) = cmd("list") else {
            panic!("not list")
        };
        assert!(!list(&a, "").at_risk_only);

        let OrderCommand::Queue(a) = cmd("queue --overdue-only") else {
            panic!("not queue")
        };
        let r = queue(&a, "");
        assert!(r.overdue_only && r.consistency.is_none() && r.due_before.is_none());
        assert_eq!(
            r.page,
            Some(PageRequest {
                page_size: 0,
                page_token: String::new()
            })
        );

        let OrderCommand::Get(a) = cmd("get o-1 --as-of 2026-12-01T08:00:00+08:00") else {
            panic!()
        };
        assert_eq!((get(&a).as_of, get(&a).consistency), (at(1_796_083_200), None));
        let OrderCommand::History(a) = cmd("history o-1 --min-sequence 3") else {
            panic!()
        };
        assert_eq!(history(&a).consistency.map(|c| c.min_sequence), Some(3));
    }

    #[test]
    fn the_context_defaults_to_a_fresh_id_and_the_login() {
        let a = Context::new(None, None, Some("wang".into()));
        let b = Context::new(None, None, None);
        assert_eq!((a.actor.as_str(), b.actor.as_str()), ("wang", "cli"));
        assert!(uuid::Uuid::parse_str(&a.request_id).is_ok());
        assert_ne!(a.request_id, b.request_id);
        let c = Context::new(Some("req-9".into()), Some("li".into()), Some("wang".into()));
        assert_eq!(
            c,
            Context {
                request_id: "req-9".into(),
                actor: "li".into()
            }
        );
        assert_eq!(Context::new(None, None, Some(" ".into())).actor, "cli");
    }
}
