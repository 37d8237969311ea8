//! Task runs on task workers (Prefect 3's `task.delay()` and background tasks): the side that
//! sends a run — `task::delay(…)`, or a flow under [`TaskRunner::Distributed`] — and the side
//! that runs it, in a [task worker](crate::task_worker).
//!
//! The sending side creates the run's record as for any task run (`Scheduled` for a delayed run,
//! `Pending` in a flow), waits for its upstream runs, serializes its arguments, makes sure its
//! record reached the store, and queues it with the key its value will be stored under. A worker
//! claims it, runs it under the same id — retries, timeout, tag limits, hooks and states as for
//! any task run, reported by the worker — and writes its value to the result storage. The sending
//! side takes the states the worker reached into its own record (through the policy, not
//! reported twice) and reads the value back from the result storage, which both sides must share.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::body::RemoteArgs;
use super::context::FlowRunContext;
use super::error::TaskRunFailure;
use super::results::{Codec, Plan, RemoteKey};
use super::run_record::TaskRunMeta;
use super::state::{State, StateType};
use super::task_queue;
use super::task_runner::{self, TaskRunner};
use super::task_spec::TaskSpec;
use crate::reporting::reporter;
use crate::schemas::task_queue::{ClaimedTask, QueuedTask, TaskOutcome};

/// Whether a task call made now is sent to the task workers: inside `task::delay`, or inside a
/// flow run whose task runner is [`TaskRunner::Distributed`].
#[doc(hidden)]
pub fn remote_mode() -> bool {
    if !task_runner::distributed_used() {
        return false;
    }
    task_runner::delaying()
        || FlowRunContext::current().is_some_and(|c| c.runner == TaskRunner::Distributed)
}

/// Finds whether a parameter type can be sent to a worker (`Serialize + DeserializeOwned`):
/// generated code calls `(&ArgProbe::<T>::new()).sendable()` with both traits in scope.
#[doc(hidden)]
pub struct ArgProbe<T>(PhantomData<T>);

