//! Configuration: local defaults, overridden by `RENTOPS_*` environment variables, which may also
//! come from an optional file named by `RENTOPS_CONFIG_FILE` (`KEY=value` lines; the process
//! environment wins). A bad value stops start-up with an error naming the key.
//!
//! Reading goes through the [`Env`] trait so tests can drive parsing without touching the
//! process environment.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Where configuration values come from.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// A fixed map: for tests and for layering.
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    pub fn from_pairs<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        Self(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }
}

impl Env for MapEnv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// Settings that carry secrets and may also be given as a file's content, `<KEY>_FILE` naming
/// the file (a Kubernetes Secret mounted as a volume, rather than put in the environment). The
/// setting itself wins when both are there.
/// (`RENTOPS_NATS_PASSWORD_FILE` is read by [`ConfigReader::secret`] where the setting is read.)
pub const FROM_FILE: &[&str] = &["RENTOPS_DATABASE_URL"];

/// The process environment over the optional configuration file.
#[derive(Debug, Default)]
pub struct ProcessEnv {
    file: HashMap<String, String>,
}

impl ProcessEnv {
    /// Reads `RENTOPS_CONFIG_FILE` if set, and the files named by `<KEY>_FILE` for the
    /// settings of [`FROM_FILE`].
    pub fn load() -> Result<Self, ConfigError> {
        let mut env = Self::load_config_file()?;
        let lookup = |key: &str| std::env::var(key).ok().or_else(|| env.file.get(key).cloned());
        let secrets = secrets_from_files(&lookup)?;
        env.file.extend(secrets);
        Ok(env)
    }

    fn load_config_file() -> Result<Self, ConfigError> {
        let mut file = HashMap::new();
        if let Ok(path) = std::env::var("RENTOPS_CONFIG_FILE") {
            let iter = dotenvy::from_path_iter(&path).map_err(|e| ConfigError {
                key: "RENTOPS_CONFIG_FILE".into(),
                value: path.clone(),
                reason: e.to_string(),
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| ConfigError {
                    key: "RENTOPS_CONFIG_FILE".into(),
                    value: path.clone(),
                    reason: e.to_string(),
                })?;
                file.insert(k, v);
            }
        }
        Ok(Self { file })
    }
}

/// For each setting of [`FROM_FILE`] not set itself but named by `<KEY>_FILE`: the file's
/// content without its trailing newline. An unreadable or empty file is an error naming the
/// `_FILE` setting, so a service never starts on a default in place of its secret.
fn secrets_from_files(lookup: &dyn Fn(&str) -> Option<String>) -> Result<HashMap<String, String>, ConfigError> {
    let mut found = HashMap::new();
    for key in FROM_FILE {
        let file_key = format!("{key}_FILE");
        let Some(path) = lookup(&file_key).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        if lookup(key).is_some() {
            continue;
        }
        found.insert((*key).to_owned(), read_secret_file(&file_key, &path)?);
    }
    Ok(found)
}

/// The content of secret file `path` (named by setting `file_key`) without its trailing newline;
/// an unreadable or empty file is an error naming `file_key`, so nothing starts on a default in
/// place of its secret. The error shows the path, never the content.
fn read_secret_file(file_key: &str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError {
        key: file_key.to_owned(),
        value: path.to_owned(),
        reason: e.to_string(),
    })?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(ConfigError {
            key: file_key.to_owned(),
            value: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    Ok(value)
}

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().or_else(|| self.file.get(key).cloned())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration {key}={value:?}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// Typed reads with defaults; every error names its key.
pub struct ConfigReader<'a> {
    env: &'a dyn Env,
}

impl<'a> ConfigReader<'a> {
    pub fn new(env: &'a dyn Env) -> Self {
        Self { env }
    }

    /// A set but empty variable counts as unset.
    pub fn raw(&self, key: &str) -> Option<String> {
        self.env.get(key).filter(|v| !v.trim().is_empty())
    }

