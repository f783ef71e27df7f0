//! What the CLI prints: each answer of the service becomes a view, which renders either as a
//! table for a person or as JSON for a script. Both come from the same view, so they never
//! disagree; times in both are already in the chosen offset.

use comfy_table::{Table, TableStyle};
use rentops_proto::{admin, common, order};
use serde::Serialize;

use crate::events;
use crate::format::{self, Times};
use crate::requests::Context;

/// A view that prints as a table as well as JSON.
pub trait View: Serialize {
    fn table(&self) -> String;
}

/// How to print: JSON or tables.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    /// The text to write to stdout, ending in a newline.
    pub fn render<V: View>(&self, view: &V) -> Result<String, serde_json::Error> {
        if self.json {
            Ok(serde_json::to_string_pretty(view)? + "\n")
        } else {
            Ok(view.table())
        }
    }
}

/// A plain table: no borders, columns apart by two spaces, like `kubectl get`, so it reads in
/// a terminal and greps in a pipe. comfy-table measures CJK text (names, plates) by its width.
pub(crate) fn grid(header: Option<&[&str]>, rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_style(TableStyle::new());
    if let Some(h) = header {
        t.set_header(h.to_vec());
    }
    t.add_rows(rows);
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.trim_fmt() + "\n"
}

/// Key/value lines for one object.
pub(crate) fn pairs(rows: Vec<(&str, String)>) -> String {
    grid(None, rows.into_iter().map(|(k, v)| vec![k.to_owned(), v]).collect())
}

/// A cell: "-" for what is unset or empty.
pub(crate) fn cell(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or("-").to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyView {
    pub amount_fen: i64,
    pub currency: String,
}

impl MoneyView {
    pub fn new(m: Option<&common::Money>) -> Option<Self> {
        m.map(|m| Self {
            amount_fen: m.amount_fen,
            currency: if m.currency.is_empty() {
                "CNY".to_owned()
            } else {
                m.currency.clone()
            },
        })
    }

    pub fn text(&self) -> String {
        format::format_money(self.amount_fen, &self.currency)
    }
}

fn money_cell(m: Option<&MoneyView>) -> String {
    m.map_or_else(|| "-".to_owned(), MoneyView::text)
}

/// A handover place: `{"station_id": ".."}` or `{"address": ".."}` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationView {
    StationId(String),
    Address(String),
}

impl LocationView {
    pub fn new(l: Option<&order::Location>) -> Option<Self> {
        match l?.place.as_ref()? {
            order::location::Place::StationId(s) => Some(Self::StationId(s.clone())),
            order::location::Place::Address(a) => Some(Self::Address(a.clone())),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Self::StationId(s) => format!("station {s}"),
            Self::Address(a) => format!("address {a}"),
        }
    }
}

