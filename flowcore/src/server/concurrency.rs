//! Tag concurrency limits: created, listed with their active slots, reset, deleted; and the slots
//! task runs take, give back and keep alive.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;

use super::error::ApiError;
use super::extract::Page;
use super::state::AppState;
use crate::schemas::concurrency::{
    ConcurrencyLimit, NewConcurrencyLimit, SlotAnswer, SlotRelease, SlotRequest, TaskRunSlots,
};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/concurrency_limits", get(limits).post(create))
        .route("/concurrency_limits/acquire", post(acquire))
        .route("/concurrency_limits/release", post(release))
        .route("/concurrency_limits/renew", post(renew))
        .route("/concurrency_limits/{tag}", get(limit).delete(delete))
        .route("/concurrency_limits/{tag}/reset", post(reset))
}

/// Every tag's limit with the slots held now.
#[utoipa::path(get, path = "/api/concurrency_limits", tag = "concurrency limits",
    responses((status = 200, body = Page<ConcurrencyLimit>)))]
pub(crate) async fn limits(
    State(state): State<AppState>,
) -> Result<Json<Page<ConcurrencyLimit>>, ApiError> {
    Ok(Json(Page::all(state.store.concurrency_limits().await?)))
}

async fn find(state: &AppState, tag: &str) -> Result<Json<ConcurrencyLimit>, ApiError> {
    state
        .store
        .concurrency_limit(tag)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no concurrency limit on tag {tag:?}")))
}

/// Creates or changes a tag's limit.
#[utoipa::path(post, path = "/api/concurrency_limits", tag = "concurrency limits",
    request_body = NewConcurrencyLimit,
    responses((status = 200, body = ConcurrencyLimit), (status = 400, description = "a bad field")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewConcurrencyLimit>, JsonRejection>,
) -> Result<Json<ConcurrencyLimit>, ApiError> {
    let Json(body) = body?;
    if body.tag.trim().is_empty() {
        return Err(ApiError::bad_request("invalid `tag`: empty"));
    }
    if body.limit < 0 {
        return Err(ApiError::bad_request(format!(
            "invalid `limit`: {} is negative",
            body.limit
        )));
    }
    state
        .store
        .set_concurrency_limit(&body.tag, body.limit)
        .await?;
    find(&state, &body.tag).await
}

/// One tag's limit and the task runs holding its slots.
#[utoipa::path(get, path = "/api/concurrency_limits/{tag}", tag = "concurrency limits",
    params(("tag" = String, Path, description = "the tag", min_length = 1)),
    responses((status = 200, body = ConcurrencyLimit), (status = 404, description = "no limit on this tag")))]
pub(crate) async fn limit(
    State(state): State<AppState>,
    tag: Result<Path<String>, PathRejection>,
) -> Result<Json<ConcurrencyLimit>, ApiError> {
    let Path(tag) = tag?;
    find(&state, &tag).await
}

/// Frees every slot of a tag (its limit stays).
#[utoipa::path(post, path = "/api/concurrency_limits/{tag}/reset", tag = "concurrency limits",
    params(("tag" = String, Path, description = "the tag", min_length = 1)),
    responses((status = 200, body = ConcurrencyLimit), (status = 404, description = "no limit on this tag")))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    tag: Result<Path<String>, PathRejection>,
) -> Result<Json<ConcurrencyLimit>, ApiError> {
    let Path(tag) = tag?;
    state.store.reset_concurrency_limit(&tag).await?;
    find(&state, &tag).await
}

/// Deletes a tag's limit and its slots.
#[utoipa::path(delete, path = "/api/concurrency_limits/{tag}", tag = "concurrency limits",
    params(("tag" = String, Path, description = "the tag", min_length = 1)),
    responses((status = 200, description = "`{\"deleted\": true}`"), (status = 404, description = "no limit on this tag")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    tag: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(tag) = tag?;
    if !state.store.delete_concurrency_limit(&tag).await? {
        return Err(ApiError::not_found(format!(
            "no concurrency limit on tag {tag:?}"
        )));
    }
    Ok(Json(serde_json::json!({ "deleted": true })))
}

/// Takes a slot of every limited tag of a task run, or none (`acquired: false` names the full tags).
#[utoipa::path(post, path = "/api/concurrency_limits/acquire", tag = "concurrency limits",
    request_body = SlotRequest, responses((status = 200, body = SlotAnswer)))]
pub(crate) async fn acquire(
    State(state): State<AppState>,
    body: Result<Json<SlotRequest>, JsonRejection>,
) -> Result<Json<SlotAnswer>, ApiError> {
    let Json(body) = body?;
    let until = Utc::now() + chrono::Duration::seconds(body.lease_seconds.clamp(1, 3600));
    Ok(Json(
        state
            .store
            .acquire_slots(body.task_run_id, &body.tags, &body.holder, until)
            .await?,
    ))
}

/// Gives back a task run's slots.
#[utoipa::path(post, path = "/api/concurrency_limits/release", tag = "concurrency limits",
    request_body = TaskRunSlots, responses((status = 200, description = "`{\"ok\": true}`")))]
pub(crate) async fn release(
    State(state): State<AppState>,
    body: Result<Json<TaskRunSlots>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    state.store.release_slots(body.task_run_id).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// Extends the lease of a process's slots.
#[utoipa::path(post, path = "/api/concurrency_limits/renew", tag = "concurrency limits",
    request_body = SlotRelease, responses((status = 200, description = "`{\"ok\": true}`")))]
pub(crate) async fn renew(
    State(state): State<AppState>,
    body: Result<Json<SlotRelease>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let seconds = body.lease_seconds.unwrap_or(30).clamp(1, 3600);
    state
        .store
        .renew_slots(
            &body.holder,
            Utc::now() + chrono::Duration::seconds(seconds),
        )
        .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}
