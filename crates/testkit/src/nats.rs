//! A real nats-server for one test: ephemeral port, temporary store directory; without
//! authorization by default, or with the repository's users and permissions
//! ([`NatsServer::start_with_permissions`]).

use std::collections::BTreeMap;
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

/// The users and permissions of the rentops NATS, as the local cluster and the Kubernetes
/// manifests use them: `deploy/k8s/base/nats/permissions.conf` of the checkout under test.
pub fn permissions_file() -> PathBuf {
    crate::workspace_root().join("deploy/k8s/base/nats/permissions.conf")
}

/// A server's authorization: its configuration folder and every user's password.
struct Auth {
    dir: tempfile::TempDir,
    passwords: BTreeMap<String, String>,
}

pub struct NatsServer {
    binary: PathBuf,
    pub port: u16,
    store: tempfile::TempDir,
    auth: Option<Auth>,
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
            auth: None,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Starts a server whose users and permissions are those of `permissions` (a nats-server
    /// configuration that includes `./passwords.conf`, as [`permissions_file`] does): it is
    /// copied beside a `passwords.conf` giving each user it names (`$RENTOPS_NATS_<USER>_PASSWORD`)
    /// a fresh random password. The server logs to a file, so a test can read the refusals.
    pub async fn start_with_permissions(permissions: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(permissions)
            .with_context(|| format!("cannot read the NATS permissions {}", permissions.display()))?;
        let mut passwords = BTreeMap::new();
        for (i, _) in text.match_indices("$RENTOPS_NATS_") {
            let rest = &text[i + "$RENTOPS_NATS_".len()..];
            if let Some(end) = rest.find("_PASSWORD") {
                let user = &rest[..end];
                if !user.is_empty() && user.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    passwords.insert(user.to_ascii_lowercase(), uuid::Uuid::new_v4().simple().to_string());
                }
            }
        }
        anyhow::ensure!(
            !passwords.is_empty(),
            "{} names no user ($RENTOPS_NATS_<USER>_PASSWORD)",
            permissions.display()
        );
        let dir = tempfile::tempdir()?;
        std::fs::copy(permissions, dir.path().join("permissions.conf"))?;
        let defined: String = passwords
            .iter()
            .map(|(user, password)| format!("RENTOPS_NATS_{}_PASSWORD: \"{password}\"\n", user.to_ascii_uppercase()))
            .collect();
        std::fs::write(dir.path().join("passwords.conf"), defined)?;
        std::fs::write(dir.path().join("nats.conf"), "include ./permissions.conf\n")?;
        let mut server = Self {
            binary: nats_binary()?,
            port: free_port()?,
            store: tempfile::tempdir()?,
            auth: Some(Auth { dir, passwords }),
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// The credentials of `user` on a server started with permissions.
    pub fn credentials(&self, user: &str) -> anyhow::Result<rentops_runtime::NatsCredentials> {
        let password = self
            .auth
            .as_ref()
            .and_then(|a| a.passwords.get(user))
            .with_context(|| format!("the server has no user {user}"))?;
        Ok(rentops_runtime::NatsCredentials {
            user: user.to_owned(),
            password: password.clone(),
        })
    }

    /// The server's refusals so far (its log's `Violation` lines: a publish or subscription a
    /// user's permissions do not allow, bad credentials), on a server started with permissions.
    pub fn violations(&self) -> Vec<String> {
        let Some(auth) = &self.auth else { return Vec::new() };
        std::fs::read_to_string(auth.dir.path().join("nats.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Violation"))
            .map(str::to_owned)
            .collect()
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        if let Some(auth) = &self.auth {
            command
                .arg("-c")
                .arg(auth.dir.path().join("nats.conf"))
                .arg("-l")
                .arg(auth.dir.path().join("nats.log"));
        }
        let child = command
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
