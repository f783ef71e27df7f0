//! What `rentops receivables …` prints: each answer of the receivables service becomes a view
//! that renders as a table for a person or as JSON for a script, like the other groups'. Money is
//! integer fen in JSON (`*_fen`) and yuan with two decimals in tables.

use std::collections::BTreeMap;
use std::path::Path;

use rentops_proto::receivables as pb;
use rentops_proto::receivables::violation_event::Event;
use serde::Serialize;

use crate::format::{self, Times, format_fen};
use crate::receivables::ReceivablesCommand;
use crate::receivables_import::{Format, Mapping, Parsed};
use crate::requests::Context;
use crate::views::{View, cell, grid, next_page_hint, pairs};

fn status_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::ViolationStatus::as_str_name, "VIOLATION_STATUS_")
}

fn step_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::LadderStep::as_str_name, "LADDER_STEP_")
}

fn responsibility_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::Responsibility::as_str_name, "RESPONSIBILITY_")
}

fn unmatched_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::UnmatchedReason::as_str_name, "UNMATCHED_REASON_")
}

fn kind_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::BookingKind::as_str_name, "BOOKING_KIND_")
}

fn channel_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::NoticeChannel::as_str_name, "NOTICE_CHANNEL_")
}

/// "1 record", "3 records".
fn records(n: usize) -> String {
    if n == 1 {
        "1 record".to_owned()
    } else {
        format!("{n} records")
    }
}

/// "" for zero fen in a debit or credit column, where an empty cell reads better than 0.00.
fn fen_or_blank(fen: i64) -> String {
    if fen == 0 { String::new() } else { format_fen(fen) }
}

// ---- import -------------------------------------------------------------------------------

/// A rejected record: its line in the file, the record's field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionView {
    pub line: u32,
    pub field: String,
    pub reason: String,
    /// `cli`: the CLI could not read it and did not send it; `service`: the service refused it.
    pub checked_by: &'static str,
}

/// The service names a record's field by its place in the batch (`records[3].fine.amount_fen`);
/// the line says which record, so the field is shown as the record's own (`fine.amount_fen`).
fn record_field(field: &str) -> String {
    field
        .strip_prefix("records[")
        .and_then(|rest| rest.split_once("]."))
        .filter(|(i, _)| i.bytes().all(|b| b.is_ascii_digit()))
        .map_or_else(|| field.to_owned(), |(_, f)| f.to_owned())
}

/// `rentops receivables import`: what was read, sent and recorded.
#[derive(Debug, Serialize)]
pub struct ImportView {
    pub file: String,
    pub format: &'static str,
    pub mapping: String,
    pub source: String,
    /// Records found in the file (data rows, JSON lines).
    pub rows: u32,
    /// Records read and sent (or, in a dry run, to send).
    pub records: usize,
    /// Records the CLI could not read: rejected below, not sent.
    pub not_sent: usize,
    pub dry_run: bool,
    /// One per batch, in order: running the same import again sends the same ones.
    pub request_ids: Vec<String>,
    pub received: u32,
    pub new: u32,
    pub duplicates: u32,
    pub matched: u32,
    pub exceptions: u32,
    pub handled: u32,
    /// Every rejected record, by line: the CLI's and the service's.
    pub rejected: Vec<RejectionView>,
    pub sequence: u64,
}

impl ImportView {
    pub fn new(
        file: &Path,
        format: Format,
        mapping: &Mapping,
        source: &str,
        parsed: &Parsed,
        batches: &[(String, Vec<pb::ViolationRecord>)],
        dry_run: bool,
    ) -> Self {
        let mut not_sent: Vec<u32> = parsed.rejected.iter().map(|r| r.line).collect();
        not_sent.dedup();
        Self {
            file: file.display().to_string(),
            format: match format {
                Format::Csv => "csv",
                Format::Jsonl => "jsonl",
            },
            mapping: mapping.name.clone(),
            source: source.to_owned(),
            rows: parsed.rows,
            records: parsed.records.len(),
            not_sent: not_sent.len(),
            dry_run,
            request_ids: batches.iter().map(|(id, _)| id.clone()).collect(),
            received: 0,
            new: 0,
            duplicates: 0,
            matched: 0,
            exceptions: 0,
            handled: 0,
            rejected: parsed
                .rejected
                .iter()
                .map(|r| RejectionView {
                    line: r.line,
                    field: r.field.clone(),
                    reason: r.reason.clone(),
                    checked_by: "cli",
                })
                .collect(),
            sequence: 0,
        }
    }

    /// Takes in the service's summary.
    pub fn absorb(&mut self, s: &pb::ImportSummary) {
        self.received = s.received;
        self.new = s.new;
        self.duplicates = s.duplicates;
        self.matched = s.matched;
        self.exceptions = s.exceptions;
        self.handled = s.handled;
        self.sequence = s.sequence;
        self.rejected.extend(s.rejected.iter().map(|r| RejectionView {
            line: r.line,
            field: record_field(&r.field),
            reason: r.reason.clone(),
            checked_by: "service",
        }));
        // By line; a line's rejections keep their order (stable sort).
        self.rejected.sort_by_key(|r| r.line);
    }

    fn rejected_records(&self) -> usize {
        let mut lines: Vec<u32> = self.rejected.iter().map(|r| r.line).collect();
        lines.dedup();
        lines.len()
    }
}

