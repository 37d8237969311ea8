//! One run's lifecycle, the same for task runs, subflows and flow runs: creating the run (named,
//! registered with its flow run, reported, `Pending`), running its attempts under its retry policy,
//! and finishing it with one failure text. Every state goes through the run record, and so through
//! the [orchestration policy](super::orchestration).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::context::FlowRunContext;
use super::error::TimedOut;
use super::retry::RetryPolicy;
use super::run_record::{Links, RunRecord, TaskRunMeta};
use super::state::State;
use crate::reporting::logging::{self, RunScope, FLOW_RUN_SPAN, TARGET, TASK_RUN_SPAN};
use crate::reporting::{destination, reporter};
use crate::schemas::events::{Event, RunKind};
use crate::schemas::runs::TaskInput;

/// Starts the process's logging and default record, once: the first run of a process does.
pub(crate) fn init_reporting() {
    logging::init();
    destination::init();
}

/// Task runs outside any flow are numbered process-wide.
fn standalone_task_run_name(task_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{task_name}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Creates a task run — a task call's, or the placeholder that stands for a subflow in its
/// parent's graph: names it (its `task_run_name`, else `{task}-{n}` within its flow run), registers it with the flow run,
/// reports its creation and moves it to `Pending`.
pub(crate) fn create_task_run(
    ctx: Option<&Arc<FlowRunContext>>,
    task_name: &'static str,
    run_name: Option<String>,
    tags: &'static [&'static str],
    inputs: Vec<TaskInput>,
) -> Arc<TaskRunMeta> {
    create_task_run_as(ctx, task_name, run_name, tags, inputs, State::pending())
}

/// [`create_task_run`] with the run's first state (`Scheduled` for a run sent by `task::delay`).
pub(crate) fn create_task_run_as(
    ctx: Option<&Arc<FlowRunContext>>,
    task_name: &'static str,
    run_name: Option<String>,
    tags: &'static [&'static str],
    inputs: Vec<TaskInput>,
    first: State,
) -> Arc<TaskRunMeta> {
    init_reporting();
    let name_pending = run_name.is_none();
    let name = match (run_name, ctx) {
        (Some(name), _) => name,
        (None, Some(ctx)) => ctx.next_task_run_name(task_name),
        (None, None) => standalone_task_run_name(task_name),
    };
    let flow_run_id = ctx.map(|c| c.meta.record.id());
    let meta = Arc::new(TaskRunMeta {
        record: RunRecord::new(RunKind::Task, name, flow_run_id),
        task_name,
        links: Links::of(tags.iter().map(|t| t.to_string()).collect(), inputs),
        parameters: std::sync::Mutex::new(None),
        name_pending,
    });
    if let Some(ctx) = ctx {
        ctx.register_task_run(Arc::clone(&meta));
    }
    reporter::emit(Event::TaskRunCreated {
        run: meta.record.run.clone(),
        task_name: task_name.to_string(),
        flow_run_id: meta.flow_run_id(),
        tags: meta.tags().to_vec(),
        inputs: meta.inputs().to_vec(),
        created: chrono::Utc::now(),
    });
    let _ = meta.record.propose(first);
    meta
}

/// The record of a task run a task worker claimed: created (and reported) by the process that
/// sent it, so nothing is reported here; its current state is taken as the sender left it
/// (`Pending`), or `Running` when a lost worker ran it before — then it goes through
/// `AwaitingRetry` to run again. Gives the record and how many states were taken.
pub(crate) fn adopt_task_run(
    task_name: &'static str,
    claimed: &crate::schemas::task_queue::ClaimedTask,
) -> (Arc<TaskRunMeta>, usize) {
    init_reporting();
    let queued = &claimed.queued;
    let meta = Arc::new(TaskRunMeta {
        record: RunRecord::with_id(
            RunKind::Task,
            queued.task_run_id,
            queued.task_run_name.clone(),
            queued.flow_run_id,
        ),
        task_name,
        links: Links::of(queued.tags.clone(), Vec::new()),
        parameters: std::sync::Mutex::new(None),
        name_pending: false,
    });
    let _ = meta.record.adopt(State::pending());
    if claimed.claims <= 1 {
        return (meta, 1);
    }
    let _ = meta.record.adopt(State::running());
    let _ = meta.record.propose(State::awaiting_retry(format!(
        "The task worker running it was lost; running it again (claim {})",
        claimed.claims
    )));
    (meta, 2)
}

