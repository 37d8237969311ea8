//! Deployments: applied, listed, paused and resumed, deleted, run on request.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{id_of, Page};
use super::state::AppState;
use super::work_queues::check_queue_name;
use crate::schemas::deployments::{DeploymentSpec, StoredDeployment};
use crate::schemas::records::StoredFlowRun;
use crate::schemas::requests::RunRequest;

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/deployments", get(deployments).post(apply))
        .route("/deployments/{id}", get(deployment).delete(delete))
        .route("/deployments/{id}/pause", post(pause))
        .route("/deployments/{id}/resume", post(resume))
        .route("/deployments/{id}/runs", post(run))
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
    let length = spec.name.chars().count();
    if length > 100 {
        return Err(unprocessable(format!(
            "invalid `name`: {length} characters, at most 100"
        )));
    }
    check_queue_name(&spec.work_queue_name)
        .map_err(|m| unprocessable(format!("invalid `work_queue_name`: {m}")))?;
    if let Some(schedule) = &spec.schedule {
        schedule
            .validate()
            .map_err(|e| unprocessable(format!("invalid `schedule`: {e}")))?;
    }
    for (field, value) in [
        ("parameters", &spec.parameters),
        ("parameter_schema", &spec.parameter_schema),
    ] {
        if !value.is_object() {
            return Err(unprocessable(format!(
                "invalid `{field}`: not a JSON object"
            )));
        }
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

/// Creates a run of the deployment now (an agent on its queue picks it up).
#[utoipa::path(post, path = "/api/deployments/{id}/runs", tag = "deployments", request_body = Option<RunRequest>,
    params(("id" = Uuid, Path, description = "deployment id")),
    responses((status = 200, body = StoredFlowRun), (status = 404, description = "no such deployment")))]
pub(crate) async fn run(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: axum::body::Bytes,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "deployment")?;
    // The body is optional (no body: the deployment's parameters); a body that is there must be
    // a JSON request, and a bad one is answered in JSON like every error.
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        // `null` is no request, as no body is.
        serde_json::from_slice::<Option<RunRequest>>(&body)
            .map(Option::unwrap_or_default)
            .map_err(|e| {
                let status = if e.is_data() {
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    axum::http::StatusCode::BAD_REQUEST
                };
                ApiError {
                    status,
                    message: format!("invalid request body: {e}"),
                }
            })?
    };
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
