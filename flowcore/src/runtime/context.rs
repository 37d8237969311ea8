//! The flow run context: what a task call inside a flow needs to know about the flow run it belongs to.
//!
//! A flow run sets its context as a tokio task-local around its body and around every task it submits,
//! so a task call finds its flow run (to name itself, register with it, and use its task runner) without
//! any argument passing.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures_util::future::BoxFuture;

use super::task_runner::TaskRunner;
use crate::runtime::run_record::{FlowRunMeta, TaskRunMeta};
use crate::runtime::state::State;
use crate::runtime::upstream::Upstream;
use crate::schemas::runs::TaskRun;

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

/// One of a flow run's task runs: its live record while it may still change, its final snapshot
/// once it completed — a flow of a million task runs holds each finished one as one compact
/// record, which becomes its [`FlowState`](crate::FlowState)'s entry in place.
enum Slot {
    Live(Arc<TaskRunMeta>),
    Done(TaskRun),
}

impl Slot {
    /// Its current state and whether its outcome was observed (a completed run's always counts
    /// as observed: nothing about it is left to report).
    fn look<R>(&self, f: impl FnOnce(Option<&State>, bool) -> R) -> R {
        match self {
            Slot::Live(meta) => f(meta.record.state().as_ref(), meta.record.is_observed()),
            Slot::Done(run) => f(Some(run.state()), true),
        }
    }

    fn into_task_run(self) -> TaskRun {
        match self {
            Slot::Live(meta) => meta.into_snapshot(),
            Slot::Done(run) => run,
        }
    }
}

#[derive(Default)]
struct Inner {
    task_runs: Vec<Slot>,
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
        let mut inner = self.inner();
        meta.slot.store(inner.task_runs.len(), Ordering::Relaxed);
        inner.task_runs.push(Slot::Live(meta));
    }

    /// Nothing will hold a task run of this flow run for long any more (a plain call returned; a
    /// submitted run's last future went): once `Completed` (final, observed or not alike) its
    /// live record is replaced by its snapshot, which is what the flow's state will hold. A run
    /// whose future outlives the flow body is snapshotted when the flow run ends, as before.
    pub(crate) fn task_run_released(&self, meta: &Arc<TaskRunMeta>) {
        if !meta.record.state().is_some_and(|s| s.is_completed()) {
            return;
        }
        let i = meta.slot.load(Ordering::Relaxed);
        let snapshot = meta.snapshot();
        let mut inner = self.inner();
        if let Some(slot) = inner.task_runs.get_mut(i) {
            if matches!(slot, Slot::Live(m) if Arc::ptr_eq(m, meta)) {
                *slot = Slot::Done(snapshot);
            }
        }
    }

    /// Registers a submitted task so the flow run waits for it. Held weakly: a run whose result nobody
    /// holds any more has finished, and its value can move to its last consumer without a clone.
    pub(crate) fn register_submitted(&self, upstream: Weak<dyn Upstream>) {
        self.inner().submitted.push(upstream);
    }

    /// Folds `f` over the task runs from the `first`-th on, given each one's state and whether its
    /// outcome was observed.
    pub(crate) fn fold_task_runs_since<R>(
        &self,
        first: usize,
        init: R,
        mut f: impl FnMut(R, Option<&State>, bool) -> R,
    ) -> R {
        let inner = self.inner();
        inner.task_runs[first.min(inner.task_runs.len())..]
            .iter()
            .fold(init, |acc, slot| {
                slot.look(|state, observed| f(acc, state, observed))
            })
    }

    /// Takes the task runs out of a finished flow run, as its final record (in place: the
    /// finished ones already are).
    pub(crate) fn take_task_runs(&self) -> Vec<TaskRun> {
        let slots = std::mem::take(&mut self.inner().task_runs);
        slots.into_iter().map(Slot::into_task_run).collect()
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
                .filter_map(|slot| match slot {
                    Slot::Live(meta) => Some(Arc::clone(meta)),
                    Slot::Done(_) => None,
                })
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
