//! `rentops <service> projection-status` and `rentops <service> rebuild-projection`: the SRE
//! operations on a service's projections. Every service serves the same API for them
//! (`rentops.admin.v1.ProjectionAdmin`), so one code path serves every service's subcommands.

use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use rentops_proto::admin as pb;
use rentops_proto::admin::projection_admin_client::ProjectionAdminClient;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::args::parse_non_empty;
use crate::commands::{Invocation, connect};
use crate::errors::Failure;
use crate::views::{ProjectionStatusView, RebuildView};

/// Which projection an SRE operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ProjectionArgs {
    /// The projection, by name as `projection-status` lists them [default: every projection of
    /// the service].
    #[arg(long, value_parser = parse_non_empty)]
    pub projection: Option<String>,
}

/// The two SRE operations, the same on every service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Status,
    Rebuild,
}

/// Times a rebuild is asked for before giving up. Only the replica that runs the projector can
/// rebuild; another one refuses (see [`asks_another_replica`]), and a new connection may reach
/// the right one (behind a load balancer).
const REBUILD_ATTEMPTS: u32 = 5;
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The ErrorInfo of a rebuild refused by a replica that does not hold the projector's lease
/// (`proto/rentops/admin/v1/admin.proto`).
const ERROR_DOMAIN: &str = "rentops.admin.v1";
const NOT_LEASE_HOLDER: &str = "NOT_LEASE_HOLDER";

/// Runs `op` on `service` (its name, for messages and hints) at `addr`.
pub async fn run(
    service: &str,
    addr: &str,
    timeout: Duration,
    op: Operation,
    args: &ProjectionArgs,
    inv: &Invocation,
) -> Result<String, Failure> {
    match op {
        Operation::Status => {
            let mut admin = client(service, addr, timeout).await?;
            let projections = match &args.projection {
                Some(name) => vec![
                    admin
                        .projection_status(pb::ProjectionStatusRequest {
                            projection: name.clone(),
                        })
                        .await?
                        .into_inner()
                        .projection
                        .ok_or_else(|| anyhow!("the {service} service answered without a projection"))?,
                ],
                None => {
                    admin
                        .list_projections(pb::ListProjectionsRequest {})
                        .await?
                        .into_inner()
                        .projections
                }
            };
            Ok(inv.printer.render(&ProjectionStatusView::new(&projections))?)
        }
        Operation::Rebuild => {
            let names = match &args.projection {
                Some(name) => vec![name.clone()],
                None => client(service, addr, timeout)
                    .await?
                    .list_projections(pb::ListProjectionsRequest {})
                    .await?
                    .into_inner()
                    .projections
                    .into_iter()
                    .map(|p| p.name)
                    .collect(),
            };
            let mut started = Vec::with_capacity(names.len());
            for name in names {
                started.push(rebuild(service, addr, timeout, name).await?);
            }
            Ok(inv.printer.render(&RebuildView::new(service, &started))?)
        }
    }
}

async fn client(
    service: &str,
    addr: &str,
    timeout: Duration,
) -> Result<ProjectionAdminClient<crate::commands::Connection>, Failure> {
    Ok(ProjectionAdminClient::new(connect(service, addr, timeout).await?))
}

/// Starts the rebuild of `projection`, asking again on a new connection while the replica
/// reached cannot do it.
async fn rebuild(
    service: &str,
    addr: &str,
    timeout: Duration,
    projection: String,
) -> Result<pb::RebuildProjectionResponse, Failure> {
    let mut attempt = 1;
    loop {
        let mut admin = client(service, addr, timeout).await?;
        let request = pb::RebuildProjectionRequest {
            projection: projection.clone(),
        };
        match admin.rebuild_projection(request).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(status) if asks_another_replica(&status) && attempt < REBUILD_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(status) => return Err(status.into()),
        }
    }
}

