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

use std::time::Duration;

use super::body::{Body, Edges, FlowBody, SyncCall};
use super::cancel;
use super::context::FlowRunContext;
use super::error::{FlowRunError, ParameterError, TaskRunError, TaskRunFailure, TimedOut};
use super::flow::{FlowRunIdentity, FlowSpec, FlowState};
use super::lifecycle::{
    catch, create_task_run, failure_message, init_reporting, panic_message, run_scope,
    AttemptFailure, Attempts,
};
use super::results::{Codec, Persistence, Plan};
use super::run_record::{FlowRunMeta, RunRecord, TaskRunMeta};
use super::runner;
use super::slots;
use super::state::State;
use super::task_spec::TaskSpec;
use crate::reporting::logging::{self, InRun, RunScope, TARGET};
use crate::reporting::reporter;
use crate::schemas::events::{Event, RunKind};
use crate::schemas::runs::{FlowRun, TaskRun};

/// Runs one task run to its final state, under its task's settings (retries, timeout, hooks).
///
/// A sync body runs in the thread that polls this future: the caller's for a plain call, a worker
/// thread of the Concurrent runner for a submitted task. A sync body with a timeout runs on a thread
/// of its own.
pub(crate) async fn run_task<T: Send + 'static>(
    spec: &'static TaskSpec,
    edges: Edges,
    body: Body<T>,
    persistence: Persistence<T>,
    meta: &Arc<TaskRunMeta>,
) -> Result<T, TaskRunError> {
    let record = &meta.record;
    let error = |failure| TaskRunError {
        task_run_name: Arc::clone(record.name_arc()),
        task_run_id: record.id(),
        failure,
        root: None,
    };

    for upstream in &edges.upstream {
        upstream.wait().await;
        if !upstream.succeeded() {
            let up = upstream.record();
            let _ = record.propose(State::upstream_failed(format!(
                "Upstream task run '{}' did not reach a 'Completed' state; this task run did not run",
                up.name()
            )));
            let mut failed = error(TaskRunFailure::UpstreamFailed {
                upstream_name: up.name().to_string(),
                upstream_id: up.id(),
            });
            failed.root = upstream.error().map(|e| Arc::from(e.root_cause()));
            return Err(failed);
        }
    }
    drop(edges);
    // A task queued in a flow run that has since been stopped (its timeout, a cancellation) does
    // not start.
    let flow_ctx = FlowRunContext::current();
    if let Some(reason) = flow_ctx.as_ref().and_then(|ctx| ctx.stopped()) {
        let _ = record.propose(State::cancelled(reason.clone()));
        return Err(error(TaskRunFailure::Cancelled(reason)));
    }
    let cancel = flow_ctx.as_ref().and_then(|ctx| ctx.cancel.clone());
    if cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
        let reason = "The flow run was cancelled".to_string();
        let _ = record.propose(State::cancelled(reason.clone()));
        return Err(error(TaskRunFailure::Cancelled(reason)));
    }
    let (span, scope) = run_scope(meta.clone(), record, meta.flow_run_id());
    let codec = persistence.codec;

    // A persisted result for this run's cache key: the run ends `Cached`, its body not run. Runs
    // that may compute one key at once take its lock, then look again.
    let plan = Plan::make(spec, persistence, meta, flow_ctx.as_deref(), &scope);
    let mut key_lock = None;
    if let Some(plan) = &plan {
        match plan.cached_or_lock(meta, &scope).await {
            Ok(value) => {
                if !spec.on_completion.is_empty() {
                    run_hooks(spec.on_completion, &meta.snapshot(), &scope);
                }
                return Ok(value);
            }
            Err(lock) => key_lock = lock,
        }
    }
    drop(flow_ctx);

    // A run sent to the task workers: a worker runs it (its tag limits, retries and hooks there).
    let body = match body {
        Body::Remote(args) => {
            let outcome =
                super::remote::run_remote(spec, args, plan.as_ref(), codec, meta, cancel).await;
            drop(key_lock);
            return outcome.map_err(error);
        }
        body => body,
    };

    // A task run with tags first takes a slot of every limited tag it has.
    let slots = if meta.tags().is_empty() {
        None
    } else {
        slots::wait_for_slots(meta).await
    };
    let mut attempts = Attempts::new(record, spec.retry_policy()).log_errors_in(&scope);
    let mut body = body;
    let outcome = loop {
        attempts.start();
        let result = match &mut body {
            Body::Sync(f) => span.in_scope(|| logging::in_run(&scope, || catch(f))),
            Body::Remote(_) => Err(AttemptFailure::Panic(
                "a remote call cannot run here".to_string(),
            )),
            Body::SyncTimed(prepare) => {
                let timeout = spec.timeout.unwrap_or(Duration::MAX);
                sync_with_timeout(prepare, timeout, &scope, &span).await
            }
            Body::Async(f) => {
                // Building the body's future takes (or clones) its arguments: user code, so caught too.
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    logging::in_run(&scope, || span.in_scope(f))
                }));
                match started {
                    Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                    Ok(fut) => {
                        let run = AssertUnwindSafe(InRun::new(
                            scope.clone(),
                            fut.instrument(span.clone()),
                        ))
                        .catch_unwind()
                        .map(|caught| match caught {
                            Ok(Ok(v)) => Ok(v),
                            Ok(Err(e)) => Err(AttemptFailure::Error(e)),
                            Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                        });
                        let timed = async {
                            match spec.timeout {
                                None => run.await,
                                // At the deadline the body's future is dropped.
                                Some(timeout) => tokio::time::timeout(timeout, run)
                                    .await
                                    .unwrap_or(Err(AttemptFailure::TimedOut(timeout))),
                            }
                        };
                        match &cancel {
                            None => timed.await,
                            // A cancelled flow run drops its async task bodies at their next await.
                            Some(token) => tokio::select! {
                                biased;
                                _ = token.cancelled() => Err(AttemptFailure::Cancelled(
                                    "The flow run was cancelled".into(),
                                )),
                                result = timed => result,
                            },
                        }
                    }
                }
            }
        };
        // A value is persisted before the run is `Completed`; a value that cannot be is a failed
        // attempt.
        let result = match &plan {
            Some(plan) => plan.kept(result, |p, v| p.save(v, meta), AttemptFailure::Error),
            None => result,
        };
        if let Some(outcome) = attempts.finish(result).await {
            break outcome;
        }
    };
    drop(key_lock);
    if let Some(slots) = slots {
        slots.release().await;
    }
    let hooks = match &outcome {
        Ok(_) => spec.on_completion,
        Err(_) => spec.on_failure,
    };
    if !hooks.is_empty() {
        let run = meta.snapshot();
        run_hooks(hooks, &run, &scope);
    }
    super::task_params::forget_parameters(meta);
    outcome.map_err(|(_, failure)| {
        error(match failure {
            AttemptFailure::Error(e) => TaskRunFailure::Error(Arc::new(e)),
            AttemptFailure::TimedOut(timeout) => TaskRunFailure::TimedOut(TimedOut {
                kind: RunKind::Task,
                timeout,
            }),
            AttemptFailure::Cancelled(m) => TaskRunFailure::Cancelled(m),
            AttemptFailure::Panic(m) | AttemptFailure::FailedTasks(m) => TaskRunFailure::Panic(m),
        })
    })
}

