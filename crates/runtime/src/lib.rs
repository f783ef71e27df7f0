//! What every rentops service runs on: configuration read from the environment (with local
//! defaults), telemetry (tracing, OpenTelemetry, Prometheus metrics), the gRPC server with health
//! and reflection, error statuses that name the bad field, and graceful shutdown.

pub mod auth;
pub mod config;
pub mod edge;
pub mod grpc;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod validate;

pub use config::{CommonConfig, ConfigError, ConfigReader, Env, MapEnv, NatsCredentials, ProcessEnv};
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

/// A clock moved by hand: tests of time-driven steps (deadlines, dunning, SLA clocks) set or
/// advance it instead of sleeping, and a replay of a past week can run on it.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<time::OffsetDateTime>);

impl ManualClock {
    pub fn at(t: time::OffsetDateTime) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::Mutex::new(t)))
    }

    pub fn set(&self, t: time::OffsetDateTime) {
        // A poisoned lock only means a panic elsewhere while it was held; the time is still a time.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let t0 = time::macros::datetime!(2026-12-01 09:00 +08:00);
        let clock = ManualClock::at(t0);
        assert_eq!(clock.now(), t0);
        clock.advance(time::Duration::hours(2));
        assert_eq!(clock.now(), t0 + time::Duration::hours(2));
        clock.set(t0);
        assert_eq!(clock.now(), t0);
    }
}