impl View for ImportView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("file", self.file.clone()),
            ("mapping", format!("{} ({})", self.mapping, self.format)),
            ("source", cell(Some(&self.source))),
            (
                "read",
                format!(
                    "{}, {} not sent (the CLI could not read them)",
                    records(self.rows as usize),
                    self.not_sent
                ),
            ),
        ];
        let ids = match self.request_ids.as_slice() {
            [] => "-".to_owned(),
            [one] => one.clone(),
            [first, .., last] => format!("{first} … {last}"),
        };
        rows.push(("batches", format!("{} ({ids})", self.request_ids.len())));
        if self.dry_run {
            rows.push((
                "dry run",
                format!("{} would be sent; nothing was", records(self.records)),
            ));
        } else {
            rows.extend([
                ("received", self.received.to_string()),
                ("new", self.new.to_string()),
                ("duplicates", self.duplicates.to_string()),
                ("matched", self.matched.to_string()),
                ("exceptions", self.exceptions.to_string()),
                ("handled", self.handled.to_string()),
            ]);
        }
        rows.push(("rejected", records(self.rejected_records())));
        if !self.dry_run {
            rows.push(("sequence", self.sequence.to_string()));
        }
        if !self.dry_run && self.records == 0 {
            rows.push(("note", "nothing to send".to_owned()));
        } else if !self.dry_run && self.new == 0 && self.duplicates > 0 {
            rows.push((
                "note",
                "nothing new: every record was already recorded (the same file again records nothing twice)".to_owned(),
            ));
        }
        let mut out = pairs(rows);
        if !self.rejected.is_empty() {
            let rows = self
                .rejected
                .iter()
                .map(|r| vec![r.line.to_string(), cell(Some(&r.field)), r.reason.clone()])
                .collect();
            out += "\n";
            out += &grid(Some(&["LINE", "FIELD", "REASON"]), rows);
        }
        if self.exceptions > 0 {
            out += "\nexceptions wait for a person: rentops receivables exceptions\n";
        }
        out
    }
}

// ---- ledger commands ----------------------------------------------------------------------

/// What a ledger command booked.
#[derive(Debug, Serialize)]
pub struct BookingView {
    pub customer_id: String,
    pub booking_id: String,
    pub sequence: u64,
    pub events_appended: u32,
    pub request_id: String,
    pub actor: String,
    #[serde(skip)]
    note: Option<&'static str>,
}

impl BookingView {
    pub fn new(r: &pb::BookingResult, ctx: &Context, cmd: &ReceivablesCommand) -> Self {
        let note = (r.events_appended == 0).then_some(match cmd {
            ReceivablesCommand::Pay(_) => "nothing new was booked: this reference was already applied (a retry)",
            _ => "nothing new was booked (a retry)",
        });
        // A payment whose reference was applied before books nothing: the id it names was never
        // booked, so none is shown.
        let repeat = r.events_appended == 0 && matches!(cmd, ReceivablesCommand::Pay(_));
        Self {
            customer_id: r.customer_id.clone(),
            booking_id: if repeat { String::new() } else { r.booking_id.clone() },
            sequence: r.sequence,
            events_appended: r.events_appended,
            request_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
            note,
        }
    }
}

impl View for BookingView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("customer_id", self.customer_id.clone()),
            ("booking_id", cell(Some(&self.booking_id))),
            ("sequence", self.sequence.to_string()),
            ("events_appended", self.events_appended.to_string()),
            ("request_id", self.request_id.clone()),
            ("actor", self.actor.clone()),
        ];
        if let Some(n) = self.note {
            rows.push(("note", n.to_owned()));
        }
        pairs(rows)
    }
}

// ---- violations ---------------------------------------------------------------------------

/// One timeline entry: the event's name and what it says, as `key=value` pairs.
#[derive(Debug, Serialize)]
pub struct TimelineEntryView {
    pub sequence: u64,
    pub at: Option<String>,
    pub actor: String,
    pub event: String,
    /// The details in a line a person reads, in the event's own order.
    pub summary: String,
    pub details: BTreeMap<String, String>,
}

/// `key=value`, quoting a value with spaces (or an empty one).
fn kv(key: &str, value: &str) -> String {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        format!("{key}={value:?}")
    } else {
        format!("{key}={value}")
    }
}

/// The pairs that are set, in order.
fn set(pairs: Vec<(&str, Option<String>)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k.to_owned(), v)))
        .collect()
}

