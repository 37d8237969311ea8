//! Flows: what `#[flow]` generates code against, and the [`FlowState`] a flow run returns.

use std::time::Duration;

use uuid::Uuid;

use super::error::{FlowRunError, ParameterError};
use super::retry::{RetryCondition, RetryDelay, RetryPolicy};
use super::state::State;
use super::task_runner::TaskRunner;
use super::task_runs::TaskRuns;
use crate::schemas::runs::{FlowRun, TaskRun};

/// A flow's settings, from its `#[flow(...)]` attribute.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowSpec {
    /// The flow's name (default: the function's name).
    pub name: &'static str,
    /// The flow's version.
    pub version: Option<&'static str>,
    /// A description for people.
    pub description: Option<&'static str>,
    /// How submitted tasks run.
    pub runner: TaskRunner,
    /// How many times a failed run is tried again.
    pub retries: u32,
    /// The pause before each retry (`retry_delay`).
    pub retry_delay: RetryDelay,
    /// Each pause made up to this factor longer, at random (`retry_jitter`).
    pub retry_jitter: Option<f64>,
    /// Whether a failure is retried at all (`retry_if`).
    pub retry_if: Option<RetryCondition>,
    /// A run (each attempt, its submitted tasks included) that takes longer fails `TimedOut`.
    pub timeout: Option<Duration>,
    /// Called with the final state when a run completes (`on_completion`).
    pub on_completion: &'static [FlowHook],
    /// Called with the final state when a run fails (`on_failure`).
    pub on_failure: &'static [FlowHook],
    /// Called with the final state when a run crashes (`on_crashed`).
    pub on_crashed: &'static [FlowHook],
    /// Called with the final state when a run is cancelled (`on_cancellation`).
    pub on_cancellation: &'static [FlowHook],
    /// Whether parameters are serde types, recorded as JSON and accepted from JSON.
    pub validate_parameters: bool,
    /// The parameter names, in order.
    pub parameters: &'static [&'static str],
    /// Tags given to every run.
    pub tags: &'static [&'static str],
    /// The default of its task runs' `persist_result` (`persist_result` on `#[flow]`; `None`: its
    /// parent flow run's default, else off).
    pub persist_result: Option<bool>,
}

impl FlowSpec {
    /// The settings of a flow named `name`: no version, description, retries or tags, the
    /// Concurrent task runner, parameters validated.
    pub fn new(name: &'static str) -> FlowSpec {
        FlowSpec {
            name,
            version: None,
            description: None,
            runner: TaskRunner::Concurrent,
            retries: 0,
            retry_delay: RetryDelay::default(),
            retry_jitter: None,
            retry_if: None,
            timeout: None,
            on_completion: &[],
            on_failure: &[],
            on_crashed: &[],
            on_cancellation: &[],
            validate_parameters: true,
            parameters: &[],
            tags: &[],
            persist_result: None,
        }
    }
}

/// A flow run's state hook: `fn(&FlowRun, &State)`, called once with the run's final state.
pub type FlowHook = fn(&FlowRun, &State);

impl FlowSpec {
    pub(crate) fn retry_policy(&'static self) -> RetryPolicy {
        RetryPolicy::new(
            self.retries,
            &self.retry_delay,
            self.retry_jitter,
            self.retry_if,
        )
    }

    /// The hooks for a run that ended in `state`.
    pub(crate) fn hooks_for(&self, state: &State) -> &'static [FlowHook] {
        use super::state::StateType;
        match state.kind {
            StateType::Completed => self.on_completion,
            StateType::Failed => self.on_failure,
            StateType::Crashed => self.on_crashed,
            StateType::Cancelled => self.on_cancellation,
            _ => &[],
        }
    }
}

/// Who a flow run is: its id and readable name. A run started by an agent takes the identity the
/// server gave it (see [`RegisteredFlow::run_as`](crate::registry::RegisteredFlow::run_as)); a run
/// started any other way gets a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowRunIdentity {
    /// The run's id.
    pub id: Uuid,
    /// The run's readable name.
    pub name: String,
}

impl FlowRunIdentity {
    /// The identity of the run `id` named `name`.
    pub fn new(id: Uuid, name: impl Into<String>) -> FlowRunIdentity {
        FlowRunIdentity {
            id,
            name: name.into(),
        }
    }
}

/// Implemented by every `#[flow]`: the flow's settings, for tools that handle flows generically.
pub trait Flow: Send + Sync + 'static {
    /// The flow's settings.
    fn spec(&self) -> &'static FlowSpec;
}

/// What a flow run returns: its final state, its record, its task runs, and its result.
///
/// Its task runs are kept as their compact records and made into [`TaskRun`] snapshots the first
/// time [`task_runs`](Self::task_runs) (or a method reading them, or `{:?}`) is called: a flow
/// of a million task runs that nobody inspects keeps ~0.4 KB per run, not ~0.9.
#[derive(Debug)]
pub struct FlowState<T> {
    flow_run: FlowRun,
    task_runs: TaskRuns,
    subflow_task_runs: Vec<TaskRun>,
    output: Result<T, FlowRunError>,
}

