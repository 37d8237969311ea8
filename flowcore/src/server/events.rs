//! `POST /api/events`: the runtime's reported batches, ingested through the orchestration policy.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::json::FastJson;
use super::state::AppState;
use crate::schemas::events::Event;
use crate::schemas::records::RefusedTransition;
use crate::store::WriteOutcome;

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/events", post(events))
}

/// A batch of reported events (what the runtime's API client sends).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventBatch {
    /// Identifies the batch: a batch sent again with the same id is not written twice.
    #[schema(format = Uuid)]
    pub batch_id: Option<Uuid>,
    /// The events, in the order they happened.
    pub events: Vec<Event>,
}

/// What `POST /api/events` did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventsAccepted {
    /// How many events the batch held.
    pub accepted: usize,
    /// Whether the batch had been written before (and was not written again).
    pub duplicate: bool,
    /// Reported transitions the orchestration policy refused (e.g. `Running` after `Completed`):
    /// not written; the runs keep their states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedTransition>,
}

/// Records a batch of events (flow runs, task runs, state changes, logs) in one transaction, at most
/// once per `batch_id`.
#[utoipa::path(post, path = "/api/events", tag = "events", request_body = EventBatch,
    responses((status = 200, body = EventsAccepted),
        (status = 400, description = "malformed JSON"),
        (status = 413, description = "body over the size limit"),
        (status = 422, description = "a field is missing or has the wrong type; the message names it")))]
pub(crate) async fn events(
    State(state): State<AppState>,
    FastJson(batch): FastJson<EventBatch>,
) -> Result<Json<EventsAccepted>, ApiError> {
    let ingested = state.store.ingest(batch.batch_id, &batch.events).await?;
    // A program reporting here sends heartbeats for its top-level flow runs: from now on, each is
    // Crashed if they stop (or never come: the process died before its first one).
    let top_level: Vec<Uuid> = batch
        .events
        .iter()
        .filter_map(|event| match event {
            Event::FlowRunCreated {
                run,
                parent_flow_run_id: None,
                ..
            } => Some(run.id),
            _ => None,
        })
        .collect();
    if !top_level.is_empty() && ingested.outcome != WriteOutcome::Duplicate {
        state
            .store
            .expect_heartbeats(&top_level, chrono::Utc::now())
            .await?;
    }
    Ok(Json(EventsAccepted {
        accepted: batch.events.len(),
        duplicate: ingested.outcome == WriteOutcome::Duplicate,
        refused: ingested.refused,
    }))
}
