//! What a command RPC was answered, in a form tests compare: the same commands sent to one
//! replica and to several must be answered alike, refusals included.

use rentops_proto::common::CommandResult;

/// One command's answer: its result, or its status code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done { sequence: u64, events_appended: u32 },
    Refused { code: tonic::Code, message: String },
}

impl Answer {
    pub fn of(result: Result<tonic::Response<CommandResult>, tonic::Status>) -> Answer {
        match result {
            Ok(r) => {
                let r = r.into_inner();
                Answer::Done {
                    sequence: r.sequence,
                    events_appended: r.events_appended,
                }
            }
            Err(status) => Answer::Refused {
                code: status.code(),
                message: status.message().to_owned(),
            },
        }
    }

    /// The answer with its stream sequence left out, for a service whose background work (a
    /// re-plan, say) appends to the same stream at moments of its own.
    pub fn without_sequence(self) -> Answer {
        match self {
            Answer::Done { events_appended, .. } => Answer::Done {
                sequence: 0,
                events_appended,
            },
            refused => refused,
        }
    }

    pub fn is_refusal(&self, code: tonic::Code) -> bool {
        matches!(self, Answer::Refused { code: c, .. } if *c == code)
    }

    pub fn appended(&self, events: u32) -> bool {
        matches!(self, Answer::Done { events_appended, .. } if *events_appended == events)
    }
}