fn text(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// An event's name and its fields worth reading, in order.
fn event_details(e: Option<&Event>, times: Times) -> (String, Vec<(String, String)>) {
    let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
    let Some(e) = e else {
        return ("(an event this client does not know)".to_owned(), Vec::new());
    };
    match e {
        Event::Recorded(r) => (
            "ViolationRecorded".into(),
            set(vec![
                ("plate", text(&r.plate)),
                ("offence_at", time(&r.offence_at)),
                ("place", text(&r.place)),
                ("code", text(&r.offence_code)),
                ("fine", Some(format_fen(r.fine_fen))),
                ("points", Some(r.points.to_string())),
                ("ref", text(&r.authority_ref)),
                ("source", text(&r.source)),
                ("handled", r.handled.then(|| "true".to_owned())),
            ]),
        ),
        Event::Matched(m) => (
            "ViolationMatched".into(),
            set(vec![
                ("responsibility", responsibility_name(m.responsibility)),
                ("customer", text(&m.customer_id)),
                ("order", text(&m.order_id)),
                ("person", text(&m.person_id)),
                ("vehicle", text(&m.vehicle_id)),
                ("city", text(&m.city)),
                ("by", text(&m.resolved_by)),
                ("reason", text(&m.reason)),
            ]),
        ),
        Event::Unmatched(u) => (
            "ViolationUnmatched".into(),
            set(vec![
                ("reason", unmatched_name(u.reason)),
                ("vehicle", text(&u.vehicle_id)),
                ("detail", text(&u.detail)),
            ]),
        ),
        Event::Voided(v) => (
            "ViolationVoided".into(),
            set(vec![("by", text(&v.voided_by)), ("reason", text(&v.reason))]),
        ),
        Event::Handled(h) => ("ViolationHandled".into(), set(vec![("source", text(&h.source))])),
        Event::Disputed(d) => ("ViolationDisputed".into(), set(vec![("case", text(&d.case_id))])),
        Event::DisputeEnded(d) => ("ViolationDisputeEnded".into(), set(vec![("case", text(&d.case_id))])),
        Event::Waived(w) => (
            "ViolationWaived".into(),
            set(vec![("case", text(&w.case_id)), ("by", text(&w.waived_by))]),
        ),
        Event::StepTaken(s) => {
            let notices = s
                .notices
                .iter()
                .map(|n| {
                    let to = if n.phone.is_empty() { &n.customer_id } else { &n.phone };
                    format!("{}→{to}", channel_name(n.channel).unwrap_or_else(|| "-".into()))
                })
                .collect::<Vec<_>>()
                .join(",");
            (
                "LadderStepTaken".into(),
                set(vec![
                    ("step", step_name(s.step)),
                    ("due", time(&s.due_at)),
                    ("notices", text(&notices)),
                    ("deadline", time(&s.deadline)),
                    ("charge", text(&s.charge_booking_id)),
                    ("charged", (s.charged_fen != 0).then(|| format_fen(s.charged_fen))),
                    ("appeal_until", time(&s.points_appeal_until)),
                ]),
            )
        }
    }
}

/// One violation: the record, whose it is, and where its ladder stands.
#[derive(Debug, Serialize)]
pub struct ViolationView {
    pub violation_id: String,
    pub status: Option<String>,
    pub plate: String,
    pub plate_kind: String,
    pub offence_at: Option<String>,
    pub place: String,
    pub offence_code: String,
    pub offence_text: String,
    pub fine_fen: i64,
    pub points: u32,
    pub authority_ref: String,
    pub source: String,
    pub received_at: Option<String>,
    pub responsibility: Option<String>,
    pub customer_id: String,
    pub customer_phone: String,
    pub order_id: String,
    pub person_id: String,
    pub vehicle_id: String,
    pub city: String,
    pub resolved_by: String,
    pub resolution_reason: String,
    pub unmatched_reason: Option<String>,
    pub unmatched_detail: String,
    pub last_step: Option<String>,
    pub next_step: Option<String>,
    pub next_step_due_at: Option<String>,
    pub deadline: Option<String>,
    pub charge_booking_id: String,
    pub timeline: Vec<TimelineEntryView>,
}

impl ViolationView {
    pub fn new(v: &pb::Violation, times: Times) -> Self {
        let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
        let r = v.record.clone().unwrap_or_default();
        let m = v.r#match.clone().unwrap_or_default();
        Self {
            violation_id: v.violation_id.clone(),
            status: status_name(v.status),
            plate: r.plate,
            plate_kind: r.plate_kind,
            offence_at: time(&r.offence_at),
            place: r.place,
            offence_code: r.offence_code,
            offence_text: r.offence_text,
            fine_fen: r.fine_fen,
            points: r.points,
            authority_ref: r.authority_ref,
            source: r.source,
            received_at: time(&r.received_at),
            responsibility: responsibility_name(m.responsibility),
            customer_id: m.customer_id,
            customer_phone: m.customer_phone,
            order_id: m.order_id,
            person_id: m.person_id,
            vehicle_id: m.vehicle_id,
            city: m.city,
            resolved_by: m.resolved_by,
            resolution_reason: m.reason,
            unmatched_reason: unmatched_name(v.unmatched_reason),
            unmatched_detail: v.unmatched_detail.clone(),
            last_step: step_name(v.last_step),
            next_step: step_name(v.next_step),
            next_step_due_at: time(&v.next_step_due_at),
            deadline: time(&v.deadline),
            charge_booking_id: v.charge_booking_id.clone(),
            timeline: v
                .timeline
                .iter()
                .map(|t| {
                    let (event, details) = event_details(t.event.as_ref().and_then(|e| e.event.as_ref()), times);
                    TimelineEntryView {
                        sequence: t.sequence,
                        at: time(&t.at),
                        actor: t.actor.clone(),
                        event,
                        summary: details.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>().join(" "),
                        details: details.into_iter().collect(),
                    }
                })
                .collect(),
        }
    }

    /// Whose it is, in a few words: "RENTER C1001", "STAFF S7", "COMPANY", "? NO_HIRE".
    fn who(&self) -> String {
        match &self.responsibility {
            Some(r) => {
                let whom = [&self.customer_id, &self.person_id]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default();
                format!("{r}{whom}")
            }
            None => match &self.unmatched_reason {
                Some(u) => format!("? {u}"),
                None => "-".to_owned(),
            },
        }
    }

    fn next(&self) -> String {
        match (&self.next_step, &self.next_step_due_at) {
            (Some(s), Some(at)) => format!("{s} {at}"),
            (Some(s), None) => s.clone(),
            (None, _) => "-".to_owned(),
        }
    }
}

impl View for ViolationView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("violation_id", self.violation_id.clone()),
            ("status", cell(self.status.as_deref())),
            (
                "plate",
                if self.plate_kind.is_empty() {
                    cell(Some(&self.plate))
                } else {
                    format!("{} ({})", self.plate, self.plate_kind)
                },
            ),
            ("offence_at", cell(self.offence_at.as_deref())),
            ("place", cell(Some(&self.place))),
            (
                "offence",
                format!("{} {}", cell(Some(&self.offence_code)), self.offence_text)
                    .trim_end()
                    .to_owned(),
            ),
            ("fine", format!("{} CNY", format_fen(self.fine_fen))),
            ("points", self.points.to_string()),
            ("authority_ref", cell(Some(&self.authority_ref))),
            ("source", cell(Some(&self.source))),
            ("received_at", cell(self.received_at.as_deref())),
            ("responsible", self.who()),
        ];
        for (k, v) in [
            ("order_id", &self.order_id),
            ("customer_phone", &self.customer_phone),
            ("vehicle_id", &self.vehicle_id),
            ("city", &self.city),
            ("resolved_by", &self.resolved_by),
            ("reason", &self.resolution_reason),
            ("unmatched", &self.unmatched_detail),
            ("charge_booking_id", &self.charge_booking_id),
        ] {
            if !v.is_empty() {
                rows.push((k, v.clone()));
            }
        }
        rows.push(("deadline", cell(self.deadline.as_deref())));
        rows.push(("last_step", cell(self.last_step.as_deref())));
        rows.push(("next_step", self.next()));
        let mut out = pairs(rows);
        if !self.timeline.is_empty() {
            let rows = self
                .timeline
                .iter()
                .map(|t| {
                    vec![
                        t.sequence.to_string(),
                        cell(t.at.as_deref()),
                        t.event.clone(),
                        cell(Some(&t.actor)),
                        t.summary.clone(),
                    ]
                })
                .collect();
            out += "\n";
            out += &grid(Some(&["SEQ", "AT", "EVENT", "ACTOR", "DETAILS"]), rows);
        }
        out
    }
}

/// Violations, one row each (`violations`, `exceptions`).
#[derive(Debug, Serialize)]
pub struct ViolationListView {
    pub violations: Vec<ViolationView>,
    pub next_page_token: String,
    #[serde(skip)]
    empty: &'static str,
}

