//! The record of a run: who it is, what it was fed, and every state it went through.
//!
//! The runtime keeps a live record per run (shared between the engine and the handles a user holds) and
//! hands out [`FlowRun`] and [`TaskRun`] snapshots: plain values a user can inspect after a flow finished
//! to answer "which task failed, after how many attempts, and why".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{self, Event, RunKind, RunRef};
use crate::state::State;

/// How an upstream run feeds a task run: through an argument, or as an explicit `wait_for` ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// The upstream run's result is passed as the named argument.
    Parameter,
    /// The task waits for the upstream run without using its result (`wait_for`).
    WaitFor,
}

/// One edge of the task graph: an upstream task run that feeds a task run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInput {
    /// The argument name (`"wait_for"` for ordering edges).
    pub parameter: String,
    /// The upstream task run's id.
    pub upstream_id: Uuid,
    /// The upstream task run's name, e.g. `load_data-0`.
    pub upstream_name: String,
    /// Data edge or ordering edge.
    pub kind: InputKind,
}

#[derive(Debug, Default, Clone)]
struct Progress {
    history: Vec<State>,
    attempts: u32,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    subflow_run_id: Option<Uuid>,
}

/// The live record of one run (flow run or task run).
#[derive(Debug)]
pub(crate) struct RunRecord {
    pub(crate) run: RunRef,
    progress: Mutex<Progress>,
    observed: AtomicBool,
}

impl RunRecord {
    /// A new run. `flow_run_id` is the flow run a task run belongs to; a flow run belongs to itself.
    pub(crate) fn new(kind: RunKind, name: String, flow_run_id: Option<Uuid>) -> Arc<RunRecord> {
        RunRecord::with_id(kind, Uuid::now_v7(), name, flow_run_id)
    }

    /// A run whose id and name were given (a deployment's run, created by the server).
    pub(crate) fn with_id(
        kind: RunKind,
        id: Uuid,
        name: String,
        flow_run_id: Option<Uuid>,
    ) -> Arc<RunRecord> {
        Arc::new(RunRecord {
            run: RunRef {
                kind,
                id,
                name: name.into(),
                flow_run_id: match kind {
                    RunKind::Flow => Some(id),
                    RunKind::Task => flow_run_id,
                },
            },
            progress: Mutex::new(Progress {
                history: Vec::with_capacity(4),
                ..Progress::default()
            }),
            observed: AtomicBool::new(false),
        })
    }