fn location_cell(l: Option<&LocationView>) -> String {
    l.map_or_else(|| "-".to_owned(), LocationView::text)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CustomerView {
    pub customer_id: String,
    pub name: String,
    pub phone: String,
}

impl CustomerView {
    fn new(c: Option<&order::Customer>) -> Self {
        c.map(|c| Self {
            customer_id: c.customer_id.clone(),
            name: c.name.clone(),
            phone: c.phone.clone(),
        })
        .unwrap_or_default()
    }

    /// The name, else the id: who a person on the desk would ask for.
    fn text(&self) -> String {
        cell(Some(if self.name.is_empty() {
            &self.customer_id
        } else {
            &self.name
        }))
    }
}

/// What a command did: the sequence to read one's own write at, and the request id to retry with.
#[derive(Debug, Serialize)]
pub struct CommandView {
    pub order_id: String,
    pub sequence: u64,
    /// Place only: false when the order already existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_appended: Option<u32>,
    pub request_id: String,
    pub actor: String,
}

impl CommandView {
    pub fn placed(r: &order::PlaceOrderResponse, ctx: &Context) -> Self {
        Self {
            order_id: r.order_id.clone(),
            sequence: r.sequence,
            created: Some(r.created),
            events_appended: None,
            request_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
        }
    }

    pub fn result(r: &common::CommandResult, ctx: &Context) -> Self {
        Self {
            order_id: r.aggregate_id.clone(),
            sequence: r.sequence,
            created: None,
            events_appended: Some(r.events_appended),
            request_id: ctx.request_id.clone(),
            actor: ctx.actor.clone(),
        }
    }
}

impl View for CommandView {
    fn table(&self) -> String {
        let mut rows = vec![
            ("order_id", self.order_id.clone()),
            ("sequence", self.sequence.to_string()),
        ];
        if let Some(created) = self.created {
            rows.push(("created", created.to_string()));
        }
        if let Some(n) = self.events_appended {
            rows.push(("events_appended", n.to_string()));
        }
        rows.push(("request_id", self.request_id.clone()));
        rows.push(("actor", self.actor.clone()));
        // Why nothing happened is the first thing a person asks when it did not.
        if self.created == Some(false) {
            rows.push(("note", "the order already existed: nothing new was placed".to_owned()));
        }
        if self.events_appended == Some(0) {
            rows.push(("note", "nothing new was recorded (a retry, or no change)".to_owned()));
        }
        pairs(rows)
    }
}

#[derive(Debug, Serialize)]
pub struct HandoverView {
    pub at: Option<String>,
    pub vehicle_id: String,
    pub plate: String,
    pub odometer_km: i64,
    pub charge_percent: u32,
    pub damage_noted: String,
    pub location: Option<LocationView>,
}

impl HandoverView {
    fn new(h: &order::Handover, times: Times) -> Self {
        Self {
            at: times.opt(h.at.as_ref()),
            vehicle_id: h.vehicle_id.clone(),
            plate: h.plate.clone(),
            odometer_km: h.odometer_km,
            charge_percent: h.charge_percent,
            damage_noted: h.damage_noted.clone(),
            location: LocationView::new(h.location.as_ref()),
        }
    }

    fn text(&self) -> String {
        let mut parts = vec![cell(self.at.as_deref())];
        if !self.vehicle_id.is_empty() {
            parts.push(format!("vehicle {}", self.vehicle_id));
        }
        if !self.plate.is_empty() {
            parts.push(self.plate.clone());
        }
        parts.push(format!("{} km", self.odometer_km));
        parts.push(format!("{}% charge", self.charge_percent));
        if let Some(l) = &self.location {
            parts.push(l.text());
        }
        if !self.damage_noted.is_empty() {
            parts.push(format!("damage: {}", self.damage_noted));
        }
        parts.join(", ")
    }
}

/// One order as the service's view holds it.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub partner_code: String,
    pub channel_order_ref: String,
    pub customer: CustomerView,
    pub city: String,
    pub pickup_location: Option<LocationView>,
    pub pickup_at: Option<String>,
    pub return_location: Option<LocationView>,
    pub return_at: Option<String>,
    pub requested_model: Option<String>,
    pub add_ons: Vec<String>,
    pub price: Option<MoneyView>,
    pub rental_deposit: Option<MoneyView>,
    pub violation_deposit: Option<MoneyView>,
    pub placed_at: Option<String>,
    pub pre_verified: bool,
    pub contact_due_at: Option<String>,
    pub contact_attempts: u32,
    pub last_contact_outcome: Option<String>,
    pub reached: bool,
    pub contact_overdue: bool,
    pub confirmed_at: Option<String>,
    pub pickup: Option<HandoverView>,
    #[serde(rename = "return")]
    pub return_: Option<HandoverView>,
    pub cancelled_by: Option<String>,
    pub cancel_reason: String,
    pub notes: String,
    pub sequence: u64,
    pub updated_at: Option<String>,
    /// The car fleet's plan holds for the order (empty when none).
    pub assigned_vehicle_id: String,
    pub assigned_plate: String,
    pub assigned_model: Option<String>,
    pub upgrade: bool,
    /// No car can serve the order (fleet's plan).
    pub at_risk: bool,
    pub at_risk_reason: String,
    pub at_risk_explanation: String,
}

