//! Flow runs: listed and filtered, one with its task runs, graph, logs and states; agents' heartbeats
//! and state changes (decided by the orchestration policy).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{id_of, list, time, Page};
use super::state::AppState;
use crate::runtime::state::{State as RunState, StateName};
use crate::schemas::records::{FlowGraph, StoredFlowRun, StoredLog, StoredTaskRun};
use crate::schemas::requests::Heartbeat;
use crate::store::Transition;
use crate::store::{FlowRunFilter, Sort};

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/flow_runs", get(flow_runs))
        .route("/flow_runs/{id}", get(flow_run))
        .route("/flow_runs/{id}/task_runs", get(flow_run_task_runs))
        .route("/flow_runs/{id}/graph", get(flow_run_graph))
        .route("/flow_runs/{id}/logs", get(flow_run_logs))
        .route("/flow_runs/{id}/states", get(flow_run_states))
        .route("/flow_runs/{id}/heartbeat", post(heartbeat))
        .route("/flow_runs/{id}/state", post(set_state))
        .route("/flow_runs/{id}/cancel", post(cancel))
        .route("/flow_runs/{id}/retry", post(retry))
}

/// Query parameters of `GET /api/flow_runs`. Lists are comma-separated and match any of their values.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowRunQuery {
    /// State names or types, e.g. `Failed,Crashed` (any case).
    #[param(
        pattern = "^(SCHEDULED|PENDING|RUNNING|COMPLETED|FAILED|CANCELLED|CRASHED|Scheduled|Late|AwaitingRetry|Pending|AwaitingConcurrencySlot|Running|Retrying|Cancelling|Completed|Cached|Failed|TimedOut|Cancelled|UpstreamFailed|Crashed)(,(SCHEDULED|PENDING|RUNNING|COMPLETED|FAILED|CANCELLED|CRASHED|Scheduled|Late|AwaitingRetry|Pending|AwaitingConcurrencySlot|Running|Retrying|Cancelling|Completed|Cached|Failed|TimedOut|Cancelled|UpstreamFailed|Crashed))*$"
    )]
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
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Run name contains.
    pub name: Option<String>,
    /// `newest` (default) or `oldest`.
    #[param(pattern = "^(newest|oldest)$")]
    pub sort: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Results to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
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
            "newest" => Sort::Newest,
            "oldest" => Sort::Oldest,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid `sort`: {other:?}; expected `newest` or `oldest`"
                )))
            }
        };
        // Exactly as documented: names separated by commas, no blanks.
        let states: Vec<String> = match self.state.as_deref() {
            None => Vec::new(),
            Some(raw) => raw.split(',').map(str::to_string).collect(),
        };
        for state in &states {
            if !known_states().iter().any(|k| k.eq_ignore_ascii_case(state)) {
                return Err(ApiError::bad_request(format!(
                    "invalid `state`: unknown state {state:?}; expected one of {}",
                    known_states().join(", ")
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

/// State types and names a filter may name: every [`StateType`](crate::runtime::state::StateType)
/// and [`StateName`], from the typed lists.
fn known_states() -> Vec<&'static str> {
    let types = crate::runtime::state::StateType::ALL
        .iter()
        .map(|t| t.as_str());
    let names = StateName::ALL.iter().map(|n| n.as_str());
    let mut all: Vec<&'static str> = types.collect();
    for name in names {
        if !all.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            all.push(name);
        }
    }
    all
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
    if body.agent.trim().is_empty() {
        return Err(ApiError::bad_request("invalid `agent`: empty"));
    }
    let n = state
        .store
        .heartbeat(&body.agent, &[id], chrono::Utc::now())
        .await?;
    let cancel = state.store.cancel_requested(id).await?;
    Ok(Json(serde_json::json!({"ok": n > 0, "cancel": cancel})))
}

/// Cancels a flow run: one not started yet (Scheduled, Late, Pending) becomes Cancelled at once; a
/// running one Cancelling — its agent (or its own process, reporting to this server) stops it and
/// it ends Cancelled. A final run answers 409 naming its state.
#[utoipa::path(post, path = "/api/flow_runs/{id}/cancel", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = StoredFlowRun),
        (status = 404, description = "no such flow run"),
        (status = 409, description = "the run is already final; the message names its state")))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "flow run")?;
    let transition = state.store.cancel_flow_run(id).await?;
    after(&state, id, transition, |current, _| {
        format!("flow run {id} is already {current}: there is nothing to cancel")
    })
    .await
}

