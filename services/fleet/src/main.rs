//! The fleet service binary: everything a service's `main` does lives in the runtime; this names
//! the service, its configuration and its start.

use rentops_fleet::app::{self, FleetConfig};

/// mimalloc rather than glibc's malloc: under load the services spend much of their time in
/// small allocations freed on other threads, where glibc's arenas are slow (measured in the order
/// benchmark: free and consolidation were ~9 % of CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), rentops_runtime::MainError> {
    rentops_runtime::service_main::<FleetConfig, _, _, _>("rentops-fleet", app::start).await
}
