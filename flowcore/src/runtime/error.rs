//! The errors a user sees from task runs and flow runs.
//!
//! Both keep the full cause: [`std::error::Error::source`] walks from the run's error to the error the
//! task or flow body returned and on down its own chain (`{:#}` on an `anyhow::Error` prints it all), and [`TaskRunError::backtrace`] gives the
//! backtrace `anyhow` captured (with `RUST_BACKTRACE=1` or `RUST_LIB_BACKTRACE=1`).

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

/// Why a task run did not produce a value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TaskRunFailure {
    /// The task body returned an error (after all retries).
    Error(Arc<anyhow::Error>),
    /// The task body panicked; the panic message.
    Panic(String),
    /// The run exceeded its `timeout` (after all retries).
    TimedOut(TimedOut),
    /// The run was cancelled before it ran (its flow run was stopped); the reason.
    Cancelled(String),
    /// The run was lost before it finished (its job was dropped, e.g. at runtime shutdown).
    Crashed(String),
    /// An upstream task run did not complete, so this one never ran.
    UpstreamFailed {
        /// The upstream run's name.
        upstream_name: String,
        /// The upstream run's id.
        upstream_id: Uuid,
    },
}

/// The error of a task run that did not complete.
#[derive(Debug, Clone)]
pub struct TaskRunError {
    pub(crate) task_run_name: Arc<str>,
    pub(crate) task_run_id: Uuid,
    pub(crate) failure: TaskRunFailure,
    /// For a run that never ran because an upstream run failed: the failure at the root of the
    /// chain ([`TaskRunError::root_cause`] of the upstream's error).
    pub(crate) root: Option<Arc<str>>,
}

impl TaskRunError {
    /// The failed task run's name, e.g. `fit-0`.
    pub fn task_run_name(&self) -> &str {
        &self.task_run_name
    }

    /// The failed task run's id.
    pub fn task_run_id(&self) -> Uuid {
        self.task_run_id
    }

    /// Why it failed.
    pub fn failure(&self) -> &TaskRunFailure {
        &self.failure
    }

    /// The error the task body returned, if that is why it failed.
    pub fn error(&self) -> Option<&anyhow::Error> {
        match &self.failure {
            TaskRunFailure::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the task body panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.failure, TaskRunFailure::Panic(_))
    }

    /// Whether the task run exceeded its `timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(self.failure, TaskRunFailure::TimedOut(_))
    }

    /// Whether the task never ran because an upstream run failed.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(self.failure, TaskRunFailure::UpstreamFailed { .. })
    }

    /// The failure at the root of this one, first: for a run that never ran because an upstream
    /// failed, the upstream failure it goes back to (`task run 'load_data-0' failed: the file is
    /// empty`), however many runs lie between; otherwise this run's own failure with its cause.
    pub fn root_cause(&self) -> String {
        match (&self.failure, &self.root) {
            (TaskRunFailure::UpstreamFailed { .. }, Some(root)) => root.to_string(),
            (TaskRunFailure::Error(e), _) => {
                format!("task run '{}' failed: {e:#}", self.task_run_name)
            }
            _ => self.to_string(),
        }
    }

    /// The backtrace captured with the body's error, if one was captured.
    pub fn backtrace(&self) -> Option<&std::backtrace::Backtrace> {
        let bt = self.error()?.backtrace();
        (bt.status() == std::backtrace::BacktraceStatus::Captured).then_some(bt)
    }
}

impl fmt::Display for TaskRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            TaskRunFailure::Error(_) => write!(f, "task run '{}' failed", self.task_run_name),
            TaskRunFailure::Panic(m) => {
                write!(f, "task run '{}' panicked: {m}", self.task_run_name)
            }
            TaskRunFailure::Crashed(m) => {
                write!(f, "task run '{}' crashed: {m}", self.task_run_name)
            }
            TaskRunFailure::Cancelled(m) => {
                write!(f, "task run '{}' was cancelled: {m}", self.task_run_name)
            }
            TaskRunFailure::TimedOut(t) => write!(f, "task run '{}': {t}", self.task_run_name),
            TaskRunFailure::UpstreamFailed { upstream_name, .. } => write!(
                f,
                "task run '{}' did not run: upstream task run '{upstream_name}' did not complete",
                self.task_run_name
            ),
        }
    }
}

impl std::error::Error for TaskRunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            TaskRunFailure::Error(e) => {
                Some(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(&**e))
            }
            _ => None,
        }
    }
}

/// A run exceeded its `timeout`: the error a [`retry_if`](crate::retry::RetryCondition) condition
/// sees for a timed-out attempt (downcast to it), and the cause of a timed-out task run's error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedOut {
    /// Whether a task run or a flow run timed out.
    pub kind: crate::schemas::events::RunKind,
    /// The timeout.
    pub timeout: std::time::Duration,
}

impl fmt::Display for TimedOut {
    /// Prefect's text: `Task run exceeded timeout of 2.5 second(s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.kind {
            crate::schemas::events::RunKind::Flow => "Flow run",
            crate::schemas::events::RunKind::Task => "Task run",
        };
        write!(
            f,
            "{who} exceeded timeout of {} second(s)",
            self.timeout.as_secs_f64()
        )
    }
}

impl std::error::Error for TimedOut {}

/// The error of a flow run that did not complete.
#[derive(Debug)]
pub struct FlowRunError {
    pub(crate) flow_run_name: String,
    pub(crate) flow_name: String,
    pub(crate) message: String,
    pub(crate) cause: Option<anyhow::Error>,
}

impl FlowRunError {
    /// The flow run's name.
    pub fn flow_run_name(&self) -> &str {
        &self.flow_run_name
    }

    /// The flow's name.
    pub fn flow_name(&self) -> &str {
        &self.flow_name
    }

    /// The message of the flow run's final state.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error the flow body returned, if that is why it failed.
    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.cause.as_ref()
    }

    /// The task run error at the root of the failure, if a task run's error is in the chain.
    pub fn task_run_error(&self) -> Option<&TaskRunError> {
        self.cause.as_ref()?.chain().find_map(|e| e.downcast_ref())
    }
}

impl fmt::Display for FlowRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow run '{}' of flow '{}' failed: {}",
            self.flow_run_name, self.flow_name, self.message
        )
    }
}

impl std::error::Error for FlowRunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|e| e.as_ref() as _)
    }
}

/// A flow's parameters could not be read from JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// A required parameter is absent.
    #[error("missing parameter `{0}`")]
    Missing(String),
    /// A parameter the flow does not take.
    #[error("unknown parameter `{name}`; the flow takes: {expected}")]
    Unknown {
        /// The unknown name.
        name: String,
        /// The parameters the flow takes, comma-separated.
        expected: String,
    },
    /// A parameter's value does not fit its type.
    #[error("invalid parameter `{path}`: {message}")]
    Invalid {
        /// The parameter, and the field inside it (`params.min_duration`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The parameters are not a JSON object.
    #[error("flow parameters must be a JSON object, got {0}")]
    NotAnObject(String),
}
