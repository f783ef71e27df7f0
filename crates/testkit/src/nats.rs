//! A real nats-server for one test: ephemeral port, temporary store directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// Where the binary comes from: `RENTOPS_NATS_SERVER`, else the project-local install made by
/// `deploy/local/install-nats.sh`, else `nats-server` on the PATH (which must be 2.12+).
pub fn nats_binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("RENTOPS_NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let local = crate::workspace_root().join(".tools/nats/bin/nats-server");
    if local.exists() {
        return Ok(local);
    }
    Ok(PathBuf::from("nats-server"))
}

pub struct NatsServer {
    binary: PathBuf,
    pub port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = nats_binary()?;
        let port = free_port()?;
        let store = tempfile::tempdir()?;
        let mut server = Self {
            binary,
            port,
            store,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install a current nats-server with deploy/local/install-nats.sh, or set RENTOPS_NATS_SERVER)",
                    self.binary.display()
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                // JetStream needs a moment after the port opens.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("nats-server exited at start with {status}");
            }
            if Instant::now() > deadline {
                bail!("nats-server did not open port {} within 10 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Kills the server abruptly (SIGKILL): what it acknowledged is in its store's files.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// Starts it again on the same port with the same store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