impl ViolationListView {
    pub fn new(empty: &'static str) -> Self {
        Self {
            violations: Vec::new(),
            next_page_token: String::new(),
            empty,
        }
    }

    pub fn extend(&mut self, r: &pb::ListViolationsResponse, times: Times) {
        self.violations
            .extend(r.violations.iter().map(|v| ViolationView::new(v, times)));
        self.next_page_token = r.page.as_ref().map(|p| p.next_page_token.clone()).unwrap_or_default();
    }
}

impl View for ViolationListView {
    fn table(&self) -> String {
        if self.violations.is_empty() {
            return format!("{}\n", self.empty) + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .violations
            .iter()
            .map(|v| {
                vec![
                    v.violation_id.clone(),
                    cell(v.status.as_deref()),
                    cell(Some(&v.plate)),
                    cell(v.offence_at.as_deref()),
                    cell(Some(&v.place)),
                    cell(Some(&v.offence_code)),
                    format_fen(v.fine_fen),
                    v.points.to_string(),
                    v.who(),
                    v.next(),
                ]
            })
            .collect();
        let header = [
            "VIOLATION",
            "STATUS",
            "PLATE",
            "OFFENCE AT",
            "PLACE",
            "CODE",
            "FINE",
            "PTS",
            "RESPONSIBLE",
            "NEXT STEP",
        ];
        grid(Some(&header), rows) + &next_page_hint(&self.next_page_token)
    }
}

// ---- statement, aging, overdue ------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct StatementLineView {
    pub booked_at: Option<String>,
    pub booking_id: String,
    pub kind: Option<String>,
    pub reference: String,
    pub about_booking_id: String,
    pub due: String,
    pub debit_fen: i64,
    pub credit_fen: i64,
    pub balance_fen: i64,
    pub deposit_change_fen: i64,
    pub deposit_held_fen: i64,
    pub memo: String,
}

#[derive(Debug, Serialize)]
pub struct OpenItemView {
    pub booking_id: String,
    pub kind: Option<String>,
    pub due: String,
    pub order_id: String,
    pub city: String,
    pub amount_fen: i64,
    pub open_fen: i64,
}

/// `rentops receivables statement`: a customer's ledger as of a day.
#[derive(Debug, Serialize)]
pub struct StatementView {
    pub customer_id: String,
    pub as_of: String,
    /// Positive: the customer owes it.
    pub balance_fen: i64,
    pub deposit_held_fen: i64,
    pub lines: Vec<StatementLineView>,
    pub open_items: Vec<OpenItemView>,
}

impl StatementView {
    pub fn new(r: &pb::GetStatementResponse, times: Times) -> Self {
        Self {
            customer_id: r.customer_id.clone(),
            as_of: r.as_of.clone(),
            balance_fen: r.balance_fen,
            deposit_held_fen: r.deposit_held_fen,
            lines: r
                .lines
                .iter()
                .map(|l| StatementLineView {
                    booked_at: times.opt(l.booked_at.as_ref()),
                    booking_id: l.booking_id.clone(),
                    kind: kind_name(l.kind),
                    reference: l.reference.clone(),
                    about_booking_id: l.about_booking_id.clone(),
                    due: l.due.clone(),
                    debit_fen: l.debit_fen,
                    credit_fen: l.credit_fen,
                    balance_fen: l.balance_fen,
                    deposit_change_fen: l.deposit_change_fen,
                    deposit_held_fen: l.deposit_held_fen,
                    memo: l.memo.clone(),
                })
                .collect(),
            open_items: r
                .open_items
                .iter()
                .map(|o| OpenItemView {
                    booking_id: o.booking_id.clone(),
                    kind: kind_name(o.kind),
                    due: o.due.clone(),
                    order_id: o.order_id.clone(),
                    city: o.city.clone(),
                    amount_fen: o.amount_fen,
                    open_fen: o.open_fen,
                })
                .collect(),
        }
    }
}