/// Retries (resumes) a Failed, Crashed or Cancelled flow run: it goes back to Scheduled, named
/// AwaitingRetry, due now, under the same id. An agent starts a deployment's run again; its task
/// runs that completed with a persisted result are reused (`Cached`), not run. A run of no
/// deployment is resumed by its program (`flowcore::runtime::resume`). Any other run answers 409
/// naming its state.
#[utoipa::path(post, path = "/api/flow_runs/{id}/retry", tag = "flow runs",
    params(("id" = Uuid, Path, description = "flow run id")),
    responses((status = 200, body = StoredFlowRun),
        (status = 404, description = "no such flow run"),
        (status = 409, description = "the run is not Failed, Crashed or Cancelled; the message names its state")))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "flow run")?;
    let transition = state.store.retry_flow_run(id).await?;
    after(&state, id, transition, |current, _| {
        format!(
            "flow run {id} is {current}: only a Failed, Crashed or Cancelled run can be retried"
        )
    })
    .await
}

/// The run after a transition the store decided: 404 for an unknown run, 409 with the message
/// `refused` gives (from the run's state name and the rejection), else the run with the state the
/// transition set.
async fn after(
    state: &AppState,
    id: Uuid,
    transition: Transition,
    refused: impl FnOnce(&str, &crate::runtime::orchestration::Rejection) -> String,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let missing = || ApiError::not_found(format!("no flow run with id {id}"));
    let accepted = match transition {
        Transition::Accepted(accepted) => accepted,
        Transition::NotFound => return Err(missing()),
        Transition::Rejected(r) => {
            let current = r
                .current
                .as_ref()
                .map_or("none".to_string(), |s| s.name.to_string());
            return Err(ApiError::conflict(refused(&current, &r)));
        }
    };
    // The state this call set, even when an agent has moved the run on since (a retried run is
    // claimed within a poll): the caller learns what its own proposal did.
    let mut run = state.store.flow_run_by_id(id).await?.ok_or_else(missing)?;
    run.state = Some(accepted);
    Ok(Json(run))
}

/// Query parameters of `POST /api/flow_runs/{id}/state`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsAgent {
    /// Propose on behalf of this agent: applied only while the run is claimed by it (a run a user
    /// retried since is another attempt's, and the proposal is refused with 409).
    pub agent: Option<String>,
}

/// Proposes a state for a flow run (agents: `Crashed` when the run's process died). The
/// orchestration policy decides: a refused transition answers 409 with the run's state and why.
#[utoipa::path(post, path = "/api/flow_runs/{id}/state", tag = "agents", request_body = RunState,
    params(("id" = Uuid, Path, description = "flow run id"), AsAgent),
    responses((status = 200, body = StoredFlowRun),
        (status = 404, description = "no such flow run"),
        (status = 409, description = "the orchestration policy refused the transition; the message names the run's state and why")))]
pub(crate) async fn set_state(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<AsAgent>, QueryRejection>,
    body: Result<Json<RunState>, JsonRejection>,
) -> Result<Json<StoredFlowRun>, ApiError> {
    let id = id_of(id, "flow run")?;
    let Query(as_agent) = query?;
    let Json(new) = body?;
    let transition = match &as_agent.agent {
        Some(agent) => {
            state
                .store
                .propose_flow_run_state_as(id, &new, agent)
                .await?
        }
        None => state.store.propose_flow_run_state(id, &new).await?,
    };
    after(&state, id, transition, |current, r| {
        format!("flow run {id} is {current}: {r}")
    })
    .await
}

#[cfg(test)]
mod tests {
    /// The `state` parameter's documented pattern names exactly the states the filter knows.
    #[test]
    fn the_state_pattern_lists_the_known_states() {
        use utoipa::IntoParams;
        let params = super::FlowRunQuery::into_params(|| None);
        let state = params.iter().find(|p| p.name == "state").unwrap();
        let schema = serde_json::to_value(&state.schema).unwrap();
        let pattern = schema["pattern"].as_str().unwrap();
        let inner = pattern
            .strip_prefix("^(")
            .and_then(|p| p.split_once(")(,("))
            .map(|(names, _)| names)
            .unwrap();
        // The filter matches names in any case: compare case-insensitively.
        let lower = |names: Vec<&str>| {
            let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        assert_eq!(
            lower(inner.split('|').collect()),
            lower(super::known_states())
        );
    }
}
