//! Task runs: one with its logs and states.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{id_of, Page};
use super::state::AppState;
use crate::runtime::state::State as RunState;
use crate::schemas::records::{StoredLog, StoredTaskRun};
use crate::schemas::results::StoredResult;

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/task_runs/{id}", get(task_run))
        .route("/task_runs/{id}/logs", get(task_run_logs))
        .route("/task_runs/{id}/states", get(task_run_states))
        .route("/task_runs/{id}/result", get(task_run_result))
}

/// The largest stored result `GET /api/task_runs/{id}/result` answers with (16 MiB); larger ones
/// get 413.
pub const MAX_RESULT_BYTES: u64 = 16 * 1024 * 1024;

async fn find_task_run(state: &AppState, id: Uuid) -> Result<StoredTaskRun, ApiError> {
    state
        .store
        .task_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no task run with id {id}")))
}

/// One task run, with its inputs.
#[utoipa::path(get, path = "/api/task_runs/{id}", tag = "task runs",
    params(("id" = Uuid, Path, description = "task run id")),
    responses((status = 200, body = StoredTaskRun), (status = 404, description = "no such task run")))]
pub(crate) async fn task_run(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredTaskRun>, ApiError> {
    Ok(Json(find_task_run(&state, id_of(id, "task run")?).await?))
}

/// The logs of a task run.
#[utoipa::path(get, path = "/api/task_runs/{id}/logs", tag = "task runs",
    params(("id" = Uuid, Path, description = "task run id")),
    responses((status = 200, body = Page<StoredLog>), (status = 404, description = "no such task run")))]
pub(crate) async fn task_run_logs(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Page<StoredLog>>, ApiError> {
    let run = find_task_run(&state, id_of(id, "task run")?).await?;
    Ok(Json(Page::all(state.store.task_run_logs(run.id).await?)))
}

/// Every state of a task run (each retry attempt included), oldest first.
#[utoipa::path(get, path = "/api/task_runs/{id}/states", tag = "task runs",
    params(("id" = Uuid, Path, description = "task run id")),
    responses((status = 200, body = Vec<RunState>), (status = 404, description = "no such task run")))]
pub(crate) async fn task_run_states(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<RunState>>, ApiError> {
    let run = find_task_run(&state, id_of(id, "task run")?).await?;
    Ok(Json(state.store.states(run.id).await?))
}

/// A task run's persisted result, as JSON, read from the server's result storage (the
/// `results-dir` setting; the runs must write to the same place).
#[utoipa::path(get, path = "/api/task_runs/{id}/result", tag = "task runs",
    params(("id" = Uuid, Path, description = "task run id")),
    responses((status = 200, body = StoredResult),
        (status = 404, description = "no such task run, or it has no persisted result"),
        (status = 413, description = "the stored result is larger than 16 MiB")))]
pub(crate) async fn task_run_result(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredResult>, ApiError> {
    let run = find_task_run(&state, id_of(id, "task run")?).await?;
    let reference = state.store.result_ref(run.id).await?.ok_or_else(|| {
        ApiError::not_found(format!("task run {} has no persisted result", run.id))
    })?;
    let key = reference.storage_key.clone();
    let read = tokio::task::spawn_blocking(move || {
        let storage = crate::runtime::results::storage();
        let size = storage.size(&key)?;
        match size {
            Some(size) if size > MAX_RESULT_BYTES => Ok(Err(size)),
            Some(_) => storage.read(&key).map(Ok),
            None => Ok(Ok(None)),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the result: {e}")))?
    .map_err(|e: crate::results::StorageError| ApiError::internal(e.to_string()))?;
    let bytes = match read {
        Err(size) => {
            return Err(ApiError {
                status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the result of task run {} is {size} bytes, over the {MAX_RESULT_BYTES}-byte limit of this endpoint",
                    run.id
                ),
            })
        }
        Ok(None) => {
            return Err(ApiError::not_found(format!(
                "the result of task run {} (key {}) is not in this server's result storage",
                run.id, reference.storage_key
            )))
        }
        Ok(Some(bytes)) => bytes,
    };
    let size = bytes.len() as u64;
    let (metadata, value) = crate::results::json::to_json(&bytes)
        .map_err(|e| ApiError::internal(format!("the result of task run {}: {e}", run.id)))?;
    Ok(Json(StoredResult {
        reference,
        type_name: metadata.type_name,
        expiration: metadata.expiration,
        size,
        value,
    }))
}
