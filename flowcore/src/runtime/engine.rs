//! The engine: drives a task run and a flow run through their lifecycles.
//!
//! Task run: `Pending` → (upstream runs awaited; if one failed: `UpstreamFailed`, end) → `Running` →
//! `Completed`, or on error/panic `AwaitingRetry` → `Retrying` → … → `Completed` or `Failed`.
//!
//! Flow run: `Pending` → `Running` → body → every submitted task awaited → `Completed`, or `Failed` when
//! the body returned an error, panicked, or left a failed task run unobserved; flow retries as for tasks.
//! A subflow also stands as a task run in its parent's graph.
//!
//! Both use the one lifecycle of [`lifecycle`](super::lifecycle): creation, attempts, failure text.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tracing::Instrument;

use super::body::{Body, Edges, FlowBody};
use super::context::FlowRunContext;
use super::error::{FlowRunError, ParameterError, TaskRunError, TaskRunFailure};
use super::flow::{FlowRunIdentity, FlowSpec, FlowState};
use super::lifecycle::{
    catch, create_task_run, init_reporting, panic_message, run_scope, AttemptFailure, Attempts,
    RetryPolicy,
};
use super::run_record::{FlowRunMeta, RunRecord, TaskRunMeta};
use super::runner;
use super::state::State;
use crate::reporting::logging::{self, InRun};
use crate::reporting::reporter;
use crate::schemas::events::{Event, RunKind};

/// Runs one task run to its final state.
///
/// A sync body runs in the thread that polls this future: the caller's for a plain call, a worker
/// thread of the Concurrent runner for a submitted task.
pub(crate) async fn run_task<T: Send + 'static>(
    policy: RetryPolicy,
    edges: Edges,
    body: Body<T>,
    meta: &TaskRunMeta,
) -> Result<T, TaskRunError> {
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
            let _ = record.propose(State::upstream_failed(format!(
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
    let mut attempts = Attempts::new(record, policy).log_errors_in(&scope);
    let mut body = body;
    loop {
        attempts.start();
        let result = match &mut body {
            Body::Sync(f) => span.in_scope(|| logging::in_run(&scope, || catch(f))),
            Body::Async(f) => {
                // Building the body's future takes (or clones) its arguments: user code, so caught too.
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    logging::in_run(&scope, || span.in_scope(f))
                }));
                match started {
                    Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                    Ok(fut) => match AssertUnwindSafe(InRun::new(
                        scope.clone(),
                        fut.instrument(span.clone()),
                    ))
                    .catch_unwind()
                    .await
                    {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err(AttemptFailure::Error(e)),
                        Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                    },
                }
            }
        };
        if let Some(outcome) = attempts.finish(result).await {
            return outcome.map_err(|(_, failure)| {
                error(match failure {
                    AttemptFailure::Error(e) => TaskRunFailure::Error(Arc::new(e)),
                    AttemptFailure::Panic(m) | AttemptFailure::FailedTasks(m) => {
                        TaskRunFailure::Panic(m)
                    }
                })
            });
        }
    }
}

/// Runs one flow run to its final state. `body` is `Err` when the parameters were invalid: the run is
/// then recorded as `Failed` without running. `identity` is the id and name the run takes (a
/// deployment's run the server created); a new run gets fresh ones.
pub(crate) async fn run_flow<T: Send + 'static>(
    spec: &'static FlowSpec,
    identity: Option<FlowRunIdentity>,
    parameters: serde_json::Value,
    body: Result<FlowBody<T>, ParameterError>,
) -> FlowState<T> {
    init_reporting();
    let parent = FlowRunContext::current();
    let record = match identity {
        Some(FlowRunIdentity { id, name, .. }) => RunRecord::with_id(RunKind::Flow, id, name, None),
        None => RunRecord::new(RunKind::Flow, super::names::flow_run_name(), None),
    };

    // A subflow stands as a task run in its parent's graph.
    let placeholder = parent.as_ref().map(|parent| {
        let meta = create_task_run(Some(parent), spec.name, spec.tags, Vec::new());
        meta.record.set_subflow(record.id());
        meta.record.mark_observed();
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
    reporter::emit(Event::FlowRunCreated {
        run: record.run.clone(),
        flow_name: spec.name.to_string(),
        version: spec.version.map(str::to_string),
        parameters: meta.parameters.clone(),
        tags: meta.tags.clone(),
        parent_flow_run_id: meta.parent_flow_run_id,
        parent_task_run_id: meta.parent_task_run_id,
        created: chrono::Utc::now(),
    });
    let _ = record.propose(State::pending());
    if let Some(p) = &placeholder {
        let _ = p.record.propose(State::running());
    }

    let ctx = FlowRunContext::new(
        Arc::clone(&meta),
        spec.runner,
        runner::override_in_force(parent.as_deref()),
    );
    let outcome: Result<T, (String, Option<anyhow::Error>)> = match body {
        Err(e) => {
            let message = format!("Validation of flow parameters failed: {e}");
            let _ = record.propose(State::failed(message.clone()));
            Err((message, Some(anyhow::Error::new(e))))
        }
        Ok(mut body) => {
            let (span, scope) = run_scope(record, Some(record.id()));
            let policy = RetryPolicy {
                retries: spec.retries,
                delay: spec.retry_delay,
            };
            let mut attempts = Attempts::new(record, policy);
            loop {
                attempts.start();
                let first_task = ctx.task_run_count();
                let fut =
                    AssertUnwindSafe(InRun::new(scope.clone(), body().instrument(span.clone())))
                        .catch_unwind();
                let result = FlowRunContext::scope(Arc::clone(&ctx), fut).await;
                ctx.wait_for_submitted().await;
                let result = match result {
                    Ok(Ok(value)) => match unobserved_failures(&ctx, first_task) {
                        None => Ok(value),
                        Some(message) => Err(AttemptFailure::FailedTasks(message)),
                    },
                    Ok(Err(e)) => Err(AttemptFailure::Error(e)),
                    Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                };
                if let Some(outcome) = attempts.finish(result).await {
                    break outcome.map_err(|(message, failure)| match failure {
                        AttemptFailure::Error(e) => (message, Some(e)),
                        _ => (message, None),
                    });
                }
            }
        }
    };

    if let Some(p) = &placeholder {
        let _ = p.record.propose(match &outcome {
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
        reporter::flush().await;
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