/// One attempt of a sync body with a timeout: its arguments are taken here, the call runs on a
/// thread of its own, and at the deadline the attempt ends `TimedOut` — the thread cannot be
/// interrupted, so it is left to finish; its late result is discarded with a warning.
async fn sync_with_timeout<T: Send + 'static>(
    prepare: &mut SyncCall<T>,
    timeout: Duration,
    scope: &RunScope,
    span: &tracing::Span,
) -> Result<T, AttemptFailure> {
    let call = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        logging::in_run(scope, &mut *prepare)
    })) {
        Ok(call) => call,
        Err(payload) => return Err(AttemptFailure::Panic(panic_message(payload))),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (scope, span) = (scope.clone(), span.clone());
    let thread = std::thread::Builder::new()
        .name("flowcore-timed-task".into())
        .spawn(move || {
            let result = span.in_scope(|| logging::in_run(&scope, || catch(call)));
            if tx.send(result).is_err() {
                logging::in_run(&scope, || {
                    tracing::warn!(
                        target: TARGET,
                        "Task run '{}' finished after its timeout of {} second(s); its result is discarded",
                        scope.run.name,
                        timeout.as_secs_f64()
                    )
                });
            }
        });
    if let Err(e) = thread {
        return Err(AttemptFailure::Panic(format!(
            "cannot start a thread for the task: {e}"
        )));
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(AttemptFailure::Panic(
            "the task's thread ended without a result".into(),
        )),
        Err(_) => Err(AttemptFailure::TimedOut(timeout)),
    }
}

