//! Flows, and the values the flow-run filters offer.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::error::ApiError;
use super::extract::Page;
use super::state::AppState;
use crate::schemas::records::{FilterValues, StoredFlow};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/flows", get(flows))
        .route("/filters", get(filters))
}

/// Every flow with its run count and newest run.
#[utoipa::path(get, path = "/api/flows", tag = "flows",
    responses((status = 200, body = Page<StoredFlow>)))]
pub(crate) async fn flows(
    State(state): State<AppState>,
) -> Result<Json<Page<StoredFlow>>, ApiError> {
    Ok(Json(Page::all(state.store.flows().await?)))
}

/// The values present among flow runs, for filter controls.
#[utoipa::path(get, path = "/api/filters", tag = "flow runs",
    responses((status = 200, body = FilterValues)))]
pub(crate) async fn filters(State(state): State<AppState>) -> Result<Json<FilterValues>, ApiError> {
    Ok(Json(state.store.filter_values().await?))
}
