//! Automations: which flow-run transitions notify a webhook; created, listed, inspected (with their
//! deliveries), paused, resumed and deleted.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::Page;
use super::state::AppState;
use crate::schemas::automations::{AutomationDetail, AutomationSpec, StoredAutomation};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/automations", get(automations).post(create))
        .route("/automations/{key}", get(inspect).delete(delete))
        .route("/automations/{key}/pause", post(pause))
        .route("/automations/{key}/resume", post(resume))
}

/// Every automation, by name, with its delivery counts.
#[utoipa::path(get, path = "/api/automations", tag = "automations",
    responses((status = 200, body = Page<StoredAutomation>)))]
pub(crate) async fn automations(
    State(state): State<AppState>,
) -> Result<Json<Page<StoredAutomation>>, ApiError> {
    Ok(Json(Page::all(state.store.automations().await?)))
}

/// Checks what a client sent, naming the bad field.
fn check(spec: &AutomationSpec) -> Result<(), ApiError> {
    if spec.name.trim().is_empty() {
        return Err(ApiError::bad_request("invalid `name`: empty"));
    }
    if spec.on.is_empty() {
        return Err(ApiError::bad_request(
            "invalid `on`: name at least one state, e.g. [\"Failed\", \"Crashed\"]",
        ));
    }
    let known = crate::runtime::state::StateName::ALL
        .iter()
        .map(|n| n.as_str());
    let types = crate::runtime::state::StateType::ALL
        .iter()
        .map(|t| t.as_str());
    let known: Vec<&str> = known.chain(types).collect();
    if let Some(bad) = spec
        .on
        .iter()
        .find(|s| !known.iter().any(|k| k.eq_ignore_ascii_case(s)))
    {
        return Err(ApiError::bad_request(format!(
            "invalid `on`: unknown state {bad:?}; expected one of {}",
            known.join(", ")
        )));
    }
    static WEBHOOK: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern = WEBHOOK.get_or_init(|| {
        regex::Regex::new(crate::schemas::automations::WEBHOOK_PATTERN).expect("a valid pattern")
    });
    match reqwest::Url::parse(&spec.webhook) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && pattern.is_match(&spec.webhook) => {
            Ok(())
        }
        _ => Err(ApiError::bad_request(format!(
            "invalid `webhook`: {:?} is not an http(s) URL",
            spec.webhook
        ))),
    }
}

/// Creates an automation (409 when its name is taken).
#[utoipa::path(post, path = "/api/automations", tag = "automations", request_body = AutomationSpec,
    responses((status = 200, body = StoredAutomation), (status = 400, description = "a bad field"),
        (status = 409, description = "the name is taken")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Result<Json<AutomationSpec>, JsonRejection>,
) -> Result<Json<StoredAutomation>, ApiError> {
    let Json(spec) = body?;
    check(&spec)?;
    if state.store.automation(&spec.name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "an automation named {:?} exists already",
            spec.name
        )));
    }
    Ok(Json(state.store.create_automation(&spec).await?))
}

async fn find(
    state: &AppState,
    key: Result<Path<String>, PathRejection>,
) -> Result<StoredAutomation, ApiError> {
    let Path(key) = key?;
    state
        .store
        .automation(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no automation {key:?}")))
}

/// An automation and its latest 50 deliveries.
#[utoipa::path(get, path = "/api/automations/{key}", tag = "automations",
    params(("key" = String, Path, description = "automation id or name")),
    responses((status = 200, body = AutomationDetail), (status = 404, description = "no such automation")))]
pub(crate) async fn inspect(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<AutomationDetail>, ApiError> {
    let automation = find(&state, key).await?;
    state
        .store
        .automation_detail(&automation.id.to_string(), 50)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("the automation was deleted"))
}

async fn set_paused(
    state: AppState,
    key: Result<Path<String>, PathRejection>,
    paused: bool,
) -> Result<Json<StoredAutomation>, ApiError> {
    let automation = find(&state, key).await?;
    state
        .store
        .set_automation_paused(automation.id, paused)
        .await?;
    find(&state, Ok(Path(automation.id.to_string())))
        .await
        .map(Json)
}

/// Pauses an automation: transitions queue nothing for it.
#[utoipa::path(post, path = "/api/automations/{key}/pause", tag = "automations",
    params(("key" = String, Path, description = "automation id or name")),
    responses((status = 200, body = StoredAutomation), (status = 404, description = "no such automation")))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredAutomation>, ApiError> {
    set_paused(state, key, true).await
}

/// Resumes a paused automation.
#[utoipa::path(post, path = "/api/automations/{key}/resume", tag = "automations",
    params(("key" = String, Path, description = "automation id or name")),
    responses((status = 200, body = StoredAutomation), (status = 404, description = "no such automation")))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredAutomation>, ApiError> {
    set_paused(state, key, false).await
}

/// Deletes an automation and its queued notifications.
#[utoipa::path(delete, path = "/api/automations/{key}", tag = "automations",
    params(("key" = String, Path, description = "automation id or name")),
    responses((status = 200, description = "`{\"deleted\": true}`"), (status = 404, description = "no such automation")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let automation = find(&state, key).await?;
    let deleted = state.store.delete_automation(automation.id).await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}
