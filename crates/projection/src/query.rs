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

/// A keyset cursor `(time, id)` as an opaque page token: the services' lists page by a time and
/// an id to break ties, and hand the last row's pair back to the client.
pub fn page_token(us: i64, id: &str) -> String {
    format!("{us}~{id}")
}

/// The `(time, id)` a [`page_token`] holds, or `BadPageToken` for anything this code did not
/// issue.
pub fn parse_page_token(token: &str) -> Result<(i64, String), QueryError> {
    let (us, id) = token.split_once('~').ok_or(QueryError::BadPageToken)?;
    let us = us.parse().map_err(|_| QueryError::BadPageToken)?;
    if id.is_empty() || id.len() > 64 {
        return Err(QueryError::BadPageToken);
    }
    Ok((us, id.to_owned()))
}

/// Whether `token` is empty or one [`page_token`] issued (for the API's argument checks).
pub fn is_page_token(token: &str) -> bool {
    token.is_empty() || parse_page_token(token).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let t = page_token(1_796_090_400_000_000, "v0a1b");
        assert_eq!(parse_page_token(&t).unwrap(), (1_796_090_400_000_000, "v0a1b".into()));
        for bad in ["", "12", "x~id", "12~", &format!("1~{}", "a".repeat(65))] {
            assert!(
                matches!(parse_page_token(bad), Err(QueryError::BadPageToken)),
                "{bad:?}"
            );
        }
        assert!(is_page_token("") && is_page_token(&t) && !is_page_token("nonsense"));
    }
}
