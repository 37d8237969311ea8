//! Task futures: the handle `.submit()` returns.
//!
//! A [`TaskFuture<T>`] stands for the result of a task run that the flow's task runner executes. It is
//! cheap to clone; every clone sees the same result. Passing one (or a reference to one) as a task
//! argument makes an edge of the task graph: the runtime waits for it before the downstream task starts.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
use uuid::Uuid;

use super::context::FlowRunContext;
use super::error::TaskRunError;
use super::run_record::{RunRecord, TaskRunMeta};
use super::state::State;
use super::upstream::Upstream;
use crate::schemas::runs::TaskRun;

/// The shared completion cell behind a [`TaskFuture`].
///
/// The outcome (success, or the error) is set once and readable by everyone; the value itself sits
/// beside it so that the last holder can take it: a future passed by value to its only consumer hands
/// the value over without a clone.
pub(crate) struct Completion<T> {
    pub(crate) meta: Arc<TaskRunMeta>,
    /// Set once: `None` for a run that completed, its error (boxed: most runs succeed, and a
    /// flow keeps a million of these cells) otherwise.
    outcome: OnceLock<Option<Box<TaskRunError>>>,
    value: Mutex<Option<Arc<T>>>,
    /// Made by the first waiter that finds the run unfinished: most runs finish before anyone
    /// waits, and need none.
    notify: OnceLock<Arc<Notify>>,
}

impl<T> Drop for Completion<T> {
    /// The last handle on the run went: its flow run may keep its compact snapshot instead.
    fn drop(&mut self) {
        if let Some(ctx) = FlowRunContext::current() {
            ctx.task_run_released(&self.meta);
        }
    }
}

impl<T> Completion<T> {
    pub(crate) fn new(meta: Arc<TaskRunMeta>) -> Arc<Completion<T>> {
        meta.has_future
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Arc::new(Completion {
            meta,
            outcome: OnceLock::new(),
            value: Mutex::new(None),
            notify: OnceLock::new(),
        })
    }

    /// Sets the outcome and wakes the waiters. Takes the producer's handle and lets go of it before
    /// waking anyone, so that a consumer holding the last handle can take the value without a clone.
    pub(crate) fn complete(this: Arc<Completion<T>>, outcome: Result<T, TaskRunError>) {
        let failure = match outcome {
            Ok(value) => {
                *this.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(value));
                None
            }
            Err(e) => Some(Box::new(e)),
        };
        let _ = this.outcome.set(failure);
        // Pairs with the fence in `wait`: either this sees the waiter's `Notify`, or the waiter
        // sees the outcome just set.
        fence(Ordering::SeqCst);
        let notify = this.notify.get().cloned();
        drop(this);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    pub(crate) async fn wait(&self) -> Result<(), &TaskRunError> {
        loop {
            if let Some(outcome) = self.get() {
                return outcome;
            }
            let notify = self.notify.get_or_init(|| Arc::new(Notify::new()));
            // A `Notified` hears every `notify_waiters` from its creation on, polled or not.
            let notified = notify.notified();
            fence(Ordering::SeqCst);
            if let Some(outcome) = self.get() {
                return outcome;
            }
            notified.await;
        }
    }

    /// The outcome, once the run has finished.
    pub(crate) fn get(&self) -> Option<Result<(), &TaskRunError>> {
        self.outcome.get().map(|failure| match failure {
            None => Ok(()),
            Some(error) => Err(&**error),
        })
    }

    /// The value of a completed run, shared.
    pub(crate) fn shared(&self) -> Option<Arc<T>> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The value of a completed run: moved out when `this` is the last handle on the cell, else cloned.
    pub(crate) fn take_or_clone(this: &Arc<Completion<T>>, clone: fn(&T) -> T) -> Option<T> {
        let mut slot = this.value.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(this) == 1 {
            let value = slot.take()?;
            return Some(Arc::try_unwrap(value).unwrap_or_else(|shared| clone(&shared)));
        }
        slot.as_deref().map(clone)
    }
}

/// The producer's handle on a completion: completes it when the run ends, and — should the job be
/// dropped before that (a runtime shutting down) — completes it as `Crashed`, so no waiter hangs.
pub(crate) struct Producer<T>(Option<Arc<Completion<T>>>);

