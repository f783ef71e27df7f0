//! The admin API: projection rebuild and status.

use rentops_projection::ProjectorHandle;
use rentops_proto::order as pb;
use tonic::{Request, Response, Status};

use crate::projections;

pub struct OrderAdminApi {
    pub projector: ProjectorHandle,
    pub js: async_nats::jetstream::Context,
    pub stream: String,
}

impl OrderAdminApi {
    async fn stream_sequence(&self) -> Result<u64, Status> {
        let mut stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| Status::unavailable(format!("event log unavailable: {e}")))?;
        let info = stream
            .info()
            .await
            .map_err(|e| Status::unavailable(format!("event log unavailable: {e}")))?;
        Ok(info.state.last_sequence)
    }
}

#[tonic::async_trait]
impl pb::order_admin_server::OrderAdmin for OrderAdminApi {
    async fn rebuild_projection(
        &self,
        _: Request<pb::RebuildProjectionRequest>,
    ) -> Result<Response<pb::RebuildProjectionResponse>, Status> {
        let stream_sequence = self.stream_sequence().await?;
        self.projector.rebuild().await.map_err(Status::unavailable)?;
        tracing::info!(stream_sequence, "order projection rebuild started");
        Ok(Response::new(pb::RebuildProjectionResponse { stream_sequence }))
    }

    async fn projection_status(
        &self,
        _: Request<pb::ProjectionStatusRequest>,
    ) -> Result<Response<pb::ProjectionStatusResponse>, Status> {
        let projection_sequence = self
            .projector
            .checkpoints
            .current()
            .await
            .map_err(|e| Status::unavailable(format!("projection database unavailable: {e}")))?;
        Ok(Response::new(pb::ProjectionStatusResponse {
            projection: projections::NAME.into(),
            projection_sequence,
            stream_sequence: self.stream_sequence().await?,
            rebuilding: *self.projector.rebuilding().borrow(),
        }))
    }
}
