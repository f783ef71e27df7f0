//! What a projection's `apply_event` needs of its event and of the rows it folds the event
//! into: the error that names the event, the event's protobuf body, and a row's JSON state
//! read back (the aggregates' views keep each aggregate's state as JSON beside its columns).

use serde::de::DeserializeOwned;
use sqlx::{Any, Row, Transaction};

use rentops_eventstore::RecordedEvent;

use crate::projector::{BoxError, ProjectionError};

/// Event `e` cannot be applied, because of `why`.
pub fn bad(e: &RecordedEvent, why: impl Into<BoxError>) -> ProjectionError {
    ProjectionError::event(e.sequence, why)
}

/// The body of `e` as the protobuf message `M`; an undecodable body is the event's error.
pub fn decode<M: prost::Message + Default>(e: &RecordedEvent) -> Result<M, ProjectionError> {
    M::decode(e.payload.as_ref()).map_err(|err| bad(e, err))
}

/// The JSON state in the first column of the row `select` finds for `id` (its one parameter),
/// or `None` when there is no such row. A state that does not read back names its row.
pub async fn load_state<T: DeserializeOwned>(
    tx: &mut Transaction<'static, Any>,
    select: &'static str,
    id: &str,
) -> Result<Option<T>, ProjectionError> {
    let row = sqlx::query(select)
        .bind(id.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let json: String = r.try_get(0)?;
            serde_json::from_str(&json)
                .map(Some)
                .map_err(|err| ProjectionError::stored_row(id, err))
        }
    }
}
