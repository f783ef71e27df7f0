//! Parsing gRPC input: every check names the field it refuses, and all the violations of one
//! request are reported together as `google.rpc.BadRequest` (INVALID_ARGUMENT). The checks every
//! service shares live here; a service adds its own through an extension trait on [`Violations`].

use rentops_kernel::Plate;
use rentops_proto::common;
use rentops_proto::timestamp::from_timestamp;
use time::OffsetDateTime;
use tonic::Status;

/// The most money one field may carry: 10 billion yuan, far above any charge or rental, far
/// below `i64`, so sums of many amounts stay checkable.
pub const MAX_FEN: i64 = 1_000_000_000_000;

/// The field violations of one request.
#[derive(Default)]
pub struct Violations(Vec<(String, String)>);

/// How far ahead of the service's clock a command may say something happened.
pub const MAX_AHEAD: time::Duration = time::Duration::minutes(5);
/// How far back a command may say something happened: a backlog entered late, a little over a
/// year at most.
pub const MAX_BACKDATE: time::Duration = time::Duration::days(400);

impl Violations {
    /// A vehicle model from its wire enum: `required` makes the unset value an error; an unknown
    /// value always is.
    pub fn model(&mut self, field: &str, value: i32, required: bool) -> Option<rentops_kernel::VehicleModel> {
        match rentops_proto::model::model_from_pb(value) {
            None if value == 0 && !required => None,
            parsed => self.enum_value(field, "vehicle model", value, parsed),
        }
    }

    /// A required wire enum's `value`, as `parsed` from it: the unset value (0) is refused as
    /// "required", any other value that did not parse as an unknown `what`.
    pub fn enum_value<T>(&mut self, field: &str, what: &str, value: i32, parsed: Option<T>) -> Option<T> {
        if parsed.is_none() {
            self.add(
                field,
                if value == 0 {
                    "required".to_string()
                } else {
                    format!("unknown {what} {value}")
                },
            );
        }
        parsed
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The refused fields and why, for a caller that reports them itself (an import's
    /// rejected lines) rather than failing the request.
    pub fn into_fields(self) -> Vec<(String, String)> {
        self.0
    }

    /// `Ok(value)` when nothing was refused, else INVALID_ARGUMENT naming every field.
    pub fn finish<T>(self, value: T) -> Result<T, Status> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(crate::bad_request(self.0))
        }
    }

