//! Each `rentops order` subcommand: build its request, call the order service, and turn the
//! answer into the view that gets printed.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::anyhow;
use rentops_proto::order::order_service_client::OrderServiceClient;

use crate::admin::{self, Operation};

use crate::args::{ConsistencyArgs, LapsedArgs, ListArgs, OrderCommand, QueueArgs};
use crate::errors::Failure;
use crate::format::Times;
use crate::requests::{self, Context};
use crate::state::ReadYourWrites;
use crate::views::{CommandView, HistoryView, LapsedView, OrderListView, OrderView, Printer, QueueView};

pub type Client = OrderServiceClient<Connection>;

pub use rentops_proto::client::Connection;

/// What one run of the CLI carries besides its subcommand.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub ctx: Context,
    pub times: Times,
    pub printer: Printer,
    /// The sequence a query waits for by default, and the one a command got back.
    pub ryw: ReadYourWrites,
}

impl Invocation {
    /// What a query asks for: `--min-sequence`, nothing with `--no-wait`, else the sequence the
    /// last command to this service got back (the service's default wait, 2 s).
    pub fn consistency(&self, c: &ConsistencyArgs) -> Option<rentops_proto::common::Consistency> {
        self.ryw.consistency(c.min_sequence, c.no_wait, 0)
    }
}

/// Connects to `service` (its name, for the error) at `addr`. `timeout` bounds both connecting
/// and every call, so a service that is down or stuck never leaves a person staring at a silent
/// terminal.
///
/// An `https://` address is reached over TLS, trusting the authority in `RENTOPS_TLS_CA_FILE`.
pub async fn connect(service: &str, addr: &str, timeout: Duration) -> Result<Connection, Failure> {
    Ok(rentops_proto::client::connect(service, addr, timeout, timeout).await?)
}

impl OrderCommand {
    /// True for the commands (which change an order and carry a request id), false for queries
    /// and the SRE operations.
    pub fn is_command(&self) -> bool {
        !matches!(
            self,
            Self::Get(_)
                | Self::List(_)
                | Self::History(_)
                | Self::Queue(_)
                | Self::Lapsed(_)
                | Self::RebuildProjection(_)
                | Self::ProjectionStatus(_)
        )
    }
}

/// Connects to the order service at `addr`, runs one subcommand and returns the text to print.
pub async fn run(addr: &str, timeout: Duration, cmd: &OrderCommand, inv: &Invocation) -> Result<String, Failure> {
    match cmd {
        OrderCommand::RebuildProjection(a) => admin::run("order", addr, timeout, Operation::Rebuild, a, inv).await,
        OrderCommand::ProjectionStatus(a) => admin::run("order", addr, timeout, Operation::Status, a, inv).await,
        _ => {
            let mut client = OrderServiceClient::new(connect("order", addr, timeout).await?);
            run_on(&mut client, cmd, inv).await
        }
    }
}

/// Runs one subcommand of the order service itself.
async fn run_on(client: &mut Client, cmd: &OrderCommand, inv: &Invocation) -> Result<String, Failure> {
    let (ctx, times, printer) = (&inv.ctx, inv.times, inv.printer);
    // Every command but `place` answers with a CommandResult; queries print their own views.
    let result = match cmd {
        OrderCommand::Place(a) => {
            let r = client.place_order(requests::place(a, ctx)).await?;
            inv.ryw.wrote(r.get_ref().sequence);
            return Ok(printer.render(&CommandView::placed(r.get_ref(), ctx))?);
        }
        OrderCommand::Call(a) => client.record_contact_attempt(requests::call(a, ctx)).await?,
        OrderCommand::Confirm(a) => client.confirm_order(requests::confirm(a, ctx)).await?,
        OrderCommand::Change(a) => client.change_order(requests::change(a, ctx)).await?,
        OrderCommand::Cancel(a) => client.cancel_order(requests::cancel(a, ctx)).await?,
        OrderCommand::Pickup(a) => client.record_pickup(requests::pickup(a, ctx)).await?,
        OrderCommand::Swap(a) => client.record_swap(requests::swap(a, ctx)).await?,
        OrderCommand::Return(a) => client.record_return(requests::return_(a, ctx)).await?,
        OrderCommand::Complete(a) => client.complete_order(requests::complete(a, ctx)).await?,
        OrderCommand::NoShow(a) => client.mark_no_show(requests::no_show(a, ctx)).await?,
        OrderCommand::Get(a) => {
            let mut request = requests::get(a);
            request.consistency = inv.consistency(&a.consistency);
            let r = client.get_order(request).await?.into_inner();
            let order = r
                .order
                .ok_or_else(|| anyhow!("the service answered without an order"))?;
            return Ok(printer.render(&OrderView::new(&order, times))?);
        }
        OrderCommand::List(a) => return Ok(printer.render(&list(client, a, inv).await?)?),
        OrderCommand::History(a) => {
            let mut request = requests::history(a);
            request.consistency = inv.consistency(&a.consistency);
            let r = client.get_order_history(request).await?.into_inner();
            return Ok(printer.render(&HistoryView::new(&a.order_id, &r, times))?);
        }
        OrderCommand::Queue(a) => return Ok(printer.render(&queue(client, a, inv).await?)?),
        OrderCommand::Lapsed(a) => return Ok(printer.render(&lapsed(client, a, inv).await?)?),
        OrderCommand::RebuildProjection(_) | OrderCommand::ProjectionStatus(_) => {
            return Err(anyhow!("an SRE operation is not an order-service call").into());
        }
    };
    inv.ryw.wrote(result.get_ref().sequence);
    Ok(printer.render(&CommandView::result(result.get_ref(), ctx))?)
}