impl<T> Producer<T> {
    pub(crate) fn new(completion: Arc<Completion<T>>) -> Producer<T> {
        Producer(Some(completion))
    }

    pub(crate) fn meta(&self) -> &Arc<TaskRunMeta> {
        &self.0.as_ref().expect("a producer completes once").meta
    }

    pub(crate) fn complete(mut self, outcome: Result<T, TaskRunError>) {
        if let Some(done) = self.0.take() {
            Completion::complete(done, outcome);
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            let message =
                "the task run was dropped before it finished (was the runtime shut down?)";
            let record = &done.meta.record;
            // Refused by the policy when the run had already finished.
            let _ = record.propose(State::crashed(message));
            let error = TaskRunError {
                task_run_name: Arc::clone(record.name_arc()),
                task_run_id: record.id(),
                failure: super::error::TaskRunFailure::Crashed(message.to_string()),
                root: None,
            };
            Completion::complete(done, Err(error));
        }
    }
}

impl<T: Send + Sync + 'static> Upstream for Completion<T> {
    fn record(&self) -> &RunRecord {
        &self.meta.record
    }

    fn wait(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let _ = Completion::wait(self).await;
        })
    }

    fn succeeded(&self) -> bool {
        matches!(self.get(), Some(Ok(())))
    }

    fn error(&self) -> Option<&TaskRunError> {
        self.get().and_then(Result::err)
    }
}

/// The future result of a submitted task run.
pub struct TaskFuture<T> {
    pub(crate) completion: Arc<Completion<T>>,
}

impl<T> Clone for TaskFuture<T> {
    fn clone(&self) -> Self {
        TaskFuture {
            completion: Arc::clone(&self.completion),
        }
    }
}

impl<T> fmt::Debug for TaskFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFuture")
            .field("task_run", &self.completion.meta.record.name())
            .field("done", &self.completion.get().is_some())
            .finish()
    }
}

impl<T: Send + Sync + 'static> TaskFuture<T> {
    /// The task run's id.
    pub fn task_run_id(&self) -> Uuid {
        self.completion.meta.record.id()
    }

    /// The task run's name, e.g. `load_data-0`.
    pub fn task_run_name(&self) -> &str {
        self.completion.meta.record.name()
    }

    /// Whether the task run has finished.
    pub fn is_done(&self) -> bool {
        self.completion.get().is_some()
    }

    /// The task run's current state (its final state once [`is_done`](Self::is_done)).
    pub fn state(&self) -> Option<State> {
        self.completion.meta.record.state()
    }

    /// A snapshot of the task run's record.
    pub fn task_run(&self) -> TaskRun {
        self.completion.meta.snapshot()
    }

    /// Waits for the task run to finish and returns its final state, without consuming the result.
    /// A failure seen this way counts as observed: it no longer fails the flow by itself.
    pub async fn wait(&self) -> State {
        if Completion::wait(&self.completion).await.is_err() {
            self.completion.meta.record.mark_observed();
        }
        self.completion
            .meta
            .record
            .state()
            .expect("a finished task run has a state")
    }

    /// Waits for the result, shared: no clone of the value is made.
    pub async fn result_shared(&self) -> Result<Arc<T>, TaskRunError> {
        if let Err(e) = Completion::wait(&self.completion).await {
            self.completion.meta.record.mark_observed();
            return Err(e.clone());
        }
        Ok(self
            .completion
            .shared()
            .expect("a completed task run's value stays while a future holds it"))
    }
}

/// Awaiting a task future gives the task's value or the task run's error. The value is moved out when
/// this is the last handle on the result, cloned otherwise (every clone of the future gets it). An
/// error received this way counts as observed.
impl<T: Clone + Send + Sync + 'static> IntoFuture for TaskFuture<T> {
    type Output = Result<T, TaskRunError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if let Err(e) = Completion::wait(&self.completion).await {
                self.completion.meta.record.mark_observed();
                return Err(e.clone());
            }
            Ok(Completion::take_or_clone(&self.completion, T::clone)
                .expect("a completed task run's value stays while a future holds it"))
        })
    }
}

impl<T: Clone + Send + Sync + 'static> IntoFuture for &TaskFuture<T> {
    type Output = Result<T, TaskRunError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        self.clone().into_future()
    }
}
