//! Connecting to NATS and setting up the service's stream.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use rentops_runtime::config::NatsCredentials;

/// The oldest server this project runs on: 2.11 brought the wildcard
/// `Nats-Expected-Last-Subject-Sequence-Subject` check, 2.12 atomic batch publish.
pub const MIN_SERVER: (u64, u64) = (2, 12);

/// How the service's stream is set up. Every field is configuration (see the runtime's config).
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Stream name, e.g. `ORDER`.
    pub name: String,
    /// The service's subject space, e.g. `rentops.order.>`.
    pub subjects: Vec<String>,
    /// 1 locally, 3 in a cluster (acknowledged then means "on a quorum").
    pub replicas: usize,
    /// How long `Nats-Msg-Id` de-duplication remembers a request id.
    pub duplicate_window: Duration,
    /// The KV bucket of the service's aggregate snapshots, e.g. `rentops_snapshots_order`.
    pub snapshot_bucket: String,
}

impl StreamSettings {
    /// The conventional settings for a service: stream `SERVICE`, subjects `rentops.service.>`.
    pub fn for_service(service: &str, replicas: usize) -> Self {
        Self {
            name: service.to_ascii_uppercase(),
            subjects: vec![format!("rentops.{service}.>")],
            replicas,
            duplicate_window: Duration::from_secs(120),
            snapshot_bucket: format!("rentops_snapshots_{service}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error(
        "nats-server {found} is too old: rentops needs 2.12 or newer (wildcard expected-sequence \
         check, atomic batch publish); install a current one with deploy/local/install-nats.sh"
    )]
    ServerTooOld { found: String },
    #[error(
        "NATS at {url} refused the credentials of {}: check RENTOPS_NATS_USER and \
         RENTOPS_NATS_PASSWORD_FILE (or RENTOPS_NATS_PASSWORD) against the server's users",
        who(.user)
    )]
    Refused { url: String, user: Option<String> },
    #[error("{url:?} is not a NATS server address: {message}")]
    Address { url: String, message: String },
    #[error("cannot create or update stream {name}: {message}")]
    Setup { name: String, message: String },
}

/// Who was refused, for [`StreamError::Refused`].
fn who(user: &Option<String>) -> String {
    match user {
        Some(u) => format!("user {u}"),
        None => "a client without any (the server requires a user)".to_owned(),
    }
}

/// The servers of `urls`: one address, or a comma-separated seed list as every NATS client takes
/// (`nats://a:4222,nats://b:4222`); the client learns the rest of the cluster from them.
pub fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, StreamError> {
    let addrs: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>().map_err(|e| StreamError::Address {
                url: u.to_owned(),
                message: e.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        return Err(StreamError::Address {
            url: urls.to_owned(),
            message: "no server named".into(),
        });
    }
    Ok(addrs)
}

/// The client options rentops connects with: the client's name and, when given, its NATS user
/// and password, with replies on that user's own inbox prefix (`_INBOX_<user>`, the only inboxes
/// its permissions let it subscribe to). Every refusal the server sends (a permissions
/// violation, bad credentials) is logged as an error naming the user, never the password; the
/// request it refused fails by its own timeout.
pub fn client_options(name: &str, credentials: Option<&NatsCredentials>) -> async_nats::ConnectOptions {
    let user = credentials.map_or_else(|| "(no credentials)".to_owned(), |c| c.user.clone());
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .event_callback(move |event| {
            let user = user.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    tracing::error!(nats_user = %user, error = %e, "NATS refused this client");
                }
            }
        });
    if let Some(c) = credentials {
        options = options
            .user_and_password(c.user.clone(), c.password.clone())
            .custom_inbox_prefix(c.inbox_prefix());
    }
    options
}

/// Connects to NATS (one address or a seed list, [`server_addrs`]) without credentials,
/// refusing a server older than [`MIN_SERVER`]: for a server without authorization, as tests
/// start. Services connect with [`connect_as`] (through [`open`]).
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, StreamError> {
    connect_as(url, name, None).await
}

/// Connects to NATS as `credentials` (or without any), refusing a server older than
/// [`MIN_SERVER`]. It keeps trying in the background when the broker is away at start or goes
/// away later; credentials the server refuses stop it with [`StreamError::Refused`].
pub async fn connect_as(
    url: &str,
    name: &str,
    credentials: Option<&NatsCredentials>,
) -> Result<async_nats::Client, StreamError> {
    let servers = server_addrs(url)?;
    let client = client_options(name, credentials)
        // Keep trying in the background when the broker goes away: commands answer UNAVAILABLE
        // meanwhile (the store checks the connection state) and succeed again after reconnect.
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .connect(servers)
        .await
        .map_err(|source| StreamError::Connect {
            url: url.to_owned(),
            source,
        })?;
    // With retry_on_initial_connect the server info arrives once the first connect succeeds.
    let mut info = client.server_info();
    for _ in 0..100 {
        if !info.version.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        info = client.server_info();
    }
    if info.version.is_empty() {
        // Not connected within 5 s. Ask once more without retrying, to say why: refused
        // credentials are a configuration error, not a broker that is still starting.
        let probe = client_options(name, credentials)
            .connection_timeout(Duration::from_secs(5))
            .connect(server_addrs(url)?)
            .await;
        match probe {
            Err(e) if e.kind() == async_nats::ConnectErrorKind::AuthorizationViolation => {
                return Err(StreamError::Refused {
                    url: url.to_owned(),
                    user: credentials.map(|c| c.user.clone()),
                });
            }
            Ok(probe) => info = probe.server_info(),
            // Nobody answers: say so, rather than that an unknown server is too old.
            Err(source) => {
                return Err(StreamError::Connect {
                    url: url.to_owned(),
                    source,
                });
            }
        }
    }
    check_version(&info.version)?;
    Ok(client)
}