/// Remembers the page tokens seen while following pages, so a service that hands back a token
/// twice cannot keep `--all` looping forever.
pub(crate) struct Pages {
    seen: HashSet<String>,
}

impl Pages {
    pub(crate) fn new() -> Self {
        Self { seen: HashSet::new() }
    }

    /// The token to ask for next, or `None` when this was the last page to fetch.
    pub(crate) fn next(&mut self, follow: bool, next_page_token: &str) -> Result<Option<String>, Failure> {
        if !follow || next_page_token.is_empty() {
            return Ok(None);
        }
        if !self.seen.insert(next_page_token.to_owned()) {
            return Err(
                anyhow!("the service returned page token '{next_page_token}' twice; stopped following pages").into(),
            );
        }
        Ok(Some(next_page_token.to_owned()))
    }
}

async fn list(client: &mut Client, a: &ListArgs, inv: &Invocation) -> Result<OrderListView, Failure> {
    let times = inv.times;
    let consistency = inv.consistency(&a.consistency);
    let mut view = OrderListView {
        orders: Vec::new(),
        next_page_token: String::new(),
    };
    let mut token = a.page.page_token.clone().unwrap_or_default();
    let mut pages = Pages::new();
    loop {
        let mut request = requests::list(a, &token);
        request.consistency = consistency;
        let r = client.list_orders(request).await?.into_inner();
        view.orders.extend(r.orders.iter().map(|o| OrderView::new(o, times)));
        view.next_page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        match pages.next(a.page.all, &view.next_page_token)? {
            Some(next) => token = next,
            None => return Ok(view),
        }
    }
}

async fn queue(client: &mut Client, a: &QueueArgs, inv: &Invocation) -> Result<QueueView, Failure> {
    let times = inv.times;
    let consistency = inv.consistency(&a.consistency);
    let mut view = QueueView {
        entries: Vec::new(),
        next_page_token: String::new(),
    };
    let mut token = a.page.page_token.clone().unwrap_or_default();
    let mut pages = Pages::new();
    loop {
        let mut request = requests::queue(a, &token);
        request.consistency = consistency;
        let r = client.list_confirmation_queue(request).await?.into_inner();
        view.entries
            .extend(r.entries.iter().map(|e| QueueView::entry(e, times)));
        view.next_page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        match pages.next(a.page.all, &view.next_page_token)? {
            Some(next) => token = next,
            None => return Ok(view),
        }
    }
}

async fn lapsed(client: &mut Client, a: &LapsedArgs, inv: &Invocation) -> Result<LapsedView, Failure> {
    let consistency = inv.consistency(&a.consistency);
    let mut view = LapsedView {
        entries: Vec::new(),
        next_page_token: String::new(),
    };
    let mut token = a.page.page_token.clone().unwrap_or_default();
    let mut pages = Pages::new();
    loop {
        let mut request = requests::lapsed(a, &token);
        request.consistency = consistency;
        let r = client.list_lapsed_orders(request).await?.into_inner();
        view.entries
            .extend(r.entries.iter().map(|e| QueueView::entry(e, inv.times)));
        view.next_page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        match pages.next(a.page.all, &view.next_page_token)? {
            Some(next) => token = next,
            None => return Ok(view),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_pages_stops_at_the_end_or_on_a_repeated_token() {
        let mut p = Pages::new();
        assert_eq!(p.next(false, "a").ok().flatten(), None);
        assert_eq!(p.next(true, "").ok().flatten(), None);
        assert_eq!(p.next(true, "a").ok().flatten().as_deref(), Some("a"));
        assert_eq!(p.next(true, "b").ok().flatten().as_deref(), Some("b"));
        assert!(p.next(true, "a").is_err());
    }

    #[tokio::test]
    async fn a_bad_address_or_a_closed_port_is_an_error_not_a_panic() {
        assert!(connect("order", "http://", Duration::from_secs(1)).await.is_err());
        // Port 1 on loopback: nothing listens there.
        let err = connect("order", "http://127.0.0.1:1", Duration::from_secs(2))
            .await
            .err();
        let report = err.map(|e| e.report()).unwrap_or_default();
        assert!(
            report.starts_with("error: cannot connect to the order service at http://127.0.0.1:1"),
            "{report}"
        );
    }
}
