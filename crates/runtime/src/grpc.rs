//! The gRPC server every service runs (its API plus `grpc.health.v1.Health` and server reflection
//! in both `v1` and `v1alpha`), and statuses that name the offending field.

use std::net::SocketAddr;

use tonic::transport::server::{Router, TcpIncoming};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::Shutdown;

pub use tonic_reflection::server::Error as ReflectionError;

/// `INVALID_ARGUMENT` with a `google.rpc.BadRequest` field violation naming `field`.
pub fn invalid_argument(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// `INVALID_ARGUMENT` with several field violations.
pub fn bad_request(violations: Vec<(String, String)>) -> Status {
    let message = violations
        .iter()
        .map(|(f, d)| format!("{f}: {d}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut details = ErrorDetails::new();
    for (f, d) in violations {
        details.add_bad_request_violation(f, d);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// Health, and reflection over `descriptor_set` that lists exactly `served` (full names such as
/// `rentops.order.v1.OrderService`, from each server's `NamedService::NAME`) and health itself.
///
/// The descriptor set holds every service of `proto/`; reflecting all of them would tell a
/// client (grpcurl, Postman, any generated client) that this binary serves its neighbours' APIs,
/// and each call would come back `UNIMPLEMENTED`.
pub async fn standard_services(
    descriptor_set: &[u8],
    served: &[&str],
) -> Result<
    (
        tonic_health::server::HealthReporter,
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    tonic_reflection::server::Error,
> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let names = served.iter().copied().chain([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]);
    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for name in names {
        v1 = v1.with_service_name(name);
        v1alpha = v1alpha.with_service_name(name);
    }
    let v1 = v1.build_v1()?;
    let v1alpha = v1alpha.build_v1alpha()?;
    Ok((reporter, health, v1, v1alpha))
}

/// Keeps the health status of `services` (full names) following `is_up` (checked every second)
/// until `shutdown`: NOT_SERVING while the service's broker is unreachable, so Kubernetes stops
/// sending traffic that could only be answered UNAVAILABLE.
pub async fn health_follows(
    reporter: tonic_health::server::HealthReporter,
    services: Vec<&'static str>,
    is_up: impl Fn() -> bool,
    shutdown: Shutdown,
) {
    use tonic_health::ServingStatus;
    for name in &services {
        reporter.set_service_status(name, ServingStatus::Serving).await;
    }
    let mut up = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        let now_up = is_up();
        if now_up != up {
            up = now_up;
            let status = if up {
                ServingStatus::Serving
            } else {
                tracing::warn!(?services, "broker unreachable: health NOT_SERVING");
                ServingStatus::NotServing
            };
            for name in &services {
                reporter.set_service_status(name, status).await;
            }
        }
    }
}

/// A gRPC server ready to serve: the services' routes behind the [`EdgeLayer`](crate::edge),
/// over TLS when an identity is configured.
pub struct Server {
    router: Router<tower::layer::util::Stack<crate::edge::EdgeLayer, tower::layer::util::Identity>>,
    tls: bool,
}

impl Server {
    /// Fails if the TLS identity does not load (a certificate and key that do not parse or match).
    pub fn new(
        routes: tonic::service::Routes,
        access: crate::auth::Access,
        tls: Option<&crate::config::TlsIdentity>,
    ) -> Result<Self, tonic::transport::Error> {
        let mut builder = tonic::transport::Server::builder();
        if let Some(identity) = tls {
            builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(
                tonic::transport::Identity::from_pem(&identity.cert_pem, &identity.key_pem),
            ))?;
        }
        let router = builder.layer(crate::edge::EdgeLayer::new(access)).add_routes(routes);
        Ok(Self {
            router,
            tls: tls.is_some(),
        })
    }

    /// Serves on `listener` until `shutdown`, then lets in-flight calls finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
    ) -> Result<(), tonic::transport::Error> {
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(?addr, tls = self.tls, "gRPC server listening");
        // Accepted connections get TCP_NODELAY, as `Server::serve` would give them: without it a
        // small response can wait on the peer's delayed ACK (Nagle).
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(std::time::Duration::from_secs(60)));
        self.router
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
    }
}
