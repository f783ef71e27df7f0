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