/// Calls a run's state hooks in order, each once; a hook's panic is logged at ERROR with the run's
/// logs and changes nothing.
fn run_hooks<R>(hooks: &[fn(&R, &State)], run: &R, scope: &RunScope)
where
    R: HasFinalState,
{
    let Some(state) = run.final_state() else {
        return;
    };
    for (i, hook) in hooks.iter().enumerate() {
        let called = std::panic::catch_unwind(AssertUnwindSafe(|| {
            logging::in_run(scope, || hook(run, state))
        }));
        if let Err(payload) = called {
            let message = panic_message(payload);
            logging::in_run(scope, || {
                tracing::error!(
                    target: TARGET,
                    "State hook {} of {} for state {} panicked: {message}",
                    i + 1,
                    hooks.len(),
                    state.name
                )
            });
        }
    }
}

/// A run snapshot's final state.
trait HasFinalState {
    fn final_state(&self) -> Option<&State>;
}

impl HasFinalState for TaskRun {
    fn final_state(&self) -> Option<&State> {
        self.history.last()
    }
}

impl HasFinalState for FlowRun {
    fn final_state(&self) -> Option<&State> {
        self.history.last()
    }
}

/// Runs one flow run to its final state. `body` is `Err` when the parameters were invalid: the run is
/// then recorded as `Failed` without running. `identity` is the id and name the run takes (a
/// deployment's run the server created); a new run gets fresh ones.
pub(crate) async fn run_flow<T: Send + 'static>(
    spec: &'static FlowSpec,
    identity: Option<FlowRunIdentity>,
    name: Option<String>,
    parameters: serde_json::Value,
    body: Result<FlowBody<T>, ParameterError>,
    codec: Option<Codec<T>>,
) -> FlowState<T> {
    init_reporting();
    let parent = FlowRunContext::current();
    let record = match identity {
        Some(FlowRunIdentity { id, name, .. }) => RunRecord::with_id(RunKind::Flow, id, name, None),
        None => RunRecord::new(
            RunKind::Flow,
            name.unwrap_or_else(super::names::flow_run_name),
            None,
        ),
    };

    // A subflow stands as a task run in its parent's graph.
    let placeholder = parent.as_ref().map(|parent| {
        let meta = create_task_run(Some(parent), spec.name, None, spec.tags, Vec::new());
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

    // Cancellation: a subflow stops with its parent; a top-level run observes the caller's token
    // (`with_cancellation`) and, reporting to a server, the server's answer.
    let cancel = match &parent {
        Some(parent) => parent.cancel.as_ref().map(|t| t.child_token()),
        None => cancel::for_top_level(),
    };
    let (_watching, watch_done) = tokio::sync::oneshot::channel::<()>();
    if let (None, Some(token)) = (&parent, &cancel) {
        cancel::watch_server(record.id(), token.clone(), watch_done);
    }
    let ctx = FlowRunContext::new(
        Arc::clone(&meta),
        spec.runner,
        runner::override_in_force(parent.as_deref()),
        cancel.clone(),
        spec.persist_result
            .or_else(|| parent.as_ref().and_then(|p| p.persist_results)),
        match (&parent, &placeholder) {
            (Some(parent), Some(p)) => format!("{}/{}", parent.resume_scope, p.record.name()),
            _ => record.id().to_string(),
        },
    );
    let mut cached_from: Option<uuid::Uuid> = None;
    let outcome: Result<T, (String, Option<anyhow::Error>)> = match body {
        Err(e) => {
            let message = format!("Validation of flow parameters failed: {e}");
            let _ = record.propose(State::failed(message.clone()));
            Err((message, Some(anyhow::Error::new(e))))
        }
        Ok(mut body) => {
            let (span, scope) = run_scope(meta.clone(), record, Some(record.id()));
            // A subflow whose flow persists its result, under a resumed parent that finds it
            // stored: the subflow run ends `Cached` without running.
            let plan = match (&parent, &placeholder) {
                (Some(parent), Some(p)) if spec.persist_result == Some(true) => {
                    Plan::for_subflow(spec.name, codec, parent, p.record.name())
                }
                _ => None,
            };
            let hit = plan.as_ref().and_then(|p| p.reuse_in(record, &scope));
            let mut attempts = Attempts::new(record, spec.retry_policy());
            let outcome = if let Some((value, from)) = hit {
                cached_from = Some(from);
                Ok(value)
            } else {
                loop {
                    attempts.start();
                    let first_task = ctx.task_run_count();
                    let attempt = async {
                        let fut = AssertUnwindSafe(InRun::new(
                            scope.clone(),
                            body().instrument(span.clone()),
                        ))
                        .catch_unwind();
                        let result = FlowRunContext::scope(Arc::clone(&ctx), fut).await;
                        ctx.wait_for_submitted().await;
                        match result {
                            Ok(Ok(value)) => match unobserved_failures(&ctx, first_task) {
                                None => Ok(value),
                                Some(message) => Err(AttemptFailure::FailedTasks(message)),
                            },
                            Ok(Err(e)) => Err(AttemptFailure::Error(e)),
                            Err(payload) => Err(AttemptFailure::Panic(panic_message(payload))),
                        }
                    };
                    let timed = async {
                        match spec.timeout {
                            None => attempt.await,
                            Some(timeout) => match tokio::time::timeout(timeout, attempt).await {
                                Ok(result) => result,
                                Err(_) => {
                                    // The body was dropped at the deadline; its tasks stop with it.
                                    let failure = AttemptFailure::TimedOut(timeout);
                                    ctx.stop(failure_message(RunKind::Flow, &failure));
                                    Err(failure)
                                }
                            },
                        }
                    };
                    let result = match &cancel {
                        None => timed.await,
                        Some(token) => tokio::select! {
                            biased;
                            _ = token.cancelled() => {
                                // The body is dropped; its tasks stop with it.
                                let reason = "The flow run was cancelled".to_string();
                                ctx.stop(reason.clone());
                                Err(AttemptFailure::Cancelled(reason))
                            }
                            result = timed => result,
                        },
                    };
                    let result = match (result, &plan) {
                        (Ok(value), Some(plan)) => {
                            match plan.save_as(&value, spec.name, record, Some(record.id())) {
                                Ok(()) => Ok(value),
                                Err(e) => Err(AttemptFailure::Error(anyhow::anyhow!(
                                    "cannot persist the result: {e}"
                                ))),
                            }
                        }
                        (result, _) => result,
                    };
                    // The body's error stopped the flow: its task runs that never ran because of
                    // it are counted after the root failure, not chained into the message.
                    attempts.aftermath = match &result {
                        Err(AttemptFailure::Error(_)) => never_ran(&ctx, first_task),
                        _ => None,
                    };
                    if let Some(outcome) = attempts.finish(result).await {
                        break outcome.map_err(|(message, failure)| match failure {
                            AttemptFailure::Error(e) => (message, Some(e)),
                            _ => (message, None),
                        });
                    }
                }
            };
            let run = meta.snapshot();
            if let Some(state) = run.history.last() {
                let hooks = spec.hooks_for(state);
                if !hooks.is_empty() {
                    run_hooks(hooks, &run, &scope);
                }
            }
            outcome
        }
    };

    if let Some(p) = &placeholder {
        let _ = p.record.propose(match &outcome {
            Ok(_) if cached_from.is_some() => State::cached(format!(
                "Cached: subflow run '{}' reused the result of its earlier attempt",
                record.name()
            )),
            Ok(_) => State::completed(),
            Err((message, _)) => {
                State::failed(format!("Subflow run '{}' failed: {message}", record.name()))
            }
        });
    }
    // The run's final record, taken while the sinks write what is left. Its task runs stay
    // records until someone reads them (see `TaskRuns`); a subflow's are read at once, for its
    // parent.
    let flow_run = meta.snapshot();
    let task_runs = ctx.take_task_runs();
    let subflow_task_runs = ctx.subflow_task_runs();
    if parent.is_none() {
        reporter::flush().await;
    }
    if let Some(parent) = &parent {
        parent.add_subflow_task_runs(
            task_runs
                .get()
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

/// `Some("3 task runs did not run: an upstream task run failed")` for this attempt's task runs
/// that ended `UpstreamFailed`.
fn never_ran(ctx: &FlowRunContext, first_task: usize) -> Option<String> {
    let n = ctx.fold_task_runs_since(first_task, 0, |n, record| {
        n + usize::from(
            record.ended_unsuccessfully()
                && record
                    .state()
                    .is_some_and(|s| s.has_name(crate::runtime::state::StateName::UpstreamFailed)),
        )
    });
    match n {
        0 => None,
        1 => Some("1 task run did not run: an upstream task run failed".to_string()),
        n => Some(format!(
            "{n} task runs did not run: an upstream task run failed"
        )),
    }
}

/// `Some("2/7 task runs failed")` when a task run of this attempt failed and nobody observed it.
fn unobserved_failures(ctx: &FlowRunContext, first_task: usize) -> Option<String> {
    // (failed, failed and unobserved, all) in one pass.
    let (failed, unobserved, n) =
        ctx.fold_task_runs_since(first_task, (0, 0, 0), |(f, u, n), record| {
            let failed = record.ended_unsuccessfully();
            (
                f + usize::from(failed),
                u + usize::from(failed && !record.is_observed()),
                n + 1,
            )
        });
    (unobserved > 0).then(|| format!("{failed}/{n} task runs failed"))
}
