//! Graceful shutdown: SIGTERM or Ctrl-C cancels one token that every task watches.

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
pub type Shutdown = CancellationToken;

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C (a person at a terminal).
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A service binary's last act: waits for SIGTERM or Ctrl-C, cancels `shutdown` (no new
/// requests), and gives `finished` (the service's tasks draining) at most `grace`.
pub async fn drain_on_signal(
    shutdown: &Shutdown,
    grace: std::time::Duration,
    finished: impl std::future::Future<Output = ()>,
) {
    wait_for_signal().await;
    tracing::info!("shutting down: no new requests; finishing in-flight work");
    shutdown.cancel();
    if tokio::time::timeout(grace, finished).await.is_err() {
        tracing::warn!(?grace, "in-flight work did not finish within the grace period");
    }
}
