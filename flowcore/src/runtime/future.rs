//! Task futures: the handle `.submit()` returns.
//!
//! A [`TaskFuture<T>`] stands for the result of a task run that the flow's task runner executes. It is
//! cheap to clone; every clone sees the same result. Passing one (or a reference to one) as a task
//! argument makes an edge of the task graph: the runtime waits for it before the downstream task starts.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

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
/// One lock guards what the run produced: nothing yet (and, once someone waits, the `Notify` that
/// wakes them), the value, or the error. The value is kept as it came, so that the last holder
/// takes it without a clone (a future passed by value to its only consumer hands it over); the
/// first consumer that wants it shared moves it into an `Arc`, without copying what it owns. A
/// flow keeps a million of these cells when it keeps its futures: one allocation of 48 bytes for a
/// word-sized value, not two.
pub(crate) struct Completion<T> {
    pub(crate) meta: Arc<TaskRunMeta>,
    outcome: Mutex<Outcome<T>>,
}

/// What a task run produced, as its futures see it.
enum Outcome<T> {
    /// Not finished; the `Notify` is made by the first waiter (most runs finish before anyone
    /// waits, and need none).
    Running(Option<Arc<Notify>>),
    /// Completed: the value, as the body returned it.
    Value(T),
    /// Completed: the value, shared with a consumer that asked for an `Arc`.
    Shared(Arc<T>),
    /// Completed, and the value moved to its last holder.
    Taken,
    /// Did not complete (boxed: most runs succeed).
    Failed(Box<TaskRunError>),
}

impl<T> Outcome<T> {
    /// `None` while running, else whether the run completed (or its error).
    fn finished(&self) -> Option<Result<(), &TaskRunError>> {
        match self {
            Outcome::Running(_) => None,
            Outcome::Failed(error) => Some(Err(error)),
            Outcome::Value(_) | Outcome::Shared(_) | Outcome::Taken => Some(Ok(())),
        }
    }
}

