//! Parsing gRPC input into domain values. Every check names the field it refuses, and all the
//! violations of one request are reported together (`google.rpc.BadRequest`).

use rentops_proto::common;
use time::OffsetDateTime;
use tonic::Status;

use crate::domain::{Model, from_ts, is_city, is_id};

#[derive(Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// `Ok(value)` when nothing was refused, else INVALID_ARGUMENT naming every field.
    pub fn finish<T>(self, value: T) -> Result<T, Status> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(rentops_runtime::bad_request(self.0))
        }
    }

    /// Text of at most `max` characters, trimmed; required ones must not be blank.
    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let v = value.trim();
        if required && v.is_empty() {
            self.add(field, "required");
        } else if v.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
        } else if v.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
        v.to_owned()
    }

    /// An id usable as a subject token: 1..=64 of A–Z, a–z, 0–9, '_' or '-'.
    pub fn id(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required");
        } else if !is_id(v) {
            self.add(field, "1 to 64 of A-Z, a-z, 0-9, '_' or '-'");
        }
        v.to_owned()
    }

    pub fn city(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "required");
        } else if !is_city(v) {
            self.add(field, "a city code: 2 to 8 of A-Z and 0-9, e.g. SHA");
        }
        v.to_owned()
    }

    pub fn time(&mut self, field: &str, value: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
        let t = value?;
        match from_ts(t) {
            Ok(t) => Some(t),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn required_time(&mut self, field: &str, value: Option<&prost_types::Timestamp>) -> OffsetDateTime {
        if value.is_none() {
            self.add(field, "required");
        }
        self.time(field, value).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn model(&mut self, field: &str, value: i32, required: bool) -> Option<Model> {
        match Model::from_pb(value) {
            Some(m) => Some(m),
            None if value == 0 && !required => None,
            None => {
                self.add(
                    field,
                    if value == 0 {
                        "required".to_string()
                    } else {
                        format!("unknown vehicle model {value}")
                    },
                );
                None
            }
        }
    }

    /// A Chinese plate: province character, a letter, then 5 or 6 letters or digits; the dot is
    /// optional and normalised to '·'.
    pub fn plate(&mut self, field: &str, value: &str) -> String {
        let v: String = value.trim().chars().filter(|c| !matches!(c, '·' | '.' | ' ')).collect();
        let chars: Vec<char> = v.chars().collect();
        let ok = (7..=8).contains(&chars.len())
            && ('\u{4e00}'..='\u{9fff}').contains(&chars[0])
            && chars[1].is_ascii_uppercase()
            && chars[2..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            self.add(field, "a plate like 沪A·D12345");
            return value.trim().to_owned();
        }
        format!("{}{}·{}", chars[0], chars[1], chars[2..].iter().collect::<String>())
    }

    /// A VIN: 17 of A–Z (no I, O, Q) and 0–9.
    pub fn vin(&mut self, field: &str, value: &str) -> String {
        let v = value.trim().to_ascii_uppercase();
        if v.len() != 17
            || !v
                .bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOQ".contains(&b)))
        {
            self.add(field, "17 characters: A-Z (no I, O, Q) and 0-9");
        }
        v
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
}

/// The command's context: request id (the idempotency key) and actor are required.
pub struct Context {
    pub request_id: String,
    pub actor: String,
    pub correlation_id: String,
}

pub fn context(v: &mut Violations, ctx: Option<&common::CommandContext>) -> Context {
    let Some(ctx) = ctx else {
        v.add("context", "required: request_id and actor");
        return Context {
            request_id: String::new(),
            actor: String::new(),
            correlation_id: String::new(),
        };
    };
    let request_id = ctx.request_id.trim().to_owned();
    if request_id.is_empty() {
        v.add("context.request_id", "required");
    } else if request_id.len() > 128 || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
        v.add("context.request_id", "1 to 128 printable ASCII characters");
    }
    let actor = v.text("context.actor", &ctx.actor, 100, true);
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
    }
}

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