/// Why one attempt of a run's body did not give a value.
pub(crate) enum AttemptFailure {
    /// The body returned an error.
    Error(anyhow::Error),
    /// The body panicked (the panic's message).
    Panic(String),
    /// A flow run's body returned, but task runs it did not look at failed (`"2/7 task runs failed"`).
    FailedTasks(String),
    /// The attempt exceeded the run's `timeout`.
    TimedOut(Duration),
    /// The run was cancelled (the reason).
    Cancelled(String),
}

impl AttemptFailure {
    /// Calls `f` with the failure as the error a retry condition sees.
    fn with_error<R>(&self, kind: RunKind, f: impl FnOnce(&anyhow::Error) -> R) -> R {
        match self {
            AttemptFailure::Error(e) => f(e),
            AttemptFailure::Panic(m)
            | AttemptFailure::FailedTasks(m)
            | AttemptFailure::Cancelled(m) => f(&anyhow::anyhow!("{m}")),
            AttemptFailure::TimedOut(timeout) => f(&anyhow::Error::new(TimedOut {
                kind,
                timeout: *timeout,
            })),
        }
    }
}

/// The message of a failed attempt, for a run of `kind`: the one failure text of tasks and flows.
pub(crate) fn failure_message(kind: RunKind, failure: &AttemptFailure) -> String {
    let who = match kind {
        RunKind::Flow => "Flow run",
        RunKind::Task => "Task run",
    };
    match failure {
        AttemptFailure::Error(e) => format!("{who} encountered an error: {}", root_first(e)),
        AttemptFailure::Panic(m) => format!("{who} panicked: {m}"),
        AttemptFailure::FailedTasks(m) | AttemptFailure::Cancelled(m) => m.clone(),
        AttemptFailure::TimedOut(timeout) => TimedOut {
            kind,
            timeout: *timeout,
        }
        .to_string(),
    }
}

/// An error's text, its root failure first: when the body returned a task run's error as is
/// (`future.await?`), that run's [`root_cause`](super::error::TaskRunError::root_cause) — the
/// upstream failure a never-run task goes back to — and likewise through a subflow's error;
/// otherwise the error with its whole chain.
fn root_first(e: &anyhow::Error) -> String {
    use super::error::{FlowRunError, TaskRunError};
    let top: &(dyn std::error::Error + 'static) = e.as_ref();
    if top.is::<TaskRunError>() || top.is::<FlowRunError>() {
        if let Some(task) = e.chain().find_map(|c| c.downcast_ref::<TaskRunError>()) {
            return task.root_cause();
        }
        if let Some(flow) = top.downcast_ref::<FlowRunError>() {
            return flow.to_string();
        }
    }
    format!("{e:#}")
}

/// The message of a panic's payload.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic with a non-string payload".to_string(),
        },
    }
}

/// Runs a sync body, catching its panic.
pub(crate) fn catch<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, AttemptFailure> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(AttemptFailure::Error(e)),
        Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
    }
}

/// What a run's body executes inside: the run scope that log capture reads, and a `tracing` span when
/// the program's own subscriber may want one.
pub(crate) fn run_scope(
    meta: Arc<dyn Any + Send + Sync>,
    record: &RunRecord,
    flow_run_id: Option<uuid::Uuid>,
) -> (tracing::Span, RunScope) {
    let span = if !logging::wants_spans() {
        tracing::Span::none()
    } else if record.run.kind == RunKind::Flow {
        tracing::info_span!(target: TARGET, FLOW_RUN_SPAN, run_id = %record.id(), run_name = record.name())
    } else {
        tracing::info_span!(target: TARGET, TASK_RUN_SPAN, run_id = %record.id(), run_name = record.name())
    };
    let scope = RunScope {
        run: record.run.clone(),
        flow_run_id,
        meta: Some(meta),
    };
    (span, scope)
}

