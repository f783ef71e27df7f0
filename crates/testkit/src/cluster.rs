//! Several replicas of one service on one broker and one database, as the pods of a Deployment
//! run behind a load balancer.
//!
//! Each service's test support says how to start one replica in-process ([`TestService`]); the
//! kit then starts any number of them at the same moment on a fresh nats-server and database,
//! hands out their clients round robin, kills one wherever it is, and tells which replica holds a
//! projector's lease.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;

use crate::{NatsServer, TestDatabase};

/// One replica of a service, started in-process for a test.
pub trait TestService: Sized + Send + 'static {
    /// The service's name, e.g. `order`: instance ids are made from it.
    const NAME: &'static str;

    /// Starts one replica against `nats_url` and `db_url`; `env` holds configuration variables
    /// (the kit sets `RENTOPS_INSTANCE_ID` and `RENTOPS_METRICS_ADDR=off`; a test adds its own).
    fn start(
        nats_url: String,
        db_url: String,
        env: Vec<(String, String)>,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Stops gracefully: in-flight work finishes, what was applied is acknowledged.
    fn stop(self) -> impl Future<Output = ()> + Send;

    /// Stops abruptly: every task aborted wherever it is (between a commit and its ack, say).
    fn kill(self);
}

/// A broker, a database and the replicas of one service running on them.
pub struct Cluster<S: TestService> {
    pub nats: NatsServer,
    pub db: TestDatabase,
    /// The running replicas with their instance ids; a killed one is removed.
    replicas: Vec<(String, S)>,
    started: usize,
}

impl<S: TestService> Cluster<S> {
    /// Starts a nats-server and `n` replicas on `db`, all at the same moment (as a Deployment's
    /// first rollout does): every one must come up.
    pub async fn start(db: TestDatabase, n: usize, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        crate::init_tracing();
        let nats = NatsServer::start().await?;
        let mut cluster = Cluster {
            nats,
            db,
            replicas: Vec::new(),
            started: 0,
        };
        let starting: Vec<_> = (0..n).map(|_| cluster.start_replica(env)).collect();
        for (i, started) in futures::future::join_all(starting).await.into_iter().enumerate() {
            let replica = started.with_context(|| format!("replica {i} of {n} started at once"))?;
            cluster.replicas.push(replica);
        }
        Ok(cluster)
    }

    /// A future that starts one more replica (not yet added to the cluster).
    fn start_replica(&mut self, env: &[(&str, &str)]) -> impl Future<Output = anyhow::Result<(String, S)>> + use<S> {
        self.started += 1;
        let id = format!("{}-test-{}-{}", S::NAME, self.started, uuid::Uuid::new_v4().simple());
        let mut vars = vec![
            ("RENTOPS_INSTANCE_ID".to_owned(), id.clone()),
            ("RENTOPS_METRICS_ADDR".to_owned(), "off".to_owned()),
        ];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let start = S::start(self.nats.url(), self.db.url().to_owned(), vars);
        async move { Ok((id, start.await?)) }
    }

    /// Starts one more replica and returns its index.
    pub async fn add_replica(&mut self, env: &[(&str, &str)]) -> anyhow::Result<usize> {
        let replica = self.start_replica(env).await?;
        self.replicas.push(replica);
        Ok(self.replicas.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Replica `i` modulo the number running: `cluster.replica(step)` spreads a test's commands
    /// over every replica in turn, as a load balancer would.
    pub fn replica(&self, i: usize) -> &S {
        &self.replicas[i % self.replicas.len()].1
    }

    /// The instance id of replica `i` (modulo the number running).
    pub fn instance_id(&self, i: usize) -> &str {
        &self.replicas[i % self.replicas.len()].0
    }

    /// Kills replica `i` (see [`TestService::kill`]) and removes it from the cluster.
    pub fn kill(&mut self, i: usize) {
        let (_, replica) = self.replicas.remove(i);
        replica.kill();
    }

    /// The index of the replica holding projector `projection`'s lease, waiting up to `within`
    /// for a running one to take it (after a kill: for the dead holder's key to age out and a
    /// successor to claim it).
    pub async fn lease_holder(&self, projection: &str, within: Duration) -> anyhow::Result<usize> {
        let client = async_nats::connect(self.nats.url()).await?;
        let js = async_nats::jetstream::new(client);
        let key = format!("projector.{projection}");
        let find = async {
            // The bucket is made by the first projector to start, which may still be starting.
            let bucket = loop {
                match js.get_key_value("rentops_leases").await {
                    Ok(bucket) => break bucket,
                    Err(_) => tokio::task::yield_now().await,
                }
            };
            // The key's current value, then every change to it.
            let mut changes = bucket.watch_with_history(&key).await?;
            while let Some(entry) = changes.next().await {
                let entry = entry?;
                if let Some(i) = self
                    .replicas
                    .iter()
                    .position(|(id, _)| id.as_bytes() == entry.value.as_ref())
                {
                    return Ok(i);
                }
            }
            anyhow::bail!("the lease bucket's watch ended")
        };
        tokio::time::timeout(within, find)
            .await
            .with_context(|| format!("no running replica took the lease of {projection} within {within:?}"))?
    }

    /// The same commands sent to one replica and, on a fresh broker and database, spread over
    /// `replicas` of them must be answered alike, refusals included. Runs `day` both ways and
    /// fails naming the first difference; returns the single replica's answers, for the caller
    /// to check that the day holds the answers that matter.
    pub async fn answers_as_one(
        one: TestDatabase,
        many: TestDatabase,
        replicas: usize,
        day: impl AsyncFn(&Cluster<S>) -> Vec<crate::Answer>,
    ) -> anyhow::Result<Vec<crate::Answer>> {
        let label = one.label();
        let single = Cluster::<S>::start(one, 1, &[]).await?;
        let expected = day(&single).await;
        single.stop().await;
        let several = Cluster::<S>::start(many, replicas, &[]).await?;
        let spread = day(&several).await;
        several.stop().await;
        if let Some((i, (a, b))) = expected.iter().zip(&spread).enumerate().find(|(_, (a, b))| a != b) {
            anyhow::bail!("{label}: answer {i} differs: one replica said {a:?}, {replicas} said {b:?}");
        }
        anyhow::ensure!(
            expected.len() == spread.len(),
            "{label}: {} answers from one replica, {} from {replicas}",
            expected.len(),
            spread.len()
        );
        Ok(expected)
    }

    /// The last sequence of stream `stream`: what has been appended.
    pub async fn stream_last_sequence(&self, stream: &str) -> anyhow::Result<u64> {
        let client = async_nats::connect(self.nats.url()).await?;
        let mut stream = async_nats::jetstream::new(client).get_stream(stream).await?;
        Ok(stream.info().await?.state.last_sequence)
    }

    /// Stops every replica gracefully.
    pub async fn stop(self) {
        for (_, replica) in self.replicas {
            replica.stop().await;
        }
    }
}
