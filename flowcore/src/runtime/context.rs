//! The flow run context: what a task call inside a flow needs to know about the flow run it belongs to.
//!
//! A flow run sets its context as a tokio task-local around its body and around every task it submits,
//! so a task call finds its flow run (to name itself, register with it, and use its task runner) without
//! any argument passing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures_util::future::BoxFuture;

use super::task_runner::TaskRunner;
use crate::runtime::future::Upstream;
use crate::runtime::run_record::{FlowRunMeta, TaskRunMeta};

tokio::task_local! {
    static FLOW_RUN: Arc<FlowRunContext>;
}

pub(crate) struct FlowRunContext {
    pub(crate) meta: Arc<FlowRunMeta>,
    pub(crate) runner: TaskRunner,
    /// The runner override in force for this run and its subflows.
    pub(crate) runner_override: Option<TaskRunner>,
    inner: Mutex<Inner>,
    /// Set when the flow run was stopped (its timeout, a cancellation): its queued tasks do not
    /// start.
    stopped: std::sync::OnceLock<String>,
    /// Cancelled when the flow run is (see [`cancel`](crate::runtime::cancel)).
    pub(crate) cancel: Option<tokio_util::sync::CancellationToken>,
    /// Whether its task runs persist their results by default (its flow's `persist_result`, else
    /// its parent's).
    pub(crate) persist_results: Option<bool>,
    /// Where its runs sit for a resumed attempt to find their results: the top-level flow run's id,
    /// then each subflow's place in its parent (`<id>/processing-0`).
    pub(crate) resume_scope: String,
}

#[derive(Default)]
struct Inner {
    task_runs: Vec<Arc<TaskRunMeta>>,
    subflow_task_runs: Vec<crate::schemas::runs::TaskRun>,
    counters: HashMap<&'static str, u32>,
    submitted: Vec<Weak<dyn Upstream>>,
    sequential: Option<tokio::sync::mpsc::UnboundedSender<BoxFuture<'static, ()>>>,
}

impl FlowRunContext {
    pub(crate) fn new(
        meta: Arc<FlowRunMeta>,
        declared: TaskRunner,
        runner_override: Option<TaskRunner>,
        cancel: Option<tokio_util::sync::CancellationToken>,
        persist_results: Option<bool>,
        resume_scope: String,
    ) -> Arc<FlowRunContext> {
        let runner = runner_override.unwrap_or(declared);
        if runner == TaskRunner::Distributed {
            super::task_runner::note_distributed();
        }
        Arc::new(FlowRunContext {
            meta,
            runner,
            runner_override,
            inner: Mutex::default(),
            stopped: std::sync::OnceLock::new(),
            cancel,
            persist_results,
            resume_scope,
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current flow run's context, if the caller runs inside one.
    pub(crate) fn current() -> Option<Arc<FlowRunContext>> {
        FLOW_RUN.try_with(Arc::clone).ok()
    }

    /// Runs `fut` with `ctx` as the current flow run.
    pub(crate) async fn scope<F: std::future::Future>(
        ctx: Arc<FlowRunContext>,
        fut: F,
    ) -> F::Output {
        FLOW_RUN.scope(ctx, fut).await
    }

    /// The next run name for a task: `load_data-0`, `load_data-1`, …
    pub(crate) fn next_task_run_name(&self, task_name: &'static str) -> String {
        let n = {
            let mut inner = self.inner();
            let counter = inner.counters.entry(task_name).or_insert(0);
            let n = *counter;
            *counter += 1;
            n
        };
        let mut name = String::with_capacity(task_name.len() + 6);
        name.push_str(task_name);
        name.push('-');
        let _ = std::fmt::Write::write_fmt(&mut name, format_args!("{n}"));
        name
    }

    pub(crate) fn register_task_run(&self, meta: Arc<TaskRunMeta>) {
        self.inner().task_runs.push(meta);
    }

    /// Registers a submitted task so the flow run waits for it. Held weakly: a run whose result nobody
    /// holds any more has finished, and its value can move to its last consumer without a clone.
    pub(crate) fn register_submitted(&self, upstream: Weak<dyn Upstream>) {
        self.inner().submitted.push(upstream);
    }

    pub(crate) fn task_runs(&self) -> Vec<Arc<TaskRunMeta>> {
        self.inner().task_runs.clone()
    }

    /// Takes the task runs out of a finished flow run (its final record is being gathered).
    pub(crate) fn take_task_runs(&self) -> Vec<Arc<TaskRunMeta>> {
        std::mem::take(&mut self.inner().task_runs)
    }

    /// Records the task runs of a finished subflow (and of its own subflows).
    pub(crate) fn add_subflow_task_runs(
        &self,
        runs: impl IntoIterator<Item = crate::schemas::runs::TaskRun>,
    ) {
        self.inner().subflow_task_runs.extend(runs);
    }

    pub(crate) fn subflow_task_runs(&self) -> Vec<crate::schemas::runs::TaskRun> {
        self.inner().subflow_task_runs.clone()
    }

    pub(crate) fn task_run_count(&self) -> usize {
        self.inner().task_runs.len()
    }

    /// Stops the flow run's tasks (its body was dropped at its timeout): every task run not yet
    /// final becomes `Cancelled` with `reason`, and a queued one does not start. A task body
    /// already running on a thread cannot be interrupted; what it reports later is refused by the
    /// policy (the run is final).
    pub(crate) fn stop(&self, reason: String) {
        let message = format!("The flow run was stopped: {reason}");
        if self.stopped.set(message.clone()).is_err() {
            return;
        }
        let (runs, sequential) = {
            let mut inner = self.inner();
            (inner.task_runs.clone(), inner.sequential.take())
        };
        drop(sequential);
        for run in runs {
            if run.record.state().is_none_or(|s| !s.is_final()) {
                let _ = run
                    .record
                    .propose(crate::runtime::state::State::cancelled(message.clone()));
                run.record.mark_observed();
            }
        }
    }

    /// Why the flow run was stopped, if it was.
    pub(crate) fn stopped(&self) -> Option<String> {
        self.stopped.get().cloned()
    }

    /// Queues a job on this flow run's sequential worker, starting the worker on first use.
    pub(crate) fn enqueue_sequential(&self, job: BoxFuture<'static, ()>) {
        let mut inner = self.inner();
        let tx = inner.sequential.get_or_insert_with(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    job.await;
                }
            });
            tx
        });
        if let Err(returned) = tx.send(job) {
            // The worker only stops when the sender is dropped; run the job on its own instead.
            tokio::spawn(returned.0);
        }
    }

    /// Waits until every task submitted in this flow run has finished, including tasks submitted by
    /// tasks while waiting. Then stops the sequential worker.
    pub(crate) async fn wait_for_submitted(&self) {
        let mut seen = 0;
        loop {
            let batch: Vec<Weak<dyn Upstream>> = {
                let inner = self.inner();
                if seen == inner.submitted.len() {
                    break;
                }
                inner.submitted[seen..].to_vec()
            };
            seen += batch.len();
            for upstream in batch {
                // A run that cannot be upgraded any more has completed and been consumed.
                if let Some(upstream) = upstream.upgrade() {
                    upstream.wait().await;
                }
            }
        }
        let mut inner = self.inner();
        inner.sequential = None;
        // Every one has finished: their handles' memory goes now, not with the flow run.
        inner.submitted = Vec::new();
    }
}