    pub(crate) fn id(&self) -> Uuid {
        self.run.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.run.name
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Move the run to `state`: the one place every transition goes through. It records the state in the
    /// history, counts attempts (each entry into `Running`), stamps start and end, and reports the
    /// transition to the event sink.
    pub(crate) fn set_state(&self, state: State) {
        {
            let mut p = self.progress();
            if state.is_running() {
                p.attempts += 1;
                if p.start_time.is_none() {
                    p.start_time = Some(state.timestamp);
                }
            }
            if state.is_final() {
                p.end_time = Some(state.timestamp);
            }
            p.history.push(state.clone());
        }
        event::emit(Event::StateChanged {
            run: self.run.clone(),
            state,
        });
    }

    pub(crate) fn state(&self) -> Option<State> {
        self.progress().history.last().cloned()
    }

    pub(crate) fn set_subflow(&self, id: Uuid) {
        self.progress().subflow_run_id = Some(id);
    }

    /// Marks that user code has seen this run's outcome (awaited its future or call).
    pub(crate) fn mark_observed(&self) {
        self.observed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_observed(&self) -> bool {
        self.observed.load(Ordering::Relaxed)
    }

    fn snapshot_parts(&self) -> Progress {
        self.progress().clone()
    }
}

/// The static description of a task run, fixed when it is created.
#[derive(Debug)]
pub(crate) struct TaskRunMeta {
    pub(crate) record: Arc<RunRecord>,
    pub(crate) task_name: &'static str,
    pub(crate) flow_run_id: Option<Uuid>,
    pub(crate) tags: Vec<String>,
    pub(crate) inputs: Vec<TaskInput>,
}

impl TaskRunMeta {
    pub(crate) fn snapshot(&self) -> TaskRun {
        let Progress {
            history,
            attempts,
            start_time,
            end_time,
            subflow_run_id,
        } = self.record.snapshot_parts();
        TaskRun {
            id: self.record.id(),
            name: self.record.name().to_string(),
            task_name: self.task_name.to_string(),
            flow_run_id: self.flow_run_id,
            tags: self.tags.clone(),
            inputs: self.inputs.clone(),
            history,
            attempts,
            start_time,
            end_time,
            subflow_run_id,
        }
    }
}

/// The static description of a flow run, fixed when it is created.
#[derive(Debug)]
pub(crate) struct FlowRunMeta {
    pub(crate) record: Arc<RunRecord>,
    pub(crate) flow_name: &'static str,
    pub(crate) version: Option<&'static str>,
    pub(crate) parameters: serde_json::Value,
    pub(crate) tags: Vec<String>,
    pub(crate) parent_flow_run_id: Option<Uuid>,
    pub(crate) parent_task_run_id: Option<Uuid>,
}

impl FlowRunMeta {
    pub(crate) fn snapshot(&self) -> FlowRun {
        let Progress {
            history,
            attempts,
            start_time,
            end_time,
            ..
        } = self.record.snapshot_parts();
        FlowRun {
            id: self.record.id(),
            name: self.record.name().to_string(),
            flow_name: self.flow_name.to_string(),
            version: self.version.map(str::to_string),
            parameters: self.parameters.clone(),
            tags: self.tags.clone(),
            parent_flow_run_id: self.parent_flow_run_id,
            parent_task_run_id: self.parent_task_run_id,
            history,
            attempts,
            start_time,
            end_time,
        }
    }
}

fn duration(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Option<std::time::Duration> {
    Some((end? - start?).to_std().unwrap_or_default())
}

fn last_state(history: &[State]) -> &State {
    history
        .last()
        .expect("a run snapshot always has at least its initial state")
}

/// A snapshot of one task run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRun {
    /// The run's UUIDv7, generated by the client.
    pub id: Uuid,
    /// The readable name: the task's name and a counter, `load_data-0`.
    pub name: String,
    /// The task's name.
    pub task_name: String,
    /// The flow run this task ran in, if any.
    pub flow_run_id: Option<Uuid>,
    /// The task's tags.
    pub tags: Vec<String>,
    /// The upstream task runs that fed this one (the edges of the task graph).
    pub inputs: Vec<TaskInput>,
    /// Every state the run went through, oldest first.
    pub history: Vec<State>,
    /// How many times the task body started (1 without retries).
    pub attempts: u32,
    /// When it first entered `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When it reached its final state.
    pub end_time: Option<DateTime<Utc>>,
    /// For a subflow's placeholder task run in its parent: the subflow run's id.
    pub subflow_run_id: Option<Uuid>,
}

impl TaskRun {
    /// The current (for a finished flow: final) state.
    pub fn state(&self) -> &State {
        last_state(&self.history)
    }

    /// Time from first start to the final state.
    pub fn duration(&self) -> Option<std::time::Duration> {
        duration(self.start_time, self.end_time)
    }
}

/// A snapshot of one flow run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowRun {
    /// The run's UUIDv7, generated by the client.
    pub id: Uuid,
    /// The readable `adjective-animal` name.
    pub name: String,
    /// The flow's name.
    pub flow_name: String,
    /// The flow's version, if it declared one.
    pub version: Option<String>,
    /// The parameters, as JSON.
    pub parameters: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// For a subflow: the parent flow run.
    pub parent_flow_run_id: Option<Uuid>,
    /// For a subflow: the placeholder task run in the parent that stands for it.
    pub parent_task_run_id: Option<Uuid>,
    /// Every state the run went through, oldest first.
    pub history: Vec<State>,
    /// How many times the flow body started (1 without retries).
    pub attempts: u32,
    /// When it first entered `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When it reached its final state.
    pub end_time: Option<DateTime<Utc>>,
}

impl FlowRun {
    /// The current (for a finished run: final) state.
    pub fn state(&self) -> &State {
        last_state(&self.history)
    }

    /// Time from first start to the final state.
    pub fn duration(&self) -> Option<std::time::Duration> {
        duration(self.start_time, self.end_time)
    }
}
