//! The entry points generated code calls for task runs on task workers: `task::delay` (send a run)
//! and, in a worker, running a claimed run under its id (see [`remote`](super::remote)).

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::body::Edges;
use super::engine;
use super::future::TaskFuture;
use super::lifecycle::adopt_task_run;
use super::results::{Persistence, RemoteKey};
use super::run_record::TaskRunMeta;
use super::state::State;
use super::task::TaskCall;
use super::task_runner;
use crate::schemas::task_queue::{ClaimedTask, TaskOutcome};

/// `task::delay(…)`: queues a run of the task `make` calls for the task workers and gives its
/// future at once (inside a flow run it belongs to that flow run). Must be called inside a tokio
/// runtime.
#[doc(hidden)]
pub fn delay<T: Send + Sync + 'static>(make: impl FnOnce() -> TaskCall<T>) -> TaskFuture<T> {
    task_runner::note_distributed();
    let call = task_runner::while_delaying(make);
    call.__delayed().submit()
}

/// Runs a claimed task run in a task worker, under its id, and gives its outcome. `call` is the
/// task called with the run's arguments.
#[doc(hidden)]
pub fn run_claimed<T: Send + 'static>(
    call: TaskCall<T>,
    claimed: ClaimedTask,
) -> BoxFuture<'static, TaskOutcome> {
    Box::pin(async move {
        let TaskCall {
            spec,
            body,
            persistence,
            ..
        } = call;
        let (meta, taken) = adopt_task_run(spec.name, &claimed);
        let queued = &claimed.queued;
        let persistence = Persistence {
            remote: Some(RemoteKey {
                storage_key: queued.storage_key.clone(),
                cache_key: queued.cache_key.clone(),
                expiration: queued
                    .cache_expiration_seconds
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64),
            }),
            ..persistence
        };
        let result = engine::run_task(spec, Edges::default(), body, persistence, &meta).await;
        let completed = result.is_ok();
        drop(result);
        outcome_of(&meta, taken, completed.then(|| queued.storage_key.clone()))
    })
}

/// A claimed run whose arguments could not be read: it fails, on the worker, naming them.
#[doc(hidden)]
pub fn bad_arguments(
    task_name: &'static str,
    claimed: ClaimedTask,
    message: String,
) -> BoxFuture<'static, TaskOutcome> {
    Box::pin(async move {
        let (meta, taken) = adopt_task_run(task_name, &claimed);
        let _ = meta.record.propose(State::failed(format!(
            "The task worker cannot read this task run's arguments: {message}"
        )));
        outcome_of(&meta, taken, None)
    })
}

fn outcome_of(meta: &TaskRunMeta, taken: usize, storage_key: Option<String>) -> TaskOutcome {
    let mut history = meta.snapshot().history;
    history.drain(..taken.min(history.len()));
    TaskOutcome {
        task_run_id: meta.record.id(),
        history,
        storage_key,
    }
}