/// Accepts `2.12.0` and newer, refuses anything older or unreadable.
pub fn check_version(version: &str) -> Result<(), StreamError> {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) >= MIN_SERVER => Ok(()),
        _ => Err(StreamError::ServerTooOld {
            found: version.to_owned(),
        }),
    }
}

/// Creates the stream, or updates it to these settings when it exists (idempotent at start).
pub async fn ensure_stream(js: &jetstream::Context, settings: &StreamSettings) -> Result<stream::Stream, StreamError> {
    let config = stream::Config {
        name: settings.name.clone(),
        subjects: settings.subjects.clone(),
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        retention: stream::RetentionPolicy::Limits,
        // The log is the source of truth: nothing ages out, nothing is deleted by clients.
        max_age: Duration::ZERO,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        allow_atomic_publish: true,
        description: Some(format!("rentops event log: {}", settings.subjects.join(", "))),
        ..Default::default()
    };
    let setup = |e: &dyn std::fmt::Display| StreamError::Setup {
        name: settings.name.clone(),
        message: e.to_string(),
    };
    js.create_or_update_stream(config).await.map_err(|e| setup(&e))?;
    js.get_stream(&settings.name).await.map_err(|e| setup(&e))
}

/// Creates the service's snapshot bucket, or updates it to these settings (idempotent at start):
/// one value per key (only the newest snapshot of an aggregate is kept), file storage, as many
/// replicas as the stream. Nothing in it ages out; a snapshot is replaced, never deleted.
pub async fn ensure_snapshot_bucket(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> Result<jetstream::kv::Store, StreamError> {
    let config = jetstream::kv::Config {
        bucket: settings.snapshot_bucket.clone(),
        description: format!("rentops aggregate snapshots of stream {}", settings.name),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        ..Default::default()
    };
    js.create_or_update_key_value(config)
        .await
        .map_err(|e| StreamError::Setup {
            name: settings.snapshot_bucket.clone(),
            message: e.to_string(),
        })
}

/// The event log of `service` as its common configuration says: connected as
/// `rentops-<service>/<instance id>` with its NATS credentials (refusing a server older than 2.12), its stream and its
/// snapshot bucket created or updated to the configured replicas.
pub async fn open(
    service: &str,
    c: &rentops_runtime::CommonConfig,
) -> Result<(crate::EventStore, StreamSettings), StreamError> {
    let client = connect_as(
        &c.nats_url,
        &format!("rentops-{service}/{}", c.instance_id),
        c.nats_credentials.as_ref(),
    )
    .await?;
    let settings = StreamSettings::for_service(service, c.stream_replicas);
    let js = jetstream::new(client.clone());
    ensure_stream(&js, &settings).await?;
    let snapshots = ensure_snapshot_bucket(&js, &settings).await?;
    Ok((
        crate::EventStore::new(client, &settings.name, service).with_snapshots(snapshots),
        settings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_list_is_every_server_in_it_and_a_bad_one_is_named() {
        let addrs = server_addrs("nats://10.0.0.1:4222, nats://10.0.0.2:4222,tls://nats.example:4443").unwrap();
        assert_eq!(addrs.len(), 3);
        assert_eq!(server_addrs("127.0.0.1:14222").unwrap().len(), 1);
        let Err(StreamError::Address { url, .. }) = server_addrs("nats://a:4222,nats://b:notaport") else {
            panic!("a bad port is refused")
        };
        assert_eq!(url, "nats://b:notaport");
        assert!(matches!(server_addrs(" , "), Err(StreamError::Address { .. })));
    }

    #[test]
    fn versions() {
        assert!(check_version("2.12.0").is_ok());
        assert!(check_version("2.15.1").is_ok());
        assert!(check_version("v3.0.0-beta").is_ok());
        assert!(matches!(check_version("2.9.10"), Err(StreamError::ServerTooOld { .. })));
        assert!(matches!(check_version("2.11.4"), Err(StreamError::ServerTooOld { .. })));
        assert!(matches!(check_version(""), Err(StreamError::ServerTooOld { .. })));
    }
}