impl View for StatementView {
    fn table(&self) -> String {
        let balance = match self.balance_fen {
            b if b > 0 => format!("{} CNY owed", format_fen(b)),
            b if b < 0 => format!("{} CNY in the customer's credit", format_fen(-b)),
            _ => "0.00 CNY".to_owned(),
        };
        let mut out = pairs(vec![
            ("customer_id", self.customer_id.clone()),
            ("as_of", cell(Some(&self.as_of))),
            ("balance", balance),
            ("deposit_held", format!("{} CNY", format_fen(self.deposit_held_fen))),
        ]);
        out += "\n";
        if self.lines.is_empty() {
            out += "no bookings\n";
        } else {
            let rows = self
                .lines
                .iter()
                .map(|l| {
                    vec![
                        cell(l.booked_at.as_deref()),
                        cell(l.kind.as_deref()),
                        l.booking_id.clone(),
                        cell(Some(&l.reference)),
                        cell(Some(&l.due)),
                        fen_or_blank(l.debit_fen),
                        fen_or_blank(l.credit_fen),
                        format_fen(l.balance_fen),
                        format_fen(l.deposit_held_fen),
                        l.memo.clone(),
                    ]
                })
                .collect();
            let header = [
                "BOOKED AT",
                "KIND",
                "BOOKING",
                "REFERENCE",
                "DUE",
                "DEBIT",
                "CREDIT",
                "BALANCE",
                "DEPOSIT",
                "MEMO",
            ];
            out += &grid(Some(&header), rows);
        }
        if !self.open_items.is_empty() {
            let rows = self
                .open_items
                .iter()
                .map(|o| {
                    vec![
                        o.booking_id.clone(),
                        cell(o.kind.as_deref()),
                        cell(Some(&o.due)),
                        cell(Some(&o.order_id)),
                        cell(Some(&o.city)),
                        format_fen(o.amount_fen),
                        format_fen(o.open_fen),
                    ]
                })
                .collect();
            out += "\nopen items\n";
            out += &grid(
                Some(&["BOOKING", "KIND", "DUE", "ORDER", "CITY", "AMOUNT", "OPEN"]),
                rows,
            );
        }
        out
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct BucketsView {
    pub current_fen: i64,
    pub days_1_30_fen: i64,
    pub days_31_60_fen: i64,
    pub days_61_90_fen: i64,
    pub over_90_fen: i64,
    pub total_fen: i64,
}

impl BucketsView {
    fn new(b: Option<&pb::AgingBuckets>) -> Self {
        b.map(|b| Self {
            current_fen: b.current_fen,
            days_1_30_fen: b.days_1_30_fen,
            days_31_60_fen: b.days_31_60_fen,
            days_61_90_fen: b.days_61_90_fen,
            over_90_fen: b.over_90_fen,
            total_fen: b.total_fen,
        })
        .unwrap_or_default()
    }

    fn row(&self, label: &str) -> Vec<String> {
        vec![
            label.to_owned(),
            format_fen(self.current_fen),
            format_fen(self.days_1_30_fen),
            format_fen(self.days_31_60_fen),
            format_fen(self.days_61_90_fen),
            format_fen(self.over_90_fen),
            format_fen(self.total_fen),
        ]
    }
}

#[derive(Debug, Serialize)]
pub struct CityAgingView {
    pub city: String,
    #[serde(flatten)]
    pub buckets: BucketsView,
}

/// `rentops receivables aging`: what is open by how long past due, per city and in all.
#[derive(Debug, Serialize)]
pub struct AgingView {
    pub as_of: String,
    pub cities: Vec<CityAgingView>,
    pub total: BucketsView,
}

impl AgingView {
    pub fn new(r: &pb::GetAgingResponse) -> Self {
        Self {
            as_of: r.as_of.clone(),
            cities: r
                .cities
                .iter()
                .map(|c| CityAgingView {
                    city: c.city.clone(),
                    buckets: BucketsView::new(c.buckets.as_ref()),
                })
                .collect(),
            total: BucketsView::new(r.total.as_ref()),
        }
    }
}

impl View for AgingView {
    fn table(&self) -> String {
        if self.cities.is_empty() && self.total.total_fen == 0 {
            return format!("nothing open as of {}\n", cell(Some(&self.as_of)));
        }
        let mut rows: Vec<Vec<String>> = self
            .cities
            .iter()
            .map(|c| c.buckets.row(if c.city.is_empty() { "-" } else { &c.city }))
            .collect();
        rows.push(self.total.row("TOTAL"));
        format!("as of {}\n", cell(Some(&self.as_of)))
            + &grid(
                Some(&["CITY", "CURRENT", "1-30", "31-60", "61-90", "OVER 90", "TOTAL"]),
                rows,
            )
    }
}

#[derive(Debug, Serialize)]
pub struct OverdueView {
    pub customer_id: String,
    pub booking_id: String,
    pub due: String,
    pub days_overdue: u32,
    pub open_fen: i64,
    pub city: String,
    pub order_id: String,
    pub reference: String,
}

/// `rentops receivables overdue`: charges past due and still open, most overdue first.
#[derive(Debug, Default, Serialize)]
pub struct OverdueListView {
    pub charges: Vec<OverdueView>,
    pub next_page_token: String,
}

impl OverdueListView {
    pub fn extend(&mut self, r: &pb::ListOverdueResponse) {
        self.charges.extend(r.charges.iter().map(|c| OverdueView {
            customer_id: c.customer_id.clone(),
            booking_id: c.booking_id.clone(),
            due: c.due.clone(),
            days_overdue: c.days_overdue,
            open_fen: c.open_fen,
            city: c.city.clone(),
            order_id: c.order_id.clone(),
            reference: c.reference.clone(),
        }));
        self.next_page_token = r.page.as_ref().map(|p| p.next_page_token.clone()).unwrap_or_default();
    }
}

impl View for OverdueListView {
    fn table(&self) -> String {
        if self.charges.is_empty() {
            return "no overdue charges\n".to_owned() + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .charges
            .iter()
            .map(|c| {
                vec![
                    c.customer_id.clone(),
                    c.booking_id.clone(),
                    cell(Some(&c.due)),
                    c.days_overdue.to_string(),
                    format_fen(c.open_fen),
                    cell(Some(&c.city)),
                    cell(Some(&c.order_id)),
                    cell(Some(&c.reference)),
                ]
            })
            .collect();
        let header = [
            "CUSTOMER",
            "BOOKING",
            "DUE",
            "DAYS",
            "OPEN",
            "CITY",
            "ORDER",
            "REFERENCE",
        ];
        grid(Some(&header), rows) + &next_page_hint(&self.next_page_token)
    }
}

// ---- repair claims ------------------------------------------------------------------------

fn claim_status_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::ClaimStatus::as_str_name, "CLAIM_STATUS_")
}

fn cause_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::DamageCause::as_str_name, "DAMAGE_CAUSE_")
}

fn line_kind_name(v: i32) -> Option<String> {
    format::enum_name(v, pb::InvoiceLineKind::as_str_name, "INVOICE_LINE_KIND_")
}

fn cover_name(v: i32) -> Option<String> {
    format::enum_name(v, rentops_proto::common::CoverTier::as_str_name, "COVER_TIER_")
}

/// What the renter pays and how it was derived, one step per line.
#[derive(Debug, Default, Serialize)]
pub struct LiabilityView {
    pub invoice_total_fen: i64,
    pub repair_fen: i64,
    pub loss_of_use_fen: i64,
    pub admin_fee_fen: i64,
    pub total_fen: i64,
    pub deductible_fen: i64,
    pub loss_of_use_per_day_fen: i64,
    pub derivation: Vec<String>,
}

impl LiabilityView {
    fn new(l: Option<&pb::Liability>) -> Option<Self> {
        l.map(|l| Self {
            invoice_total_fen: l.invoice_total_fen,
            repair_fen: l.repair_fen,
            loss_of_use_fen: l.loss_of_use_fen,
            admin_fee_fen: l.admin_fee_fen,
            total_fen: l.total_fen,
            deductible_fen: l.deductible_fen,
            loss_of_use_per_day_fen: l.loss_of_use_per_day_fen,
            derivation: l.derivation.clone(),
        })
    }

