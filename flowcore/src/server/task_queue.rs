//! The task queue over HTTP, for programs and task workers that reach the server only: queue task
//! runs, claim them under a lease (long poll), renew leases, finish runs, wait for outcomes.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use uuid::Uuid;

use super::error::ApiError;
use super::state::AppState;
use crate::schemas::task_queue::{
    ClaimedTask, QueuedTask, TaskClaim, TaskFinish, TaskLeases, TaskOutcome, TaskQueueCount,
    TaskRunIds, MAX_TASKS_PER_REQUEST,
};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/task_queue", get(counts).post(enqueue))
        .route("/task_queue/claim", post(claim))
        .route("/task_queue/renew", post(renew))
        .route("/task_queue/finish", post(finish))
        .route("/task_queue/outcomes", post(outcomes))
        .route("/task_queue/cancel", post(cancel))
}

/// A long poll's query: how long to wait when there is nothing yet.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Wait {
    wait: Option<f64>,
}

fn wait_of(wait: Result<Query<Wait>, QueryRejection>) -> Result<Duration, ApiError> {
    let Query(wait) = wait?;
    let max = crate::store::MAX_CLAIM_WAIT.as_secs_f64();
    match wait.wait {
        None => Ok(Duration::ZERO),
        Some(w) if w.is_finite() && (0.0..=max).contains(&w) => Ok(Duration::from_secs_f64(w)),
        Some(w) => Err(ApiError::bad_request(format!(
            "invalid `wait`: {w} is not a number of seconds from 0 to {max}"
        ))),
    }
}

fn lease_of(seconds: f64) -> Result<Duration, ApiError> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(ApiError::bad_request(format!(
            "invalid `lease_seconds`: {seconds} is not a number of seconds above 0 and at most 3600"
        )))
    }
}

fn worker_of(worker: &str) -> Result<(), ApiError> {
    if worker.trim().is_empty() {
        Err(ApiError::bad_request("invalid `worker`: empty"))
    } else {
        Ok(())
    }
}

fn at_most(field: &str, n: usize) -> Result<(), ApiError> {
    if n > MAX_TASKS_PER_REQUEST {
        Err(ApiError::bad_request(format!(
            "invalid `{field}`: {n} entries, at most {MAX_TASKS_PER_REQUEST}"
        )))
    } else {
        Ok(())
    }
}

/// How many queued task runs each task has in each status.
#[utoipa::path(get, path = "/api/task_queue", tag = "task workers",
    responses((status = 200, body = Vec<TaskQueueCount>)))]
pub(crate) async fn counts(
    State(state): State<AppState>,
) -> Result<Json<Vec<TaskQueueCount>>, ApiError> {
    Ok(Json(state.store.task_queue_counts().await?))
}

/// Queues task runs for the task workers (a run already queued is left as it is). Their records
/// must have been reported first.
#[utoipa::path(post, path = "/api/task_queue", tag = "task workers", request_body = Vec<QueuedTask>,
    responses((status = 200, body = Vec<Uuid>, description = "the runs queued"),
        (status = 400, description = "a bad field")))]
pub(crate) async fn enqueue(
    State(state): State<AppState>,
    body: Result<Json<Vec<QueuedTask>>, JsonRejection>,
) -> Result<Json<Vec<Uuid>>, ApiError> {
    let Json(tasks) = body?;
    at_most("tasks", tasks.len())?;
    for (i, t) in tasks.iter().enumerate() {
        if t.task.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid `task` of entry {i}: empty"
            )));
        }
        if t.storage_key.trim().is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid `storage_key` of entry {i}: empty"
            )));
        }
        if !t.parameters.is_object() {
            return Err(ApiError::bad_request(format!(
                "invalid `parameters` of entry {i}: not a JSON object"
            )));
        }
        if t.retries < 0 {
            return Err(ApiError::bad_request(format!(
                "invalid `retries` of entry {i}: {} is negative",
                t.retries
            )));
        }
    }
    state.store.enqueue_tasks(&tasks).await?;
    Ok(Json(tasks.iter().map(|t| t.task_run_id).collect()))
}

/// Claims queued runs of the worker's tasks, oldest first, each for one worker only, under a
/// lease. With `?wait=10` (seconds, at most 60) a claim that finds nothing waits — a long poll —
/// and answers as soon as a run is queued; empty at the deadline.
#[utoipa::path(post, path = "/api/task_queue/claim", tag = "task workers", request_body = TaskClaim,
    params(("wait" = Option<f64>, Query, minimum = 0, maximum = 60,
        description = "seconds to wait for a run when none is queued (long poll; default 0)")),
    responses((status = 200, body = Vec<ClaimedTask>), (status = 400, description = "a bad parameter")))]
