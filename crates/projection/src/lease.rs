//! One replica at a time runs a given projector: it holds a key in the JetStream KV bucket
//! `rentops_leases`, whose entries expire `ttl` after their last write. The holder renews every
//! `ttl / 3`; when it dies, the key ages out and another replica's `create` succeeds, so a new
//! holder takes over within about `ttl`. Renewal is a compare-and-set on the key's revision, so a
//! holder that was too slow learns it lost the lease instead of overwriting the new holder.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub bucket: String,
    pub ttl: Duration,
    pub replicas: usize,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            bucket: "rentops_leases".into(),
            ttl: Duration::from_secs(6),
            replicas: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot open lease bucket {bucket}: {source}")]
    Bucket {
        bucket: String,
        #[source]
        source: jetstream::context::KeyValueError,
    },
    #[error("cannot create lease bucket {bucket}: {source}")]
    CreateBucket {
        bucket: String,
        #[source]
        source: jetstream::context::CreateKeyValueError,
    },
    #[error("cannot read lease {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: kv::EntryError,
    },
}

/// Who holds `key` in `bucket` now, as the bucket says: `None` when nobody does (the key expired
/// or was released). Any replica can ask; it reads, and never takes, the lease.
pub async fn holder(js: &jetstream::Context, bucket: &str, key: &str) -> Result<Option<String>, LeaseError> {
    let store = js.get_key_value(bucket).await.map_err(|source| LeaseError::Bucket {
        bucket: bucket.to_owned(),
        source,
    })?;
    let value = store.get(key).await.map_err(|source| LeaseError::Read {
        key: key.to_owned(),
        source,
    })?;
    Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// A lease key and this replica's claim on it.
pub struct Lease {
    store: kv::Store,
    key: String,
    holder: String,
    /// The revision we last wrote; `None` while we do not hold the lease.
    revision: Option<u64>,
    pub ttl: Duration,
}

impl Lease {
    pub async fn open(
        js: &jetstream::Context,
        settings: &LeaseSettings,
        key: &str,
        holder: &str,
    ) -> Result<Self, LeaseError> {
        let store = match js.get_key_value(&settings.bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: settings.bucket.clone(),
                    description: "rentops: which replica runs each projector".into(),
                    history: 1,
                    max_age: settings.ttl,
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: settings.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|source| LeaseError::CreateBucket {
                    bucket: settings.bucket.clone(),
                    source,
                })?,
        };
        Ok(Self {
            store,
            key: key.to_owned(),
            holder: holder.to_owned(),
            revision: None,
            ttl: settings.ttl,
        })
    }

    pub fn held(&self) -> bool {
        self.revision.is_some()
    }

    /// Takes the lease if nobody holds it, or renews ours. Returns whether we hold it now.
    pub async fn try_acquire_or_renew(&mut self) -> bool {
        let value = Bytes::from(self.holder.clone());
        let result = match self.revision {
            Some(rev) => self
                .store
                .update(&self.key, value, rev)
                .await
                .map_err(|e| e.to_string()),
            None => self.store.create(&self.key, value).await.map_err(|e| e.to_string()),
        };
        match result {
            Ok(rev) => {
                if self.revision.is_none() {
                    tracing::info!(key = %self.key, holder = %self.holder, "lease acquired");
                }
                self.revision = Some(rev);
                true
            }
            Err(e) => {
                if self.revision.is_some() {
                    tracing::warn!(key = %self.key, error = %e, "lease lost");
                }
                self.revision = None;
                false
            }
        }
    }

    /// Gives the lease up at once (graceful shutdown), so another replica need not wait the TTL.
    pub async fn release(&mut self) {
        if let Some(rev) = self.revision.take()
            && let Err(e) = self.store.delete_expect_revision(&self.key, Some(rev)).await
        {
            tracing::debug!(key = %self.key, error = %e, "lease release failed; it will expire");
        }
    }
}