impl OrderView {
    pub fn new(o: &order::Order, times: Times) -> Self {
        let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
        Self {
            order_id: o.order_id.clone(),
            status: format::status_name(o.status),
            channel: format::channel_name(o.channel),
            partner_code: o.partner_code.clone(),
            channel_order_ref: o.channel_order_ref.clone(),
            customer: CustomerView::new(o.customer.as_ref()),
            city: o.city.clone(),
            pickup_location: LocationView::new(o.pickup_location.as_ref()),
            pickup_at: time(&o.pickup_at),
            return_location: LocationView::new(o.return_location.as_ref()),
            return_at: time(&o.return_at),
            requested_model: format::model_name(o.requested_model),
            add_ons: o.add_ons.clone(),
            price: MoneyView::new(o.price.as_ref()),
            rental_deposit: MoneyView::new(o.rental_deposit.as_ref()),
            violation_deposit: MoneyView::new(o.violation_deposit.as_ref()),
            placed_at: time(&o.placed_at),
            pre_verified: o.pre_verified,
            contact_due_at: time(&o.contact_due_at),
            contact_attempts: o.contact_attempts,
            last_contact_outcome: format::outcome_name(o.last_contact_outcome),
            reached: o.reached,
            contact_overdue: o.contact_overdue,
            confirmed_at: time(&o.confirmed_at),
            pickup: o.pickup.as_ref().map(|h| HandoverView::new(h, times)),
            return_: o.r#return.as_ref().map(|h| HandoverView::new(h, times)),
            cancelled_by: format::cancelled_by_name(o.cancelled_by),
            cancel_reason: o.cancel_reason.clone(),
            notes: o.notes.clone(),
            sequence: o.sequence,
            updated_at: time(&o.updated_at),
            assigned_vehicle_id: o.assigned_vehicle_id.clone(),
            assigned_plate: o.assigned_plate.clone(),
            assigned_model: format::model_name(o.assigned_model),
            upgrade: o.upgrade,
            at_risk: o.at_risk,
            at_risk_reason: o.at_risk_reason.clone(),
            at_risk_explanation: o.at_risk_explanation.clone(),
        }
    }

    /// "沪A·D12345 (ES8, upgrade)", "AT RISK: TOO_FAR", or "-".
    fn car_text(&self) -> String {
        if self.at_risk {
            return format!("AT RISK: {}", cell(Some(&self.at_risk_reason)));
        }
        if self.assigned_plate.is_empty() {
            return "-".to_owned();
        }
        match (&self.assigned_model, self.upgrade) {
            (Some(m), true) => format!("{} ({m}, upgrade)", self.assigned_plate),
            (Some(m), false) => format!("{} ({m})", self.assigned_plate),
            (None, _) => self.assigned_plate.clone(),
        }
    }

    fn channel_text(&self) -> String {
        match (&self.channel, self.partner_code.as_str()) {
            (Some(c), "") => c.clone(),
            (Some(c), p) => format!("{c} {p}"),
            (None, _) => "-".to_owned(),
        }
    }
}

impl View for OrderView {
    fn table(&self) -> String {
        let c = &self.customer;
        let mut rows = vec![
            ("order_id", self.order_id.clone()),
            ("status", cell(self.status.as_deref())),
            ("channel", self.channel_text()),
            ("channel_order_ref", cell(Some(&self.channel_order_ref))),
            (
                "customer",
                format!("{} ({}) {}", c.text(), cell(Some(&c.customer_id)), cell(Some(&c.phone))),
            ),
            ("city", cell(Some(&self.city))),
            (
                "pickup",
                format!(
                    "{}  {}",
                    cell(self.pickup_at.as_deref()),
                    location_cell(self.pickup_location.as_ref())
                ),
            ),
            (
                "return",
                format!(
                    "{}  {}",
                    cell(self.return_at.as_deref()),
                    location_cell(self.return_location.as_ref())
                ),
            ),
            ("model", cell(self.requested_model.as_deref())),
            (
                "add_ons",
                if self.add_ons.is_empty() {
                    "-".to_owned()
                } else {
                    self.add_ons.join(", ")
                },
            ),
            ("price", money_cell(self.price.as_ref())),
            ("rental_deposit", money_cell(self.rental_deposit.as_ref())),
            ("violation_deposit", money_cell(self.violation_deposit.as_ref())),
            ("placed_at", cell(self.placed_at.as_deref())),
            ("pre_verified", self.pre_verified.to_string()),
            ("contact_due_at", cell(self.contact_due_at.as_deref())),
            ("contact_attempts", self.contact_attempts.to_string()),
            ("last_outcome", cell(self.last_contact_outcome.as_deref())),
            ("reached", self.reached.to_string()),
            ("contact_overdue", self.contact_overdue.to_string()),
            ("confirmed_at", cell(self.confirmed_at.as_deref())),
            ("assigned_car", self.car_text()),
        ];
        if !self.assigned_vehicle_id.is_empty() {
            rows.push(("assigned_vehicle", self.assigned_vehicle_id.clone()));
        }
        if self.at_risk {
            rows.push(("at_risk", cell(Some(&self.at_risk_explanation))));
        }
        if let Some(h) = &self.pickup {
            rows.push(("picked_up", h.text()));
        }
        if let Some(h) = &self.return_ {
            rows.push(("returned", h.text()));
        }
        if let Some(by) = &self.cancelled_by {
            rows.push(("cancelled", format!("by {by}: {}", cell(Some(&self.cancel_reason)))));
        }
        rows.push(("notes", cell(Some(&self.notes))));
        rows.push(("sequence", self.sequence.to_string()));
        rows.push(("updated_at", cell(self.updated_at.as_deref())));
        pairs(rows)
    }
}

