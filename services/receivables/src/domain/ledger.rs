//! The customers' ledger as this service's aggregate: the rules are `rentops-ledger`'s
//! (double entry, open items, holds, references once, reversals once); this adds its place in
//! the event log (`ledger`, one per customer, snapshotted: a customer's ledger lives for years)
//! and the mapping of its one event to `LedgerBooked`.

use prost::Message;
use rentops_kernel::{
    Aggregate, CityCode, CustomerId, DecodeError, EventCodec, OrderId, Snapshot, SnapshotError, SnapshotFormat,
};
use rentops_ledger::{
    Account, Booking, BookingId, BookingKind, Ledger, LedgerCommand, LedgerError, LedgerEvent, Match, Posting,
    Settlement, Side,
};
use rentops_proto::receivables as pb;
use rentops_proto::timestamp::{event_time, to_timestamp};
use time::Date;
use uuid::Uuid;

use super::codec::amount;

pub struct LedgerAggregate;

/// A ledger rule the command broke (the ledger crate's error, as this service's domain error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct LedgerRefused(pub LedgerError);

impl Aggregate for LedgerAggregate {
    const TYPE: &'static str = "ledger";
    type State = Ledger;
    type Command = LedgerCommand;
    type Event = LedgerEvent;
    type Error = LedgerRefused;
    const SNAPSHOT: Option<SnapshotFormat<Ledger>> = Some(SnapshotFormat::of::<Self>());

    fn decide(state: &Ledger, command: &LedgerCommand) -> Result<Vec<LedgerEvent>, LedgerRefused> {
        rentops_ledger::decide(state, command).map_err(LedgerRefused)
    }

    fn evolve(state: Ledger, event: &LedgerEvent) -> Ledger {
        state.evolved(event)
    }
}

/// Version 2: the ledger's compact binary form (`rentops_ledger::compact`), about a seventh of
/// the JSON of version 1 (ADR 0021: 78 against some 520 bytes a booking). A version 1 snapshot
/// is not read: the ledger is folded from its events once, and the next snapshot is version 2.
impl Snapshot for LedgerAggregate {
    const VERSION: u32 = 2;

    fn encode_state(state: &Ledger) -> Result<Vec<u8>, SnapshotError> {
        Ok(state.to_compact())
    }

    fn decode_state(bytes: &[u8]) -> Result<Ledger, SnapshotError> {
        Ledger::from_compact(bytes).map_err(SnapshotError::new)
    }
}

const BOOKED: &str = "LedgerBooked";

pub fn kind_pb(k: BookingKind) -> pb::BookingKind {
    match k {
        BookingKind::Charge => pb::BookingKind::Charge,
        BookingKind::Payment => pb::BookingKind::Payment,
        BookingKind::Waiver => pb::BookingKind::Waiver,
        BookingKind::WriteOff => pb::BookingKind::WriteOff,
        BookingKind::Refund => pb::BookingKind::Refund,
        BookingKind::DepositHold => pb::BookingKind::DepositHold,
        BookingKind::DepositDeduction => pb::BookingKind::DepositDeduction,
        BookingKind::DepositRelease => pb::BookingKind::DepositRelease,
        BookingKind::Reversal => pb::BookingKind::Reversal,
    }
}

fn kind_from_pb(v: i32) -> Option<BookingKind> {
    Some(match pb::BookingKind::try_from(v).ok()? {
        pb::BookingKind::Charge => BookingKind::Charge,
        pb::BookingKind::Payment => BookingKind::Payment,
        pb::BookingKind::Waiver => BookingKind::Waiver,
        pb::BookingKind::WriteOff => BookingKind::WriteOff,
        pb::BookingKind::Refund => BookingKind::Refund,
        pb::BookingKind::DepositHold => BookingKind::DepositHold,
        pb::BookingKind::DepositDeduction => BookingKind::DepositDeduction,
        pb::BookingKind::DepositRelease => BookingKind::DepositRelease,
        pb::BookingKind::Reversal => BookingKind::Reversal,
        pb::BookingKind::Unspecified => return None,
    })
}

fn account_pb(a: &Account) -> pb::Account {
    match a {
        Account::Receivable(_) => pb::Account::Receivable,
        Account::DepositsHeld(_) => pb::Account::DepositsHeld,
        Account::Cash => pb::Account::Cash,
        Account::FinesPayable => pb::Account::FinesPayable,
        Account::ServiceFeeIncome => pb::Account::ServiceFeeIncome,
        Account::AdminFeeIncome => pb::Account::AdminFeeIncome,
        Account::RepairRecoveryIncome => pb::Account::RepairRecoveryIncome,
        Account::LossOfUseIncome => pb::Account::LossOfUseIncome,
        Account::Waivers => pb::Account::Waivers,
        Account::WriteOffExpense => pb::Account::WriteOffExpense,
    }
}

fn account_from_pb(v: i32, customer: &CustomerId) -> Option<Account> {
    Some(match pb::Account::try_from(v).ok()? {
        pb::Account::Receivable => Account::Receivable(customer.clone()),
        pb::Account::DepositsHeld => Account::DepositsHeld(customer.clone()),
        pb::Account::Cash => Account::Cash,
        pb::Account::FinesPayable => Account::FinesPayable,
        pb::Account::ServiceFeeIncome => Account::ServiceFeeIncome,
        pb::Account::AdminFeeIncome => Account::AdminFeeIncome,
        pb::Account::RepairRecoveryIncome => Account::RepairRecoveryIncome,
        pb::Account::LossOfUseIncome => Account::LossOfUseIncome,
        pb::Account::Waivers => Account::Waivers,
        pb::Account::WriteOffExpense => Account::WriteOffExpense,
        pb::Account::Unspecified => return None,
    })
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub fn date_text(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

pub fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), DATE).ok()
}

