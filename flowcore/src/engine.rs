//! The engine: the loops that move a task run and a flow run through their states.
//!
//! Task run: `Pending` → (upstream runs awaited; if one failed: `UpstreamFailed`, end) → `Running` →
//! `Completed`, or on error/panic `AwaitingRetry` → `Retrying` → … → `Completed` or `Failed`.
//!
//! Flow run: `Pending` → `Running` → body → every submitted task awaited → `Completed`, or `Failed` when
//! the body returned an error, panicked, or left a failed task run unobserved; flow retries as for tasks.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::context::FlowRunContext;
use crate::error::{FlowRunError, ParameterError, TaskRunError, TaskRunFailure};
use crate::event::{self, Event, RunKind};
use crate::flow::{FlowSpec, FlowState};
use crate::logging::{self, InRun, RunScope, FLOW_RUN_SPAN, TARGET, TASK_RUN_SPAN};
use crate::record::{FlowRunMeta, RunRecord, TaskRunMeta};
use crate::state::State;
use crate::task::{Body, TaskCall};

/// Task runs outside any flow are numbered process-wide.
pub(crate) fn standalone_task_run_name(task_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{task_name}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => s.to_string(),
            Err(_) => "a panic with a non-string payload".to_string(),
        },
    }
}

fn catch<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, TaskRunFailure> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(TaskRunFailure::Error(Arc::new(e))),
        Err(payload) => Err(TaskRunFailure::Panic(panic_message(payload))),
    }
}

/// What a run's body executes inside: the run scope that log capture reads, and a `tracing` span when
/// the program's own subscriber may want one.
fn run_scope(record: &RunRecord, flow_run_id: Option<uuid::Uuid>) -> (tracing::Span, RunScope) {
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
    };
    (span, scope)
}

fn delay_words(delay: Duration) -> String {
    format!("{} second(s)", delay.as_secs_f64())
}

/// Runs one task run to its final state.
///
/// A sync body runs in the thread that polls this future: the caller's for a plain call, a worker
/// thread of the Concurrent runner for a submitted task.
pub(crate) async fn run_task<T: Send + 'static>(
    call: TaskCall<T>,
    meta: &TaskRunMeta,
) -> Result<T, TaskRunError> {
    let TaskCall { spec, edges, body } = call;
    let record = &meta.record;
    let error = |failure| TaskRunError {
        task_run_name: Arc::clone(&record.run.name),
        task_run_id: record.id(),
        failure,
    };

    for upstream in &edges.upstream {
        upstream.wait().await;
        if !upstream.succeeded() {
            let up = upstream.record();
            record.set_state(State::upstream_failed(format!(
                "Upstream task run '{}' did not reach a 'Completed' state; this task run did not run",
                up.name()
            )));
            return Err(error(TaskRunFailure::UpstreamFailed {
                upstream_name: up.name().to_string(),
                upstream_id: up.id(),
            }));
        }
    }
    drop(edges);

    let (span, scope) = run_scope(record, meta.flow_run_id);
    let mut body = body;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        record.set_state(if attempt == 1 {
            State::running()
        } else {
            State::retrying()
        });
        let result = match body {
            Body::Sync(mut f) => {
                let result = span.in_scope(|| logging::in_run(&scope, || catch(&mut f)));
                body = Body::Sync(f);
                result
            }
            Body::Async(mut f) => {
                // Building the body's future takes (or clones) its arguments: user code, so caught too.
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    logging::in_run(&scope, || span.in_scope(&mut f))
                }));
                body = Body::Async(f);
                match started {
                    Err(payload) => Err(TaskRunFailure::Panic(panic_message(payload))),
                    Ok(fut) => match AssertUnwindSafe(InRun::new(
                        scope.clone(),
                        fut.instrument(span.clone()),
                    ))
                    .catch_unwind()
                    .await
                    {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err(TaskRunFailure::Error(Arc::new(e))),
                        Err(payload) => Err(TaskRunFailure::Panic(panic_message(payload))),
                    },
                }
            }
        };
        match result {
            Ok(value) => {
                record.set_state(State::completed());
                return Ok(value);
            }
            Err(failure) if attempt <= spec.retries => {
                record.set_state(State::awaiting_retry(format!(
                    "{} - Retry {attempt}/{} will start {} from now",
                    failure_message(&failure),
                    spec.retries,
                    delay_words(spec.retry_delay)
                )));
                tokio::time::sleep(spec.retry_delay).await;
            }
            Err(failure) => {
                if let TaskRunFailure::Error(e) = &failure {
                    // The whole chain, and the backtrace when one was captured (RUST_BACKTRACE=1):
                    // recorded with the run's logs, as Prefect records the traceback.
                    logging::in_run(&scope, || {
                        tracing::error!(
                            target: TARGET,
                            "Encountered an error during execution:\n{e:?}"
                        )
                    });
                }
                record.set_state(State::failed(failure_message(&failure)));
                return Err(error(failure));
            }
        }
    }
}