/// Where the next page starts, printed under a table so a person can ask for it.
pub(crate) fn next_page_hint(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!("more: rerun with --page-token {token} (or --all)\n")
    }
}

#[derive(Debug, Serialize)]
pub struct OrderListView {
    pub orders: Vec<OrderView>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl View for OrderListView {
    fn table(&self) -> String {
        if self.orders.is_empty() {
            return "no orders\n".to_owned() + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .orders
            .iter()
            .map(|o| {
                vec![
                    o.order_id.clone(),
                    cell(o.status.as_deref()),
                    o.channel_text(),
                    cell(Some(&o.city)),
                    o.customer.text(),
                    cell(o.pickup_at.as_deref()),
                    location_cell(o.pickup_location.as_ref()),
                    cell(o.return_at.as_deref()),
                    cell(o.requested_model.as_deref()),
                    money_cell(o.price.as_ref()),
                    o.car_text(),
                    o.sequence.to_string(),
                ]
            })
            .collect();
        let header = [
            "ORDER",
            "STATUS",
            "CHANNEL",
            "CITY",
            "CUSTOMER",
            "PICKUP AT",
            "PICKUP",
            "RETURN AT",
            "MODEL",
            "PRICE",
            "CAR",
            "SEQ",
        ];
        grid(Some(&header), rows) + &next_page_hint(&self.next_page_token)
    }
}

#[derive(Debug, Serialize)]
pub struct HistoryEntryView {
    pub sequence: u64,
    pub event_id: String,
    pub event_type: String,
    pub recorded_at: Option<String>,
    pub actor: String,
    pub request_id: String,
    pub correlation_id: String,
    /// One line a person reads: "outcome=REACHED agent=li".
    pub summary: String,
    /// The event's content, `null` for an event type newer than this client.
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub order_id: String,
    pub entries: Vec<HistoryEntryView>,
}

impl HistoryView {
    pub fn new(order_id: &str, r: &order::GetOrderHistoryResponse, times: Times) -> Self {
        let entries = r
            .entries
            .iter()
            .map(|e| {
                let (summary, event) = match e.event.as_ref().and_then(|ev| ev.event.as_ref()) {
                    Some(ev) => (events::summary(ev, times), events::details(ev, times)),
                    None => (
                        "(an event this client does not know)".to_owned(),
                        serde_json::Value::Null,
                    ),
                };
                HistoryEntryView {
                    sequence: e.sequence,
                    event_id: e.event_id.clone(),
                    event_type: e.event_type.clone(),
                    recorded_at: times.opt(e.recorded_at.as_ref()),
                    actor: e.actor.clone(),
                    request_id: e.request_id.clone(),
                    correlation_id: e.correlation_id.clone(),
                    summary,
                    event,
                }
            })
            .collect();
        Self {
            order_id: order_id.to_owned(),
            entries,
        }
    }
}

impl View for HistoryView {
    fn table(&self) -> String {
        if self.entries.is_empty() {
            return format!("no events for order {}\n", self.order_id);
        }
        let rows = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.sequence.to_string(),
                    cell(e.recorded_at.as_deref()),
                    cell(Some(&e.event_type)),
                    cell(Some(&e.actor)),
                    cell(Some(&e.summary)),
                ]
            })
            .collect();
        grid(Some(&["SEQ", "TIME", "TYPE", "ACTOR", "SUMMARY"]), rows)
    }
}