/// The attempts of one run: each starts `Running` (the policy makes a later one `Retrying`) and ends
/// `Completed`, `AwaitingRetry` (then the pause) or, with no retries left, `Failed`.
pub(crate) struct Attempts<'a> {
    record: &'a RunRecord,
    policy: RetryPolicy,
    attempt: u32,
    /// Where a final error's chain is logged (task runs log it, as Prefect logs the traceback).
    error_log: Option<&'a RunScope>,
    /// Whether the retry condition declined the last failure's retry.
    declined: bool,
    /// Said after a final failure's message (a flow's task runs that never ran because of it).
    pub(crate) aftermath: Option<String>,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(record: &'a RunRecord, policy: RetryPolicy) -> Attempts<'a> {
        Attempts {
            record,
            policy,
            attempt: 0,
            error_log: None,
            declined: false,
            aftermath: None,
        }
    }

    /// Logs the final error's whole chain (and backtrace, when captured) with the run's logs.
    pub(crate) fn log_errors_in(mut self, scope: &'a RunScope) -> Attempts<'a> {
        self.error_log = Some(scope);
        self
    }

    /// Whether the retry condition (if any) wants `failure` retried; a condition that panics
    /// declines.
    fn retry_wanted(&mut self, failure: &AttemptFailure) -> bool {
        if matches!(failure, AttemptFailure::Cancelled(_)) {
            return false;
        }
        let Some(condition) = self.policy.condition else {
            return true;
        };
        let wanted = std::panic::catch_unwind(AssertUnwindSafe(|| {
            failure.with_error(self.record.run.kind, condition)
        }));
        self.declined = !matches!(wanted, Ok(true));
        !self.declined
    }

    /// Starts the next attempt.
    pub(crate) fn start(&mut self) {
        self.attempt += 1;
        let _ = self.record.propose(State::running());
    }

    /// Ends the current attempt: `Some` with the run's outcome when the run is over (the failure's
    /// message with it), `None` when another attempt follows (after the retry delay).
    pub(crate) async fn finish<T>(
        &mut self,
        result: Result<T, AttemptFailure>,
    ) -> Option<Result<T, (String, AttemptFailure)>> {
        let kind = self.record.run.kind;
        match result {
            Ok(value) => {
                let _ = self.record.propose(State::completed());
                Some(Ok(value))
            }
            Err(failure) if self.attempt <= self.policy.retries && self.retry_wanted(&failure) => {
                let pause = self.policy.pause(self.attempt - 1);
                let _ = self.record.propose(State::awaiting_retry(format!(
                    "{} - Retry {}/{} will start {} second(s) from now",
                    failure_message(kind, &failure),
                    self.attempt,
                    self.policy.retries,
                    pause.as_secs_f64()
                )));
                tokio::time::sleep(pause).await;
                None
            }
            Err(failure) => {
                if let (Some(scope), AttemptFailure::Error(e)) = (self.error_log, &failure) {
                    logging::in_run(scope, || {
                        tracing::error!(
                            target: TARGET,
                            "Encountered an error during execution:\n{e:?}"
                        )
                    });
                }
                let mut message = failure_message(kind, &failure);
                if let Some(aftermath) = self.aftermath.take() {
                    message.push_str(&format!(" ({aftermath})"));
                }
                if self.declined {
                    message.push_str(" - Retry condition declined a retry; not retrying");
                }
                let _ = self.record.propose(match failure {
                    AttemptFailure::TimedOut(_) => State::timed_out(message.clone()),
                    AttemptFailure::Cancelled(_) => State::cancelled(message.clone()),
                    _ => State::failed(message.clone()),
                });
                Some(Err((message, failure)))
            }
        }
    }
}
