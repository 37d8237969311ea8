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

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/task_runs/{id}", get(task_run))
        .route("/task_runs/{id}/logs", get(task_run_logs))
        .route("/task_runs/{id}/states", get(task_run_states))
}

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
