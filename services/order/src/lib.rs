//! The order service (docs/domain.md: 订单承接): takes orders from every sales channel, runs the
//! confirmation calls, records changes until pickup, the handover and the return.
//!
//! - [`domain`]: the order aggregate's pure rules (`decide` / `evolve`) and its wire mapping.
//! - [`api`]: the gRPC API (parse → command → reply; queries over the read model).
//! - [`projections`]: the read model (SQL and the event handlers that own it).
//! - [`reactors`]: time-driven steps (the confirmation deadline) and fleet's plan folded into
//!   the orders (the assigned car, at risk).
//! - [`app`]: wiring: configuration, event log, projector, reactors, gRPC server.

pub mod api;
pub mod app;
pub mod domain;
pub mod projections;
pub mod reactors;
pub mod validate;
