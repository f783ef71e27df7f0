//! What every service's gRPC handlers do the same way around a command: run it with the
//! request's context, answer with the common `CommandResult`, and turn failures into statuses
//! chosen from the error's kind.

use rentops_eventstore::{CommandHandler, CommandMeta, ExecuteError, Executed};
use rentops_kernel::{Aggregate, EventCodec};
use rentops_proto::common;
use rentops_runtime::validate::Context;
use time::OffsetDateTime;
use tonic::Status;

/// A domain's broken rules as gRPC statuses: each variant to its own code (a rule refused is
/// FAILED_PRECONDITION, a field INVALID_ARGUMENT naming it, never INTERNAL). Written once per
/// error type, by the service that owns it.
pub trait DomainStatus: std::error::Error + Send + Sync + 'static {
    fn status(self) -> Status;
}

/// The status of a failed execution: the domain's own for a broken rule, the event log's for
/// the rest (a lost race, a request id reused, the log unreachable).
pub fn status<E: DomainStatus>(e: ExecuteError<E>) -> Status {
    e.into_status(DomainStatus::status)
}

/// The metadata a command is recorded with: the request's context (its request id is also the
/// causation id of a command that comes from a person) at `time`.
pub fn meta(ctx: Context, time: OffsetDateTime) -> CommandMeta {
    CommandMeta {
        causation_id: ctx.request_id.clone(),
        request_id: ctx.request_id,
        fingerprint: Some(ctx.fingerprint),
        correlation_id: ctx.correlation_id,
        actor: ctx.actor,
        time,
    }
}

/// Runs `command` on aggregate `id` (`create`: the command may start it).
pub async fn execute<A>(
    handler: &CommandHandler<A>,
    id: &str,
    ctx: Context,
    time: OffsetDateTime,
    command: &A::Command,
    create: bool,
) -> Result<Executed<A::State>, Status>
where
    A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>,
    A::Error: DomainStatus,
{
    handler
        .execute(id, &meta(ctx, time), command, create)
        .await
        .map_err(status)
}

/// The answer to a command: which aggregate, the sequence it reached (for read-your-writes), how
/// many events were appended (0 for a retry or a command that changed nothing).
pub fn command_result<S>(e: &Executed<S>) -> common::CommandResult {
    common::CommandResult {
        aggregate_id: e.aggregate_id.clone(),
        sequence: e.sequence,
        events_appended: e.events_appended,
    }
}
