//! The fleet service (docs/domain.md: 联动协调, 排单计划): vehicles, drivers and the city's
//! configuration as event-sourced aggregates; demand from the order service's events; a re-plan
//! of the city whenever demand or supply changes, published as events the order service folds in;
//! and the KPIs (fulfilment rate, idle rate) planned and actual.
//!
//! - [`domain`]: the aggregates' pure rules (`decide` / `evolve`): vehicle, driver, city, plan.
//! - [`api`]: the gRPC API (parse → command → reply; queries over the read model).
//! - [`projections`]: the read models: the fleet's own events, and the demand from ORDER.
//! - [`reactors`]: order events and supply changes → re-plan commands; handover readings.
//! - [`app`]: wiring: configuration, event log, projectors, reactors, gRPC server.

pub mod api;
pub mod app;
pub mod domain;
pub mod projections;
pub mod reactors;
pub mod validate;
