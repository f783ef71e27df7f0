//! The fleet's aggregates, pure: no I/O, no clock, no randomness. Time and ids come in with each
//! command.
//!
//! Fleet events are flat facts, so the domain events *are* the wire messages of
//! `proto/rentops/fleet/v1/events.proto`, each wrapped in one variant of the aggregate's event
//! enum (see [`wire_events!`]); decoding checks every timestamp, so `evolve` can read them
//! without failing. Commands and states are domain types with `OffsetDateTime` and newtypes.

pub mod city;
pub mod driver;
pub mod plan;
pub mod types;
pub mod vehicle;

#[cfg(test)]
mod tests;

pub use types::*;

/// Declares an aggregate's event enum over the wire messages: one variant per message, named as
/// the message (which is also the event name on the subject and in `ce-type`), with the codec.
#[macro_export]
macro_rules! wire_events {
    ($enum:ident { $($name:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, PartialEq)]
        pub enum $enum {
            $($name(rentops_proto::fleet::$name)),+
        }

        impl $enum {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name)),+
                }
            }

            pub fn encode(&self) -> rentops_eventstore::NewEvent {
                let payload = match self {
                    $(Self::$name(m) => prost::Message::encode_to_vec(m)),+
                };
                rentops_eventstore::NewEvent { name: self.name(), payload: payload.into() }
            }

            pub fn decode(name: &str, payload: &[u8]) -> Result<Self, rentops_eventstore::aggregate::DecodeError> {
                let err = |message: String| rentops_eventstore::aggregate::DecodeError { name: name.to_owned(), message };
                let event = match name {
                    $(stringify!($name) => Self::$name(
                        <rentops_proto::fleet::$name as prost::Message>::decode(payload).map_err(|e| err(e.to_string()))?,
                    ),)+
                    other => return Err(err(format!("unknown event {other}"))),
                };
                $crate::domain::types::check_times(&event).map_err(err)?;
                Ok(event)
            }
        }
    };
}
