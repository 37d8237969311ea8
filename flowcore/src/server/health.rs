//! `GET /api/health`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::state::AppState;

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// The server's health.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when answered.
    pub status: String,
    /// flowcore's version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Whether this server runs the background services now (scheduler, Late marking, crashed
    /// runs, notifications, retention): of several servers on one PostgreSQL database, the one
    /// holding the lease.
    #[serde(default)]
    pub services: bool,
}

/// Health and version.
#[utoipa::path(get, path = "/api/health", tag = "server",
    responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        backend: match state.store.backend() {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        }
        .into(),
        services: *state.leader.borrow(),
    })
}
