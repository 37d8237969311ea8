//! The JSON API under `/api`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::FastJson;
use super::{ApiError, AppState};
use crate::event::Event;
use crate::state::State as RunState;
use crate::store::{
    FilterValues, FlowGraph, FlowRunFilter, Sort, StoredFlow, StoredFlowRun, StoredLog,
    StoredTaskRun, WriteOutcome,
};

pub(crate) fn routes(state: AppState, body_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/flows", get(flows))
        .route("/filters", get(filters))
        .route("/flow_runs", get(flow_runs))
        .route("/flow_runs/{id}", get(flow_run))
        .route("/flow_runs/{id}/task_runs", get(flow_run_task_runs))
        .route("/flow_runs/{id}/graph", get(flow_run_graph))
        .route("/flow_runs/{id}/logs", get(flow_run_logs))
        .route("/flow_runs/{id}/states", get(flow_run_states))
        .route("/task_runs/{id}", get(task_run))
        .route("/task_runs/{id}/logs", get(task_run_logs))
        .route("/task_runs/{id}/states", get(task_run_states))
        .route("/events", post(events))
        .merge(super::deployments::routes())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state,
            super::auth::require_key,
        ))
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
}

/// A page of results with the total count.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// How many match in all.
    pub count: i64,
    /// The page size asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The offset asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The results.
    pub results: Vec<T>,
}

impl<T> Page<T> {
    /// Every result, unpaged.
    pub(crate) fn all(results: Vec<T>) -> Page<T> {
        Page {
            count: results.len() as i64,
            limit: None,
            offset: None,
            results,
        }
    }
}

/// Query parameters of `GET /api/flow_runs`. Lists are comma-separated and match any of their values.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowRunQuery {
    /// State names or types, e.g. `Failed,Crashed`.
    pub state: Option<String>,
    /// Flow names.
    pub flow: Option<String>,
    /// Deployments.
    pub deployment: Option<String>,
    /// Work queues.
    pub work_queue: Option<String>,
    /// Tags.
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// Run name contains.
    pub name: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
    /// Results to skip (default 0).
    pub offset: Option<i64>,
}

fn list(value: &Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn time(field: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "invalid `{field}`: {v:?} is not an RFC 3339 time ({e})"
                    ))
                })
        })
        .transpose()
}

impl FlowRunQuery {
    /// The store filter this query asks for, or a 400 naming the bad parameter.
    pub fn filter(&self) -> Result<FlowRunFilter, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "invalid `limit`: {limit} is not between 1 and 1000"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request(format!(
                "invalid `offset`: {offset} is negative"
            )));
        }
        let sort = match self.sort.as_deref().unwrap_or("newest") {
            "newest" | "" => Sort::Newest,
            "oldest" => Sort::Oldest,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid `sort`: {other:?}; expected `newest` or `oldest`"
                )))
            }
        };
        let states = list(&self.state);
        for state in &states {
            if !KNOWN_STATES.iter().any(|k| k.eq_ignore_ascii_case(state)) {
                return Err(ApiError::bad_request(format!(
                    "invalid `state`: unknown state {state:?}; expected one of {}",
                    KNOWN_STATES.join(", ")
                )));
            }
        }
        Ok(FlowRunFilter {
            states,
            flows: list(&self.flow),
            deployments: list(&self.deployment),
            work_queues: list(&self.work_queue),
            tags: list(&self.tag),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            name_contains: self.name.clone().filter(|n| !n.is_empty()),
            sort,
            limit: Some(limit),
            offset: Some(offset),
        })
    }
}

/// State names and types a filter may name.
const KNOWN_STATES: &[&str] = &[
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "Late",
    "AwaitingRetry",
    "Retrying",
    "Cached",
    "UpstreamFailed",
];

/// A batch of reported events (what the runtime's API client sends).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventBatch {
    /// Identifies the batch: a batch sent again with the same id is not written twice.
    pub batch_id: Option<Uuid>,
    /// The events, in the order they happened.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
}

/// What `POST /api/events` did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventsAccepted {
    /// How many events the batch held.
    pub accepted: usize,
    /// Whether the batch had been written before (and was not written again).
    pub duplicate: bool,
}