fn failure_message(failure: &TaskRunFailure) -> String {
    match failure {
        TaskRunFailure::Error(e) => format!("Task run encountered an error: {e:#}"),
        TaskRunFailure::Panic(m) => format!("Task run panicked: {m}"),
        TaskRunFailure::Crashed(m) => format!("Task run crashed: {m}"),
        TaskRunFailure::UpstreamFailed { upstream_name, .. } => {
            format!("Upstream task run '{upstream_name}' did not complete")
        }
    }
}

/// A flow body, boxed so that flow retries can run it again. Built by generated code.
#[doc(hidden)]
pub type FlowBody<T> = Box<dyn FnMut() -> BoxFuture<'static, anyhow::Result<T>> + Send>;

/// The id and name the next top-level flow run takes (a deployment's run the server created).
static ADOPTED: std::sync::Mutex<Option<(uuid::Uuid, String)>> = std::sync::Mutex::new(None);

/// Makes the next top-level flow run of this process be the run `id` named `name`.
#[cfg_attr(not(all(feature = "client", feature = "store")), allow(dead_code))]
pub(crate) fn adopt_next_flow_run(id: uuid::Uuid, name: String) {
    *ADOPTED.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, name));
}

fn take_adopted() -> Option<(uuid::Uuid, String)> {
    ADOPTED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Runs one flow run to its final state. `body` is `Err` when the parameters were invalid: the run is
/// then recorded as `Failed` without running.
pub(crate) async fn run_flow<T: Send + 'static>(
    spec: &'static FlowSpec,
    parameters: serde_json::Value,
    body: Result<FlowBody<T>, ParameterError>,
) -> FlowState<T> {
    crate::logging::init();
    crate::recording::init();
    let parent = FlowRunContext::current();
    let record = match parent.is_none().then(take_adopted).flatten() {
        Some((id, name)) => RunRecord::with_id(RunKind::Flow, id, name, None),
        None => RunRecord::new(RunKind::Flow, crate::names::flow_run_name(), None),
    };

    // A subflow stands as a task run in its parent's graph.
    let placeholder = parent.as_ref().map(|parent| {
        let meta = Arc::new(TaskRunMeta {
            record: RunRecord::new(
                RunKind::Task,
                parent.next_task_run_name(spec.name),
                Some(parent.meta.record.id()),
            ),
            task_name: spec.name,
            flow_run_id: Some(parent.meta.record.id()),
            tags: spec.tags.iter().map(|t| t.to_string()).collect(),
            inputs: Vec::new(),
        });
        meta.record.set_subflow(record.id());
        meta.record.mark_observed();
        parent.register_task_run(Arc::clone(&meta));
        event::emit(Event::TaskRunCreated {
            run: meta.record.run.clone(),
            task_name: spec.name.to_string(),
            flow_run_id: meta.flow_run_id,
            tags: meta.tags.clone(),
            inputs: Vec::new(),
            created: chrono::Utc::now(),
        });
        meta.record.set_state(State::pending());
        meta
    });

    let meta = Arc::new(FlowRunMeta {
        record,
        flow_name: spec.name,
        version: spec.version,
        parameters,
        tags: spec.tags.iter().map(|t| t.to_string()).collect(),
        parent_flow_run_id: parent.as_ref().map(|p| p.meta.record.id()),
        parent_task_run_id: placeholder.as_ref().map(|p| p.record.id()),
    });
    let record = &meta.record;
    event::emit(Event::FlowRunCreated {
        run: record.run.clone(),
        flow_name: spec.name.to_string(),
        version: spec.version.map(str::to_string),
        parameters: meta.parameters.clone(),
        tags: meta.tags.clone(),
        parent_flow_run_id: meta.parent_flow_run_id,
        parent_task_run_id: meta.parent_task_run_id,
        created: chrono::Utc::now(),
    });
    record.set_state(State::pending());
    if let Some(p) = &placeholder {
        p.record.set_state(State::running());
    }

    let ctx = FlowRunContext::new(
        Arc::clone(&meta),
        spec.runner,
        crate::runner::override_in_force(parent.as_deref()),
    );
    let outcome: Result<T, (String, Option<anyhow::Error>)> = match body {
        Err(e) => {
            let message = format!("Validation of flow parameters failed: {e}");
            record.set_state(State::failed(message.clone()));
            Err((message, Some(anyhow::Error::new(e))))
        }
        Ok(mut body) => {
            let (span, scope) = run_scope(record, Some(record.id()));
            let mut attempt = 0;
            loop {
                attempt += 1;
                record.set_state(if attempt == 1 {
                    State::running()
                } else {
                    State::retrying()
                });
                let first_task = ctx.task_run_count();
                let fut =
                    AssertUnwindSafe(InRun::new(scope.clone(), body().instrument(span.clone())))
                        .catch_unwind();
                let result = FlowRunContext::scope(Arc::clone(&ctx), fut).await;
                ctx.wait_for_submitted().await;
                let result: Result<T, (String, Option<anyhow::Error>)> = match result {
                    Ok(Ok(value)) => match unobserved_failures(&ctx, first_task) {
                        None => Ok(value),
                        Some(message) => Err((message, None)),
                    },
                    Ok(Err(e)) => Err((format!("Flow run encountered an error: {e:#}"), Some(e))),
                    Err(payload) => Err((
                        format!("Flow run panicked: {}", panic_message(payload)),
                        None,
                    )),
                };
                match result {
                    Ok(value) => {
                        record.set_state(State::completed());
                        break Ok(value);
                    }
                    Err((message, _)) if attempt <= spec.retries => {
                        record.set_state(State::awaiting_retry(format!(
                            "{message} - Retry {attempt}/{} will start {} from now",
                            spec.retries,
                            delay_words(spec.retry_delay)
                        )));
                        tokio::time::sleep(spec.retry_delay).await;
                    }
                    Err((message, cause)) => {
                        record.set_state(State::failed(message.clone()));
                        break Err((message, cause));
                    }
                }
            }
        }
    };

    if let Some(p) = &placeholder {
        p.record.set_state(match &outcome {
            Ok(_) => State::completed(),
            Err((message, _)) => {
                State::failed(format!("Subflow run '{}' failed: {message}", record.name()))
            }
        });
    }
    // The run's final record is gathered while the sinks write what is left: a flow of many tasks
    // spends that time in both places at once.
    let flow_run = meta.snapshot();
    let task_runs: Vec<_> = ctx.task_runs().iter().map(|t| t.snapshot()).collect();
    let subflow_task_runs = ctx.subflow_task_runs();
    if parent.is_none() {
        event::flush().await;
    }
    if let Some(parent) = &parent {
        parent.add_subflow_task_runs(
            task_runs
                .iter()
                .cloned()
                .chain(subflow_task_runs.iter().cloned()),
        );
    }
    let output = outcome.map_err(|(message, cause)| FlowRunError {
        flow_run_name: flow_run.name.clone(),
        flow_name: spec.name.to_string(),
        message,
        cause,
    });
    FlowState::new(flow_run, task_runs, subflow_task_runs, output)
}

/// `Some("2/7 task runs failed")` when a task run of this attempt failed and nobody observed it.
fn unobserved_failures(ctx: &FlowRunContext, first_task: usize) -> Option<String> {
    let runs = ctx.task_runs();
    let runs = &runs[first_task.min(runs.len())..];
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.record.state().is_some_and(|s| !s.is_completed()))
        .collect();
    if failed.iter().any(|r| !r.record.is_observed()) {
        Some(format!("{}/{} task runs failed", failed.len(), runs.len()))
    } else {
        None
    }
}