#[derive(Debug, Serialize)]
pub struct QueueEntryView {
    pub order_id: String,
    pub city: String,
    pub customer: CustomerView,
    pub pickup_at: Option<String>,
    pub contact_due_at: Option<String>,
    pub next_contact_at: Option<String>,
    pub attempts: u32,
    pub last_outcome: Option<String>,
    pub reached: bool,
    pub overdue: bool,
    pub requested_model: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct QueueView {
    pub entries: Vec<QueueEntryView>,
    pub next_page_token: String,
}

impl QueueView {
    pub fn entry(e: &order::ConfirmationQueueEntry, times: Times) -> QueueEntryView {
        let time = |t: &Option<prost_types::Timestamp>| times.opt(t.as_ref());
        QueueEntryView {
            order_id: e.order_id.clone(),
            city: e.city.clone(),
            customer: CustomerView::new(e.customer.as_ref()),
            pickup_at: time(&e.pickup_at),
            contact_due_at: time(&e.contact_due_at),
            next_contact_at: time(&e.next_contact_at),
            attempts: e.attempts,
            last_outcome: format::outcome_name(e.last_outcome),
            reached: e.reached,
            overdue: e.overdue,
            requested_model: format::model_name(e.requested_model),
        }
    }
}

impl View for QueueView {
    fn table(&self) -> String {
        if self.entries.is_empty() {
            return "no orders waiting for a call\n".to_owned() + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.order_id.clone(),
                    cell(Some(&e.city)),
                    e.customer.text(),
                    cell(Some(&e.customer.phone)),
                    cell(e.pickup_at.as_deref()),
                    cell(e.next_contact_at.as_deref()),
                    e.attempts.to_string(),
                    cell(e.last_outcome.as_deref()),
                    if e.overdue {
                        "OVERDUE".to_owned()
                    } else {
                        "-".to_owned()
                    },
                ]
            })
            .collect();
        let header = [
            "ORDER",
            "CITY",
            "CUSTOMER",
            "PHONE",
            "PICKUP AT",
            "NEXT CONTACT",
            "ATTEMPTS",
            "LAST OUTCOME",
            "OVERDUE",
        ];
        grid(Some(&header), rows) + &next_page_hint(&self.next_page_token)
    }
}

/// `rentops order lapsed`: orders whose pickup time passed before a call reached the customer.
#[derive(Debug, Serialize)]
pub struct LapsedView {
    pub entries: Vec<QueueEntryView>,
    pub next_page_token: String,
}

impl View for LapsedView {
    fn table(&self) -> String {
        if self.entries.is_empty() {
            return "no lapsed orders\n".to_owned() + &next_page_hint(&self.next_page_token);
        }
        let rows = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.order_id.clone(),
                    cell(Some(&e.city)),
                    e.customer.text(),
                    cell(Some(&e.customer.phone)),
                    cell(e.pickup_at.as_deref()),
                    e.attempts.to_string(),
                    cell(e.last_outcome.as_deref()),
                ]
            })
            .collect();
        let header = [
            "ORDER",
            "CITY",
            "CUSTOMER",
            "PHONE",
            "PICKUP AT",
            "ATTEMPTS",
            "LAST OUTCOME",
        ];
        grid(Some(&header), rows)
            + "close each: rentops order no-show ORDER --notes ..., or rentops order cancel ORDER --by desk --reason ...\n"
            + &next_page_hint(&self.next_page_token)
    }
}

/// `rentops <service> rebuild-projection`: the replay of each projection has started; each is
/// done once it reaches the stream's last sequence as of its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RebuildView {
    pub started: Vec<RebuildStartedView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebuildStartedView {
    pub projection: String,
    pub stream_sequence: u64,
    /// The command that shows how far the replay has got.
    pub follow: String,
}

impl RebuildView {
    pub fn new(service: &str, started: &[admin::RebuildProjectionResponse]) -> Self {
        Self {
            started: started
                .iter()
                .map(|r| RebuildStartedView {
                    projection: r.projection.clone(),
                    stream_sequence: r.stream_sequence,
                    follow: format!("rentops {service} projection-status --projection {}", r.projection),
                })
                .collect(),
        }
    }
}

impl View for RebuildView {
    fn table(&self) -> String {
        let blocks: Vec<String> = self
            .started
            .iter()
            .map(|r| {
                pairs(vec![
                    ("projection", r.projection.clone()),
                    ("rebuild", "started: replaying from sequence 1".to_owned()),
                    ("until", format!("sequence {}", r.stream_sequence)),
                    ("follow", r.follow.clone()),
                ])
            })
            .collect();
        blocks.join("\n")
    }
}

