//! The four services, each of which a test can kill and start again.
//!
//! A [`Node`] runs one service on a tokio runtime of its own, as a process of its own would. To
//! kill it, the test drops that runtime: every task of the service stops at whatever await it
//! had reached — mid-batch, mid-transaction, with events pulled but not acknowledged — and
//! nothing is drained, flushed or released (its projector lease stays held until it expires,
//! its NATS connection and database connections just close). Started again, it gets the same
//! port, database, broker and instance id, and must pick up where it stopped. Clients to it
//! reconnect by themselves, as the desk's apps do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: a failed step stops the test loudly

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use rentops_runtime::{Clock, ManualClock, MapEnv, RunningService, ServiceConfig, Shutdown};
use rentops_testkit::{NatsServer, TestDatabase};
use tonic::transport::{Channel, Endpoint};

use crate::{Front, env};

type Boot<A> = Arc<dyn Fn(tokio::net::TcpListener, Shutdown) -> Pin<Box<dyn Future<Output = A> + Send>> + Send + Sync>;

/// One service on a runtime of its own: started, killed, started again.
pub struct Node<A> {
    pub name: &'static str,
    pub addr: SocketAddr,
    boot: Boot<A>,
    live: Option<Live<A>>,
}

struct Live<A> {
    runtime: tokio::runtime::Runtime,
    app: A,
    shutdown: Shutdown,
}

impl<A: RunningService + 'static> Node<A> {
    /// Starts service `name` with `config` read from `env`, through its own `start`, as its
    /// binary's `main` would.
    pub async fn start<C, E, F, Fut>(name: &'static str, env: MapEnv, clock: Arc<dyn Clock>, start: F) -> Node<A>
    where
        C: ServiceConfig,
        E: std::fmt::Debug,
        F: Fn(C, tokio::net::TcpListener, Arc<dyn Clock>, Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, E>> + Send + 'static,
    {
        let start = Arc::new(start);
        let boot: Boot<A> = Arc::new(move |listener, shutdown| {
            let config = C::read(&env).unwrap_or_else(|e| panic!("{name} config: {e}"));
            let fut = start(config, listener, clock.clone(), shutdown);
            Box::pin(async move { fut.await.unwrap_or_else(|e| panic!("{name} starts: {e:?}")) })
        });
        // The port is the node's for its whole life: restarts listen where clients already point.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut node = Node {
            name,
            addr,
            boot,
            live: None,
        };
        node.boot().await;
        node
    }

    async fn boot(&mut self) {
        assert!(self.live.is_none(), "{} is running already", self.name);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(self.name)
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = self.listen().await;
        let shutdown = Shutdown::new();
        let boot = self.boot.clone();
        let token = shutdown.clone();
        // Started on its own runtime, so that every task it spawns lives and dies with it.
        let app = runtime
            .spawn(async move {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                boot(listener, token).await
            })
            .await
            .unwrap_or_else(|e| panic!("{} did not start: {e}", self.name));
        self.live = Some(Live { runtime, app, shutdown });
    }

    /// Binds the node's port; right after a kill the old socket may take a moment to close.
    async fn listen(&self) -> std::net::TcpListener {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpListener::bind(self.addr) {
                Ok(l) => return l,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(node = self.name, error = %e, "port still taken");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{}: cannot listen on {} again: {e}", self.name, self.addr),
            }
        }
    }

    /// The running service (its projectors, reactors, scans).
    pub fn app(&self) -> &A {
        &self
            .live
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name))
            .app
    }

    /// Kills the service: its runtime is dropped with every task wherever it was.
    pub async fn kill(&mut self) {
        let live = self
            .live
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        let name = self.name;
        tokio::task::spawn_blocking(move || {
            // Not a drain: the shutdown token is never cancelled. Tasks are dropped at their
            // next await; a task stuck outside one would stop the test here, loudly.
            live.runtime.shutdown_timeout(Duration::from_secs(10));
            drop(live.app);
            drop(live.shutdown);
        })
        .await
        .unwrap_or_else(|e| panic!("killing {name}: {e}"));
    }

    /// Starts the killed service again, on the same port, database and broker.
    pub async fn restart(&mut self) {
        self.boot().await;
    }

    /// Stops the service as SIGTERM does (drained, at most 10 s), then its runtime.
    pub async fn stop(mut self) {
        let Some(live) = self.live.take() else { return };
        live.shutdown.cancel();
        let _ = live
            .runtime
            .spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), live.app.join()).await;
            })
            .await;
        tokio::task::spawn_blocking(move || live.runtime.shutdown_timeout(Duration::from_secs(10)))
            .await
            .ok();
    }

    /// A client channel to the node that reconnects across its restarts.
    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("an endpoint")
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy()
    }
}

