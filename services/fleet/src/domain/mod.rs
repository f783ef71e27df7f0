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
            /// Every event name of the enum, in declaration order.
            pub const NAMES: &[&str] = &[$(stringify!($name)),+];

            /// One event of each kind, each with an empty message: for the codec's round trip
            /// over every kind.
            #[cfg(test)]
            pub fn empty_of_each_kind() -> Vec<Self> {
                vec![$(Self::$name(Default::default())),+]
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => stringify!($name)),+
                }
            }

            /// The wire body: the message itself, not a wrapper.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Self::$name(m) => prost::Message::encode_to_vec(m)),+
                }
            }

            pub fn decode(name: &str, payload: &[u8]) -> Result<Self, rentops_kernel::DecodeError> {
                let event = match name {
                    $(stringify!($name) => Self::$name(
                        <rentops_proto::fleet::$name as prost::Message>::decode(payload)
                            .map_err(|e| rentops_kernel::DecodeError::malformed(name, e))?,
                    ),)+
                    other => return Err(rentops_kernel::DecodeError::unknown(other)),
                };
                $crate::domain::types::check_times(name, &event)?;
                Ok(event)
            }
        }
    };
}