    /// The amounts as `key value` rows, then the derivation, one step per line.
    fn table(&self) -> String {
        let mut out = pairs(vec![
            ("invoice_total", format!("{} CNY", format_fen(self.invoice_total_fen))),
            ("repair", format!("{} CNY", format_fen(self.repair_fen))),
            ("loss_of_use", format!("{} CNY", format_fen(self.loss_of_use_fen))),
            ("admin_fee", format!("{} CNY", format_fen(self.admin_fee_fen))),
            ("total", format!("{} CNY", format_fen(self.total_fen))),
            ("deductible", format!("{} CNY", format_fen(self.deductible_fen))),
            (
                "loss_of_use_per_day",
                format!("{} CNY", format_fen(self.loss_of_use_per_day_fen)),
            ),
        ]);
        if !self.derivation.is_empty() {
            out += "derivation\n";
            for step in &self.derivation {
                out += &format!("  {step}\n");
            }
        }
        out
    }
}

/// What a claim command did, and (confirm, adjust) what is charged.
#[derive(Debug, Serialize)]
pub struct ClaimResultView {
    pub claim_id: String,
    pub sequence: u64,
    pub events_appended: u32,
    pub charge_booking_id: String,
    pub liability: Option<LiabilityView>,
    pub request_id: String,
    pub actor: String,
}

impl ClaimResultView {
    pub fn new(r: &pb::ClaimResult, ctx: &Context) -> Self {
        Self {
            claim_id: r.claim_id.clone(),
            sequence: r.sequence,
            events_appended: r.events_appended,
            charge_booking_id: r.charge_booking_id.clone(),
            liability: LiabilityView::new(r.liability.as_ref()),
            request_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
        }
    }
}

impl View for ClaimResultView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("claim_id", self.claim_id.clone()),
            ("sequence", self.sequence.to_string()),
            ("events_appended", self.events_appended.to_string()),
        ];
        if !self.charge_booking_id.is_empty() {
            rows.push(("charge_booking_id", self.charge_booking_id.clone()));
        }
        rows.extend([("request_id", self.request_id.clone()), ("actor", self.actor.clone())]);
        if self.events_appended == 0 {
            rows.push(("note", "nothing new was recorded (a retry)".to_owned()));
        }
        let mut out = pairs(rows);
        if let Some(l) = &self.liability {
            out += "\nliability\n";
            out += &l.table();
        }
        out
    }
}

#[derive(Debug, Serialize)]
pub struct InvoiceLineView {
    pub kind: Option<String>,
    pub description: String,
    pub amount_fen: i64,
    pub document_ref: String,
}

#[derive(Debug, Serialize)]
pub struct ClaimTimelineEntryView {
    pub sequence: u64,
    pub at: Option<String>,
    pub actor: String,
    pub event_type: String,
}

/// One repair claim: the hire, the invoice lines, what is (or would be) charged, and how.
#[derive(Debug, Serialize)]
pub struct ClaimView {
    pub claim_id: String,
    pub status: Option<String>,
    pub order_id: String,
    pub customer_id: String,
    pub city: String,
    pub vehicle_id: String,
    pub cover_tier: Option<String>,
    pub cause: Option<String>,
    pub damage_noted: String,
    pub opened_at: Option<String>,
    pub from_return: bool,
    pub repair_days: u32,
    pub recovery_fen: i64,
    pub lines: Vec<InvoiceLineView>,
    pub liability: Option<LiabilityView>,
    pub charge_booking_id: String,
    pub confirmed_by: String,
    pub timeline: Vec<ClaimTimelineEntryView>,
}

impl ClaimView {
    pub fn new(c: &pb::Claim, times: Times) -> Self {
        let o = c.opened.clone().unwrap_or_default();
        Self {
            claim_id: c.claim_id.clone(),
            status: claim_status_name(c.status),
            order_id: o.order_id,
            customer_id: o.customer_id,
            city: o.city,
            vehicle_id: o.vehicle_id,
            cover_tier: cover_name(o.cover_tier),
            cause: cause_name(c.cause),
            damage_noted: o.damage_noted,
            opened_at: times.opt(o.opened_at.as_ref()),
            from_return: o.from_return,
            repair_days: c.repair_days,
            recovery_fen: c.recovery_fen,
            lines: c
                .lines
                .iter()
                .map(|l| InvoiceLineView {
                    kind: line_kind_name(l.kind),
                    description: l.description.clone(),
                    amount_fen: l.amount_fen,
                    document_ref: l.document_ref.clone(),
                })
                .collect(),
            liability: LiabilityView::new(c.liability.as_ref()),
            charge_booking_id: c.charge_booking_id.clone(),
            confirmed_by: c.confirmed_by.clone(),
            timeline: c
                .timeline
                .iter()
                .map(|t| ClaimTimelineEntryView {
                    sequence: t.sequence,
                    at: times.opt(t.at.as_ref()),
                    actor: t.actor.clone(),
                    event_type: t.event_type.clone(),
                })
                .collect(),
        }
    }
}

impl View for ClaimView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("claim_id", self.claim_id.clone()),
            ("status", cell(self.status.as_deref())),
            ("order_id", cell(Some(&self.order_id))),
            ("customer_id", cell(Some(&self.customer_id))),
            ("city", cell(Some(&self.city))),
            ("vehicle_id", cell(Some(&self.vehicle_id))),
            ("cover_tier", cell(self.cover_tier.as_deref())),
            ("cause", cell(self.cause.as_deref())),
            ("damage", cell(Some(&self.damage_noted))),
            (
                "opened_at",
                format!(
                    "{}{}",
                    cell(self.opened_at.as_deref()),
                    if self.from_return {
                        " (from the return)"
                    } else {
                        " (by hand)"
                    }
                ),
            ),
            ("repair_days", self.repair_days.to_string()),
        ];
        if self.recovery_fen != 0 {
            rows.push(("recovery", format!("{} CNY", format_fen(self.recovery_fen))));
        }
        for (k, v) in [
            ("charge_booking_id", &self.charge_booking_id),
            ("confirmed_by", &self.confirmed_by),
        ] {
            if !v.is_empty() {
                rows.push((k, v.clone()));
            }
        }
        let mut out = pairs(rows);
        out += "\n";
        if self.lines.is_empty() {
            out += "no invoice lines\n";
        } else {
            let rows = self
                .lines
                .iter()
                .map(|l| {
                    vec![
                        cell(l.kind.as_deref()),
                        l.description.clone(),
                        format_fen(l.amount_fen),
                        cell(Some(&l.document_ref)),
                    ]
                })
                .collect();
            out += &grid(Some(&["KIND", "DESCRIPTION", "AMOUNT", "DOCUMENT"]), rows);
        }
        if let Some(l) = &self.liability {
            out += if self.status.as_deref() == Some("CONFIRMED") {
                "\nliability (charged)\n"
            } else {
                "\nliability (what would be charged now)\n"
            };
            out += &l.table();
        }
        if !self.timeline.is_empty() {
            let rows = self
                .timeline
                .iter()
                .map(|t| {
                    vec![
                        t.sequence.to_string(),
                        cell(t.at.as_deref()),
                        t.event_type.clone(),
                        cell(Some(&t.actor)),
                    ]
                })
                .collect();
            out += "\n";
            out += &grid(Some(&["SEQ", "AT", "EVENT", "ACTOR"]), rows);
        }
        out
    }
}