/// `rentops <service> projection-status`: one block per projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProjectionStatusView {
    pub projections: Vec<ProjectionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionView {
    pub projection: String,
    pub stream: String,
    pub projection_sequence: u64,
    pub stream_sequence: u64,
    /// Events of the stream the read model has not applied yet.
    pub behind: u64,
    pub rebuilding: bool,
    /// Whether the replica that answered runs this projector (and so could rebuild it).
    pub lease_held_here: bool,
    /// The replica that runs it; empty when none does right now.
    pub lease_holder: String,
    /// The replica that answered.
    pub replica: String,
}

impl ProjectionStatusView {
    pub fn new(projections: &[admin::Projection]) -> Self {
        Self {
            projections: projections
                .iter()
                .map(|p| ProjectionView {
                    projection: p.name.clone(),
                    stream: p.stream.clone(),
                    projection_sequence: p.projection_sequence,
                    stream_sequence: p.stream_sequence,
                    // Computed here as well: a stale or older service must not make it underflow.
                    behind: p.stream_sequence.saturating_sub(p.projection_sequence),
                    rebuilding: p.rebuilding,
                    lease_held_here: p.lease_held_here,
                    lease_holder: p.lease_holder.clone(),
                    replica: p.replica.clone(),
                })
                .collect(),
        }
    }
}