    /// Text of at most `max` characters, trimmed; required ones must not be blank; no control
    /// characters but line breaks.
    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let v = value.trim();
        if required && v.is_empty() {
            self.add(field, "required");
        } else if v.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
        } else if v.chars().any(|c| c.is_control() && c != '\n') {
            self.add(field, "must not contain control characters");
        }
        v.to_owned()
    }

    pub fn time(&mut self, field: &str, value: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
        let t = value?;
        match from_timestamp(t) {
            Ok(t) => Some(t),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// When a command says something happened (`value`; unset: `now`): at most
    /// [`MAX_AHEAD`] ahead of the service's clock (the desk's clocks are not the service's) and
    /// at most [`MAX_BACKDATE`] back (work entered late, not history rewritten).
    pub fn happened(
        &mut self,
        field: &str,
        value: Option<&prost_types::Timestamp>,
        now: OffsetDateTime,
    ) -> OffsetDateTime {
        let at = self.time(field, value).unwrap_or(now);
        if at > now + MAX_AHEAD {
            self.add(field, "cannot be in the future");
        } else if at < now - MAX_BACKDATE {
            self.add(field, format!("more than {} days ago", MAX_BACKDATE.whole_days()));
        }
        at
    }

    pub fn required_time(&mut self, field: &str, value: Option<&prost_types::Timestamp>) -> OffsetDateTime {
        if value.is_none() {
            self.add(field, "required");
        }
        self.time(field, value).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn phone(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        let digits = v.chars().filter(char::is_ascii_digit).count();
        if v.is_empty() {
            self.add(field, "required");
        } else if !v.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ')) || !(5..=20).contains(&digits)
        {
            self.add(field, "5 to 20 digits, optionally with +, - and spaces");
        }
        v.to_owned()
    }

    /// Money in CNY fen, not negative, not absurd; `required` makes an absent amount an error.
    pub fn money(&mut self, field: &str, value: Option<&common::Money>, required: bool) -> Option<rentops_kernel::Fen> {
        let Some(m) = value else {
            if required {
                self.add(field, "required");
            }
            return None;
        };
        if m.currency != "CNY" {
            self.add(format!("{field}.currency"), "must be CNY");
        }
        if m.amount_fen < 0 {
            self.add(format!("{field}.amount_fen"), "must not be negative");
        } else if m.amount_fen > MAX_FEN {
            self.add(format!("{field}.amount_fen"), format!("must be at most {MAX_FEN} fen"));
        }
        Some(rentops_kernel::Fen(m.amount_fen))
    }

    /// A Chinese plate, normalised by the kernel's one rule (`沪A·D12345`, `沪AD12345` and
    /// `沪ad12345` are one plate); the violation says what is wrong with it.
    pub fn plate(&mut self, field: &str, value: &str) -> Option<Plate> {
        match Plate::parse(value) {
            Ok(plate) => Some(plate),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }
}

/// The command's context: the request id (the idempotency key) is required, and so is the actor
/// unless the caller was authenticated: then the actor is the token's subject, whatever the
/// request says, so nobody records an action in someone else's name.
pub struct Context {
    pub request_id: String,
    pub actor: String,
    pub correlation_id: String,
    /// What the request asks for ([`rentops_proto::CommandRequest::fingerprint`]), to tell a
    /// retry from a request id reused for something else.
    pub fingerprint: String,
}

/// The command context of `request`, checked, with the request's fingerprint; `caller` is the
/// authenticated caller, if any ([`crate::auth::Caller::of`]).
pub fn context(
    v: &mut Violations,
    request: &impl rentops_proto::CommandRequest,
    caller: Option<&crate::auth::Caller>,
) -> Context {
    let fingerprint = request.fingerprint();
    let Some(ctx) = request.context() else {
        v.add(
            "context",
            if caller.is_some() {
                "required: request_id"
            } else {
                "required: request_id and actor"
            },
        );
        return Context {
            request_id: String::new(),
            actor: String::new(),
            correlation_id: String::new(),
            fingerprint,
        };
    };
    let request_id = ctx.request_id.trim().to_owned();
    if request_id.is_empty() {
        v.add("context.request_id", "required");
    } else if request_id.len() > 128 || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
        v.add("context.request_id", "1 to 128 printable ASCII characters");
    }
    let actor = match caller {
        Some(caller) => caller.subject.clone(),
        None => v.text("context.actor", &ctx.actor, 100, true),
    };
    let correlation_id = v.text("context.correlation_id", &ctx.correlation_id, 128, false);
    let correlation_id = if correlation_id.is_empty() {
        request_id.clone()
    } else {
        correlation_id
    };
    Context {
        request_id,
        actor,
        correlation_id,
        fingerprint,
    }
}

/// 1–500, 0 meaning the default of 50.
pub fn page_size(v: &mut Violations, page: Option<&common::PageRequest>) -> usize {
    match page.map(|p| p.page_size).unwrap_or(0) {
        0 => 50,
        n @ 1..=500 => n as usize,
        _ => {
            v.add("page.page_size", "at most 500");
            50
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_are_normalised_and_bad_ones_named() {
        let mut v = Violations::default();
        let plate = v.plate("plate", "沪ad12345").map(|p| p.to_string());
        assert_eq!(plate.as_deref(), Some("沪A·D12345"));
        assert_eq!(v.plate("plate", "沪A.D1234"), v.plate("plate", "沪AD1234"));
        assert!(v.is_empty());
        assert_eq!(v.plate("plate", "ABC123"), None);
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.0[0].0, "plate");
        assert!(v.0[0].1.contains("7 characters"), "{}", v.0[0].1);
    }

    #[test]
    fn timestamps_outside_business_dates_are_refused_naming_the_field() {
        let mut v = Violations::default();
        assert_eq!(
            v.time("at", Some(&prost_types::Timestamp { seconds: -1, nanos: 0 })),
            None
        );
        assert_eq!(
            v.time(
                "at",
                Some(&prost_types::Timestamp {
                    seconds: 0,
                    nanos: 1_000_000_000
                })
            ),
            None
        );
        assert_eq!(v.0.len(), 2);
        assert!(v.0[1].1.contains("nanos"), "{}", v.0[1].1);
        let ok = v.time(
            "at",
            Some(&prost_types::Timestamp {
                seconds: 1_764_547_200,
                nanos: 5,
            }),
        );
        assert_eq!(
            ok.map(|t| (t.unix_timestamp(), t.nanosecond())),
            Some((1_764_547_200, 5))
        );
        assert_eq!(v.0.len(), 2);
    }
}