fn matches_pb(ms: &[Match]) -> Vec<pb::ItemMatch> {
    ms.iter()
        .map(|m| pb::ItemMatch {
            debit_booking_id: m.debit.to_string(),
            credit_booking_id: m.credit.to_string(),
            amount_fen: m.amount.0,
        })
        .collect()
}

fn booking_id(field: &str, text: &str) -> Result<BookingId, DecodeError> {
    Uuid::parse_str(text)
        .map(BookingId)
        .map_err(|e| DecodeError::invalid(BOOKED, field, e))
}

fn opt_booking_id(field: &str, text: &str) -> Result<Option<BookingId>, DecodeError> {
    if text.is_empty() {
        Ok(None)
    } else {
        booking_id(field, text).map(Some)
    }
}

fn matches_from_pb(field: &str, ms: Vec<pb::ItemMatch>) -> Result<Vec<Match>, DecodeError> {
    ms.into_iter()
        .map(|m| {
            Ok(Match {
                debit: booking_id(field, &m.debit_booking_id)?,
                credit: booking_id(field, &m.credit_booking_id)?,
                amount: amount(BOOKED, field, m.amount_fen)?,
            })
        })
        .collect()
}

pub fn booked_pb(booking: &Booking, settlement: &Settlement) -> pb::LedgerBooked {
    pb::LedgerBooked {
        booking_id: booking.id.to_string(),
        kind: kind_pb(booking.kind) as i32,
        customer_id: booking.customer.to_string(),
        booked_at: Some(to_timestamp(booking.booked_at)),
        postings: booking
            .postings
            .iter()
            .map(|p| pb::Posting {
                account: account_pb(&p.account) as i32,
                credit: p.side == Side::Credit,
                amount_fen: p.amount.0,
            })
            .collect(),
        due: booking.due.map(date_text).unwrap_or_default(),
        reference: booking.reference.clone().unwrap_or_default(),
        about_booking_id: booking.about.map(|b| b.to_string()).unwrap_or_default(),
        order_id: booking.order.as_ref().map(|o| o.to_string()).unwrap_or_default(),
        city: booking.city.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        memo: booking.memo.clone(),
        released: matches_pb(&settlement.released),
        applied: matches_pb(&settlement.applied),
    }
}

pub fn booked_from_pb(m: pb::LedgerBooked) -> Result<LedgerEvent, DecodeError> {
    let n = BOOKED;
    let customer = CustomerId::parse(&m.customer_id).map_err(|e| DecodeError::invalid(n, "customer_id", e))?;
    let postings = m
        .postings
        .iter()
        .map(|p| {
            Ok(Posting {
                account: account_from_pb(p.account, &customer).ok_or_else(|| {
                    DecodeError::invalid(n, "postings.account", format!("unknown value {}", p.account))
                })?,
                side: if p.credit { Side::Credit } else { Side::Debit },
                amount: amount(n, "postings.amount_fen", p.amount_fen)?,
            })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    let due = if m.due.is_empty() {
        None
    } else {
        Some(parse_date(&m.due).ok_or_else(|| DecodeError::invalid(n, "due", "not YYYY-MM-DD"))?)
    };
    let order = if m.order_id.is_empty() {
        None
    } else {
        Some(OrderId::parse(&m.order_id).map_err(|e| DecodeError::invalid(n, "order_id", e))?)
    };
    let city = if m.city.is_empty() {
        None
    } else {
        Some(CityCode::parse(&m.city).map_err(|e| DecodeError::invalid(n, "city", e))?)
    };
    let booking = Booking {
        id: booking_id("booking_id", &m.booking_id)?,
        kind: kind_from_pb(m.kind)
            .ok_or_else(|| DecodeError::invalid(n, "kind", format!("unknown value {}", m.kind)))?,
        customer,
        booked_at: event_time(n, "booked_at", m.booked_at.as_ref())?,
        postings,
        due,
        reference: Some(m.reference).filter(|r| !r.is_empty()),
        about: opt_booking_id("about_booking_id", &m.about_booking_id)?,
        order,
        city,
        memo: m.memo,
    };
    if !booking.is_balanced() {
        return Err(DecodeError::invalid(n, "postings", "debits and credits differ"));
    }
    Ok(LedgerEvent::Booked {
        booking,
        settlement: Settlement {
            released: matches_from_pb("released", m.released)?,
            applied: matches_from_pb("applied", m.applied)?,
        },
    })
}

impl EventCodec for LedgerAggregate {
    type Event = LedgerEvent;

    fn name(_: &LedgerEvent) -> &'static str {
        BOOKED
    }

    fn encode(event: &LedgerEvent) -> Vec<u8> {
        booked_pb(event.booking(), event.settlement()).encode_to_vec()
    }

    fn decode(name: &str, payload: &[u8]) -> Result<LedgerEvent, DecodeError> {
        if name != BOOKED {
            return Err(DecodeError::unknown(name));
        }
        booked_from_pb(pb::LedgerBooked::decode(payload).map_err(|e| DecodeError::malformed(BOOKED, e))?)
    }
}
