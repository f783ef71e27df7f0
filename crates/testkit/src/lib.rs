//! Real infrastructure for tests, never mocks: a `nats-server` with JetStream per test (ephemeral
//! port, temporary store, stoppable and restartable), and databases — a fresh SQLite file, and a
//! fresh PostgreSQL database on the configured server, on 127.0.0.1:5432, or on a throwaway
//! cluster the kit starts itself.

pub mod answer;
pub mod browser;
pub mod cluster;
pub mod grpc;
pub mod metrics;
pub mod nats;
pub mod postgres;
pub mod security;
pub mod service;

pub use answer::Answer;
pub use cluster::{Cluster, TestService};
pub use nats::{NatsServer, permissions_file};
pub use postgres::PgDatabase;
pub use security::{TestCertificates, TokenIssuer, bearer};
pub use service::{InProcess, start_in_process};

use std::path::PathBuf;

/// The workspace root (for `.tools/`): `RENTOPS_WORKSPACE_ROOT` when set (the test command sets
/// it), else found from this crate's manifest. The variable matters when one target dir serves
/// several checkouts (CI's clone and a developer's tree): a compile-time path may then name the
/// other checkout.
pub fn workspace_root() -> PathBuf {
    match std::env::var("RENTOPS_WORKSPACE_ROOT") {
        Ok(root) if !root.is_empty() => PathBuf::from(root),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

/// The planner's example instances (`small.json`, `city-3days.json`, in the format of
/// `crates/planner/FORMAT.md`), kept as the planner's test data; under [`workspace_root`], so
/// the checkout being tested is the one read.
pub fn planning_dir() -> PathBuf {
    workspace_root().join("crates/planner/tests/data")
}

/// Logs for tests: `RUST_LOG=debug cargo test` shows them.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A fresh SQLite database file in its own temporary folder (removed on drop).
pub struct SqliteDatabase {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl SqliteDatabase {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("projection.db").display());
        Ok(Self { url, _dir: dir })
    }
}

/// Either database, so a test body can run once per backend.
pub enum TestDatabase {
    Sqlite(SqliteDatabase),
    Postgres(PgDatabase),
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite(d) => &d.url,
            Self::Postgres(d) => &d.url,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A fresh SQLite database.
    pub fn sqlite() -> anyhow::Result<TestDatabase> {
        Ok(TestDatabase::Sqlite(SqliteDatabase::new()?))
    }

    /// A fresh PostgreSQL database.
    pub async fn postgres() -> anyhow::Result<TestDatabase> {
        Ok(TestDatabase::Postgres(PgDatabase::new().await?))
    }

    /// One of each backend: every integration test runs on both.
    pub async fn both() -> anyhow::Result<Vec<TestDatabase>> {
        Ok(vec![
            TestDatabase::Sqlite(SqliteDatabase::new()?),
            TestDatabase::Postgres(PgDatabase::new().await?),
        ])
    }
}

/// Declares an integration test once and runs it as two, one per backend, so that a failure on
/// SQLite cannot hide PostgreSQL's (or the other way round) and each is reported by name:
/// `name::sqlite` and `name::postgres`. The body gets fresh databases of its backend in the
/// names given (one or two of them).
///
/// ```ignore
/// rentops_testkit::per_backend! {
///     /// What it proves.
///     async fn orders_survive_a_restart(db: TestDatabase) {
///         let t = TestApp::spawn(db).await;
///         // …
///     }
/// }
/// ```
#[macro_export]
macro_rules! per_backend {
    ($(#[$attr:meta])* async fn $name:ident($($db:ident: TestDatabase),+) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $(let $db = $crate::TestDatabase::sqlite().expect("a SQLite database");)+
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $(let $db = $crate::TestDatabase::postgres().await.expect("a PostgreSQL database");)+
                $body
            }
        }
    };
}