/// `rentops receivables claims`: one row per claim.
#[derive(Debug, Serialize)]
pub struct ClaimListView {
    pub claims: Vec<ClaimView>,
}

impl ClaimListView {
    pub fn new(r: &pb::ListClaimsResponse, times: Times) -> Self {
        Self {
            claims: r.claims.iter().map(|c| ClaimView::new(c, times)).collect(),
        }
    }
}

impl View for ClaimListView {
    fn table(&self) -> String {
        if self.claims.is_empty() {
            return "no claims\n".to_owned();
        }
        let rows = self
            .claims
            .iter()
            .map(|c| {
                let l = c.liability.as_ref();
                vec![
                    c.claim_id.clone(),
                    cell(Some(&c.order_id)),
                    cell(Some(&c.customer_id)),
                    cell(c.status.as_deref()),
                    cell(c.cause.as_deref()),
                    l.map_or_else(|| "-".to_owned(), |l| format_fen(l.invoice_total_fen)),
                    l.map_or_else(|| "-".to_owned(), |l| format_fen(l.total_fen)),
                    cell(Some(&c.charge_booking_id)),
                ]
            })
            .collect();
        let header = [
            "CLAIM", "ORDER", "CUSTOMER", "STATUS", "CAUSE", "INVOICE", "OWED", "CHARGE",
        ];
        grid(Some(&header), rows)
    }
}

// ---- collection KPIs ----------------------------------------------------------------------

