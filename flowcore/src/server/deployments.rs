//! The API of deployments, work queues and agents: `/api/deployments…`, `/api/work_queues…`, claims,
//! heartbeats and state changes of flow runs.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::api::{id_of, Page};
use super::{ApiError, AppState};
use crate::state::State as RunState;
use crate::store::{ClaimedRun, DeploymentSpec, StoredDeployment, StoredFlowRun, StoredWorkQueue};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/deployments", get(deployments).post(apply))
        .route("/deployments/{id}", get(deployment).delete(delete))
        .route("/deployments/{id}/pause", post(pause))
        .route("/deployments/{id}/resume", post(resume))
        .route("/deployments/{id}/runs", post(run))
        .route("/work_queues", get(work_queues).post(create_queue))
        .route("/work_queues/{name}/pause", post(pause_queue))
        .route("/work_queues/{name}/resume", post(resume_queue))
        .route("/work_queues/{name}/concurrency", put(set_concurrency))
        .route("/work_queues/{name}/claim", post(claim))
        .route("/flow_runs/{id}/heartbeat", post(heartbeat))
        .route("/flow_runs/{id}/state", post(set_state))
}

async fn find(state: &AppState, id: Uuid) -> Result<StoredDeployment, ApiError> {
    state
        .store
        .deployment(&id.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no deployment with id {id}")))
}

/// Creates or updates a deployment (idempotent by flow name + deployment name).
#[utoipa::path(post, path = "/api/deployments", tag = "deployments", request_body = DeploymentSpec,
    responses((status = 200, body = StoredDeployment), (status = 422, description = "a bad field, named")))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    spec: Result<Json<DeploymentSpec>, JsonRejection>,
) -> Result<Json<StoredDeployment>, ApiError> {
    let Json(spec) = spec?;
    let unprocessable = |m: String| ApiError {
        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        message: m,
    };
    for (field, value) in [("flow_name", &spec.flow_name), ("name", &spec.name)] {
        if value.trim().is_empty() {
            return Err(unprocessable(format!("invalid `{field}`: empty")));
        }
    }
    check_queue_name(&spec.work_queue_name)
        .map_err(|m| unprocessable(format!("invalid `work_queue_name`: {m}")))?;
    if let Some(schedule) = &spec.schedule {
        schedule
            .validate()
            .map_err(|e| unprocessable(format!("invalid `schedule`: {e}")))?;
    }
    if !spec.parameters.is_object() {
        return Err(unprocessable(
            "invalid `parameters`: not a JSON object".into(),
        ));
    }
    Ok(Json(state.store.apply_deployment(&spec).await?))
}

/// Every deployment with its next runs.
#[utoipa::path(get, path = "/api/deployments", tag = "deployments",
    responses((status = 200, body = Page<StoredDeployment>)))]
pub(crate) async fn deployments(
    State(state): State<AppState>,
) -> Result<Json<Page<StoredDeployment>>, ApiError> {
    Ok(Json(Page::all(state.store.deployments().await?)))
}

/// One deployment.
#[utoipa::path(get, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, body = StoredDeployment), (status = 404, description = "no such deployment")))]
pub(crate) async fn deployment(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredDeployment>, ApiError> {
    Ok(Json(find(&state, id_of(id, "deployment")?).await?))
}

/// Deletes a deployment and its runs that have not started.
#[utoipa::path(delete, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, description = "`{\"deleted\": true}`"), (status = 404, description = "no such deployment")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = id_of(id, "deployment")?;
    if !state.store.delete_deployment(id).await? {
        return Err(ApiError::not_found(format!("no deployment with id {id}")));
    }
    Ok(Json(serde_json::json!({"deleted": true})))
}

async fn set_paused(
    state: &AppState,
    id: Result<Path<String>, PathRejection>,
    paused: bool,
) -> Result<Json<StoredDeployment>, ApiError> {
    let id = id_of(id, "deployment")?;
    find(state, id).await?;
    state.store.set_deployment_paused(id, paused).await?;
    Ok(Json(find(state, id).await?))
}