impl<T> Completion<T> {
    pub(crate) fn new(meta: Arc<TaskRunMeta>) -> Arc<Completion<T>> {
        Arc::new(Completion {
            meta,
            outcome: Mutex::new(Outcome::Running(None)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome<T>> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the outcome and wakes the waiters. Takes the producer's handle and lets go of it before
    /// waking anyone, so that a consumer holding the last handle can take the value without a clone.
    pub(crate) fn complete(this: Arc<Completion<T>>, outcome: Result<T, TaskRunError>) {
        let finished = match outcome {
            Ok(value) => Outcome::Value(value),
            Err(e) => Outcome::Failed(Box::new(e)),
        };
        let notify = {
            let mut slot = this.lock();
            match &*slot {
                Outcome::Running(_) => match std::mem::replace(&mut *slot, finished) {
                    Outcome::Running(notify) => notify,
                    _ => unreachable!("the outcome was running a moment ago"),
                },
                // Completed once already: the first outcome stands.
                _ => None,
            }
        };
        drop(this);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Waits until the run has finished; gives its error when it did not complete.
    pub(crate) async fn wait(&self) -> Result<(), TaskRunError> {
        let notify = {
            let mut slot = self.lock();
            match &mut *slot {
                Outcome::Running(notify) => Arc::clone(notify.get_or_insert_with(Default::default)),
                done => return done.finished().expect("finished").map_err(Clone::clone),
            }
        };
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before looking again: a completion from now on wakes it.
            notified.as_mut().enable();
            if let Some(done) = self.get() {
                return done;
            }
            notified.await;
        }
    }

    /// The outcome, once the run has finished.
    pub(crate) fn get(&self) -> Option<Result<(), TaskRunError>> {
        self.lock().finished().map(|r| r.map_err(Clone::clone))
    }

    /// Whether the run has finished.
    pub(crate) fn is_done(&self) -> bool {
        !matches!(&*self.lock(), Outcome::Running(_))
    }

    /// Whether the run completed.
    pub(crate) fn completed(&self) -> bool {
        matches!(self.lock().finished(), Some(Ok(())))
    }

    /// The value of a completed run, shared (moved into an `Arc` the first time: not copied).
    pub(crate) fn shared(&self) -> Option<Arc<T>> {
        let mut slot = self.lock();
        match &*slot {
            Outcome::Shared(value) => Some(Arc::clone(value)),
            Outcome::Value(_) => {
                let Outcome::Value(value) = std::mem::replace(&mut *slot, Outcome::Taken) else {
                    unreachable!("the value was there a moment ago")
                };
                let value = Arc::new(value);
                *slot = Outcome::Shared(Arc::clone(&value));
                Some(value)
            }
            _ => None,
        }
    }

    /// The value of a completed run: moved out when `this` is the last handle on the cell, else cloned.
    pub(crate) fn take_or_clone(this: &Arc<Completion<T>>, clone: fn(&T) -> T) -> Option<T> {
        let mut slot = this.lock();
        if Arc::strong_count(this) == 1 {
            return match std::mem::replace(&mut *slot, Outcome::Taken) {
                Outcome::Value(value) => Some(value),
                Outcome::Shared(value) => {
                    Some(Arc::try_unwrap(value).unwrap_or_else(|shared| clone(&shared)))
                }
                other => {
                    *slot = other;
                    None
                }
            };
        }
        drop(slot);
        // Cloned outside the lock (a large value takes a while; others may be asking whether the
        // run is done): shared first, as `shared` does.
        this.shared().map(|value| clone(&value))
    }
}

/// The producer's handle on a completion: completes it when the run ends, and — should the job be
/// dropped before that (a runtime shutting down) — completes it as `Crashed`, so no waiter hangs.
/// Its flow run (if any) counts it among the runs it waits for until then.
pub(crate) struct Producer<T>(Option<Arc<Completion<T>>>, Option<Arc<FlowRunContext>>);

impl<T> Producer<T> {
    pub(crate) fn new(
        completion: Arc<Completion<T>>,
        flow: Option<Arc<FlowRunContext>>,
    ) -> Producer<T> {
        if let Some(flow) = &flow {
            flow.register_submitted();
        }
        Producer(Some(completion), flow)
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
        if let Some(flow) = self.1.take() {
            flow.submitted_finished();
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
        self.completed()
    }

    fn error(&self) -> Option<TaskRunError> {
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
            .field("done", &self.completion.is_done())
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
        self.completion.is_done()
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
            return Err(e);
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
                return Err(e);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::lifecycle::create_task_run;

    fn cell<T>() -> Arc<Completion<T>> {
        Completion::new(create_task_run(None, "t", None, &[], Vec::new()))
    }

    #[test]
    fn a_kept_future_costs_one_small_allocation() {
        // A flow that keeps a million futures keeps a million of these (plus the `Arc` counts).
        assert!(std::mem::size_of::<Completion<usize>>() <= 32);
    }

    #[tokio::test]
    async fn the_last_holder_takes_the_value_others_clone_or_share_it() {
        let _harness = crate::testing::harness();
        let done: Arc<Completion<Vec<u8>>> = cell();
        let other = Arc::clone(&done);
        assert!(!done.is_done() && done.get().is_none() && done.shared().is_none());
        Completion::complete(Arc::clone(&done), Ok(vec![1, 2, 3]));
        assert!(done.is_done() && done.completed());
        assert!(done.wait().await.is_ok());
        // Two handles: a clone.
        assert_eq!(
            Completion::take_or_clone(&done, Vec::clone),
            Some(vec![1, 2, 3])
        );
        // Shared: moved into an `Arc` once, the same buffer every time.
        let (a, b) = (done.shared().unwrap(), other.shared().unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        let buffer = a.as_ptr();
        drop((a, b, other));
        // The last handle, nobody sharing it any more: the value itself, not a copy.
        let taken = Completion::take_or_clone(&done, Vec::clone).unwrap();
        assert_eq!(taken.as_ptr(), buffer);
        assert!(
            done.is_done() && done.completed(),
            "taken is still completed"
        );
        assert_eq!(Completion::take_or_clone(&done, Vec::clone), None);
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_run_fails_and_a_second_outcome_is_ignored() {
        let _harness = crate::testing::harness();
        let done: Arc<Completion<u32>> = cell();
        let waiter = {
            let done = Arc::clone(&done);
            tokio::spawn(async move { done.wait().await })
        };
        tokio::task::yield_now().await;
        let error = TaskRunError {
            task_run_name: Arc::from("t-0"),
            task_run_id: done.meta.record.id(),
            failure: crate::runtime::error::TaskRunFailure::Crashed("boom".into()),
            root: None,
        };
        Completion::complete(Arc::clone(&done), Err(error));
        Completion::complete(Arc::clone(&done), Ok(7));
        let seen = waiter.await.unwrap().unwrap_err();
        assert!(seen.to_string().contains("boom"), "{seen}");
        assert!(done.is_done() && !done.completed());
        assert!(Upstream::error(&*done).is_some() && !Upstream::succeeded(&*done));
        assert_eq!(done.shared(), None);
    }
}