/// A rate in basis points as a percentage with one decimal, rounded half up: 8755 → "87.6%".
/// Integer arithmetic only.
fn percent_bp(bp: u32) -> String {
    let tenths = (u64::from(bp) + 5) / 10;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[derive(Debug, Serialize)]
pub struct KpiView {
    pub city: String,
    pub month: String,
    pub charges: u32,
    pub billed_fen: i64,
    pub recovered_fen: i64,
    pub recovery_rate_bp: u32,
    pub recovered_charges: u32,
    /// `null` when no charge was recovered in full (nothing to average).
    pub mean_days_to_recover: Option<f64>,
}

/// `rentops receivables kpis`: per city and month of the charge.
#[derive(Debug, Serialize)]
pub struct KpisView {
    pub kpis: Vec<KpiView>,
}

impl KpisView {
    pub fn new(r: &pb::GetCollectionKpisResponse) -> Self {
        Self {
            kpis: r
                .kpis
                .iter()
                .map(|k| KpiView {
                    city: k.city.clone(),
                    month: k.month.clone(),
                    charges: k.charges,
                    billed_fen: k.billed_fen,
                    recovered_fen: k.recovered_fen,
                    recovery_rate_bp: k.recovery_rate_bp,
                    recovered_charges: k.recovered_charges,
                    mean_days_to_recover: (k.recovered_charges > 0 && k.mean_days_to_recover.is_finite())
                        .then_some(k.mean_days_to_recover),
                })
                .collect(),
        }
    }
}

impl View for KpisView {
    fn table(&self) -> String {
        if self.kpis.is_empty() {
            return "no charges in those months\n".to_owned();
        }
        let rows = self
            .kpis
            .iter()
            .map(|k| {
                vec![
                    cell(Some(&k.city)),
                    cell(Some(&k.month)),
                    k.charges.to_string(),
                    format_fen(k.billed_fen),
                    format_fen(k.recovered_fen),
                    // Nothing billed: no rate, which 0.0% would misreport.
                    if k.billed_fen == 0 {
                        "—".to_owned()
                    } else {
                        percent_bp(k.recovery_rate_bp)
                    },
                    k.recovered_charges.to_string(),
                    k.mean_days_to_recover
                        .map_or_else(|| "—".to_owned(), |d| format!("{d:.1}")),
                ]
            })
            .collect();
        let header = [
            "CITY",
            "MONTH",
            "CHARGES",
            "BILLED",
            "RECOVERED",
            "RATE",
            "IN FULL",
            "MEAN DAYS",
        ];
        grid(Some(&header), rows)
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;

    use super::*;
    use crate::format::Zone;

    fn ts(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn the_service_s_record_fields_read_as_the_record_s_own() {
        assert_eq!(record_field("records[12].fine.amount_fen"), "fine.amount_fen");
        assert_eq!(record_field("records[0].plate"), "plate");
        assert_eq!(record_field("plate"), "plate");
        assert_eq!(record_field("records[x].plate"), "records[x].plate");
    }

    #[test]
    fn a_violation_prints_its_record_match_and_timeline() {
        let v = pb::Violation {
            violation_id: "v0a1b".into(),
            record: Some(pb::ViolationRecorded {
                plate: "沪A·D12345".into(),
                offence_at: ts(1_793_664_900), // 2026-11-03T00:15:00Z
                place: "世纪大道".into(),
                offence_code: "1039".into(),
                offence_text: "违停".into(),
                fine_fen: 20_050,
                points: 3,
                ..Default::default()
            }),
            status: pb::ViolationStatus::Open as i32,
            r#match: Some(pb::ViolationMatched {
                responsibility: pb::Responsibility::Renter as i32,
                customer_id: "C1001".into(),
                order_id: "o-1".into(),
                ..Default::default()
            }),
            next_step: pb::LadderStep::Reminder as i32,
            next_step_due_at: ts(1_793_924_100),
            timeline: vec![pb::TimelineEntry {
                sequence: 7,
                at: ts(1_793_664_960),
                actor: "li".into(),
                event: Some(pb::ViolationEvent {
                    event: Some(Event::StepTaken(pb::LadderStepTaken {
                        step: pb::LadderStep::Notice as i32,
                        notices: vec![pb::Notice {
                            channel: pb::NoticeChannel::Sms as i32,
                            phone: "13800138000".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })),
                }),
            }],
            ..Default::default()
        };
        let view = ViolationView::new(&v, Times::new(Zone::China, true));
        let table = view.table();
        for want in [
            "OPEN",
            "2026-11-03T08:15:00+08:00",
            "200.50 CNY",
            "RENTER C1001",
            "REMINDER 2026-11-06T08:15:00+08:00",
            "LadderStepTaken",
            "step=NOTICE",
            "notices=SMS→13800138000",
        ] {
            assert!(table.contains(want), "{want} missing in\n{table}");
        }
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["fine_fen"], 20_050);
        assert_eq!(json["timeline"][0]["details"]["step"], "NOTICE");
    }

    #[test]
    fn a_statement_and_the_aging_print_yuan_with_two_decimals() {
        let s = StatementView::new(
            &pb::GetStatementResponse {
                customer_id: "C1".into(),
                as_of: "2026-12-01".into(),
                balance_fen: 25_000,
                lines: vec![pb::StatementLine {
                    booking_id: "b-1".into(),
                    kind: pb::BookingKind::Charge as i32,
                    debit_fen: 25_000,
                    balance_fen: 25_000,
                    ..Default::default()
                }],
                ..Default::default()
            },
            Times::new(Zone::China, true),
        );
        let t = s.table();
        assert!(
            t.contains("250.00 CNY owed") && t.contains("CHARGE") && t.contains("250.00"),
            "{t}"
        );
        let a = AgingView::new(&pb::GetAgingResponse {
            as_of: "2026-12-01".into(),
            cities: vec![pb::CityAging {
                city: "SHA".into(),
                buckets: Some(pb::AgingBuckets {
                    days_1_30_fen: 5,
                    total_fen: 5,
                    ..Default::default()
                }),
            }],
            total: Some(pb::AgingBuckets {
                days_1_30_fen: 5,
                total_fen: 5,
                ..Default::default()
            }),
        });
        let t = a.table();
        assert!(t.contains("SHA") && t.contains("0.05") && t.contains("TOTAL"), "{t}");
        assert_eq!(
            serde_json::to_value(&a).unwrap()["cities"][0]["days_1_30_fen"],
            serde_json::json!(5)
        );
    }

    #[test]
    fn a_claim_prints_its_lines_liability_derivation_and_timeline() {
        let c = pb::Claim {
            claim_id: "cl-1".into(),
            status: pb::ClaimStatus::Open as i32,
            opened: Some(pb::ClaimOpened {
                order_id: "o-1".into(),
                customer_id: "C1001".into(),
                city: "SHA".into(),
                cover_tier: rentops_proto::common::CoverTier::Basic as i32,
                damage_noted: "scratch, rear left".into(),
                opened_at: ts(1_793_664_900),
                from_return: true,
                ..Default::default()
            }),
            lines: vec![pb::InvoiceLine {
                kind: pb::InvoiceLineKind::Paint as i32,
                description: "rear door".into(),
                amount_fen: 80_000,
                document_ref: "INV-7".into(),
            }],
            cause: pb::DamageCause::Ordinary as i32,
            repair_days: 2,
            liability: Some(pb::Liability {
                invoice_total_fen: 80_000,
                repair_fen: 50_000,
                total_fen: 53_000,
                derivation: vec![
                    "repair: min(800.00, deductible 500.00) = 500.00".into(),
                    "admin fee 30.00".into(),
                ],
                ..Default::default()
            }),
            timeline: vec![pb::ClaimTimelineEntry {
                sequence: 5,
                at: ts(1_793_664_900),
                actor: "li".into(),
                event_type: "ClaimOpened".into(),
            }],
            ..Default::default()
        };
        let view = ClaimView::new(&c, Times::new(Zone::China, true));
        let t = view.table();
        for want in [
            "OPEN",
            "BASIC",
            "ORDINARY",
            "(from the return)",
            "PAINT",
            "800.00",
            "INV-7",
            "what would be charged now",
            "530.00 CNY",
            "\n  repair: min(800.00, deductible 500.00) = 500.00\n  admin fee 30.00\n",
            "ClaimOpened",
        ] {
            assert!(t.contains(want), "{want:?} missing in\n{t}");
        }
        let list = ClaimListView::new(
            &pb::ListClaimsResponse { claims: vec![c] },
            Times::new(Zone::China, true),
        );
        let t = list.table();
        assert!(
            t.contains("CLAIM") && t.contains("cl-1") && t.contains("530.00") && t.contains("800.00"),
            "{t}"
        );
        assert_eq!(
            serde_json::to_value(&list).unwrap()["claims"][0]["lines"][0]["amount_fen"],
            80_000
        );
    }

    #[test]
    fn kpis_print_the_rate_with_one_decimal_and_no_rate_without_billing() {
        assert_eq!(
            [0, 5, 8755, 8754, 10_000].map(percent_bp),
            ["0.0%", "0.1%", "87.6%", "87.5%", "100.0%"]
        );
        let k = KpisView::new(&pb::GetCollectionKpisResponse {
            kpis: vec![
                pb::CollectionKpi {
                    city: "SHA".into(),
                    month: "2026-11".into(),
                    charges: 8,
                    billed_fen: 400_000,
                    recovered_fen: 350_200,
                    recovery_rate_bp: 8755,
                    recovered_charges: 6,
                    mean_days_to_recover: 12.25,
                },
                pb::CollectionKpi {
                    city: "BJS".into(),
                    month: "2026-11".into(),
                    ..Default::default()
                },
            ],
        });
        let t = k.table();
        for want in ["4000.00", "3502.00", "87.6%", "12.2", "—"] {
            assert!(t.contains(want), "{want} missing in\n{t}");
        }
        let json = serde_json::to_value(&k).unwrap();
        assert_eq!(
            (
                &json["kpis"][0]["mean_days_to_recover"],
                &json["kpis"][1]["mean_days_to_recover"]
            ),
            (&serde_json::json!(12.25), &serde_json::Value::Null)
        );
    }
}
