//! The complaint service binary: everything a service's `main` does lives in the runtime;
//! this names the service, its configuration and its start.

use rentops_complaint::app::{self, ComplaintConfig};

/// mimalloc, as every rentops service (see the order service's `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), rentops_runtime::MainError> {
    rentops_runtime::service_main::<ComplaintConfig, _, _, _>("rentops-complaint", app::start).await
}
