//! Deployments, work queues and claims as the API, the agent, the deployment builder and the CLI
//! exchange them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::StoredFlowRun;
use crate::deploy::schedule::Schedule;
/// How an agent starts a deployment's program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Entrypoint {
    /// The executable.
    pub exe: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory (the agent's own when absent).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// What `apply` sends: a deployment, upserted by flow name + deployment name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentSpec {
    /// The flow's name (not blank).
    #[cfg_attr(feature = "server", schema(min_length = 1, pattern = r"\S"))]
    pub flow_name: String,
    /// The deployment's name (unique per flow; not blank).
    #[cfg_attr(
        feature = "server",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags given to its runs.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Parameters of its runs.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameters: serde_json::Value,
    /// The flow's parameter schema.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameter_schema: serde_json::Value,
    /// The work queue its runs go to (letters, digits, `-`, `_` and `.`).
    #[serde(default = "default_queue")]
    #[cfg_attr(
        feature = "server",
        schema(min_length = 1, max_length = 100, pattern = r"^[A-Za-z0-9._-]+$")
    )]
    pub work_queue_name: String,
    /// When it runs by itself (none: only when asked).
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Whether its schedule is paused.
    #[serde(default)]
    pub paused: bool,
    /// How to start its program.
    pub entrypoint: Entrypoint,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn default_queue() -> String {
    "default".into()
}

/// A stored deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredDeployment {
    /// Id.
    pub id: Uuid,
    /// The deployment as applied.
    #[serde(flatten)]
    pub spec: DeploymentSpec,
    /// The schedule in words.
    pub schedule_description: Option<String>,
    /// First applied.
    pub created: DateTime<Utc>,
    /// Last applied or changed.
    pub updated: DateTime<Utc>,
    /// Up to five upcoming scheduled runs, soonest first.
    pub next_runs: Vec<StoredFlowRun>,
    /// Its newest run that started.
    pub last_run: Option<StoredFlowRun>,
}

/// A stored work queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredWorkQueue {
    /// Name.
    pub name: String,
    /// A paused queue hands out no runs.
    pub paused: bool,
    /// At most this many of its runs at once (none: unlimited).
    #[serde(default, deserialize_with = "crate::schemas::integers::opt_i64")]
    pub concurrency_limit: Option<i64>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Runs waiting (Scheduled or Late).
    pub scheduled_count: i64,
    /// Runs claimed by an agent and not finished.
    pub running_count: i64,
}

/// A run an agent claimed, with how to start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClaimedRun {
    /// The flow run (now Pending).
    pub flow_run: StoredFlowRun,
    /// The deployment's program.
    pub entrypoint: Entrypoint,
}

/// The tag of runs the scheduler created.
pub const AUTO_SCHEDULED: &str = "auto-scheduled";
