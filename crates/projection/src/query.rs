//! What a query over a read model can fail with, and its gRPC answer.

use rentops_runtime::invalid_argument;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row (its JSON state, or an event kept beside it) does not read back.
    #[error("stored data unreadable: {0}")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("page_token is not one this service issued")]
    BadPageToken,
}

impl From<QueryError> for tonic::Status {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadPageToken => invalid_argument("page.page_token", "not a token this service issued"),
            QueryError::Db(e) => {
                tracing::warn!(error = %e, "projection database error");
                tonic::Status::unavailable("projection database unavailable")
            }
            QueryError::Corrupt(e) => {
                tracing::error!(error = %e, "projection data unreadable");
                tonic::Status::internal("projection data unreadable")
            }
        }
    }
}
