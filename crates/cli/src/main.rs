//! `rentops`: the command-line client of the rentops services. It drives every command and query
//! of the order, fleet, receivables and complaint services over gRPC and prints a table, or JSON with
//! `--json`.
//!
//! Layout: `args` (the flags, parsed by clap), `requests` (flags → request messages),
//! `commands` (the calls), `admin` (every service's projection status and rebuild), `views` and
//! `events` (answers → tables and JSON), `fleet` and `fleet_views` (the fleet group),
//! `receivables`, `receivables_import` (a vendor's file → violation records) and
//! `receivables_views` (the receivables group), `complaint` and `complaint_views` (the
//! complaint group), `streams` (`events tail` / `events export`: the
//! event streams from NATS, decoded), `format` (times, money, enum names), `errors`
//! (stderr and exit codes), `state` (the sequence each service last gave a command, so the next
//! query reads that write). `report` is the `rentops-report` crate's and `demo` the
//! `rentops-demo` crate's. This file is wiring only.

mod admin;
mod args;
mod commands;
mod complaint;
mod complaint_views;
mod errors;
mod events;
mod fleet;
mod fleet_views;
mod format;
mod receivables;
mod receivables_import;
mod receivables_views;
mod requests;
mod state;
mod streams;
mod typed;
mod views;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::commands::Invocation;
use crate::errors::Failure;
use crate::format::{Times, Zone};
use crate::requests::Context;
use crate::state::{ReadYourWrites, Sequences};
use crate::views::Printer;

/// mimalloc rather than glibc's malloc, as in the services: `events export` allocates each
/// message on the reader's thread and frees it on a formatter's, and each formatted batch on a
/// formatter's and frees it on the writer's, where glibc's arenas are slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Bad flags: clap prints why and exits with 2 (0 for --help and --version).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return fail(
                &Failure::Other(anyhow::Error::new(e).context("cannot start the async runtime")),
                None,
            );
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let g = &cli.global;
    // The service this invocation talks to, for read-your-writes across invocations.
    let (service, addr) = match &cli.command {
        Command::Order(_) => ("order", g.order_addr.as_str()),
        Command::Fleet(_) => ("fleet", g.fleet_addr.as_str()),
        Command::Receivables(_) => ("receivables", g.receivables_addr.as_str()),
        Command::Complaint(_) => ("complaint", g.complaint_addr.as_str()),
        // Reads NATS, not a service: nothing to read one's writes from.
        Command::Events(_) => ("events", ""),
        // Reads all four services; a report writes nothing.
        Command::Report(_) => ("report", ""),
        // Its commands carry request ids of its own, derived from the seed.
        Command::Demo(_) => ("demo", ""),
    };
    let (mut sequences, warning) = Sequences::load(state::dir_from(|k| std::env::var(k).ok()));
    if let Some(w) = warning {
        warn(&w);
    }
    let inv = Invocation {
        ctx: Context::new(g.request_id.clone(), g.actor.clone(), std::env::var("USER").ok()),
        // Tables cut times to whole seconds for reading; JSON keeps them exact.
        times: Times::new(if g.utc { Zone::Utc } else { Zone::China }, !g.json),
        printer: Printer { json: g.json },
        ryw: ReadYourWrites {
            remembered: sequences.get(service, addr),
            ..ReadYourWrites::default()
        },
    };
    let timeout = Duration::from_secs(g.timeout_secs);
    let (request_id, result) = match &cli.command {
        Command::Order(cmd) => {
            // Only a command carries a request id worth retrying with.
            let request_id = cmd.is_command().then_some(inv.ctx.request_id.as_str());
            (request_id, commands::run(&g.order_addr, timeout, cmd, &inv).await)
        }
        Command::Fleet(cmd) => {
            let request_id = cmd.is_command().then_some(inv.ctx.request_id.as_str());
            (request_id, fleet::run(&g.fleet_addr, timeout, cmd, &inv).await)
        }
        Command::Receivables(cmd) => {
            let request_id = cmd.is_command().then_some(inv.ctx.request_id.as_str());
            let explicit = g.request_id.as_deref();
            (
                request_id,
                receivables::run(&g.receivables_addr, timeout, cmd, &inv, explicit).await,
            )
        }
        Command::Complaint(cmd) => {
            let request_id = cmd.is_command().then_some(inv.ctx.request_id.as_str());
            (request_id, complaint::run(&g.complaint_addr, timeout, cmd, &inv).await)
        }
        Command::Events(cmd) => (None, streams::run(cmd).await),
        Command::Report(args) => (None, report(args, g).await),
        Command::Demo(args) => (None, demo(args, g).await),
    };
    let result = result.map_err(|f| f.explain_timeout(g.timeout_secs));
    if let (Ok(_), Some(sequence)) = (&result, inv.ryw.written.get())
        && let Err(w) = sequences.remember(service, addr, sequence)
    {
        warn(&w);
    }
    if result.as_ref().is_err_and(Failure::deadline_exceeded) && inv.ryw.waited.get() {
        warn(&format!(
            "the query waited for sequence {} of the {service} service, which your last command got back; \
             --no-wait reads the view as it is",
            inv.ryw.remembered.unwrap_or_default()
        ));
    }
    match result {
        Ok(text) => match io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`| head`): nothing left to tell anyone.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(
                &Failure::Other(anyhow::Error::new(e).context("cannot write the answer")),
                None,
            ),
        },
        Err(failure) => fail(&failure, request_id),
    }
}

/// The four services' addresses, as the global flags give them.
fn endpoints(g: &args::GlobalArgs) -> rentops_proto::Endpoints {
    rentops_proto::Endpoints {
        order: g.order_addr.clone(),
        fleet: g.fleet_addr.clone(),
        receivables: g.receivables_addr.clone(),
        complaint: g.complaint_addr.clone(),
    }
}

async fn report(args: &rentops_report::ReportArgs, g: &args::GlobalArgs) -> Result<String, Failure> {
    rentops_report::run(args, &endpoints(g)).await.map_err(Failure::Other)
}

async fn demo(args: &rentops_demo::DemoArgs, g: &args::GlobalArgs) -> Result<String, Failure> {
    rentops_demo::run(args, &endpoints(g), g.json)
        .await
        .map_err(Failure::Other)
}

/// A warning on stderr; nothing is left to do if even stderr is gone.
fn warn(text: &str) {
    let _ = writeln!(io::stderr().lock(), "warning: {text}");
}

/// Tells stderr what failed and returns the exit code for it. When a command's fate is unknown
/// (timeout, connection lost), says how to retry it without applying it twice.
fn fail(failure: &Failure, request_id: Option<&str>) -> ExitCode {
    let mut text = failure.report();
    if let Some(id) = request_id.filter(|_| failure.outcome_unknown()) {
        text += &format!(
            "request_id: {id} (the command may have been applied; retry with --request-id {id} so it applies once)\n"
        );
    }
    // Nothing sensible is left to do if even stderr is gone.
    let _ = io::stderr().lock().write_all(text.as_bytes());
    ExitCode::from(failure.exit_code())
}