/// Whether another attempt may succeed: the replica reached does not run the projector (another
/// may), or was briefly unavailable.
fn asks_another_replica(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable => true,
        Code::FailedPrecondition => status
            .get_details_error_info()
            .is_some_and(|i| i.reason == NOT_LEASE_HOLDER && i.domain == ERROR_DOMAIN),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use rentops_proto::admin::projection_admin_server::{ProjectionAdmin, ProjectionAdminServer};
    use tonic::{Request, Response};
    use tonic_types::ErrorDetails;

    use super::*;
    use crate::format::{Times, Zone};
    use crate::requests::Context;
    use crate::views::Printer;

    /// A service of two projections whose lease holder answers only from the `holder_after`-th
    /// rebuild request on (the earlier ones reach a replica that refuses, as behind a load
    /// balancer).
    struct Service {
        holder_after: usize,
        asked: Mutex<Vec<String>>,
    }

    fn projection(name: &str) -> pb::Projection {
        pb::Projection {
            name: name.into(),
            stream: "FLEET".into(),
            projection_sequence: 90,
            stream_sequence: 120,
            lag: 30,
            ..Default::default()
        }
    }

    #[tonic::async_trait]
    impl ProjectionAdmin for Service {
        async fn list_projections(
            &self,
            _: Request<pb::ListProjectionsRequest>,
        ) -> Result<Response<pb::ListProjectionsResponse>, Status> {
            Ok(Response::new(pb::ListProjectionsResponse {
                projections: vec![projection("fleet-fleet"), projection("fleet-demand")],
            }))
        }

        async fn projection_status(
            &self,
            r: Request<pb::ProjectionStatusRequest>,
        ) -> Result<Response<pb::ProjectionStatusResponse>, Status> {
            Ok(Response::new(pb::ProjectionStatusResponse {
                projection: Some(projection(&r.get_ref().projection)),
            }))
        }

        async fn rebuild_projection(
            &self,
            r: Request<pb::RebuildProjectionRequest>,
        ) -> Result<Response<pb::RebuildProjectionResponse>, Status> {
            let name = r.into_inner().projection;
            let mut asked = self.asked.lock().unwrap();
            asked.push(name.clone());
            if asked.len() < self.holder_after {
                return Err(Status::with_error_details(
                    Code::FailedPrecondition,
                    "replica b does not run it; replica a does",
                    ErrorDetails::with_error_info(NOT_LEASE_HOLDER, ERROR_DOMAIN, HashMap::new()),
                ));
            }
            Ok(Response::new(pb::RebuildProjectionResponse {
                projection: name,
                stream_sequence: 120,
            }))
        }
    }

    async fn serve(service: std::sync::Arc<Service>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ProjectionAdminServer::from_arc(service))
                .serve_with_incoming(incoming),
        );
        format!("http://{addr}")
    }

    fn invocation(json: bool) -> Invocation {
        Invocation {
            ctx: Context::new(None, None, None),
            times: Times::new(Zone::Utc, false),
            printer: Printer { json },
            ryw: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_rebuild_of_every_projection_asks_again_until_the_lease_holder_answers() {
        let service = std::sync::Arc::new(Service {
            holder_after: 2,
            asked: Mutex::new(Vec::new()),
        });
        let addr = serve(service.clone()).await;
        let all = ProjectionArgs { projection: None };
        let out = run(
            "fleet",
            &addr,
            Duration::from_secs(5),
            Operation::Rebuild,
            &all,
            &invocation(true),
        )
        .await
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"projection": "fleet-fleet", "stream_sequence": 120,
                 "follow": "rentops fleet projection-status --projection fleet-fleet"},
                {"projection": "fleet-demand", "stream_sequence": 120,
                 "follow": "rentops fleet projection-status --projection fleet-demand"},
            ])
        );
        // Refused once by a replica that does not run it, then started; then the next one.
        assert_eq!(
            *service.asked.lock().unwrap(),
            ["fleet-fleet", "fleet-fleet", "fleet-demand"]
        );
    }

    #[tokio::test]
    async fn a_rebuild_refused_for_another_reason_is_not_asked_again() {
        assert!(!asks_another_replica(&Status::not_found("no projection named \"x\"")));
        assert!(!asks_another_replica(&Status::failed_precondition("something else")));
        assert!(asks_another_replica(&Status::unavailable("database")));
        let service = std::sync::Arc::new(Service {
            holder_after: usize::MAX,
            asked: Mutex::new(Vec::new()),
        });
        let addr = serve(service.clone()).await;
        let one = ProjectionArgs {
            projection: Some("fleet-demand".into()),
        };
        let failed = run(
            "fleet",
            &addr,
            Duration::from_secs(5),
            Operation::Rebuild,
            &one,
            &invocation(false),
        )
        .await
        .unwrap_err();
        assert!(matches!(failed, Failure::Status(ref s) if s.code() == Code::FailedPrecondition));
        assert_eq!(service.asked.lock().unwrap().len(), REBUILD_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn status_shows_one_projection_or_all() {
        let service = std::sync::Arc::new(Service {
            holder_after: 1,
            asked: Mutex::new(Vec::new()),
        });
        let addr = serve(service).await;
        let all = run(
            "fleet",
            &addr,
            Duration::from_secs(5),
            Operation::Status,
            &ProjectionArgs { projection: None },
            &invocation(false),
        )
        .await
        .unwrap();
        assert!(all.contains("fleet-fleet") && all.contains("fleet-demand"), "{all}");
        let one = ProjectionArgs {
            projection: Some("fleet-demand".into()),
        };
        let one = run(
            "fleet",
            &addr,
            Duration::from_secs(5),
            Operation::Status,
            &one,
            &invocation(false),
        )
        .await
        .unwrap();
        assert!(one.contains("fleet-demand") && !one.contains("fleet-fleet"), "{one}");
        assert!(one.contains("30 events"), "{one}");
    }
}
