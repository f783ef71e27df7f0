//! What went wrong, told on stderr, and the exit code that goes with it: 2 when the input was
//! wrong (clap's bad flags, the service's INVALID_ARGUMENT), 1 for everything else.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Why an invocation failed.
#[derive(Debug)]
pub enum Failure {
    /// The service answered with an error status.
    Status(Status),
    /// Anything else: no connection, an answer that makes no sense, output that cannot be written.
    Other(anyhow::Error),
}

impl From<Status> for Failure {
    fn from(s: Status) -> Self {
        Self::Status(s)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Self::Other(anyhow::Error::new(e).context("cannot print the answer as JSON"))
    }
}

impl Failure {
    /// tonic reports its own client-side deadline as CANCELLED "Timeout expired"; say what it
    /// is, DEADLINE_EXCEEDED, and which flag sets it.
    pub fn explain_timeout(self, timeout_secs: u64) -> Self {
        match self {
            Self::Status(s) if s.code() == Code::Cancelled && s.message() == "Timeout expired" => Self::Status(
                Status::deadline_exceeded(format!("no answer within {timeout_secs} s (see --timeout-secs)")),
            ),
            other => other,
        }
    }

    pub fn deadline_exceeded(&self) -> bool {
        matches!(self, Self::Status(s) if s.code() == Code::DeadlineExceeded)
    }

    /// The process exit code: 2 for a request the service found invalid, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Status(s) if s.code() == Code::InvalidArgument => 2,
            _ => 1,
        }
    }

    /// Whether the command may have been applied even though no answer came back, so that a
    /// retry must reuse its request id to stay harmless.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Status(s) => matches!(
                s.code(),
                Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::Unknown
                    | Code::Internal
                    | Code::Aborted
            ),
            Self::Other(_) => false,
        }
    }

    /// The lines for stderr: `error: <code>: <message>`, then each field the service named.
    pub fn report(&self) -> String {
        match self {
            // `{:#}` prints the cause chain: "cannot connect to ...: transport error: ...".
            Self::Other(e) => format!("error: {e:#}\n"),
            Self::Status(s) => status_report(s),
        }
    }
}

fn status_report(s: &Status) -> String {
    let mut out = if s.message().is_empty() {
        format!("error: {}\n", code_name(s.code()))
    } else {
        format!("error: {}: {}\n", code_name(s.code()), s.message())
    };
    let details = s.get_error_details();
    for v in details
        .bad_request()
        .map(|b| b.field_violations.as_slice())
        .unwrap_or_default()
    {
        out += &format!("  - {}: {}", v.field, v.description);
        if !v.reason.is_empty() {
            out += &format!(" [{}]", v.reason);
        }
        out.push('\n');
    }
    for v in details
        .precondition_failure()
        .map(|p| p.violations.as_slice())
        .unwrap_or_default()
    {
        out += &format!("  - {} {}: {}\n", v.r#type, v.subject, v.description);
    }
    out
}

/// The canonical name of a gRPC code, as the gRPC docs and other tools print it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn invalid_arguments_list_every_field_and_exit_2() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("pickup_at", "must be before return_at");
        details.add_bad_request_violation("customer.phone", "required");
        let f = Failure::from(Status::with_error_details(
            Code::InvalidArgument,
            "2 fields are invalid",
            details,
        ));
        assert_eq!(
            f.report(),
            "error: INVALID_ARGUMENT: 2 fields are invalid\n  - pickup_at: must be before return_at\n  - customer.phone: required\n"
        );
        assert_eq!(f.exit_code(), 2);
        assert!(!f.outcome_unknown());
    }

    #[test]
    fn other_statuses_exit_1() {
        let f = Failure::from(Status::failed_precondition("no contact attempt reached the customer"));
        assert_eq!(
            f.report(),
            "error: FAILED_PRECONDITION: no contact attempt reached the customer\n"
        );
        assert_eq!(f.exit_code(), 1);
        let f = Failure::from(Status::unavailable(""));
        assert_eq!(
            (f.report().as_str(), f.exit_code(), f.outcome_unknown()),
            ("error: UNAVAILABLE\n", 1, true)
        );
    }

    #[test]
    fn the_client_deadline_reads_as_deadline_exceeded() {
        let f = Failure::from(Status::cancelled("Timeout expired")).explain_timeout(3);
        assert_eq!(
            f.report(),
            "error: DEADLINE_EXCEEDED: no answer within 3 s (see --timeout-secs)\n"
        );
        assert!(f.outcome_unknown());
        let f = Failure::from(Status::cancelled("shutting down")).explain_timeout(3);
        assert_eq!(f.report(), "error: CANCELLED: shutting down\n");
    }

    #[test]
    fn other_failures_print_their_cause_chain() {
        let e = anyhow::anyhow!("connection refused").context("cannot connect to http://127.0.0.1:50051");
        let f = Failure::from(e);
        assert_eq!(
            f.report(),
            "error: cannot connect to http://127.0.0.1:50051: connection refused\n"
        );
        assert_eq!(f.exit_code(), 1);
    }
}
