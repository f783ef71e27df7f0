//! Reading the ledger: as it stood on a date, a customer's statement (and its CSV), and the
//! ageing of what is open by due date, per city.
//!
//! The history is the events: the state keeps no memos or times of past bookings, so the
//! statement is read from the events, and "as of a date" is the ledger folded from the events
//! booked up to the end of that date. Bookings are never dated before the latest one, so that
//! is a prefix of the history. A date is the booking's date in the offset it was booked in.

use std::collections::BTreeMap;

use rentops_kernel::timestamp::to_rfc3339;
use rentops_kernel::{CityCode, CustomerId, Fen};
use time::{Date, OffsetDateTime};

use crate::account::Account;
use crate::booking::{BookingId, BookingKind};
use crate::error::LedgerError;
use crate::event::LedgerEvent;
use crate::state::{Ledger, OpenItem};

/// The ledger as it stood at the end of `as_of`: the events booked up to that day, folded.
pub fn ledger_as_of<'a>(events: impl IntoIterator<Item = &'a LedgerEvent>, as_of: Date) -> Ledger {
    events
        .into_iter()
        .take_while(|e| e.booking().booked_at.date() <= as_of)
        .fold(Ledger::default(), |ledger, e| ledger.evolved(e))
}

/// One booking on a customer's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub booked_at: OffsetDateTime,
    pub booking: BookingId,
    pub kind: BookingKind,
    pub reference: Option<String>,
    pub about: Option<BookingId>,
    pub due: Option<Date>,
    /// What the booking added to what the customer owes.
    pub debit: Fen,
    /// What it took off.
    pub credit: Fen,
    /// What the customer owes after it (negative: their credit).
    pub balance: Fen,
    /// What it added to the deposits held (negative: deducted or released).
    pub deposit_change: Fen,
    pub deposit_held: Fen,
    pub memo: String,
}

/// A customer's statement as of a date: every booking up to it with the running balance, and
/// where that leaves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub customer: Option<CustomerId>,
    pub as_of: Date,
    pub lines: Vec<StatementLine>,
    pub balance: Fen,
    pub deposit_held: Fen,
    pub open_items: Vec<OpenItem>,
}

/// The statement of the ledger whose events are `events`, as of the end of `as_of`.
pub fn statement<'a>(events: impl IntoIterator<Item = &'a LedgerEvent>, as_of: Date) -> Result<Statement, LedgerError> {
    let mut ledger = Ledger::default();
    let mut lines = vec![];
    let mut balance = Fen::ZERO;
    let mut deposit_held = Fen::ZERO;
    for event in events {
        let b = event.booking();
        if b.booked_at.date() > as_of {
            break;
        }
        ledger = ledger.evolved(event);
        let overflow = || LedgerError::overflow(format!("the statement's running balance at {}", b.id));
        let receivable = b.net(&Account::Receivable(b.customer.clone())).ok_or_else(overflow)?;
        // Deposits held are a liability, so a credit to them is an increase of what is held.
        let deposit_change = b
            .net(&Account::DepositsHeld(b.customer.clone()))
            .and_then(Fen::checked_neg)
            .ok_or_else(overflow)?;
        balance = balance.checked_add(receivable).ok_or_else(overflow)?;
        deposit_held = deposit_held.checked_add(deposit_change).ok_or_else(overflow)?;
        let (debit, credit) = if receivable >= Fen::ZERO {
            (receivable, Fen::ZERO)
        } else {
            (Fen::ZERO, receivable.checked_neg().ok_or_else(overflow)?)
        };
        lines.push(StatementLine {
            booked_at: b.booked_at,
            booking: b.id,
            kind: b.kind,
            reference: b.reference.clone(),
            about: b.about,
            due: b.due,
            debit,
            credit,
            balance,
            deposit_change,
            deposit_held,
            memo: b.memo.clone(),
        });
    }
    Ok(Statement {
        customer: ledger.customer().cloned(),
        as_of,
        lines,
        balance,
        deposit_held,
        open_items: ledger.open_items(),
    })
}

