//! The whole `main` of a service binary, written once: configuration (a bad value stops start-up
//! with exit code 2 and a message naming the key), telemetry, the metrics endpoint, the gRPC
//! listener, the service itself, and the drain on SIGTERM within the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{CommonConfig, ConfigError, Env, ProcessEnv};
use crate::telemetry::{self, TelemetryError};
use crate::{Clock, Shutdown, SystemClock};

/// A service's configuration: the settings every service shares, and its own.
pub trait ServiceConfig: Sized {
    fn read(env: &dyn Env) -> Result<Self, ConfigError>;
    fn common(&self) -> &CommonConfig;
}

/// A started service.
pub trait RunningService: Send {
    /// Where its gRPC server listens.
    fn addr(&self) -> SocketAddr;
    /// Resolves once every task has finished (after the shutdown token was cancelled).
    fn join(self) -> impl Future<Output = ()> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum MainError {
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    #[error("cannot listen for gRPC on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start: {0}")]
    Start(Box<dyn std::error::Error + Send + Sync>),
}

/// Runs service `name` (e.g. `rentops-order`) until SIGTERM: `start` gets its configuration, a
/// bound listener, the system clock and the shutdown token.
pub async fn service_main<C, A, E, Fut>(
    name: &'static str,
    start: impl FnOnce(C, tokio::net::TcpListener, Arc<dyn Clock>, Shutdown) -> Fut,
) -> Result<(), MainError>
where
    C: ServiceConfig,
    A: RunningService,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    Fut: Future<Output = Result<A, E>>,
{
    let config = match ProcessEnv::load().and_then(|env| C::read(&env)) {
        Ok(c) => c,
        Err(e) => {
            // Before telemetry exists: the operator reads this on the console.
            eprintln!("{name}: {e}");
            std::process::exit(2);
        }
    };
    let common = config.common().clone();
    let telemetry = telemetry::init(name, common.log_format, &common.trace)?;
    if let Some(addr) = common.metrics_addr {
        telemetry::init_metrics(addr)?;
    }
    let listener = tokio::net::TcpListener::bind(common.grpc_addr)
        .await
        .map_err(|source| MainError::Listen {
            addr: common.grpc_addr,
            source,
        })?;
    let shutdown = Shutdown::new();
    let app = start(config, listener, Arc::new(SystemClock), shutdown.clone())
        .await
        .map_err(|e| MainError::Start(e.into()))?;
    tracing::info!(addr = %app.addr(), "{name} ready");
    crate::drain_on_signal(&shutdown, common.shutdown_grace, app.join()).await;
    // The spans still held are sent now; the flush waits for the exporting task on the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(telemetry)).await;
    Ok(())
}
