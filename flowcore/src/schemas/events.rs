//! What the runtime reports, as values: run creations, state transitions and log lines. The runtime
//! sends them to its sinks, the API client posts them to `POST /api/events`, the store writes them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::runs::TaskInput;
use crate::runtime::state::State;

/// Whether a run is a flow run or a task run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum RunKind {
    /// A flow run.
    Flow,
    /// A task run.
    Task,
}

/// Identifies a run in events: kind, id and readable name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RunRef {
    /// Flow run or task run.
    pub kind: RunKind,
    /// The run's id.
    pub id: Uuid,
    /// The run's readable name.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub name: Arc<str>,
    /// The flow run this run belongs to: itself for a flow run, the enclosing flow run for a task run
    /// (`None` for a task run outside any flow).
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
}

impl RunRef {
    /// Prefect's prefix for the run's log lines: `Flow run 'complex-jackal'` or `Task run 'load_data-0'`.
    pub fn label(&self) -> String {
        match self.kind {
            RunKind::Flow => format!("Flow run '{}'", self.name),
            RunKind::Task => format!("Task run '{}'", self.name),
        }
    }
}

/// Log levels, as recorded with a run's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum LogLevel {
    /// `TRACE`
    Trace,
    /// `DEBUG`
    Debug,
    /// `INFO`
    Info,
    /// `WARNING`
    Warning,
    /// `ERROR`
    Error,
}

impl LogLevel {
    /// The upper-case name Prefect prints (`WARNING`, not `WARN`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

impl From<tracing::Level> for LogLevel {
    fn from(level: tracing::Level) -> LogLevel {
        match level {
            tracing::Level::TRACE => LogLevel::Trace,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warning,
            tracing::Level::ERROR => LogLevel::Error,
        }
    }
}

/// One log line that belongs to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LogRecord {
    /// The run the line belongs to.
    pub run: RunRef,
    /// For a task run's line: the flow run it ran in.
    pub flow_run_id: Option<Uuid>,
    /// Severity.
    pub level: LogLevel,
    /// The logger: the `tracing` target (`flowcore` for the runtime's own lines).
    pub target: String,
    /// The formatted message.
    pub message: String,
    /// When it was logged.
    pub timestamp: DateTime<Utc>,
}

/// What the runtime reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum Event {
    /// A flow run was created.
    FlowRunCreated {
        /// The run.
        run: RunRef,
        /// The flow's name.
        flow_name: String,
        /// The flow's version.
        version: Option<String>,
        /// Parameters as JSON.
        #[cfg_attr(feature = "server", schema(value_type = Object))]
        parameters: serde_json::Value,
        /// Tags.
        tags: Vec<String>,
        /// For a subflow: the parent flow run.
        parent_flow_run_id: Option<Uuid>,
        /// For a subflow: the placeholder task run in the parent.
        parent_task_run_id: Option<Uuid>,
        /// Creation time.
        created: DateTime<Utc>,
    },
    /// A task run was created.
    TaskRunCreated {
        /// The run.
        run: RunRef,
        /// The task's name.
        task_name: String,
        /// The flow run it belongs to.
        flow_run_id: Option<Uuid>,
        /// Tags.
        tags: Vec<String>,
        /// Upstream edges.
        inputs: Vec<TaskInput>,
        /// Creation time.
        created: DateTime<Utc>,
    },
    /// A run moved to a new state.
    StateChanged {
        /// The run.
        run: RunRef,
        /// The state it entered.
        state: State,
    },
    /// A log line of a run. (Artifacts travel as log records too: see
    /// [`Artifact::to_log`](super::artifacts::Artifact::to_log).)
    Log(LogRecord),
}
