//! Tasks: what `#[task]` generates code against.
//!
//! Calling a `#[task]` function does not run it: it returns a [`TaskCall`], which runs as a tracked task
//! run when awaited (`task(x).await`: now, in the caller, giving the value or a [`TaskRunError`]) or when
//! submitted (`task(x).submit()`: on the flow's task runner, giving a [`TaskFuture`] at once).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::body::{Body, Edges};
use super::context::FlowRunContext;
use super::engine;
use super::error::TaskRunError;
use super::future::{Completion, Producer, TaskFuture};
use super::lifecycle::create_task_run_as;
use super::results::{CacheInputs, Codec, Persistence};
use super::run_record::TaskRunMeta;
use super::runner;
use super::state::State;
use super::upstream::Upstream;
use crate::reporting::logging;
use crate::schemas::events::RunKind;
use crate::schemas::runs::{InputKind, TaskInput};

pub use super::retry::IntoRetryDelay;
pub use super::task_spec::{TaskHook, TaskSpec};

/// A call of a task, ready to run: `.await` it or `.submit()` it.
#[must_use = "a task call does nothing until it is awaited or submitted"]
pub struct TaskCall<T> {
    pub(crate) spec: &'static TaskSpec,
    pub(crate) edges: Edges,
    pub(crate) body: Body<T>,
    /// The run's name from `task_run_name`, when it renders.
    pub(crate) run_name: Option<String>,
    /// How its value is persisted (if it may be) and its parameters for a cache key.
    pub(crate) persistence: Persistence<T>,
    /// Whether the run was sent by `task::delay`: it starts `Scheduled`, waiting for a worker.
    pub(crate) delayed: bool,
}

impl<T: Send + 'static> TaskCall<T> {
    #[doc(hidden)]
    pub fn __new(spec: &'static TaskSpec, edges: Edges, body: Body<T>) -> TaskCall<T> {
        TaskCall {
            spec,
            edges,
            body,
            run_name: None,
            persistence: Persistence {
                codec: None,
                inputs: None,
                remote: None,
            },
            delayed: false,
        }
    }

    #[doc(hidden)]
    pub fn __codec(mut self, codec: Option<Codec<T>>) -> TaskCall<T> {
        self.persistence.codec = codec;
        self
    }

    #[doc(hidden)]
    pub fn __cache_inputs(mut self, inputs: CacheInputs) -> TaskCall<T> {
        self.persistence.inputs = Some(inputs);
        self
    }

    pub(crate) fn __delayed(mut self) -> TaskCall<T> {
        self.delayed = true;
        self
    }

    #[doc(hidden)]
    pub fn __named(mut self, run_name: Option<String>) -> TaskCall<T> {
        self.run_name = run_name;
        self
    }

    /// Makes this task run wait for `upstream` (one future, or an array or `Vec` of them) to finish
    /// first, without using its result: an ordering edge of the task graph. If an upstream run fails,
    /// this one does not run.
    pub fn wait_for(mut self, upstream: impl WaitFor) -> TaskCall<T> {
        upstream.add_to(&mut self.edges);
        self
    }

    /// Creates the task run: names it, records its edges, registers it with the current flow run.
    fn create(&self, ctx: Option<&Arc<FlowRunContext>>) -> Arc<TaskRunMeta> {
        create_task_run_as(
            ctx,
            self.spec.name,
            self.run_name.clone(),
            self.spec.tags,
            self.edges.inputs.clone(),
            if self.delayed {
                State::new(super::state::StateType::Scheduled)
                    .with_message("Waiting for a task worker")
            } else {
                State::pending()
            },
        )
    }

    /// Hands the task to the current flow run's task runner and returns its future at once.
    ///
    /// Under [`TaskRunner::Sequential`](crate::TaskRunner::Sequential) submitted tasks run one after another in submission order;
    /// under [`TaskRunner::Concurrent`](crate::TaskRunner::Concurrent) (and outside any flow) they run as soon as their inputs are
    /// ready. The flow run waits for every submitted task before it ends. Outside a flow this must be
    /// called inside a tokio runtime.
    pub fn submit(self) -> TaskFuture<T>
    where
        T: Sync,
    {
        let ctx = FlowRunContext::current();
        let meta = self.create(ctx.as_ref());
        let completion = Completion::new(meta);
        let is_sync = matches!(self.body, Body::Sync(_));
        let upstream = self.edges.upstream.clone();
        let producer = Producer::new(Arc::clone(&completion), ctx.clone());
        let TaskCall {
            spec,
            edges,
            body,
            persistence,
            ..
        } = self;
        let job = async move {
            let meta = Arc::clone(producer.meta());
            let outcome = engine::run_task(spec, edges, body, persistence, &meta).await;
            // Let go of the record first: a flow that reads its task runs right after waiting
            // for this one then moves it into its snapshot instead of copying it.
            drop(meta);
            producer.complete(outcome);
        };
        let job: BoxFuture<'static, ()> = match &ctx {
            Some(ctx) => Box::pin(FlowRunContext::scope(Arc::clone(ctx), job)),
            None => Box::pin(job),
        };
        // A task submitted from inside a running task (nested) must not queue behind its parent on the
        // sequential worker: it runs on its own.
        let nested = logging::current_run_kind() == Some(RunKind::Task);
        runner::dispatch(ctx.as_ref(), is_sync, nested, upstream, job);
        TaskFuture { completion }
    }
}

