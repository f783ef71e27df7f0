//! Time-driven steps and reactions to other services' events, issued as commands.

pub mod confirmation_deadline;
pub mod fleet_plan;
