//! The store: every run, state, log line and task-graph edge, in SQLite (embedded, the default) or
//! PostgreSQL (for a shared server), through one code path (sqlx's `Any` driver).
//!
//! The schema is created (or migrated) at connection time; the `schema` module describes the tables.
//! One file per resource: `runs` (ingesting reported events: `write`; reading: `read`), `logs`,
//! `deployments`, `scheduling` (scheduled and late runs), `claims` (agents' claims, heartbeats and
//! state changes) and `work_queues`. Every state change is decided by the
//! [orchestration policy](crate::runtime::orchestration).

mod artifacts;
mod automations;
mod changes;
mod checkpoint;
mod claims;
mod codec;
mod concurrency;
mod connect;
mod deployments;
mod fast_sqlite;
mod filter;
mod ingest;
#[cfg(feature = "server")]
mod lease;
mod migrate;
mod read;
mod results;
mod retention;
mod rows;
mod scheduling;
mod schema;
mod sink;
mod task_queue;
#[cfg(test)]
mod tests;
mod transitions;
mod wakeups;
mod work_queues;
mod write;

pub use artifacts::ArtifactFilter;
pub use automations::Queued;
pub use connect::{sqlite_url, Backend, Store, StoreError};
pub use filter::{FlowRunFilter, Sort};
pub use ingest::Ingested;
pub use retention::Vacuumed;
pub use scheduling::Horizon;
pub use sink::StoreSink;
pub use task_queue::RecoveredTasks;
pub use transitions::Transition;
pub use wakeups::MAX_CLAIM_WAIT;
pub use write::WriteOutcome;

// Wire types the store gives back, where earlier releases had them.
pub use crate::schemas::deployments::{
    ClaimedRun, DeploymentSpec, Entrypoint, StoredDeployment, StoredWorkQueue, AUTO_SCHEDULED,
};
pub use crate::schemas::records::{
    FilterValues, FlowGraph, GraphEdge, GraphNode, RefusedTransition, StoredFlow, StoredFlowRun,
    StoredInput, StoredLog, StoredTaskRun,
};
