//! The complaint service (客诉处理): every complaint followed as a case against the service
//! standard — severity, first-response and resolution clocks that pause while the case waits
//! and escalate a breach to a supervisor — and what the complaints say: rates per 1,000 orders,
//! top categories and root causes, repeat complainers and cars, keywords and hot spots.
//!
//! - [`domain`]: the case aggregate, the SLA clocks, the taxonomy (pure).
//! - [`api`]: the gRPC API (commands, the case with its clocks, lists and the analysis).
//! - [`projections`]: the cases and their timelines, the SLA due index (this service's own
//!   stream), and what cases link to (order's, fleet's and receivables' streams).
//! - [`reactors`]: the SLA and auto-close scan, the hot-spot scan.
//! - [`app`]: wiring: configuration, event log, projectors, scans, gRPC server.

pub mod api;
pub mod app;
pub mod domain;
pub mod projections;
pub mod reactors;
