//! What the store gives back: flows, flow runs, task runs, logs and task graphs, as the API serves them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::state::State;

/// A flow that has run at least once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredFlow {
    /// The flow's name.
    pub name: String,
    /// When its first run was recorded.
    pub created: DateTime<Utc>,
    /// How many runs it has.
    pub run_count: i64,
    /// Its newest run.
    pub last_run: Option<StoredFlowRun>,
}

/// A stored flow run with its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredFlowRun {
    /// Id.
    pub id: Uuid,
    /// Readable name.
    pub name: String,
    /// The flow's name.
    pub flow_name: String,
    /// The flow's version.
    pub version: Option<String>,
    /// Parameters as JSON.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameters: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// For a subflow: its parent flow run.
    pub parent_flow_run_id: Option<Uuid>,
    /// For a subflow: the task run that stands for it in the parent's graph.
    pub parent_task_run_id: Option<Uuid>,
    /// The deployment that created the run, if any.
    pub deployment_id: Option<String>,
    /// The deployment's name, if any.
    pub deployment_name: Option<String>,
    /// The work queue the run was sent to, if any.
    pub work_queue_name: Option<String>,
    /// For a deployment's run: when it is meant to start.
    pub expected_start_time: Option<DateTime<Utc>>,
    /// The current state (`None` if no state was recorded).
    pub state: Option<State>,
    /// How many times the body started.
    pub attempts: i64,
    /// First entry into `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When the final state was reached.
    pub end_time: Option<DateTime<Utc>>,
    /// Seconds from start to end (to now while running).
    pub duration_s: Option<f64>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Number of task runs.
    pub task_run_count: i64,
}

/// One upstream edge of a task run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredInput {
    /// The parameter the upstream result fed (`wait_for` for ordering edges).
    pub parameter: String,
    /// The upstream task run.
    pub upstream_id: Uuid,
    /// The upstream task run's name (absent in records migrated from schema 1).
    #[serde(default)]
    pub upstream_name: Option<String>,
    /// `parameter` or `wait_for`.
    pub kind: String,
}

/// A stored task run with its current state and inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredTaskRun {
    /// Id.
    pub id: Uuid,
    /// Readable name.
    pub name: String,
    /// The task's name.
    pub task_name: String,
    /// The flow run it ran in.
    pub flow_run_id: Option<Uuid>,
    /// That flow run's name.
    pub flow_run_name: Option<String>,
    /// That flow run's flow.
    pub flow_name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// The current state.
    pub state: Option<State>,
    /// How many times the body started.
    pub attempts: i64,
    /// First entry into `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When the final state was reached.
    pub end_time: Option<DateTime<Utc>>,
    /// Seconds from start to end (to now while running).
    pub duration_s: Option<f64>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Upstream edges.
    pub inputs: Vec<StoredInput>,
    /// When this task run stands for a subflow: the subflow's run.
    pub subflow_run_id: Option<Uuid>,
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredLog {
    /// The run it belongs to.
    pub run_id: Uuid,
    /// `flow` or `task`.
    pub run_kind: String,
    /// The run's readable name.
    pub run_name: Option<String>,
    /// Level name (`INFO`, `WARNING`, …).
    pub level: String,
    /// The logger (`tracing` target).
    pub target: String,
    /// The message.
    pub message: String,
    /// When.
    pub timestamp: DateTime<Utc>,
}

/// The task graph of a flow run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct FlowGraph {
    /// One node per task run (subflows included).
    pub nodes: Vec<GraphNode>,
    /// Data and ordering edges, upstream to downstream.
    pub edges: Vec<GraphEdge>,
}

/// A node of a task graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct GraphNode {
    /// The task run's id.
    pub id: Uuid,
    /// The task run's name.
    pub name: String,
    /// `task`, or `subflow` for a task run that stands for a subflow run.
    pub kind: String,
    /// Its current state.
    pub state: Option<State>,
    /// First entry into `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When the final state was reached.
    pub end_time: Option<DateTime<Utc>>,
    /// For a subflow node: the subflow's run.
    pub subflow_run_id: Option<Uuid>,
}

/// An edge of a task graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct GraphEdge {
    /// The upstream task run.
    pub source: Uuid,
    /// The downstream task run.
    pub target: Uuid,
    /// The parameter it fed (`wait_for` for ordering edges).
    pub parameter: String,
    /// `parameter` or `wait_for`.
    pub kind: String,
}

impl FlowGraph {
    /// The graph of these task runs.
    pub fn of(task_runs: &[StoredTaskRun]) -> FlowGraph {
        FlowGraph {
            nodes: task_runs
                .iter()
                .map(|t| GraphNode {
                    id: t.id,
                    name: t.name.clone(),
                    kind: if t.subflow_run_id.is_some() {
                        "subflow"
                    } else {
                        "task"
                    }
                    .into(),
                    state: t.state.clone(),
                    start_time: t.start_time,
                    end_time: t.end_time,
                    subflow_run_id: t.subflow_run_id,
                })
                .collect(),
            edges: task_runs
                .iter()
                .flat_map(|t| {
                    t.inputs.iter().map(|i| GraphEdge {
                        source: i.upstream_id,
                        target: t.id,
                        parameter: i.parameter.clone(),
                        kind: i.kind.clone(),
                    })
                })
                .collect(),
        }
    }
}

/// The values present in the record, to offer as filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct FilterValues {
    /// Flow names.
    pub flows: Vec<String>,
    /// Tags of flow runs.
    pub tags: Vec<String>,
    /// Deployments that created runs.
    pub deployments: Vec<String>,
    /// Work queues runs were sent to.
    pub work_queues: Vec<String>,
    /// State names flow runs are in.
    pub states: Vec<String>,
}

/// A reported or requested transition the orchestration policy refused: the run kept its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RefusedTransition {
    /// The run.
    pub run_id: Uuid,
    /// Its state, which it keeps.
    pub current: Option<State>,
    /// The state that was proposed.
    pub proposed: State,
    /// Why it was refused.
    pub reason: String,
}

/// A page of results with the total count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
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
    pub fn all(results: Vec<T>) -> Page<T> {
        Page {
            count: results.len() as i64,
            limit: None,
            offset: None,
            results,
        }
    }
}
