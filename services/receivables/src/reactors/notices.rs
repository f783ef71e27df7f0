//! The notification gateway: every notice a ladder step sends (SMS, app push, the desk's call)
//! is handed to the gateway, which delivers it. The gateway of the local cluster writes each
//! notice as one JSON line to a file (or the log); a vendor's SMS or push gateway takes its
//! place in production. A notice may be delivered again after a crash between delivery and
//! acknowledgement, so each line carries the event's id and the notice's number within it, by
//! which the receiving side recognises a repeat.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use rentops_eventstore::RecordedEvent;
use rentops_kernel::EventCodec;
use rentops_reactor::{React, Reaction, Subscription};

use crate::domain::codec::step_pb;
use crate::domain::violation::NoticeChannel;
use crate::domain::{ViolationAggregate, ViolationEvent};

/// Where the local gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeLog {
    /// The service's own log (target `notices`).
    Log,
    /// A file of JSON lines, appended to.
    File(PathBuf),
}

pub struct NoticeGateway {
    pub log: NoticeLog,
    /// Serialises writers of the file within this process.
    lock: Mutex<()>,
}

impl NoticeGateway {
    pub fn new(log: NoticeLog) -> Self {
        Self {
            log,
            lock: Mutex::new(()),
        }
    }

    /// The gateway's subscription to this service's own ladder steps.
    pub fn subscription(stream: &str) -> Subscription {
        let mut s = Subscription::new(
            stream,
            "receivables-notice-gateway",
            &["rentops.receivables.violation.*.LadderStepTaken"],
        );
        s.description = "rentops receivables: notices handed to the notification gateway".into();
        s.max_ack_pending = 1;
        s
    }

    fn deliver(&self, lines: &[String]) -> std::io::Result<()> {
        match &self.log {
            NoticeLog::Log => {
                for l in lines {
                    tracing::info!(target: "notices", notice = %l, "notice sent");
                }
                Ok(())
            }
            NoticeLog::File(path) => {
                let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                let mut text = String::new();
                for l in lines {
                    text.push_str(l);
                    text.push('\n');
                }
                f.write_all(text.as_bytes())?;
                f.flush()
            }
        }
    }
}

fn channel(c: NoticeChannel) -> &'static str {
    match c {
        NoticeChannel::Sms => "SMS",
        NoticeChannel::AppPush => "APP_PUSH",
        NoticeChannel::DeskCall => "DESK_CALL",
    }
}

impl React for NoticeGateway {
    fn name(&self) -> &str {
        "receivables-notice-gateway"
    }

    async fn handle(&self, event: &RecordedEvent) -> Reaction {
        let decoded = match ViolationAggregate::decode(&event.name, &event.payload) {
            Ok(e) => e,
            Err(e) => return Reaction::Skipped(format!("undecodable ladder step: {e}")),
        };
        let ViolationEvent::StepTaken(step) = decoded else {
            return Reaction::Done;
        };
        let lines: Vec<String> = step
            .notices
            .iter()
            .enumerate()
            .map(|(i, n)| {
                serde_json::json!({
                    "event_id": event.meta.event_id.to_string(),
                    "notice": i,
                    "violation_id": event.meta.aggregate_id,
                    "step": step_pb(step.step).as_str_name(),
                    "channel": channel(n.channel),
                    "customer_id": n.customer_id,
                    "phone": n.phone,
                    "template": n.template,
                    "text": n.text,
                    "taken_at": rentops_kernel::timestamp::to_rfc3339(step.taken_at).unwrap_or_default(),
                })
                .to_string()
            })
            .collect();
        if lines.is_empty() {
            return Reaction::Done;
        }
        match self.deliver(&lines) {
            Ok(()) => {
                metrics::counter!("rentops_receivables_notices_sent_total").increment(lines.len() as u64);
                Reaction::Done
            }
            Err(e) => Reaction::Retry(format!("the notice gateway cannot write: {e}")),
        }
    }
}