impl<T> FlowState<T> {
    pub(crate) fn new(
        flow_run: FlowRun,
        task_runs: TaskRuns,
        subflow_task_runs: Vec<TaskRun>,
        output: Result<T, FlowRunError>,
    ) -> FlowState<T> {
        FlowState {
            flow_run,
            task_runs,
            subflow_task_runs,
            output,
        }
    }

    /// The flow run's final state.
    pub fn state(&self) -> &State {
        self.flow_run.state()
    }

    /// Whether the flow run completed.
    pub fn is_completed(&self) -> bool {
        self.state().is_completed()
    }

    /// Whether the flow run failed.
    pub fn is_failed(&self) -> bool {
        self.state().is_failed()
    }

    /// The final state's message (the error of a failed run).
    pub fn message(&self) -> Option<&str> {
        self.state().message.as_deref()
    }

    /// The flow's result, or the error of the run.
    pub fn result(self) -> Result<T, FlowRunError> {
        self.output
    }

    /// The flow's result, if it completed.
    pub fn output(&self) -> Option<&T> {
        self.output.as_ref().ok()
    }

    /// The run's error, if it failed.
    pub fn error(&self) -> Option<&FlowRunError> {
        self.output.as_ref().err()
    }

    /// The flow run's record: id, name, parameters, state history, timing.
    pub fn flow_run(&self) -> &FlowRun {
        &self.flow_run
    }

    /// Every task run of the flow run, in creation order (subflows appear as task runs too).
    ///
    /// The snapshots are made on the first call (a few hundred bytes per task run).
    pub fn task_runs(&self) -> &[TaskRun] {
        self.task_runs.get()
    }

    /// The task runs of this flow run and of every subflow run under it (each knows its
    /// `flow_run_id`), in the order they finished per flow run.
    pub fn all_task_runs(&self) -> impl Iterator<Item = &TaskRun> {
        self.task_runs().iter().chain(&self.subflow_task_runs)
    }

    /// The task run with this name, e.g. `load_data-0`.
    pub fn task_run(&self, name: &str) -> Option<&TaskRun> {
        self.task_runs().iter().find(|t| t.name == name)
    }

    /// The task runs that did not complete.
    pub fn failed_task_runs(&self) -> impl Iterator<Item = &TaskRun> {
        self.task_runs()
            .iter()
            .filter(|t| !t.state().is_completed())
    }

    /// The same state with the result mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> FlowState<U> {
        FlowState {
            flow_run: self.flow_run,
            task_runs: self.task_runs,
            subflow_task_runs: self.subflow_task_runs,
            output: self.output.map(f),
        }
    }
}

/// Reads a flow's parameters from a JSON object. Used by generated code.
#[doc(hidden)]
pub struct JsonParameters {
    map: serde_json::Map<String, serde_json::Value>,
}

impl JsonParameters {
    /// Checks that `value` is an object whose keys are all among `names`.
    pub fn new(
        value: &serde_json::Value,
        names: &'static [&'static str],
    ) -> Result<JsonParameters, ParameterError> {
        let map = match value {
            serde_json::Value::Object(map) => map.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            other => return Err(ParameterError::NotAnObject(other.to_string())),
        };
        if let Some(unknown) = map.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(ParameterError::Unknown {
                name: unknown.clone(),
                expected: names.join(", "),
            });
        }
        Ok(JsonParameters { map })
    }

    /// Deserializes the parameter `name`; an absent parameter is read as `null` (so `Option`s may be
    /// left out), and is missing otherwise. Errors name the parameter and the field inside it.
    pub fn take<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<T, ParameterError> {
        let (value, present) = match self.map.remove(name) {
            Some(v) => (v, true),
            None => (serde_json::Value::Null, false),
        };
        serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
            if !present {
                return ParameterError::Missing(name.to_string());
            }
            let inner = err.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                name.to_string()
            } else {
                format!("{name}.{inner}")
            };
            ParameterError::Invalid {
                path,
                message: err.into_inner().to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        min: f64,
    }

    #[test]
    fn json_parameters_name_the_field() {
        let names: &'static [&'static str] = &["a", "inner", "maybe"];
        let mut p = JsonParameters::new(&json!({"a": 1, "inner": {"min": "x"}}), names).unwrap();
        assert_eq!(p.take::<u32>("a").unwrap(), 1);
        let err = p.take::<Inner>("inner").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid parameter `inner.min`"),
            "{err}"
        );
        assert_eq!(p.take::<Option<u8>>("maybe").unwrap(), None);
        let err = JsonParameters::new(&json!({"b": 1}), names).err().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown parameter `b`; the flow takes: a, inner, maybe"
        );
        let mut p = JsonParameters::new(&json!({}), names).unwrap();
        assert_eq!(
            p.take::<u32>("a").unwrap_err(),
            ParameterError::Missing("a".into())
        );
        assert!(JsonParameters::new(&json!([1]), names).is_err());
    }
}
