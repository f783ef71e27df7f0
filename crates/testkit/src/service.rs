//! Any service, started in-process on port 0 the way its binary starts it: its configuration
//! read from variables (the test's, over the kit's defaults), its own `start`, a shutdown token
//! to stop it gracefully, or dropping it to kill it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rentops_runtime::{Clock, MapEnv, RunningService, ServiceConfig, Shutdown};

/// A service running in this process.
pub struct InProcess<A> {
    pub app: A,
    pub shutdown: Shutdown,
    /// `http://127.0.0.1:PORT`, for clients.
    pub url: String,
}

/// Starts the service whose start function is `start` (e.g. `rentops_order::app::start`) with
/// configuration `vars` over the kit's: a fresh instance id and no metrics endpoint. The test
/// gives at least `RENTOPS_NATS_URL` and `RENTOPS_DATABASE_URL`.
pub async fn start_in_process<C, A, E, Fut>(
    start: impl FnOnce(C, tokio::net::TcpListener, Arc<dyn Clock>, Shutdown) -> Fut,
    clock: Arc<dyn Clock>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<InProcess<A>>
where
    C: ServiceConfig,
    A: RunningService,
    E: std::error::Error + Send + Sync + 'static,
    Fut: Future<Output = Result<A, E>>,
{
    let mut env = MapEnv::from_pairs([("RENTOPS_METRICS_ADDR", "off"), ("RENTOPS_GRPC_ADDR", "127.0.0.1:0")]);
    env.0.insert(
        "RENTOPS_INSTANCE_ID".into(),
        format!("test-{}", uuid::Uuid::new_v4().simple()),
    );
    env.0.extend(vars);
    let config = C::read(&env)?;
    let listener = tokio::net::TcpListener::bind(config.common().grpc_addr).await?;
    let shutdown = Shutdown::new();
    let app = start(config, listener, clock, shutdown.clone()).await?;
    let url = format!("http://{}", app.addr());
    Ok(InProcess { app, shutdown, url })
}

impl<A: RunningService> InProcess<A> {
    /// Graceful stop: in-flight work finishes, what was applied is acknowledged.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.join()).await;
    }

    /// Abrupt stop: every task aborted wherever it is (between a commit and its ack, say).
    pub fn kill(self) {
        drop(self.app);
    }
}
