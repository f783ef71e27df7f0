//! How a rentops service is put together, written once.
//!
//! A service's `start` opens a [`Kit`] (the event log and its stream, the database and its
//! migrations), asks it for command handlers, hands it its projections, reactors and scans and
//! its gRPC API with the roles each RPC needs, and calls [`Kit::start`]. The kit adds what every
//! service serves the same way:
//!
//! - `grpc.health.v1.Health`, following the broker (NOT_SERVING while NATS is unreachable);
//! - server reflection of exactly the services this binary serves;
//! - `rentops.admin.v1.ProjectionAdmin` over every projection it runs (role `sre`);
//! - the edge layer around every RPC: server span with the caller's trace context, metrics, and,
//!   when configured, bearer-token authentication and the roles policy (see
//!   [`rentops_runtime::auth`]); TLS when a certificate is configured.
//!
//! Every task it starts stops when the shutdown token is cancelled; [`Running::join`] waits for
//! them, which is what the SIGTERM drain of [`rentops_runtime::service_main`] waits on.

pub mod api;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rentops_eventstore::{CommandHandler, EventStore, HandlerConfig, StreamSettings};
use rentops_kernel::{Aggregate, EventCodec};
use rentops_projection::{Db, Projection, ProjectionAdminApi, Projector, ProjectorHandle, ProjectorSettings};
use rentops_reactor::{Progress, ProgressWatch, React, Scan, Schedule, Subscription};
use rentops_runtime::auth::{Access, Authenticator, Declaration, Policy};
use rentops_runtime::{CommonConfig, Shutdown};
use tokio::task::JoinSet;

/// The migrations of a service that keeps one set per backend in the conventional place,
/// `migrations/sqlite/` and `migrations/postgres/` beside its `Cargo.toml` (embedded at compile
/// time by `sqlx::migrate!`, which the service depends on).
#[macro_export]
macro_rules! migrations_per_backend {
    () => {
        $crate::Migrations {
            sqlite: &sqlx::migrate!("./migrations/sqlite"),
            postgres: &sqlx::migrate!("./migrations/postgres"),
        }
    };
}

/// A service's migrations, one set per backend (the same set when its SQL is portable).
#[derive(Clone, Copy)]
pub struct Migrations<'a> {
    pub sqlite: &'a sqlx::migrate::Migrator,
    pub postgres: &'a sqlx::migrate::Migrator,
}