/// Pauses a deployment's schedule (its future scheduled runs are removed).
#[utoipa::path(post, path = "/api/deployments/{id}/pause", tag = "deployments",
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, body = StoredDeployment), (status = 404, description = "no such deployment")))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredDeployment>, ApiError> {
    set_paused(&state, id, true).await
}

/// Resumes a deployment's schedule.
#[utoipa::path(post, path = "/api/deployments/{id}/resume", tag = "deployments",
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, body = StoredDeployment), (status = 404, description = "no such deployment")))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredDeployment>, ApiError> {
    set_paused(&state, id, false).await
}

/// Parameters for a run now.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRequest {
    /// Merged over the deployment's parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<serde_json::Value>,
}

/// Creates a run of the deployment now (an agent on its queue picks it up).
#[utoipa::path(post, path = "/api/deployments/{id}/runs", tag = "deployments", request_body = RunRequest,
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, body = StoredFlowRun), (status = 404, description = "no such deployment")))]
pub(crate) async fn run(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Option<Json<RunRequest>>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "deployment")?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    if let Some(p) = &request.parameters {
        if !p.is_object() {
            return Err(ApiError::bad_request(
                "invalid `parameters`: not a JSON object",
            ));
        }
    }
    state
        .store
        .run_deployment(id, request.parameters.as_ref())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no deployment with id {id}")))
}

/// Every work queue with its counts.
#[utoipa::path(get, path = "/api/work_queues", tag = "work queues",
    responses((status = 200, body = Page<StoredWorkQueue>)))]
pub(crate) async fn work_queues(
    State(state): State<AppState>,
) -> Result<Json<Page<StoredWorkQueue>>, ApiError> {
    Ok(Json(Page::all(state.store.work_queues().await?)))
}

/// A new work queue.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewWorkQueue {
    /// Its name.
    pub name: String,
    /// At most this many of its runs at once.
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
}

async fn queue(state: &AppState, name: &str) -> Result<Json<StoredWorkQueue>, ApiError> {
    state
        .store
        .work_queue(name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no work queue named {name:?}")))
}

/// Queue names travel in URL paths: letters, digits, `-`, `_` and `.` only.
fn check_queue_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 100 {
        return Err(format!("{name:?} must be 1 to 100 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{name:?} has {c:?}; use letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>) -> Result<(), ApiError> {
    match limit {
        Some(n) if n < 0 => Err(ApiError::bad_request(format!(
            "invalid `concurrency_limit`: {n} is negative"
        ))),
        _ => Ok(()),
    }
}

/// Creates a work queue (or returns the existing one).
#[utoipa::path(post, path = "/api/work_queues", tag = "work queues", request_body = NewWorkQueue,
    responses((status = 200, body = StoredWorkQueue)))]
pub(crate) async fn create_queue(
    State(state): State<AppState>,
    body: Result<Json<NewWorkQueue>, JsonRejection>,
) -> Result<Json<StoredWorkQueue>, ApiError> {
    let Json(body) = body?;
    check_queue_name(&body.name)
        .map_err(|m| ApiError::bad_request(format!("invalid `name`: {m}")))?;
    check_limit(body.concurrency_limit)?;
    state.store.create_work_queue(&body.name).await?;
    if body.concurrency_limit.is_some() {
        state
            .store
            .set_work_queue_concurrency(&body.name, body.concurrency_limit)
            .await?;
    }
    queue(&state, &body.name).await
}

async fn pause_or_resume(
    state: &AppState,
    name: Result<Path<String>, PathRejection>,
    paused: bool,
) -> Result<Json<StoredWorkQueue>, ApiError> {
    let Path(name) = name?;
    if !state.store.set_work_queue_paused(&name, paused).await? {
        return Err(ApiError::not_found(format!("no work queue named {name:?}")));
    }
    queue(state, &name).await
}

/// Pauses a work queue: agents get no runs from it.
#[utoipa::path(post, path = "/api/work_queues/{name}/pause", tag = "work queues",
    params(("name" = String, Path, description = "work queue")),
    responses((status = 200, body = StoredWorkQueue), (status = 404, description = "no such queue")))]