    /// A secret setting: `key` itself, else the content of the file `<key>_FILE` names (a
    /// Kubernetes Secret mounted as a volume), without its trailing newline. The setting itself
    /// wins when both are there; an unreadable or empty file is an error naming `<key>_FILE`.
    pub fn secret(&self, key: &str) -> Result<Option<String>, ConfigError> {
        if let Some(value) = self.raw(key) {
            return Ok(Some(value));
        }
        let file_key = format!("{key}_FILE");
        match self.raw(&file_key) {
            None => Ok(None),
            Some(path) => read_secret_file(&file_key, &path).map(Some),
        }
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError {
                key: key.to_owned(),
                value: v.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// A positive whole number within `range`.
    pub fn bounded(&self, key: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64, ConfigError> {
        let v = self.parse(key, default)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError {
                key: key.to_owned(),
                value: v.to_string(),
                reason: format!("must be between {} and {}", range.start(), range.end()),
            })
        }
    }

    pub fn seconds(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.bounded(key, default, range).map(Duration::from_secs)
    }

    pub fn addr(&self, key: &str, default: &str) -> Result<SocketAddr, ConfigError> {
        let v = self.string(key, default);
        v.parse().map_err(|e: std::net::AddrParseError| ConfigError {
            key: key.to_owned(),
            value: v.clone(),
            reason: format!("{e} (expected host:port, e.g. 127.0.0.1:50051)"),
        })
    }

    /// An address, or none when the variable (or, unset, the default) is `off`.
    pub fn optional_addr(&self, key: &str, default: &str) -> Result<Option<SocketAddr>, ConfigError> {
        if self.string(key, default).trim().eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        self.addr(key, default).map(Some)
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError {
                key: key.to_owned(),
                value: v,
                reason: "expected true or false".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings every service shares. Service-specific settings are read beside these.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `RENTOPS_NATS_URL`: the broker (the local cluster's own nats-server listens on 14222).
    pub nats_url: String,
    /// `RENTOPS_NATS_USER` with `RENTOPS_NATS_PASSWORD` (or `RENTOPS_NATS_PASSWORD_FILE`, the
    /// password as a file's content): who this service is to NATS, which grants it only its own
    /// subjects (deploy/k8s/base/nats/permissions.conf). Unset: connect without credentials (a
    /// server without authorization, as tests start).
    pub nats_credentials: Option<NatsCredentials>,
    /// `RENTOPS_DATABASE_URL`: `sqlite://…` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// `RENTOPS_GRPC_ADDR`.
    pub grpc_addr: SocketAddr,
    /// `RENTOPS_METRICS_ADDR`: Prometheus endpoint, or `off`.
    pub metrics_addr: Option<SocketAddr>,
    /// `RENTOPS_STREAM_REPLICAS`: 1 locally, 3 in a cluster.
    pub stream_replicas: usize,
    /// `RENTOPS_OTLP_ENDPOINT` (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`), with
    /// `RENTOPS_OTLP_PROTOCOL` (or `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`, the default, or
    /// `http/protobuf`): traces are exported there when set; `RENTOPS_TRACE_FILTER` (default
    /// `info`) says which spans are recorded, apart from `RUST_LOG`.
    pub trace: crate::telemetry::TraceSettings,
    /// `RENTOPS_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `RENTOPS_INSTANCE_ID`: names this replica (lease holder, client name).
    pub instance_id: String,
    /// `RENTOPS_SHUTDOWN_GRACE_SECS`: how long in-flight work may take after SIGTERM.
    pub shutdown_grace: Duration,
    /// `RENTOPS_MAX_COMMAND_ATTEMPTS`: decisions retried after a lost race before ABORTED.
    pub max_command_attempts: u32,
    /// `RENTOPS_AGGREGATE_CACHE`: aggregates kept in memory.
    pub aggregate_cache: usize,
    /// `RENTOPS_PROJECTOR_LEASE_SECS`: how long a dead replica's projector lease lasts before
    /// another replica takes over.
    pub projector_lease: Duration,
    /// `RENTOPS_PROJECTOR_LINGER_MS`: how long a projector waits for more events to join a
    /// batch (latency traded for throughput).
    pub projector_linger: Duration,
    /// `RENTOPS_PROJECTOR_BATCH`: the most events one projector transaction applies.
    pub projector_batch: usize,
    /// `RENTOPS_AUTH`: `off` (default: every caller trusted, the actor taken from the request)
    /// or `jwt` (bearer tokens required; see [`crate::auth`]), with
    /// `RENTOPS_AUTH_JWT_ALGORITHM` (`RS256` default, `ES256`, `EdDSA`, `HS256`),
    /// `RENTOPS_AUTH_JWT_KEY_FILE` (the public key in PEM, or the HS256 secret),
    /// `RENTOPS_AUTH_JWT_AUDIENCE` (default `rentops`) and `RENTOPS_AUTH_JWT_ISSUER` (optional).
    pub tokens: Option<crate::auth::TokenSettings>,
    /// `RENTOPS_TLS_CERT_FILE` and `RENTOPS_TLS_KEY_FILE` (PEM, both or neither): gRPC over TLS.
    pub tls: Option<TlsIdentity>,
    /// `RENTOPS_HEALTH_ADDR` (default `off`): `grpc.health.v1.Health` alone, in plaintext, on a
    /// port of its own, for Kubernetes' gRPC probes, which cannot speak TLS.
    pub health_addr: Option<SocketAddr>,
}

/// A NATS user and its password. The password never reaches a log: `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl NatsCredentials {
    /// `RENTOPS_NATS_USER` and `RENTOPS_NATS_PASSWORD` (or `RENTOPS_NATS_PASSWORD_FILE`): both
    /// or neither. `None` when neither is set.
    pub fn read(r: &ConfigReader<'_>) -> Result<Option<Self>, ConfigError> {
        let user = r.raw("RENTOPS_NATS_USER").map(|u| u.trim().to_owned());
        let password = r.secret("RENTOPS_NATS_PASSWORD")?;
        match (user, password) {
            (None, None) => Ok(None),
            (Some(user), Some(password)) => {
                if !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(ConfigError {
                        key: "RENTOPS_NATS_USER".into(),
                        value: user,
                        reason: "a NATS user name: letters, digits, '-' and '_'".into(),
                    });
                }
                Ok(Some(Self { user, password }))
            }
            (Some(user), None) => Err(ConfigError {
                key: "RENTOPS_NATS_PASSWORD_FILE".into(),
                value: String::new(),
                reason: format!(
                    "RENTOPS_NATS_USER={user} needs its password: RENTOPS_NATS_PASSWORD_FILE (a file holding \
                     it) or RENTOPS_NATS_PASSWORD"
                ),
            }),
            (None, Some(_)) => Err(ConfigError {
                key: "RENTOPS_NATS_USER".into(),
                value: String::new(),
                reason: "a NATS password is set (RENTOPS_NATS_PASSWORD or its _FILE) but no user".into(),
            }),
        }
    }

    /// The inbox prefix this user's replies come to, `_INBOX_<user>`: the permissions let each
    /// user subscribe to its own inboxes only, so no one reads another's replies.
    pub fn inbox_prefix(&self) -> String {
        format!("_INBOX_{}", self.user)
    }
}

/// The server's certificate chain and private key, both PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("TlsIdentity")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .finish_non_exhaustive()
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError {
        key: key.into(),
        value: path.into(),
        reason: format!("cannot read the file: {e}"),
    })
}

