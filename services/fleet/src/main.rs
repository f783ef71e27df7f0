//! The fleet service binary: configuration, telemetry, then `app::start` until SIGTERM.

use std::sync::Arc;

use rentops_fleet::app::{self, FleetConfig};
use rentops_runtime::{ProcessEnv, Shutdown, SystemClock, telemetry};

/// mimalloc rather than glibc's malloc: under load the services spend much of their time in
/// small allocations freed on other threads, where glibc's arenas are slow (measured in the order
/// benchmark: free and consolidation were ~9 % of CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = ProcessEnv::load()?;
    let config = match FleetConfig::read(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rentops-fleet: {e}");
            std::process::exit(2);
        }
    };
    let _telemetry = telemetry::init(
        "rentops-fleet",
        config.common.log_format,
        config.common.otlp_endpoint.as_deref(),
    )?;
    if let Some(addr) = config.common.metrics_addr {
        telemetry::init_metrics(addr)?;
    }
    let grace = config.common.shutdown_grace;
    let listener = tokio::net::TcpListener::bind(config.common.grpc_addr).await?;
    let shutdown = Shutdown::new();
    let app = app::start(config, listener, Arc::new(SystemClock), shutdown.clone()).await?;
    tracing::info!(addr = %app.addr, "rentops-fleet ready");
    rentops_runtime::drain_on_signal(&shutdown, grace, app.join()).await;
    Ok(())
}
