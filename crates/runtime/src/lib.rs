//! What every rentops service runs on: configuration read from the environment (with local
//! defaults), telemetry (tracing, OpenTelemetry, Prometheus metrics), the gRPC server with health
//! and reflection, error statuses that name the bad field, and graceful shutdown.

pub mod config;
pub mod grpc;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod validate;

pub use config::{CommonConfig, ConfigError, ConfigReader, Env, MapEnv, ProcessEnv};
pub use grpc::{bad_request, invalid_argument};
pub use service::{MainError, RunningService, ServiceConfig, service_main};
pub use shutdown::{Shutdown, drain_on_signal, wait_for_signal};

/// Where "now" comes from: the system clock in services, a settable one in tests. Domain code
/// never reads a clock; the API layer reads this one and passes the time in with the command.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> time::OffsetDateTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}