fn read_tokens(r: &ConfigReader<'_>) -> Result<Option<crate::auth::TokenSettings>, ConfigError> {
    use crate::auth::{TokenAlgorithm, TokenSettings};
    match r.string("RENTOPS_AUTH", "off").as_str() {
        "off" => Ok(None),
        "jwt" => {
            let algorithm_name = r.string("RENTOPS_AUTH_JWT_ALGORITHM", "RS256");
            let algorithm = TokenAlgorithm::parse(&algorithm_name).ok_or_else(|| ConfigError {
                key: "RENTOPS_AUTH_JWT_ALGORITHM".into(),
                value: algorithm_name.clone(),
                reason: "expected RS256, ES256, EdDSA or HS256".into(),
            })?;
            let path = r.raw("RENTOPS_AUTH_JWT_KEY_FILE").ok_or_else(|| ConfigError {
                key: "RENTOPS_AUTH_JWT_KEY_FILE".into(),
                value: String::new(),
                reason: "required with RENTOPS_AUTH=jwt: the public key (PEM) or HS256 secret".into(),
            })?;
            let key = read_file("RENTOPS_AUTH_JWT_KEY_FILE", &path)?;
            let settings = TokenSettings {
                algorithm,
                key,
                audience: r.string("RENTOPS_AUTH_JWT_AUDIENCE", "rentops"),
                issuer: r.raw("RENTOPS_AUTH_JWT_ISSUER").filter(|s| !s.is_empty()),
            };
            if algorithm == TokenAlgorithm::Hs256 && settings.key.len() < 32 {
                return Err(ConfigError {
                    key: "RENTOPS_AUTH_JWT_KEY_FILE".into(),
                    value: path,
                    reason: "an HS256 secret needs at least 32 bytes".into(),
                });
            }
            // A key that does not parse stops start-up here, naming the key, not at the first call.
            crate::auth::Authenticator::new(&settings).map_err(|e| ConfigError {
                key: "RENTOPS_AUTH_JWT_KEY_FILE".into(),
                value: path,
                reason: e.to_string(),
            })?;
            Ok(Some(settings))
        }
        other => Err(ConfigError {
            key: "RENTOPS_AUTH".into(),
            value: other.into(),
            reason: "expected off or jwt".into(),
        }),
    }
}