pub(crate) async fn pause_queue(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredWorkQueue>, ApiError> {
    pause_or_resume(&state, name, true).await
}

/// Resumes a work queue.
#[utoipa::path(post, path = "/api/work_queues/{name}/resume", tag = "work queues",
    params(("name" = String, Path, description = "work queue")),
    responses((status = 200, body = StoredWorkQueue), (status = 404, description = "no such queue")))]
pub(crate) async fn resume_queue(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredWorkQueue>, ApiError> {
    pause_or_resume(&state, name, false).await
}

/// A concurrency limit (`null`: unlimited).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Concurrency {
    /// At most this many runs of the queue at once.
    pub concurrency_limit: Option<i64>,
}

/// Sets a work queue's concurrency limit.
#[utoipa::path(put, path = "/api/work_queues/{name}/concurrency", tag = "work queues", request_body = Concurrency,
    params(("name" = String, Path, description = "work queue")),
    responses((status = 200, body = StoredWorkQueue), (status = 404, description = "no such queue")))]
pub(crate) async fn set_concurrency(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<Concurrency>, JsonRejection>,
) -> Result<Json<StoredWorkQueue>, ApiError> {
    let Path(name) = name?;
    let Json(body) = body?;
    check_limit(body.concurrency_limit)?;
    if !state
        .store
        .set_work_queue_concurrency(&name, body.concurrency_limit)
        .await?
    {
        return Err(ApiError::not_found(format!("no work queue named {name:?}")));
    }
    queue(&state, &name).await
}

/// An agent asking for due runs.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimRequest {
    /// The agent's name.
    pub agent: String,
    /// At most this many runs.
    pub limit: usize,
}

/// Claims due runs of a queue for an agent, atomically (each run goes to one agent).
#[utoipa::path(post, path = "/api/work_queues/{name}/claim", tag = "agents", request_body = ClaimRequest,
    params(("name" = String, Path, description = "work queue")),
    responses((status = 200, body = Vec<ClaimedRun>)))]
pub(crate) async fn claim(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ClaimRequest>, JsonRejection>,
) -> Result<Json<Vec<ClaimedRun>>, ApiError> {
    let Path(name) = name?;
    let Json(body) = body?;
    if body.agent.trim().is_empty() {
        return Err(ApiError::bad_request("invalid `agent`: empty"));
    }
    Ok(Json(
        state
            .store
            .claim(&name, &body.agent, chrono::Utc::now(), body.limit.min(1000))
            .await?,
    ))
}

/// An agent's heartbeat for a run it started.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Heartbeat {
    /// The agent's name.
    pub agent: String,
}

/// Records that the agent still watches the run's process.
#[utoipa::path(post, path = "/api/flow_runs/{id}/heartbeat", tag = "agents", request_body = Heartbeat,
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, description = "`{\"ok\": true}` when the agent holds the run")))]
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<Heartbeat>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = id_of(id, "flow run")?;
    let Json(body) = body?;
    let n = state
        .store
        .heartbeat(&body.agent, &[id], chrono::Utc::now())
        .await?;
    Ok(Json(serde_json::json!({"ok": n > 0})))
}

/// Moves a flow run to a state (agents: `Crashed` when the run's process died).
#[utoipa::path(post, path = "/api/flow_runs/{id}/state", tag = "agents", request_body = RunState,
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = StoredFlowRun), (status = 404, description = "no such flow run")))]
pub(crate) async fn set_state(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<RunState>, JsonRejection>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "flow run")?;
    let Json(new) = body?;
    // Not changed: unknown (404 below), or a Crashed that came after a final state (kept).
    state.store.set_flow_run_state(id, &new).await?;
    state
        .store
        .flow_run_by_id(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no flow run with id {id}")))
}
