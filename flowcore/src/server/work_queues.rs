//! Work queues: created, paused and resumed, their concurrency limit; agents' claims.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::Page;
use super::state::AppState;
use crate::schemas::deployments::{ClaimedRun, StoredWorkQueue};
use crate::schemas::requests::{ClaimRequest, Concurrency, NewWorkQueue};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/work_queues", get(work_queues).post(create_queue))
        .route("/work_queues/{name}/pause", post(pause_queue))
        .route("/work_queues/{name}/resume", post(resume_queue))
        .route("/work_queues/{name}/concurrency", put(set_concurrency))
        .route("/work_queues/{name}/claim", post(claim))
}

/// Every work queue with its counts.
#[utoipa::path(get, path = "/api/work_queues", tag = "work queues",
    responses((status = 200, body = Page<StoredWorkQueue>)))]
pub(crate) async fn work_queues(
    State(state): State<AppState>,
) -> Result<Json<Page<StoredWorkQueue>>, ApiError> {
    Ok(Json(Page::all(state.store.work_queues().await?)))
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
pub(crate) fn check_queue_name(name: &str) -> Result<(), String> {
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

/// The claim's query: how long to wait for a run when none is due.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ClaimWait {
    wait: Option<f64>,
}

/// Claims due runs of a queue for an agent, atomically (each run goes to one agent). With
/// `?wait=10` (seconds, at most 60) a claim that finds nothing waits — a long poll — and answers as
/// soon as a run of the queue is created, retried or falls due, or a running one ends and frees a
/// concurrency slot; empty at the deadline.
#[utoipa::path(post, path = "/api/work_queues/{name}/claim", tag = "agents", request_body = ClaimRequest,
    params(("name" = String, Path, description = "work queue"),
        ("wait" = Option<f64>, Query, minimum = 0, maximum = 60,
            description = "seconds to wait for a run when none is due (long poll; default 0)")),
    responses((status = 200, body = Vec<ClaimedRun>), (status = 400, description = "a bad parameter")))]
pub(crate) async fn claim(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    wait: Result<Query<ClaimWait>, QueryRejection>,
    body: Result<Json<ClaimRequest>, JsonRejection>,
) -> Result<Json<Vec<ClaimedRun>>, ApiError> {
    let Path(name) = name?;
    let Query(wait) = wait?;
    let max = crate::store::MAX_CLAIM_WAIT.as_secs_f64();
    let wait = match wait.wait {
        None => std::time::Duration::ZERO,
        Some(w) if w.is_finite() && (0.0..=max).contains(&w) => {
            std::time::Duration::from_secs_f64(w)
        }
        Some(w) => {
            return Err(ApiError::bad_request(format!(
                "invalid `wait`: {w} is not a number of seconds from 0 to {max}"
            )))
        }
    };
    let Json(body) = body?;
    if body.agent.trim().is_empty() {
        return Err(ApiError::bad_request("invalid `agent`: empty"));
    }
    if body.limit > 1_000_000 {
        return Err(ApiError::bad_request(format!(
            "invalid `limit`: {} is above 1000000",
            body.limit
        )));
    }
    Ok(Json(
        state
            .store
            .claim_wait(&name, &body.agent, body.limit.min(1000), wait)
            .await?,
    ))
}