/// The four services on one nats-server, each on its own database, each killable; one clock
/// for all of them (a [`ManualClock`] the test moves, unless it asks for another).
pub struct Cluster<C: Clock + 'static = ManualClock> {
    pub front: Front,
    pub clock: Arc<C>,
    pub rc: ReceivablesServiceClient<Channel>,
    pub cc: ComplaintServiceClient<Channel>,
    pub order: Node<rentops_order::app::App>,
    pub fleet: Node<rentops_fleet::app::App>,
    pub receivables: Node<rentops_receivables::app::App>,
    pub complaint: Node<rentops_complaint::app::App>,
    // Last: the server outlives the services that use it.
    nats: NatsServer,
}

impl<C: Clock> std::ops::Deref for Cluster<C> {
    type Target = Front;

    fn deref(&self) -> &Front {
        &self.front
    }
}

impl<C: Clock> std::ops::DerefMut for Cluster<C> {
    fn deref_mut(&mut self) -> &mut Front {
        &mut self.front
    }
}

/// What every node of a [`Cluster`] runs with: a dead node's projector lease lapses in 2 s, so a
/// restart (or a survivor) takes over soon after.
const LEASE: (&str, &str) = ("RENTOPS_PROJECTOR_LEASE_SECS", "2");

impl<C: Clock> Cluster<C> {
    /// Starts a nats-server and the four services: re-plans debounced 100 ms, every scan each
    /// second, a complaint case scanned 2 s after its latest change.
    pub async fn start(dbs: [&TestDatabase; 4], clock: Arc<C>) -> Cluster<C> {
        rentops_testkit::init_tracing();
        let nats = NatsServer::start().await.expect("nats-server");
        let url = nats.url();
        let [order_db, fleet_db, rx_db, cp_db] = dbs;
        let time: Arc<dyn Clock> = clock.clone();
        let order = Node::start(
            "order",
            env(
                &url,
                order_db.url(),
                &[LEASE, ("RENTOPS_ORDER_DEADLINE_SCAN_SECS", "1")],
            ),
            time.clone(),
            rentops_order::app::start,
        )
        .await;
        let fleet = Node::start(
            "fleet",
            env(
                &url,
                fleet_db.url(),
                &[LEASE, ("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", "100")],
            ),
            time.clone(),
            rentops_fleet::app::start,
        )
        .await;
        let receivables = Node::start(
            "receivables",
            env(
                &url,
                rx_db.url(),
                &[LEASE, ("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS", "1")],
            ),
            time.clone(),
            rentops_receivables::app::start,
        )
        .await;
        let complaint = Node::start(
            "complaint",
            env(
                &url,
                cp_db.url(),
                &[
                    LEASE,
                    ("RENTOPS_COMPLAINT_SCAN_SECS", "1"),
                    ("RENTOPS_COMPLAINT_SETTLE_SECS", "2"),
                ],
            ),
            time,
            rentops_complaint::app::start,
        )
        .await;
        Cluster {
            front: Front {
                label: order_db.label(),
                oc: OrderServiceClient::new(order.channel()),
                fc: FleetServiceClient::new(fleet.channel()),
                order_sequence: 0,
            },
            clock,
            rc: ReceivablesServiceClient::new(receivables.channel()),
            cc: ComplaintServiceClient::new(complaint.channel()),
            order,
            fleet,
            receivables,
            complaint,
            nats,
        }
    }

    /// Where the four services answer, for clients of all of them (the report, the demo).
    pub fn endpoints(&self) -> rentops_proto::Endpoints {
        let at = |addr: SocketAddr| format!("http://{addr}");
        rentops_proto::Endpoints {
            order: at(self.order.addr),
            fleet: at(self.fleet.addr),
            receivables: at(self.receivables.addr),
            complaint: at(self.complaint.addr),
        }
    }

    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// The last sequence of `stream` (e.g. `ORDER`) on the broker.
    pub async fn last_sequence(&self, stream: &str) -> u64 {
        crate::last_sequence(&self.nats.url(), stream).await
    }

    /// Stops every service (drained), then the broker.
    pub async fn stop(self) {
        self.complaint.stop().await;
        self.receivables.stop().await;
        self.fleet.stop().await;
        self.order.stop().await;
    }
}