impl View for ProjectionStatusView {
    fn table(&self) -> String {
        let blocks: Vec<String> = self
            .projections
            .iter()
            .map(|p| {
                let runner = match (p.lease_held_here, p.lease_holder.is_empty()) {
                    (true, _) => format!("{} (the replica that answered)", p.replica),
                    (false, false) => p.lease_holder.clone(),
                    (false, true) => "nobody right now (another replica takes over within seconds)".to_owned(),
                };
                pairs(vec![
                    ("projection", p.projection.clone()),
                    ("stream", p.stream.clone()),
                    ("applied", format!("sequence {}", p.projection_sequence)),
                    ("stream last", format!("sequence {}", p.stream_sequence)),
                    ("behind", format!("{} events", p.behind)),
                    (
                        "rebuilding",
                        if p.rebuilding {
                            "yes: replaying, secondary indexes set aside".to_owned()
                        } else {
                            "no".to_owned()
                        },
                    ),
                    ("run by", runner),
                ])
            })
            .collect();
        blocks.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Zone;
    use prost_types::Timestamp;

    const CHINA: Times = Times {
        zone: Zone::China,
        whole_seconds: true,
    };
    const UTC: Times = Times {
        zone: Zone::Utc,
        whole_seconds: true,
    };

    fn ctx() -> Context {
        Context {
            request_id: "req-1".into(),
            actor: "li".into(),
        }
    }

    /// The value printed beside `key` in a key/value table.
    fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with("  ")).map(str::trim))
    }

    fn sample_order() -> order::Order {
        order::Order {
            order_id: "o-1".into(),
            status: order::OrderStatus::Confirmed as i32,
            channel: order::Channel::Partner as i32,
            partner_code: "CTRIP".into(),
            customer: Some(order::Customer {
                customer_id: "C1".into(),
                name: "王小明".into(),
                phone: "138".into(),
            }),
            city: "SHA".into(),
            pickup_location: Some(order::Location {
                place: Some(order::location::Place::StationId("SHA-PVG".into())),
            }),
            pickup_at: Some(Timestamp {
                seconds: 1_796_090_400,
                nanos: 0,
            }),
            requested_model: common::VehicleModel::Es6 as i32,
            price: Some(common::Money {
                amount_fen: 45000,
                currency: "CNY".into(),
            }),
            last_contact_outcome: order::ContactOutcome::Reached as i32,
            sequence: 7,
            ..Default::default()
        }
    }

    #[test]
    fn an_order_shows_its_assigned_car_or_that_it_is_at_risk() {
        let mut o = sample_order();
        let text = OrderView::new(&o, CHINA).table();
        assert_eq!(value(&text, "assigned_car"), Some("-"), "{text}");
        o.assigned_vehicle_id = "V-7".into();
        o.assigned_plate = "沪A·D12345".into();
        o.assigned_model = common::VehicleModel::Es8 as i32;
        o.upgrade = true;
        let text = OrderView::new(&o, CHINA).table();
        assert_eq!(
            value(&text, "assigned_car"),
            Some("沪A·D12345 (ES8, upgrade)"),
            "{text}"
        );
        assert_eq!(value(&text, "assigned_vehicle"), Some("V-7"), "{text}");
        let list = OrderListView {
            orders: vec![OrderView::new(&o, CHINA)],
            next_page_token: String::new(),
        };
        assert!(list.table().contains("沪A·D12345 (ES8, upgrade)"), "{}", list.table());
        let o = order::Order {
            at_risk: true,
            at_risk_reason: "TOO_FAR".into(),
            at_risk_explanation: "no car near enough".into(),
            ..sample_order()
        };
        let text = OrderView::new(&o, CHINA).table();
        assert_eq!(value(&text, "assigned_car"), Some("AT RISK: TOO_FAR"), "{text}");
        assert_eq!(value(&text, "at_risk"), Some("no car near enough"), "{text}");
    }

    #[test]
    fn locations_say_station_or_address() {
        use order::location::Place;
        let l = |p| LocationView::new(Some(&order::Location { place: Some(p) })).map(|l| l.text());
        assert_eq!(
            l(Place::StationId("SHA-PVG".into())).as_deref(),
            Some("station SHA-PVG")
        );
        assert_eq!(
            l(Place::Address("世纪大道1号".into())).as_deref(),
            Some("address 世纪大道1号")
        );
        assert_eq!(LocationView::new(Some(&order::Location { place: None })), None);
        assert_eq!(LocationView::new(None), None);
    }

    #[test]
    fn a_command_prints_its_sequence_and_request_id() {
        let r = common::CommandResult {
            aggregate_id: "o-1".into(),
            sequence: 42,
            events_appended: 1,
        };
        let v = CommandView::result(&r, &ctx());
        let text = v.table();
        assert_eq!(
            (value(&text, "sequence"), value(&text, "request_id")),
            (Some("42"), Some("req-1")),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&Printer { json: true }.render(&v).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"order_id": "o-1", "sequence": 42, "events_appended": 1, "request_id": "req-1", "actor": "li"})
        );
    }

    #[test]
    fn a_repeated_placement_says_so() {
        let r = order::PlaceOrderResponse {
            order_id: "o-1".into(),
            sequence: 3,
            created: false,
        };
        let text = CommandView::placed(&r, &ctx()).table();
        assert_eq!(value(&text, "created"), Some("false"), "{text}");
        assert!(
            value(&text, "note").is_some_and(|n| n.contains("already existed")),
            "{text}"
        );
    }

    #[test]
    fn an_order_prints_times_money_and_names() {
        let v = OrderView::new(&sample_order(), CHINA);
        let text = v.table();
        for want in [
            "CONFIRMED",
            "PARTNER CTRIP",
            "王小明 (C1) 138",
            "2026-12-01T10:00:00+08:00  station SHA-PVG",
            "450.00 CNY",
            "REACHED",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(
            json["price"],
            serde_json::json!({"amount_fen": 45000, "currency": "CNY"})
        );
        assert_eq!(json["pickup_location"], serde_json::json!({"station_id": "SHA-PVG"}));
        assert_eq!(json["pickup_at"], "2026-12-01T10:00:00+08:00");
        assert_eq!(json["return_at"], serde_json::Value::Null);
        assert_eq!(json["sequence"], 7);
        let utc = serde_json::to_value(OrderView::new(&sample_order(), UTC)).unwrap_or_default();
        assert_eq!(utc["pickup_at"], "2026-12-01T02:00:00Z");
    }

    #[test]
    fn a_list_aligns_cjk_names_and_offers_the_next_page() {
        let mut other = sample_order();
        other.customer = Some(order::Customer {
            name: "Li".into(),
            ..Default::default()
        });
        let v = OrderListView {
            orders: vec![OrderView::new(&sample_order(), CHINA), OrderView::new(&other, CHINA)],
            next_page_token: "tok".into(),
        };
        let text = v.table();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ORDER"), "{text}");
        // "王小明" is 6 columns wide: the next column starts at the same place on both rows.
        let col = |line: &str| {
            let at = line.find("2026").unwrap_or(0);
            line[..at]
                .chars()
                .map(|c| if c.is_ascii() { 1 } else { 2 })
                .sum::<usize>()
        };
        assert_eq!(col(lines[1]), col(lines[2]), "{text}");
        assert!(
            text.ends_with("more: rerun with --page-token tok (or --all)\n"),
            "{text}"
        );
        assert_eq!(
            OrderListView {
                orders: vec![],
                next_page_token: String::new()
            }
            .table(),
            "no orders\n"
        );
    }

    #[test]
    fn history_has_one_row_per_event() {
        let entry = |sequence, ev| order::HistoryEntry {
            sequence,
            event_type: "ContactAttemptRecorded".into(),
            actor: "li".into(),
            recorded_at: Some(Timestamp {
                seconds: 1_796_090_400,
                nanos: 0,
            }),
            event: Some(order::OrderEvent { event: ev }),
            ..Default::default()
        };
        let call = order::order_event::Event::ContactAttemptRecorded(order::ContactAttemptRecorded {
            outcome: order::ContactOutcome::Reached as i32,
            agent: "li".into(),
            ..Default::default()
        });
        let r = order::GetOrderHistoryResponse {
            entries: vec![entry(5, Some(call)), entry(6, None)],
        };
        let v = HistoryView::new("o-1", &r, CHINA);
        let text = v.table();
        assert!(
            text.contains("5    2026-12-01T10:00:00+08:00  ContactAttemptRecorded  li     outcome=REACHED agent=li"),
            "{text}"
        );
        assert!(text.contains("does not know"), "{text}");
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["entries"][0]["event"]["outcome"], "REACHED");
        assert_eq!(json["entries"][1]["event"], serde_json::Value::Null);
    }

    #[test]
    fn the_queue_flags_overdue_calls() {
        let e = order::ConfirmationQueueEntry {
            order_id: "o-1".into(),
            city: "SHA".into(),
            customer: Some(order::Customer {
                name: "王小明".into(),
                phone: "138".into(),
                ..Default::default()
            }),
            attempts: 2,
            last_outcome: order::ContactOutcome::NoAnswer as i32,
            overdue: true,
            ..Default::default()
        };
        let v = QueueView {
            entries: vec![QueueView::entry(&e, CHINA)],
            next_page_token: String::new(),
        };
        let text = v.table();
        assert!(
            text.contains("NO_ANSWER") && text.contains("OVERDUE") && text.contains("王小明"),
            "{text}"
        );
        assert!(!text.contains("more:"), "{text}");
    }

    #[test]
    fn lapsed_orders_say_how_to_close_them() {
        let e = order::ConfirmationQueueEntry {
            order_id: "o-9".into(),
            city: "SHA".into(),
            customer: Some(order::Customer {
                name: "王小明".into(),
                phone: "138".into(),
                ..Default::default()
            }),
            pickup_at: Some(Timestamp {
                seconds: 1_796_090_400,
                nanos: 0,
            }),
            attempts: 3,
            last_outcome: order::ContactOutcome::NoAnswer as i32,
            ..Default::default()
        };
        let v = LapsedView {
            entries: vec![QueueView::entry(&e, CHINA)],
            next_page_token: String::new(),
        };
        let text = v.table();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("ORDER") && lines[0].contains("PICKUP AT"),
            "{text}"
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "o-9",
                "SHA",
                "王小明",
                "138",
                "2026-12-01T10:00:00+08:00",
                "3",
                "NO_ANSWER"
            ],
            "{text}"
        );
        assert!(lines[2].contains("rentops order no-show ORDER"), "{text}");
        let empty = LapsedView {
            entries: vec![],
            next_page_token: String::new(),
        };
        assert_eq!(empty.table(), "no lapsed orders\n");
    }

    #[test]
    fn projection_status_says_how_far_behind_whether_rebuilding_and_who_runs_it() {
        let p = admin::Projection {
            name: "fleet-demand".into(),
            stream: "ORDER".into(),
            projection_sequence: 90,
            stream_sequence: 120,
            lag: 30,
            rebuilding: true,
            lease_held_here: false,
            lease_holder: "fleet-7c9".into(),
            replica: "fleet-2aa".into(),
            rebuild_sequence: 40,
        };
        let v = ProjectionStatusView::new(std::slice::from_ref(&p));
        assert_eq!((v.projections[0].behind, v.projections[0].rebuilding), (30, true));
        let table = v.table();
        assert!(
            table.contains("30 events") && table.contains("yes: replaying") && table.contains("fleet-7c9"),
            "{table}"
        );
        // A projection never reads ahead of the stream, but a stale answer must not underflow.
        let ahead = admin::Projection {
            projection_sequence: 121,
            ..p.clone()
        };
        assert_eq!(ProjectionStatusView::new(&[ahead]).projections[0].behind, 0);
        // Nobody holds the lease: say so rather than print an empty name.
        let orphan = admin::Projection {
            lease_holder: String::new(),
            ..p
        };
        assert!(
            ProjectionStatusView::new(&[orphan])
                .table()
                .contains("nobody right now")
        );
    }
}
