//! `rentops.admin.v1.ProjectionAdmin`: the one SRE API over a service's projections, served by
//! every service for all of its projectors (status, rebuild; `proto/rentops/admin/v1/admin.proto`).
//!
//! A service builds it from what it already holds of its projectors (name, [`ProjectorHandle`],
//! stream) and a JetStream context, and adds [`ProjectionAdminApi::into_server`] to its router.
//! Status reads the shared database and the broker, so any replica answers it alike; a rebuild is
//! done by the replica holding the projector's lease, and any other one says which replica that
//! is.
//!
//! Authorization: this API is for the `sre` role ([`POLICY`]), checked by the server's edge
//! layer when authentication is on, the same way in every service.

use std::collections::HashMap;

use async_nats::jetstream::{self, ErrorCode, context::GetStreamErrorKind};
use rentops_proto::admin as pb;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::projector::{ProjectorHandle, RebuildError};

/// The `google.rpc.ErrorInfo` domain and reason of a rebuild asked of a replica that does not
/// run the projector (see the proto).
pub const ERROR_DOMAIN: &str = "rentops.admin.v1";
pub const NOT_LEASE_HOLDER: &str = "NOT_LEASE_HOLDER";

/// Who may call the admin API: site reliability only.
pub const POLICY: rentops_runtime::auth::Declaration = (
    "rentops.admin.v1.ProjectionAdmin",
    &[
        ("ListProjections", &[rentops_runtime::auth::Role::Sre]),
        ("ProjectionStatus", &[rentops_runtime::auth::Role::Sre]),
        ("RebuildProjection", &[rentops_runtime::auth::Role::Sre]),
    ],
);

/// A mistake in what a service hands [`ProjectionAdminApi::new`].
#[derive(Debug, thiserror::Error)]
pub enum AdminSetupError {
    #[error("projection {0} is listed twice")]
    Duplicate(String),
    #[error("projection listed as {listed} is run by the projector of {actual}")]
    NameMismatch { listed: String, actual: String },
}

struct Served {
    name: String,
    handle: ProjectorHandle,
    stream: String,
}

/// The admin API over some projections of one service.
pub struct ProjectionAdminApi {
    projections: Vec<Served>,
    js: jetstream::Context,
}

impl ProjectionAdminApi {
    /// `projections`: (name, handle, stream the projector reads), in the order ListProjections
    /// answers them. The name must be the handle's own, so that the name an operator types is
    /// the one of the checkpoint, consumer and lease it acts on.
    pub fn new(
        js: jetstream::Context,
        projections: impl IntoIterator<Item = (String, ProjectorHandle, String)>,
    ) -> Result<Self, AdminSetupError> {
        let mut served: Vec<Served> = Vec::new();
        for (name, handle, stream) in projections {
            if handle.name() != name {
                return Err(AdminSetupError::NameMismatch {
                    listed: name,
                    actual: handle.name().to_owned(),
                });
            }
            if served.iter().any(|s| s.name == name) {
                return Err(AdminSetupError::Duplicate(name));
            }
            served.push(Served { name, handle, stream });
        }
        Ok(Self {
            projections: served,
            js,
        })
    }

    /// The tonic service to add to a router (and whose `NamedService::NAME` goes to reflection).
    pub fn into_server(self) -> pb::projection_admin_server::ProjectionAdminServer<Self> {
        pb::projection_admin_server::ProjectionAdminServer::new(self)
    }

    fn find(&self, name: &str) -> Result<&Served, Status> {
        if name.is_empty() {
            return Err(rentops_runtime::grpc::invalid_argument(
                "projection",
                format!("name a projection: one of {}", self.known()),
            ));
        }
        self.projections.iter().find(|p| p.name == name).ok_or_else(|| {
            Status::not_found(format!(
                "no projection named {name:?} on this service; it has {}",
                self.known()
            ))
        })
    }

    fn known(&self) -> String {
        self.projections
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The stream's last sequence; 0 while it does not exist (a neighbour's stream before that
    /// service first started).
    async fn stream_sequence(&self, stream: &str) -> Result<u64, Status> {
        match self.js.get_stream(stream).await {
            Ok(s) => Ok(s.cached_info().state.last_sequence),
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND) => {
                Ok(0)
            }
            Err(e) => Err(Status::unavailable(format!(
                "event log unavailable (stream {stream}): {e}"
            ))),
        }
    }

