//! The flow run context: what a task call inside a flow needs to know about the flow run it belongs to.
//!
//! A flow run sets its context as a tokio task-local around its body and around every task it submits,
//! so a task call finds its flow run (to name itself, register with it, and use its task runner) without
//! any argument passing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;

use super::task_runner::TaskRunner;
use super::task_runs::TaskRuns;
use crate::runtime::run_record::{FlowRunMeta, RunRecord, TaskRunMeta};

tokio::task_local! {
    static FLOW_RUN: Arc<FlowRunContext>;
}

pub(crate) struct FlowRunContext {
    pub(crate) meta: Arc<FlowRunMeta>,
    pub(crate) runner: TaskRunner,
    /// The runner override in force for this run and its subflows.
    pub(crate) runner_override: Option<TaskRunner>,
    inner: Mutex<Inner>,
    /// Its submitted task runs that have not finished yet (tasks submitted by tasks included),
    /// and the signal that the count reached zero.
    unfinished: AtomicUsize,
    all_finished: tokio::sync::Notify,
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
    /// Its task runs' records, in creation order: what its [`FlowState`](crate::FlowState) keeps
    /// (see [`TaskRuns`](super::task_runs::TaskRuns)).
    task_runs: Vec<Arc<TaskRunMeta>>,
    subflow_task_runs: Vec<crate::schemas::runs::TaskRun>,
    counters: HashMap<&'static str, u32>,
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
            unfinished: AtomicUsize::new(0),
            all_finished: tokio::sync::Notify::new(),
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

    /// Counts a submitted task run the flow run waits for (until
    /// [`submitted_finished`](Self::submitted_finished)). Only a count: a million submitted runs
    /// cost the flow run nothing more to wait for.
    pub(crate) fn register_submitted(&self) {
        self.unfinished.fetch_add(1, Ordering::SeqCst);
    }

    /// A submitted task run has finished (or its job was dropped).
    pub(crate) fn submitted_finished(&self) {
        if self.unfinished.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_finished.notify_waiters();
        }
    }

    /// Folds `f` over the records of the task runs from the `first`-th on.
    pub(crate) fn fold_task_runs_since<R>(
        &self,
        first: usize,
        init: R,
        mut f: impl FnMut(R, &RunRecord) -> R,
    ) -> R {
        let inner = self.inner();
        inner.task_runs[first.min(inner.task_runs.len())..]
            .iter()
            .fold(init, |acc, meta| f(acc, &meta.record))
    }

    /// Takes the task runs' records out of a finished flow run, as its final record.
    pub(crate) fn take_task_runs(&self) -> TaskRuns {
        TaskRuns::new(std::mem::take(&mut self.inner().task_runs))
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
            let live: Vec<Arc<TaskRunMeta>> = inner
                .task_runs
                .iter()
                .filter(|meta| !meta.record.is_final())
                .cloned()
                .collect();
            (live, inner.sequential.take())
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
        loop {
            // Heard from its creation on: a count reaching zero after the check below wakes it.
            let finished = self.all_finished.notified();
            if self.unfinished.load(Ordering::SeqCst) == 0 {
                break;
            }
            finished.await;
        }
        self.inner().sequential = None;
    }
}
