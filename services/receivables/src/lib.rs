//! The receivables service (docs/domain.md: 违章处理, 维修款追缴): traffic violations matched to
//! whoever had the car, told, chased and charged on the dunning ladder, and the customers'
//! double-entry ledger.
//!
//! - [`domain`]: the violation and ledger aggregates' pure rules, the ladder, who had the car.
//! - [`api`]: the gRPC API (imports, exceptions, bookings; queries over the read models).
//! - [`projections`]: who had the car (from order's and fleet's streams), the violations and
//!   the ledgers (from this service's own).
//! - [`reactors`]: the ladder's scan and the rematch scan.
//! - [`app`]: wiring: configuration, event log, projectors, scans, gRPC server.

pub mod api;
pub mod app;
pub mod claims;
pub mod domain;
pub mod projections;
pub mod reactors;
