//! The task queue (Prefect 3's background tasks): task runs sent to task workers — by
//! `task::delay(…)` or a flow under the `Distributed` task runner — claimed under a lease, and
//! their outcomes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::state::State;

/// A task run sent to the task workers (`POST /api/task_queue`). Its record (created, `Pending` or
/// `Scheduled`) was reported before it was queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct QueuedTask {
    /// The task run: a worker runs it under this id.
    pub task_run_id: Uuid,
    /// The task's name: workers claim runs of the tasks they know.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub task: String,
    /// The task run's name.
    pub task_run_name: String,
    /// The flow run it belongs to, if any.
    pub flow_run_id: Option<Uuid>,
    /// Its arguments by parameter name (a JSON object).
    pub parameters: serde_json::Value,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How many times it is run again when the worker running it is lost (its task's `retries`);
    /// beyond that it ends `Crashed`.
    #[serde(deserialize_with = "crate::schemas::integers::i64")]
    #[cfg_attr(feature = "server", schema(minimum = 0))]
    pub retries: i64,
    /// Where its value is written in the result storage.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub storage_key: String,
    /// The cache key it is stored under, if its task caches.
    #[serde(default)]
    pub cache_key: Option<String>,
    /// How long a cached value stays valid, in seconds.
    #[serde(default)]
    pub cache_expiration_seconds: Option<f64>,
}

/// A queued task run a worker claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClaimedTask {
    /// The run.
    pub queued: QueuedTask,
    /// How many times it was claimed, this claim included (more than 1: a worker was lost).
    pub claims: i64,
    /// Until when the worker's lease runs, unless renewed.
    pub lease_until: DateTime<Utc>,
}

/// How a queued task run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskOutcome {
    /// The run.
    pub task_run_id: Uuid,
    /// The states it went through on its worker, its final state last.
    pub history: Vec<State>,
    /// Where its value is, when it completed.
    pub storage_key: Option<String>,
}

impl TaskOutcome {
    /// The final state.
    pub fn state(&self) -> Option<&State> {
        self.history.last()
    }
}

/// What a worker asks for (`POST /api/task_queue/claim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskClaim {
    /// The worker (its leases are held under this name).
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub worker: String,
    /// The tasks it runs (at most 1000).
    #[cfg_attr(feature = "server", schema(max_items = 1000))]
    pub tasks: Vec<String>,
    /// At most this many runs (1 to 1000).
    #[serde(deserialize_with = "crate::schemas::integers::i64")]
    #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 1000))]
    pub limit: i64,
    /// How long the lease runs without a renewal, in seconds (0 < lease ≤ 3600).
    #[cfg_attr(feature = "server", schema(exclusive_minimum = 0, maximum = 3600))]
    pub lease_seconds: f64,
}

/// A worker's leases to renew (`POST /api/task_queue/renew`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskLeases {
    /// The worker.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub worker: String,
    /// The runs it holds (at most 1000).
    #[cfg_attr(feature = "server", schema(max_items = 1000))]
    pub task_run_ids: Vec<Uuid>,
    /// The new lease, in seconds (0 < lease ≤ 3600).
    #[cfg_attr(feature = "server", schema(exclusive_minimum = 0, maximum = 3600))]
    pub lease_seconds: f64,
}

/// Runs a worker finished (`POST /api/task_queue/finish`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskFinish {
    /// The worker.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub worker: String,
    /// Their outcomes (at most 1000).
    #[cfg_attr(feature = "server", schema(max_items = 1000))]
    pub outcomes: Vec<TaskOutcome>,
}

/// Queued task runs named by id (`POST /api/task_queue/outcomes`, `…/cancel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskRunIds {
    /// The runs (at most 1000).
    #[cfg_attr(feature = "server", schema(max_items = 1000))]
    pub task_run_ids: Vec<Uuid>,
}

/// How many queued task runs of a task are in one status (`GET /api/task_queue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskQueueCount {
    /// The task.
    pub task: String,
    /// `queued`, `running`, `done` or `cancelled`.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// The most runs one request of the task queue names.
pub const MAX_TASKS_PER_REQUEST: usize = 1000;