/// The header of a statement's CSV.
pub const STATEMENT_CSV_HEADER: &str =
    "booked_at,booking,kind,reference,about,due,debit,credit,balance,deposit_change,deposit_held,memo";

impl Statement {
    /// The statement as CSV (RFC 4180: comma-separated, CRLF line ends, fields quoted where
    /// they need it): a header, then one row per line. Amounts are yuan with two decimals,
    /// times RFC 3339 in the offset they were booked in, dates `YYYY-MM-DD`.
    pub fn to_csv(&self) -> Result<String, LedgerError> {
        let mut out = String::from(STATEMENT_CSV_HEADER);
        out.push_str("\r\n");
        out.push_str(&csv_rows(&self.lines)?);
        Ok(out)
    }
}

/// `lines` as CSV rows without the header (see [`Statement::to_csv`]): a statement read a page
/// at a time is the header, then each page's rows.
pub fn csv_rows(lines: &[StatementLine]) -> Result<String, LedgerError> {
    let mut out = String::new();
    for line in lines {
        let booked_at = to_rfc3339(line.booked_at).map_err(|e| LedgerError::Unwritable {
            booking: line.booking,
            reason: e.to_string(),
        })?;
        let fields = [
            booked_at,
            line.booking.to_string(),
            line.kind.to_string(),
            text_field(line.reference.as_deref().unwrap_or("")),
            line.about.map(|a| a.to_string()).unwrap_or_default(),
            line.due.map(|d| d.to_string()).unwrap_or_default(),
            line.debit.to_string(),
            line.credit.to_string(),
            line.balance.to_string(),
            line.deposit_change.to_string(),
            line.deposit_held.to_string(),
            text_field(&line.memo),
        ];
        let row: Vec<String> = fields.iter().map(|f| quoted(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

/// Free text as a spreadsheet should show it: a leading `=`, `+`, `-`, `@` or control character
/// would make it a formula, so such text starts with a `'`.
fn text_field(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// A CSV field, quoted (with its quotes doubled) when it holds a comma, a quote or a line end.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// What is open, by how long past its due date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgingBuckets {
    /// Not yet due (or due today).
    pub current: Fen,
    pub days_1_30: Fen,
    pub days_31_60: Fen,
    pub days_61_90: Fen,
    pub over_90: Fen,
}

impl AgingBuckets {
    /// Adds `amount`, `days_overdue` days past its due date.
    pub fn add(&mut self, days_overdue: i64, amount: Fen) -> Result<(), LedgerError> {
        let bucket = match days_overdue {
            ..=0 => &mut self.current,
            1..=30 => &mut self.days_1_30,
            31..=60 => &mut self.days_31_60,
            61..=90 => &mut self.days_61_90,
            _ => &mut self.over_90,
        };
        *bucket = bucket
            .checked_add(amount)
            .ok_or_else(|| LedgerError::overflow("an ageing bucket"))?;
        Ok(())
    }

    pub fn total(&self) -> Result<Fen, LedgerError> {
        Fen::try_sum([
            self.current,
            self.days_1_30,
            self.days_31_60,
            self.days_61_90,
            self.over_90,
        ])
        .map_err(|_| LedgerError::overflow("the ageing total"))
    }
}

/// The ageing report: what is open in the ledgers, bucketed by days past due as of a date, per
/// city of the hire (`None`: items of no city, a refund that became owed again) and in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgingReport {
    pub as_of: Date,
    pub by_city: BTreeMap<Option<CityCode>, AgingBuckets>,
    pub total: AgingBuckets,
}

/// Ages the open items of `ledgers`, each taken as it stood on `as_of` (see [`ledger_as_of`]).
pub fn aging<'a>(ledgers: impl IntoIterator<Item = &'a Ledger>, as_of: Date) -> Result<AgingReport, LedgerError> {
    let mut report = AgingReport {
        as_of,
        by_city: BTreeMap::new(),
        total: AgingBuckets::default(),
    };
    for ledger in ledgers {
        for item in ledger.open_items() {
            let days = (as_of - item.due).whole_days();
            report
                .by_city
                .entry(item.city.clone())
                .or_default()
                .add(days, item.open)?;
            report.total.add(days, item.open)?;
        }
    }
    Ok(report)
}