    /// Who holds the lease, if the bucket can say; a status answer does not fail for want of it.
    async fn holder(&self, p: &Served) -> Option<String> {
        match p.handle.lease_holder().await {
            Ok(holder) => holder,
            Err(e) => {
                tracing::debug!(projection = %p.name, error = %e, "lease holder unknown");
                None
            }
        }
    }

    async fn status(&self, p: &Served) -> Result<pb::Projection, Status> {
        let db = |e: sqlx::Error| Status::unavailable(format!("projection database unavailable: {e}"));
        // The checkpoint first: the stream, read after it, can only make the lag look larger,
        // never hide one.
        let projection_sequence = p.handle.checkpoints.current().await.map_err(db)?;
        let stream_sequence = self.stream_sequence(&p.stream).await?;
        let rebuilding = p.handle.rebuild_in_progress().await.map_err(db)?;
        let rebuild_sequence = if rebuilding {
            p.handle.rebuild_progress().await.map_err(db)?.unwrap_or(0)
        } else {
            0
        };
        Ok(pb::Projection {
            name: p.name.clone(),
            stream: p.stream.clone(),
            projection_sequence,
            stream_sequence,
            lag: stream_sequence.saturating_sub(projection_sequence),
            rebuilding,
            rebuild_sequence,
            lease_held_here: p.handle.lease_held(),
            lease_holder: self.holder(p).await.unwrap_or_default(),
            replica: p.handle.instance_id().to_owned(),
        })
    }

    /// FAILED_PRECONDITION naming the lease holder, with an ErrorInfo a client can act on.
    async fn not_holder(&self, p: &Served) -> Status {
        let holder = self.holder(p).await;
        let here = p.handle.instance_id();
        let message = match &holder {
            Some(h) => format!(
                "replica {here} does not run projection {}; replica {h} does: ask it (through a load balancer, ask again on a new connection)",
                p.name
            ),
            None => format!(
                "replica {here} does not run projection {}, and no replica holds its lease right now; ask again in a few seconds",
                p.name
            ),
        };
        let mut metadata = HashMap::from([("projection".to_owned(), p.name.clone())]);
        if let Some(h) = holder {
            metadata.insert("holder".to_owned(), h);
        }
        Status::with_error_details(
            Code::FailedPrecondition,
            message,
            ErrorDetails::with_error_info(NOT_LEASE_HOLDER, ERROR_DOMAIN, metadata),
        )
    }
}

#[tonic::async_trait]
impl pb::projection_admin_server::ProjectionAdmin for ProjectionAdminApi {
    async fn list_projections(
        &self,
        _: Request<pb::ListProjectionsRequest>,
    ) -> Result<Response<pb::ListProjectionsResponse>, Status> {
        let mut projections = Vec::with_capacity(self.projections.len());
        for p in &self.projections {
            projections.push(self.status(p).await?);
        }
        Ok(Response::new(pb::ListProjectionsResponse { projections }))
    }

    async fn projection_status(
        &self,
        request: Request<pb::ProjectionStatusRequest>,
    ) -> Result<Response<pb::ProjectionStatusResponse>, Status> {
        let p = self.find(&request.get_ref().projection)?;
        Ok(Response::new(pb::ProjectionStatusResponse {
            projection: Some(self.status(p).await?),
        }))
    }

    async fn rebuild_projection(
        &self,
        request: Request<pb::RebuildProjectionRequest>,
    ) -> Result<Response<pb::RebuildProjectionResponse>, Status> {
        let p = self.find(&request.get_ref().projection)?;
        let stream_sequence = self.stream_sequence(&p.stream).await?;
        match p.handle.rebuild().await {
            Ok(()) => {}
            Err(RebuildError::NotLeaseHolder(_)) => return Err(self.not_holder(p).await),
            Err(e @ (RebuildError::Stopped(_) | RebuildError::Reset { .. })) => {
                return Err(Status::unavailable(e.to_string()));
            }
        }
        tracing::info!(projection = %p.name, stream_sequence, "projection rebuild started");
        Ok(Response::new(pb::RebuildProjectionResponse {
            projection: p.name.clone(),
            stream_sequence,
        }))
    }
}