pub(crate) async fn claim(
    State(state): State<AppState>,
    wait: Result<Query<Wait>, QueryRejection>,
    body: Result<Json<TaskClaim>, JsonRejection>,
) -> Result<Json<Vec<ClaimedTask>>, ApiError> {
    let wait = wait_of(wait)?;
    let Json(body) = body?;
    worker_of(&body.worker)?;
    at_most("tasks", body.tasks.len())?;
    if !(1..=MAX_TASKS_PER_REQUEST as i64).contains(&body.limit) {
        return Err(ApiError::bad_request(format!(
            "invalid `limit`: {} is not from 1 to {MAX_TASKS_PER_REQUEST}",
            body.limit
        )));
    }
    let lease = lease_of(body.lease_seconds)?;
    Ok(Json(
        state
            .store
            .claim_tasks_wait(&body.worker, &body.tasks, body.limit as usize, lease, wait)
            .await?,
    ))
}

/// Renews a worker's leases; answers the runs it still holds (one missing was lost).
#[utoipa::path(post, path = "/api/task_queue/renew", tag = "task workers", request_body = TaskLeases,
    responses((status = 200, body = Vec<Uuid>), (status = 400, description = "a bad field")))]
pub(crate) async fn renew(
    State(state): State<AppState>,
    body: Result<Json<TaskLeases>, JsonRejection>,
) -> Result<Json<Vec<Uuid>>, ApiError> {
    let Json(body) = body?;
    worker_of(&body.worker)?;
    at_most("task_run_ids", body.task_run_ids.len())?;
    let lease = lease_of(body.lease_seconds)?;
    let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
    Ok(Json(
        state
            .store
            .renew_task_leases(&body.worker, &body.task_run_ids, until)
            .await?,
    ))
}

/// Writes the outcomes of runs the worker holds; answers the runs finished (a run whose lease the
/// worker lost is not).
#[utoipa::path(post, path = "/api/task_queue/finish", tag = "task workers", request_body = TaskFinish,
    responses((status = 200, body = Vec<Uuid>), (status = 400, description = "a bad field")))]
pub(crate) async fn finish(
    State(state): State<AppState>,
    body: Result<Json<TaskFinish>, JsonRejection>,
) -> Result<Json<Vec<Uuid>>, ApiError> {
    let Json(body) = body?;
    worker_of(&body.worker)?;
    at_most("outcomes", body.outcomes.len())?;
    for o in &body.outcomes {
        match o.state() {
            Some(s) if s.is_final() => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid `history` of {}: it does not end in a final state",
                    o.task_run_id
                )))
            }
        }
    }
    Ok(Json(
        state
            .store
            .finish_tasks(&body.worker, &body.outcomes)
            .await?,
    ))
}

/// The outcomes of those of the runs that ended. With `?wait=10` (seconds, at most 60), waits for
/// one to end when none has.
#[utoipa::path(post, path = "/api/task_queue/outcomes", tag = "task workers", request_body = TaskRunIds,
    params(("wait" = Option<f64>, Query, minimum = 0, maximum = 60,
        description = "seconds to wait for one of the runs to end (long poll; default 0)")),
    responses((status = 200, body = Vec<TaskOutcome>), (status = 400, description = "a bad parameter")))]
pub(crate) async fn outcomes(
    State(state): State<AppState>,
    wait: Result<Query<Wait>, QueryRejection>,
    body: Result<Json<TaskRunIds>, JsonRejection>,
) -> Result<Json<Vec<TaskOutcome>>, ApiError> {
    let wait = wait_of(wait)?;
    let Json(body) = body?;
    at_most("task_run_ids", body.task_run_ids.len())?;
    Ok(Json(
        state
            .store
            .task_outcomes_wait(&body.task_run_ids, wait)
            .await?,
    ))
}

/// Cancels those of the runs still queued; answers the runs cancelled.
#[utoipa::path(post, path = "/api/task_queue/cancel", tag = "task workers", request_body = TaskRunIds,
    responses((status = 200, body = Vec<Uuid>), (status = 400, description = "a bad field")))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    body: Result<Json<TaskRunIds>, JsonRejection>,
) -> Result<Json<Vec<Uuid>>, ApiError> {
    let Json(body) = body?;
    at_most("task_run_ids", body.task_run_ids.len())?;
    Ok(Json(
        state
            .store
            .cancel_queued_tasks(&body.task_run_ids, "Cancelled before a task worker ran it")
            .await?,
    ))
}