/// Awaiting a task call runs it now, in the caller, as a tracked task run with its retries, and gives
/// its value or its error. An error received this way counts as observed.
impl<T: Send + 'static> IntoFuture for TaskCall<T> {
    type Output = Result<T, TaskRunError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let ctx = FlowRunContext::current();
            let meta = self.create(ctx.as_ref());
            let mut guard = CancelOnDrop(Some(Arc::clone(&meta)));
            let TaskCall {
                spec,
                edges,
                body,
                persistence,
                ..
            } = self;
            let outcome = engine::run_task(spec, edges, body, persistence, &meta).await;
            guard.0 = None;
            if outcome.is_err() {
                meta.record.mark_observed();
            }
            outcome
        })
    }
}

/// Marks a plain call's task run `Cancelled` when the caller stops awaiting it midway (`select!`,
/// `timeout`): the caller chose not to see it, so it does not count as an unobserved failure.
struct CancelOnDrop(Option<Arc<TaskRunMeta>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(meta) = self.0.take() {
            // Refused by the policy when the run had already finished.
            let _ = meta.record.propose(State::cancelled(
                "the caller stopped waiting for this task run",
            ));
            meta.record.mark_observed();
        }
    }
}

/// Futures a task can wait for without using their results: see [`TaskCall::wait_for`].
pub trait WaitFor {
    /// Adds the ordering edges.
    #[doc(hidden)]
    fn add_to(self, edges: &mut Edges);
}

impl<T: Send + Sync + 'static> WaitFor for &TaskFuture<T> {
    fn add_to(self, edges: &mut Edges) {
        let upstream: Arc<dyn Upstream> = self.completion.clone();
        let record = upstream.record();
        edges.inputs.push(TaskInput {
            parameter: "wait_for".to_string(),
            upstream_id: record.id(),
            upstream_name: record.name().to_string(),
            kind: InputKind::WaitFor,
        });
        edges.upstream.push(upstream);
    }
}

impl<T: Send + Sync + 'static> WaitFor for TaskFuture<T> {
    fn add_to(self, edges: &mut Edges) {
        (&self).add_to(edges)
    }
}

impl<W: WaitFor, const N: usize> WaitFor for [W; N] {
    fn add_to(self, edges: &mut Edges) {
        self.into_iter().for_each(|w| w.add_to(edges))
    }
}

impl<W: WaitFor> WaitFor for Vec<W> {
    fn add_to(self, edges: &mut Edges) {
        self.into_iter().for_each(|w| w.add_to(edges))
    }
}