impl<'a> Migrations<'a> {
    /// One set of migrations for both backends.
    pub fn portable(migrator: &'a sqlx::migrate::Migrator) -> Self {
        Self {
            sqlite: migrator,
            postgres: migrator,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{service}: the event log: {source}")]
    EventLog {
        service: &'static str,
        #[source]
        source: rentops_eventstore::StreamError,
    },
    #[error("{service}: the database: {source}")]
    Database {
        service: &'static str,
        #[source]
        source: rentops_projection::DbError,
    },
    #[error("{service}: the admin API: {source}")]
    Admin {
        service: &'static str,
        #[source]
        source: rentops_projection::admin::AdminSetupError,
    },
    #[error("{service}: server reflection: {source}")]
    Reflection {
        service: &'static str,
        #[source]
        source: rentops_runtime::grpc::ReflectionError,
    },
    #[error("{service}: the roles policy: {source}")]
    PolicyDescriptors {
        service: &'static str,
        #[source]
        source: rentops_runtime::auth::DescriptorError,
    },
    #[error("{service}: these RPCs declare no roles: {}", methods.join(", "))]
    Undeclared {
        service: &'static str,
        methods: Vec<String>,
    },
    #[error("{service}: token key: {source}")]
    TokenKey {
        service: &'static str,
        #[source]
        source: rentops_runtime::auth::KeyError,
    },
    #[error("{service}: the gRPC server (TLS identity?): {source}")]
    Server {
        service: &'static str,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{service}: the gRPC listener: {source}")]
    Listener {
        service: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A service being put together; see the crate's documentation.
pub struct Kit {
    service: &'static str,
    common: CommonConfig,
    store: EventStore,
    stream: StreamSettings,
    db: Db,
    shutdown: Shutdown,
    tasks: JoinSet<()>,
    projections: Vec<(String, ProjectorHandle, String)>,
    routes: tonic::service::RoutesBuilder,
    served: Vec<&'static str>,
    policy: Policy,
}

impl Kit {
    /// Connects to the event log (creating or updating the service's stream), opens the database
    /// and runs the service's migrations (under the schema lock, so replicas may start at once).
    pub async fn open(
        service: &'static str,
        common: &CommonConfig,
        migrations: Migrations<'_>,
        shutdown: Shutdown,
    ) -> Result<Kit, StartError> {
        let (store, stream) = rentops_eventstore::open(service, common)
            .await
            .map_err(|source| StartError::EventLog { service, source })?;
        let db = Db::connect(&common.database_url)
            .await
            .map_err(|source| StartError::Database { service, source })?;
        db.migrate(migrations.sqlite, migrations.postgres)
            .await
            .map_err(|source| StartError::Database { service, source })?;
        let mut policy = Policy::default();
        policy.declare(rentops_projection::admin::POLICY);
        Ok(Kit {
            service,
            common: common.clone(),
            store,
            stream,
            db,
            shutdown,
            tasks: JoinSet::new(),
            projections: Vec::new(),
            routes: tonic::service::RoutesBuilder::default(),
            served: Vec::new(),
            policy,
        })
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The service's own stream (name, subjects, replicas).
    pub fn stream(&self) -> &StreamSettings {
        &self.stream
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn common(&self) -> &CommonConfig {
        &self.common
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// A command handler for aggregate `A` on the service's stream.
    pub fn handler<A>(&self) -> Arc<CommandHandler<A>>
    where
        A: Aggregate + EventCodec<Event = <A as Aggregate>::Event>,
    {
        Arc::new(CommandHandler::new(
            self.store.clone(),
            HandlerConfig::from_common(&self.common, &self.stream),
        ))
    }

    /// Runs `projection` over the service's own stream, under its lease; it is listed and
    /// rebuilt through the admin API.
    pub fn project<P: Projection>(&mut self, projection: P) -> ProjectorHandle {
        let stream = self.stream.name.clone();
        self.project_from(&stream, projection)
    }

    /// Runs `projection` over another service's stream (e.g. fleet's demand over `ORDER`),
    /// checkpointed in this service's database. Until that stream exists it retries, saying so.
    pub fn project_from<P: Projection>(&mut self, stream: &str, projection: P) -> ProjectorHandle {
        let name = projection.name().to_owned();
        let (projector, handle) = Projector::new(
            projection,
            self.db.clone(),
            self.store.jetstream().clone(),
            ProjectorSettings::from_common(stream, &self.common),
        );
        self.tasks.spawn(projector.run(self.shutdown.clone()));
        self.projections.push((name, handle.clone(), stream.to_owned()));
        handle
    }

    /// Runs `reactor` over another service's events (see [`rentops_reactor::React`]).
    pub fn react<R: React>(&mut self, subscription: Subscription, reactor: R) -> ProgressWatch {
        let (progress, watch) = Progress::new();
        self.tasks.spawn(rentops_reactor::run_reactor(
            self.store.jetstream().clone(),
            subscription,
            reactor,
            progress,
            self.shutdown.clone(),
        ));
        watch
    }

    /// Runs `scan` on `schedule` (see [`rentops_reactor::Scan`]).
    pub fn scan<S: Scan>(&mut self, scan: S, schedule: Schedule) -> ProgressWatch {
        let (progress, watch) = Progress::new();
        self.tasks.spawn(rentops_reactor::run_scan(
            scan,
            schedule,
            progress,
            self.shutdown.clone(),
        ));
        watch
    }

    /// Runs a task of the service's own until shutdown (it must watch the shutdown token).
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Serves `server` (a tonic-generated `…Server<Api>`, configured as the service needs), with
    /// the roles each of its RPCs needs. Start-up fails if one of its RPCs is not declared.
    pub fn serve<S>(&mut self, server: S, declaration: Declaration)
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.served.push(S::NAME);
        self.policy.declare(declaration);
        self.routes.add_service(server);
    }

    /// Adds health, reflection and the admin API, checks the roles policy, and starts serving on
    /// `listener`.
    pub async fn start(mut self, listener: tokio::net::TcpListener) -> Result<Running, StartError> {
        let service = self.service;
        let admin = ProjectionAdminApi::new(self.store.jetstream().clone(), self.projections.clone())
            .map_err(|source| StartError::Admin { service, source })?;
        let admin_name = rentops_projection::admin::POLICY.0;
        let mut served = self.served.clone();
        served.push(admin_name);
        self.routes.add_service(admin.into_server());

        let undeclared = self
            .policy
            .undeclared(rentops_proto::FILE_DESCRIPTOR_SET, &served)
            .map_err(|source| StartError::PolicyDescriptors { service, source })?;
        if !undeclared.is_empty() {
            return Err(StartError::Undeclared {
                service,
                methods: undeclared,
            });
        }
        let authenticator = match &self.common.tokens {
            Some(settings) => Some(Arc::new(
                Authenticator::new(settings).map_err(|source| StartError::TokenKey { service, source })?,
            )),
            None => {
                tracing::warn!(
                    service,
                    "authentication is off: every caller is trusted and names its own actor; \
                     set RENTOPS_AUTH=jwt (and RENTOPS_TLS_*) outside a local cluster"
                );
                None
            }
        };

        let (reporter, health, reflection_v1, reflection_v1alpha) =
            rentops_runtime::grpc::standard_services(rentops_proto::FILE_DESCRIPTOR_SET, &served)
                .await
                .map_err(|source| StartError::Reflection { service, source })?;
        if let Some(addr) = self.common.health_addr {
            // For probes that cannot speak TLS: health alone, in plaintext, nothing else.
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listener { service, source })?;
            let server = rentops_runtime::grpc::Server::new(
                tonic::service::Routes::new(health.clone()),
                Access::default(),
                None,
            )
            .map_err(|source| StartError::Server { service, source })?;
            let shutdown = self.shutdown.clone();
            self.tasks.spawn(async move {
                if let Err(e) = server.serve(listener, shutdown).await {
                    tracing::error!(service, error = %e, "health server failed");
                }
            });
        }
        self.routes
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        {
            let client = self.store.client().clone();
            self.tasks.spawn(rentops_runtime::grpc::health_follows(
                reporter,
                served,
                move || client.connection_state() == async_nats::connection::State::Connected,
                self.shutdown.clone(),
            ));
        }

        let access = Access {
            authenticator,
            policy: Arc::new(self.policy),
        };
        let server = rentops_runtime::grpc::Server::new(self.routes.routes(), access, self.common.tls.as_ref())
            .map_err(|source| StartError::Server { service, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Listener { service, source })?;
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            if let Err(e) = server.serve(listener, shutdown).await {
                tracing::error!(service, error = %e, "gRPC server failed");
            }
        });
        Ok(Running {
            addr,
            tasks: self.tasks,
        })
    }
}

/// A started service: where it listens, and its tasks.
pub struct Running {
    addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running service with what the service keeps of its own parts (its handlers,
    /// projector handles, progress watches), which tests and the service's `main` reach through
    /// [`App`]'s `Deref`.
    pub fn with<P>(self, parts: P) -> App<P> {
        App {
            addr: self.addr,
            running: self,
            parts,
        }
    }

    /// Waits for every task to finish (after the shutdown token was cancelled). Dropping a
    /// `Running` aborts them instead, wherever they are.
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A running service and its parts.
pub struct App<P> {
    /// Where its gRPC server listens.
    pub addr: SocketAddr,
    running: Running,
    parts: P,
}

impl<P> App<P> {
    /// Waits for every task to finish (after the shutdown token was cancelled).
    pub async fn join(self) {
        self.running.join().await
    }
}

impl<P> std::ops::Deref for App<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.parts
    }
}

impl<P: Send> rentops_runtime::RunningService for App<P> {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn join(self) {
        App::join(self).await
    }
}