impl<T> ArgProbe<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> ArgProbe<T> {
        ArgProbe(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaSerdeArg<T> {
    fn sendable(&self) -> bool;
    fn arg_json(&self, value: &T) -> Result<serde_json::Value, String>;
}

impl<T: Serialize + DeserializeOwned> ViaSerdeArg<T> for ArgProbe<T> {
    fn sendable(&self) -> bool {
        true
    }
    fn arg_json(&self, value: &T) -> Result<serde_json::Value, String> {
        serde_json::to_value(value).map_err(|e| e.to_string())
    }
}

#[doc(hidden)]
pub trait ViaOpaqueArg<T> {
    fn sendable(&self) -> bool;
    fn arg_json(&self, value: &T) -> Result<serde_json::Value, String>;
}

impl<T> ViaOpaqueArg<T> for &ArgProbe<T> {
    fn sendable(&self) -> bool {
        false
    }
    fn arg_json(&self, _: &T) -> Result<serde_json::Value, String> {
        Err(format!(
            "{} is not a serde type",
            std::any::type_name::<T>()
        ))
    }
}

/// A claimed run's argument `name`, as its parameter's type.
#[doc(hidden)]
pub fn arg_from_json<T: DeserializeOwned>(claimed: &ClaimedTask, name: &str) -> Result<T, String> {
    let value = claimed
        .queued
        .parameters
        .get(name)
        .ok_or_else(|| format!("parameter `{name}` is missing"))?;
    serde_json::from_value(value.clone()).map_err(|e| format!("parameter `{name}`: {e}"))
}

/// Runs a task run sent to the workers, on the sending side: queues it, waits for its outcome,
/// takes its states, and reads its value back.
pub(crate) async fn run_remote<T: Send + 'static>(
    spec: &'static TaskSpec,
    args: RemoteArgs,
    plan: Option<&Plan<T>>,
    codec: Option<Codec<T>>,
    meta: &Arc<TaskRunMeta>,
    cancel: Option<CancellationToken>,
) -> Result<T, TaskRunFailure> {
    let record = &meta.record;
    let fail = |message: String| {
        let _ = record.propose(State::failed(message.clone()));
        Err(TaskRunFailure::Error(Arc::new(anyhow::anyhow!(message))))
    };
    let Some(codec) = codec else {
        return fail(
            "its value is not a serde type: it cannot come back from a task worker".into(),
        );
    };
    let parameters = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(args)) {
        Ok(Ok(parameters)) => parameters,
        Ok(Err(e)) => {
            return fail(format!(
                "its arguments cannot be sent to a task worker: {e}"
            ))
        }
        Err(payload) => return fail(super::lifecycle::panic_message(payload)),
    };
    let key = match plan {
        Some(plan) => plan.remote_key(),
        None => RemoteKey {
            storage_key: Uuid::now_v7().simple().to_string(),
            cache_key: None,
            expiration: None,
        },
    };
    let task = QueuedTask {
        task_run_id: record.id(),
        task: spec.name.to_string(),
        task_run_name: record.name().to_string(),
        flow_run_id: meta.flow_run_id(),
        parameters,
        tags: meta.tags().to_vec(),
        retries: i64::from(spec.retries),
        storage_key: key.storage_key.clone(),
        cache_key: key.cache_key,
        cache_expiration_seconds: key.expiration.map(|e| e.as_secs_f64()),
    };
    // The run's record reaches the store before a worker reports on it.
    reporter::flush().await;
    let outcome = match cancel {
        None => task_queue::run(task).await,
        Some(token) => tokio::select! {
            biased;
            _ = token.cancelled() => {
                task_queue::cancel(record.id());
                let reason = "The flow run was cancelled".to_string();
                let _ = record.propose(State::cancelled(reason.clone()));
                return Err(TaskRunFailure::Cancelled(reason));
            }
            outcome = task_queue::run(task) => outcome,
        },
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return fail(format!("cannot send it to the task workers: {e}")),
    };
    take_states(meta, &outcome);
    let Some(state) = record.state() else {
        return fail("its task worker gave no state".into());
    };
    match state.kind {
        StateType::Completed => {
            let key = outcome.storage_key.unwrap_or(key.storage_key);
            let storage = super::results::storage();
            match storage.read(&key) {
                Ok(Some(bytes)) => codec
                    .decode_value(&bytes)
                    .map_err(|e| failure(format!("its stored value '{key}' cannot be read: {e}"))),
                Ok(None) => Err(failure(format!(
                    "its value is not in this process's result storage ({}) under '{key}': task \
                     workers and the programs sending them runs must share one result storage",
                    storage.describe()
                ))),
                Err(e) => Err(failure(format!("cannot read its value '{key}': {e}"))),
            }
        }
        StateType::Cancelled => Err(TaskRunFailure::Cancelled(
            state.message.clone().unwrap_or_default(),
        )),
        StateType::Crashed => Err(TaskRunFailure::Crashed(
            state.message.clone().unwrap_or_default(),
        )),
        _ => Err(failure(
            state
                .message
                .clone()
                .unwrap_or_else(|| format!("it ended {}", state.name)),
        )),
    }
}

fn failure(message: String) -> TaskRunFailure {
    TaskRunFailure::Error(Arc::new(anyhow::anyhow!(message)))
}

/// Takes the states a worker reached into the sending side's record, through the policy (they
/// were reported by the worker): a state the record cannot take in order (a worker that ran the
/// run again after another was lost starts from a retry) is skipped, and the final state is
/// always taken, after `Running` if need be.
fn take_states(meta: &TaskRunMeta, outcome: &TaskOutcome) {
    let record = &meta.record;
    for state in &outcome.history {
        let _ = record.adopt(state.clone());
    }
    if let Some(last) = outcome.state() {
        if record.state().as_ref().map(|s| &s.name) != Some(&last.name) || !record.is_final() {
            let _ = record.adopt(State::running());
            let _ = record.adopt(last.clone());
        }
    }
}