pub(crate) fn id_of(
    path: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<Uuid, ApiError> {
    let Path(raw) = path?;
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid {what} id {raw:?}: not a UUID")))
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
    })
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

/// Flow runs, filtered, sorted and paginated.
#[utoipa::path(get, path = "/api/flow_runs", tag = "flow runs", params(FlowRunQuery),
    responses((status = 200, body = Page<StoredFlowRun>), (status = 400, description = "a bad parameter, named")))]
pub(crate) async fn flow_runs(
    State(state): State<AppState>,
    query: Result<Query<FlowRunQuery>, QueryRejection>,
) -> Result<Json<Page<StoredFlowRun>>, ApiError> {
    let Query(query) = query?;
    let filter = query.filter()?;
    let count = state.store.count_flow_runs(&filter).await?;
    let results = state.store.flow_runs(&filter).await?;
    Ok(Json(Page {
        count,
        limit: filter.limit,
        offset: filter.offset,
        results,
    }))
}

async fn find_flow_run(state: &AppState, id: Uuid) -> Result<StoredFlowRun, ApiError> {
    state
        .store
        .flow_run_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no flow run with id {id}")))
}

/// One flow run.
#[utoipa::path(get, path = "/api/flow_runs/{id}", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = StoredFlowRun), (status = 404, description = "no such flow run")))]
pub(crate) async fn flow_run(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    Ok(Json(find_flow_run(&state, id_of(id, "flow run")?).await?))
}

/// The task runs of a flow run, in creation order.
#[utoipa::path(get, path = "/api/flow_runs/{id}/task_runs", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = Page<StoredTaskRun>), (status = 404, description = "no such flow run")))]
pub(crate) async fn flow_run_task_runs(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Page<StoredTaskRun>>, ApiError> {
    let run = find_flow_run(&state, id_of(id, "flow run")?).await?;
    Ok(Json(Page::all(state.store.task_runs(run.id).await?)))
}

/// The task graph of a flow run: a node per task run (subflows included), edges from task inputs
/// and `wait_for`.
#[utoipa::path(get, path = "/api/flow_runs/{id}/graph", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = FlowGraph), (status = 404, description = "no such flow run")))]
pub(crate) async fn flow_run_graph(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FlowGraph>, ApiError> {
    let run = find_flow_run(&state, id_of(id, "flow run")?).await?;
    Ok(Json(state.store.graph(run.id).await?))
}

/// The logs of a flow run and its task runs, in order.
#[utoipa::path(get, path = "/api/flow_runs/{id}/logs", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = Page<StoredLog>), (status = 404, description = "no such flow run")))]
pub(crate) async fn flow_run_logs(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Page<StoredLog>>, ApiError> {
    let run = find_flow_run(&state, id_of(id, "flow run")?).await?;
    Ok(Json(Page::all(state.store.logs(run.id).await?)))
}

/// Every state of a flow run, oldest first.
#[utoipa::path(get, path = "/api/flow_runs/{id}/states", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = Vec<RunState>), (status = 404, description = "no such flow run")))]
pub(crate) async fn flow_run_states(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<RunState>>, ApiError> {
    let run = find_flow_run(&state, id_of(id, "flow run")?).await?;
    Ok(Json(state.store.states(run.id).await?))
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

/// Records a batch of events (flow runs, task runs, state changes, logs) in one transaction, at most
/// once per `batch_id`.
#[utoipa::path(post, path = "/api/events", tag = "events", request_body = EventBatch,
    responses((status = 200, body = EventsAccepted),
        (status = 400, description = "malformed JSON"),
        (status = 413, description = "body over the size limit"),
        (status = 422, description = "a field is missing or has the wrong type; the message names it")))]
pub(crate) async fn events(
    State(state): State<AppState>,
    FastJson(batch): FastJson<EventBatch>,
) -> Result<Json<EventsAccepted>, ApiError> {
    let outcome = state
        .store
        .write_batch(batch.batch_id, &batch.events)
        .await?;
    Ok(Json(EventsAccepted {
        accepted: batch.events.len(),
        duplicate: outcome == WriteOutcome::Duplicate,
    }))
}