fn read_tls(r: &ConfigReader<'_>) -> Result<Option<TlsIdentity>, ConfigError> {
    match (r.raw("RENTOPS_TLS_CERT_FILE"), r.raw("RENTOPS_TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsIdentity {
            cert_pem: read_file("RENTOPS_TLS_CERT_FILE", &cert)?,
            key_pem: read_file("RENTOPS_TLS_KEY_FILE", &key)?,
        })),
        (Some(_), None) => Err(ConfigError {
            key: "RENTOPS_TLS_KEY_FILE".into(),
            value: String::new(),
            reason: "required with RENTOPS_TLS_CERT_FILE".into(),
        }),
        (None, Some(_)) => Err(ConfigError {
            key: "RENTOPS_TLS_CERT_FILE".into(),
            value: String::new(),
            reason: "required with RENTOPS_TLS_KEY_FILE".into(),
        }),
    }
}

impl CommonConfig {
    /// Reads the shared settings; `service` picks the default ports and database file.
    pub fn read(
        r: &ConfigReader<'_>,
        service: &str,
        default_grpc: &str,
        default_metrics: &str,
    ) -> Result<Self, ConfigError> {
        let nats_url = r.string("RENTOPS_NATS_URL", "nats://127.0.0.1:14222");
        // One server or a comma-separated seed list (`nats://a:4222,nats://b:4222`).
        let seeds: Vec<&str> = nats_url.split(',').map(str::trim).collect();
        if seeds
            .iter()
            .any(|u| u.is_empty() || !(u.starts_with("nats://") || u.starts_with("tls://") || u.contains(':')))
        {
            return Err(ConfigError {
                key: "RENTOPS_NATS_URL".into(),
                value: nats_url,
                reason: "expected nats://host:port, or a comma-separated list of them".into(),
            });
        }
        let database_url = r.string("RENTOPS_DATABASE_URL", &format!("sqlite://./data/{service}.db"));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                key: "RENTOPS_DATABASE_URL".into(),
                value: database_url,
                reason: "expected sqlite://PATH or postgres://…".into(),
            });
        }
        let log_format = match r.string("RENTOPS_LOG_FORMAT", "text").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError {
                    key: "RENTOPS_LOG_FORMAT".into(),
                    value: other.into(),
                    reason: "expected text or json".into(),
                });
            }
        };
        let default_instance = format!("{service}-{}", std::process::id());
        Ok(Self {
            nats_url,
            nats_credentials: NatsCredentials::read(r)?,
            database_url,
            grpc_addr: r.addr("RENTOPS_GRPC_ADDR", default_grpc)?,
            metrics_addr: r.optional_addr("RENTOPS_METRICS_ADDR", default_metrics)?,
            stream_replicas: r.bounded("RENTOPS_STREAM_REPLICAS", 1, 1..=5)? as usize,
            trace: crate::telemetry::TraceSettings {
                otlp_endpoint: r
                    .raw("RENTOPS_OTLP_ENDPOINT")
                    .or_else(|| r.raw("OTEL_EXPORTER_OTLP_ENDPOINT")),
                otlp_protocol: if r.raw("RENTOPS_OTLP_PROTOCOL").is_some() {
                    r.parse("RENTOPS_OTLP_PROTOCOL", crate::telemetry::OtlpProtocol::Grpc)?
                } else {
                    r.parse("OTEL_EXPORTER_OTLP_PROTOCOL", crate::telemetry::OtlpProtocol::Grpc)?
                },
                filter: r.string("RENTOPS_TRACE_FILTER", "info"),
            },
            log_format,
            instance_id: r.string("RENTOPS_INSTANCE_ID", &default_instance),
            shutdown_grace: r.seconds("RENTOPS_SHUTDOWN_GRACE_SECS", 20, 1..=600)?,
            max_command_attempts: r.bounded("RENTOPS_MAX_COMMAND_ATTEMPTS", 5, 1..=100)? as u32,
            aggregate_cache: r.bounded("RENTOPS_AGGREGATE_CACHE", 100_000, 1..=10_000_000)? as usize,
            projector_lease: r.seconds("RENTOPS_PROJECTOR_LEASE_SECS", 6, 2..=300)?,
            projector_linger: Duration::from_millis(r.bounded("RENTOPS_PROJECTOR_LINGER_MS", 5, 0..=1000)?),
            projector_batch: r.bounded("RENTOPS_PROJECTOR_BATCH", 4000, 1..=5000)? as usize,
            tokens: read_tokens(r)?,
            tls: read_tls(r)?,
            health_addr: r.optional_addr("RENTOPS_HEALTH_ADDR", "off")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_locally() {
        let env = MapEnv::default();
        let c = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "127.0.0.1:9101").unwrap();
        assert_eq!(c.nats_url, "nats://127.0.0.1:14222");
        assert_eq!(c.database_url, "sqlite://./data/order.db");
        assert_eq!(c.grpc_addr.port(), 50051);
        assert_eq!(c.stream_replicas, 1);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn a_secret_setting_may_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("database-url");
        std::fs::write(&path, "postgres://rentops:s3cret@db:5432/rentops_order\n").unwrap();
        let path = path.display().to_string();
        let vars: HashMap<String, String> = [("RENTOPS_DATABASE_URL_FILE".to_owned(), path.clone())].into();
        let got = secrets_from_files(&|k| vars.get(k).cloned()).unwrap();
        assert_eq!(
            got["RENTOPS_DATABASE_URL"],
            "postgres://rentops:s3cret@db:5432/rentops_order"
        );
        // The setting itself wins.
        let mut both = vars.clone();
        both.insert("RENTOPS_DATABASE_URL".into(), "sqlite://x.db".into());
        assert!(secrets_from_files(&|k| both.get(k).cloned()).unwrap().is_empty());
        // A file that is not there, or empty, is an error naming the _FILE setting.
        let missing: HashMap<String, String> = [(
            "RENTOPS_DATABASE_URL_FILE".to_owned(),
            dir.path().join("nope").display().to_string(),
        )]
        .into();
        let err = secrets_from_files(&|k| missing.get(k).cloned()).unwrap_err();
        assert_eq!(err.key, "RENTOPS_DATABASE_URL_FILE");
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty: HashMap<String, String> = [(
            "RENTOPS_DATABASE_URL_FILE".to_owned(),
            dir.path().join("empty").display().to_string(),
        )]
        .into();
        assert_eq!(
            secrets_from_files(&|k| empty.get(k).cloned()).unwrap_err().reason,
            "the file is empty"
        );
    }

    #[test]
    fn nats_credentials_are_a_user_and_a_password_from_a_file_never_shown() {
        let read = |env: MapEnv| CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off");
        assert_eq!(read(MapEnv::default()).unwrap().nats_credentials, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nats-password");
        std::fs::write(&file, "s3cret-Pa55\n").unwrap();
        let file = file.display().to_string();
        let c = read(MapEnv::from_pairs([
            ("RENTOPS_NATS_USER", "order"),
            ("RENTOPS_NATS_PASSWORD_FILE", &file),
        ]))
        .unwrap();
        let creds = c.nats_credentials.clone().unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("order", "s3cret-Pa55"));
        assert_eq!(creds.inbox_prefix(), "_INBOX_order");
        // Neither the credentials' nor the whole configuration's Debug shows the password.
        assert!(!format!("{creds:?} {c:?}").contains("s3cret"));
        // The setting itself wins over its file.
        let c = read(MapEnv::from_pairs([
            ("RENTOPS_NATS_USER", "order"),
            ("RENTOPS_NATS_PASSWORD", "direct"),
            ("RENTOPS_NATS_PASSWORD_FILE", &file),
        ]))
        .unwrap();
        assert_eq!(c.nats_credentials.unwrap().password, "direct");
        // A user without a password, a password without a user, a missing or empty file, a bad
        // user name: each an error naming the setting to fix.
        let key = |env: MapEnv| read(env).unwrap_err().key;
        assert_eq!(
            key(MapEnv::from_pairs([("RENTOPS_NATS_USER", "order")])),
            "RENTOPS_NATS_PASSWORD_FILE"
        );
        assert_eq!(
            key(MapEnv::from_pairs([("RENTOPS_NATS_PASSWORD", "x")])),
            "RENTOPS_NATS_USER"
        );
        let missing = dir.path().join("nope").display().to_string();
        let err = read(MapEnv::from_pairs([
            ("RENTOPS_NATS_USER", "order"),
            ("RENTOPS_NATS_PASSWORD_FILE", &missing),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "RENTOPS_NATS_PASSWORD_FILE");
        assert!(err.to_string().contains("RENTOPS_NATS_PASSWORD_FILE"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let empty = empty.display().to_string();
        let err = read(MapEnv::from_pairs([
            ("RENTOPS_NATS_USER", "order"),
            ("RENTOPS_NATS_PASSWORD_FILE", &empty),
        ]))
        .unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.reason.as_str()),
            ("RENTOPS_NATS_PASSWORD_FILE", "the file is empty")
        );
        assert_eq!(
            key(MapEnv::from_pairs([
                ("RENTOPS_NATS_USER", "or der"),
                ("RENTOPS_NATS_PASSWORD", "x")
            ])),
            "RENTOPS_NATS_USER"
        );
    }

    #[test]
    fn the_broker_may_be_a_seed_list() {
        let env = MapEnv::from_pairs([("RENTOPS_NATS_URL", "nats://nats-0:4222,nats://nats-1:4222")]);
        let c = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off").unwrap();
        assert_eq!(c.nats_url, "nats://nats-0:4222,nats://nats-1:4222");
        let env = MapEnv::from_pairs([("RENTOPS_NATS_URL", "nats://nats-0:4222,,")]);
        let err = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off").unwrap_err();
        assert_eq!(err.key, "RENTOPS_NATS_URL");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let env = MapEnv::from_pairs([("RENTOPS_GRPC_ADDR", "localhost")]);
        let err = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off").unwrap_err();
        assert_eq!(err.key, "RENTOPS_GRPC_ADDR");
        let env = MapEnv::from_pairs([("RENTOPS_STREAM_REPLICAS", "7")]);
        let err = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off").unwrap_err();
        assert_eq!(err.key, "RENTOPS_STREAM_REPLICAS");
        let env = MapEnv::from_pairs([("RENTOPS_DATABASE_URL", "mysql://x")]);
        let err = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off").unwrap_err();
        assert_eq!(err.key, "RENTOPS_DATABASE_URL");
        assert!(err.to_string().contains("RENTOPS_DATABASE_URL"));
    }

    #[test]
    fn authentication_is_off_by_default_and_its_settings_are_checked() {
        let read = |env: MapEnv| CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "off");
        let c = read(MapEnv::default()).unwrap();
        assert!(c.tokens.is_none() && c.tls.is_none());
        let err = read(MapEnv::from_pairs([("RENTOPS_AUTH", "yes")])).unwrap_err();
        assert_eq!(err.key, "RENTOPS_AUTH");
        let err = read(MapEnv::from_pairs([("RENTOPS_AUTH", "jwt")])).unwrap_err();
        assert_eq!(err.key, "RENTOPS_AUTH_JWT_KEY_FILE");
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "too short").unwrap();
        let short = short.to_string_lossy().into_owned();
        let err = read(MapEnv::from_pairs([
            ("RENTOPS_AUTH", "jwt"),
            ("RENTOPS_AUTH_JWT_ALGORITHM", "HS256"),
            ("RENTOPS_AUTH_JWT_KEY_FILE", &short),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "RENTOPS_AUTH_JWT_KEY_FILE");
        let err = read(MapEnv::from_pairs([
            ("RENTOPS_AUTH", "jwt"),
            ("RENTOPS_AUTH_JWT_KEY_FILE", &short),
        ]))
        .unwrap_err();
        assert_eq!(err.key, "RENTOPS_AUTH_JWT_KEY_FILE", "not an RSA key: {err}");
        let err = read(MapEnv::from_pairs([("RENTOPS_TLS_CERT_FILE", &short)])).unwrap_err();
        assert_eq!(err.key, "RENTOPS_TLS_KEY_FILE");
    }

    #[test]
    fn metrics_can_be_switched_off() {
        let env = MapEnv::from_pairs([("RENTOPS_METRICS_ADDR", "off")]);
        let c = CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "127.0.0.1:9101").unwrap();
        assert_eq!(c.metrics_addr, None);
    }
}
