//! A fresh PostgreSQL database per test, dropped afterwards.
//!
//! The server is, in order: `RENTOPS_TEST_POSTGRES_URL` (an admin URL); one answering on
//! 127.0.0.1:5432 as user `postgres`; else a throwaway cluster this process starts itself with
//! Debian's `initdb` / `pg_ctl` in a temporary folder (shared by the tests of the process).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

static ADMIN_URL: OnceCell<String> = OnceCell::const_new();

/// A database that exists for one test.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn new() -> anyhow::Result<Self> {
        let admin_url = ADMIN_URL.get_or_try_init(find_or_start_server).await?.clone();
        let name = format!("rentops_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        Ok(Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Best effort, off the test's runtime (which may be shutting down).
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn reachable(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

async fn find_or_start_server() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("RENTOPS_TEST_POSTGRES_URL") {
        if reachable(&url).await {
            return Ok(url);
        }
        bail!("RENTOPS_TEST_POSTGRES_URL={url} is not reachable");
    }
    let local = "postgres://postgres@127.0.0.1:5432/postgres";
    if reachable(local).await {
        return Ok(local.to_owned());
    }
    start_throwaway().await
}

fn pg_bin(name: &str) -> anyhow::Result<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin").join(name))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().with_context(|| {
        format!("no PostgreSQL reachable and no {name} to start one: install Debian's postgresql package")
    })
}

/// initdb + pg_ctl in a temporary folder that lives as long as the process.
async fn start_throwaway() -> anyhow::Result<String> {
    let dir = tempfile::Builder::new().prefix("rentops-pg-").tempdir()?.keep();
    let data = dir.join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // PostgreSQL refuses to run as root: run it as the `postgres` user Debian's package creates.
    let as_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false) || is_root();
    let run = |bin: PathBuf, args: Vec<String>| {
        let mut cmd = if as_root {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            tokio::process::Command::new(bin)
        };
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    if as_root {
        let status = tokio::process::Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .status()
            .await?;
        if !status.success() {
            bail!("cannot hand {} to the postgres user", dir.display());
        }
    }
    let status = run(
        pg_bin("initdb")?,
        vec![
            "-D".into(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "--auth=trust".into(),
        ],
    )
    .status()
    .await?;
    if !status.success() {
        bail!("initdb failed in {}", data.display());
    }
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
        dir.display()
    );
    let status = run(
        pg_bin("pg_ctl")?,
        vec![
            "-D".into(),
            data.display().to_string(),
            "-o".into(),
            options,
            "-l".into(),
            dir.join("log").display().to_string(),
            "-w".into(),
            "start".into(),
        ],
    )
    .status()
    .await?;
    if !status.success() {
        bail!("pg_ctl start failed; see {}", dir.join("log").display());
    }
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    for _ in 0..50 {
        if reachable(&url).await {
            return Ok(url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the throwaway PostgreSQL on port {port} does not answer")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
