//! The record of a run: who it is, what it was fed, and every state it went through.
//!
//! The runtime keeps a live record per run (shared between the engine and the handles a user holds) and
//! hands out [`FlowRun`] and [`TaskRun`] snapshots (the plain values of `schemas::runs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::history::History;
use super::orchestration::{self, Rejection};
use super::state::State;
use crate::reporting::reporter;
use crate::schemas::events::{Event, RunKind, RunRef};
use crate::schemas::runs::{FlowRun, TaskInput, TaskRun};

#[derive(Debug, Default, Clone)]
struct Progress {
    /// Compact; the start and end times are read off it.
    history: History,
    attempts: u32,
    subflow_run_id: Option<Uuid>,
}

/// A run's progress in the shape of its snapshot.
struct Parts {
    history: Vec<State>,
    attempts: u32,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    subflow_run_id: Option<Uuid>,
}

impl Progress {
    fn to_parts(&self) -> Parts {
        Parts {
            history: self.history.to_states(),
            attempts: self.attempts,
            start_time: self.history.start_time(),
            end_time: self.history.end_time(),
            subflow_run_id: self.subflow_run_id,
        }
    }

    fn into_parts(self) -> Parts {
        Parts {
            start_time: self.history.start_time(),
            end_time: self.history.end_time(),
            history: self.history.into_states(),
            attempts: self.attempts,
            subflow_run_id: self.subflow_run_id,
        }
    }
}

/// The live record of one run (flow run or task run).
#[derive(Debug)]
pub(crate) struct RunRecord {
    /// Who the run is, under the name it was created with.
    pub(crate) run: RunRef,
    /// The name it took later, once (a `task_run_name` that could only render when the run's
    /// upstream values arrived). Every event reported afterwards carries it.
    renamed: OnceLock<Arc<str>>,
    progress: Mutex<Progress>,
    observed: AtomicBool,
}

impl RunRecord {
    /// A new run. `flow_run_id` is the flow run a task run belongs to; a flow run belongs to itself.
    pub(crate) fn new(kind: RunKind, name: String, flow_run_id: Option<Uuid>) -> RunRecord {
        RunRecord::with_id(kind, Uuid::now_v7(), name, flow_run_id)
    }

    /// A run whose id and name were given (a deployment's run, created by the server).
    pub(crate) fn with_id(
        kind: RunKind,
        id: Uuid,
        name: String,
        flow_run_id: Option<Uuid>,
    ) -> RunRecord {
        RunRecord {
            run: RunRef {
                kind,
                id,
                name: name.into(),
                flow_run_id: match kind {
                    RunKind::Flow => Some(id),
                    RunKind::Task => flow_run_id,
                },
            },
            renamed: OnceLock::new(),
            progress: Mutex::new(Progress::default()),
            observed: AtomicBool::new(false),
        }
    }

    pub(crate) fn id(&self) -> Uuid {
        self.run.id
    }

    pub(crate) fn name(&self) -> &str {
        self.name_arc()
    }

    /// The run's current name, shared.
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        self.renamed.get().unwrap_or(&self.run.name)
    }

    /// Who the run is now: its reference under its current name.
    pub(crate) fn run_ref(&self) -> RunRef {
        match self.renamed.get() {
            None => self.run.clone(),
            Some(name) => RunRef {
                name: Arc::clone(name),
                ..self.run.clone()
            },
        }
    }

    /// Gives the run the name it could not have when it was created; the events reported from now
    /// on carry it, and the record keeps the latest name it saw. Only the first rename counts.
    pub(crate) fn rename(&self, name: String) {
        let _ = self.renamed.set(name.into());
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Proposes that the run move to `state`: the one place every transition of a live run goes
    /// through. The [orchestration policy](orchestration::decide) decides; an accepted state (as the
    /// policy may have replaced it) is recorded in the history, counts an attempt when it is an entry
    /// into `Running`, stamps start and end, and is reported to the event sink. A rejected one
    /// changes nothing.
    #[allow(clippy::result_large_err)]
    pub(crate) fn propose(&self, state: State) -> Result<State, Rejection> {
        let state = self.apply(state)?;
        reporter::emit(Event::StateChanged {
            run: self.run_ref(),
            state: state.clone(),
        });
        Ok(state)
    }

    /// Records a state the run reached elsewhere and that was reported there (on a task worker):
    /// decided by the policy like any proposal, not reported again.
    #[allow(clippy::result_large_err)]
    pub(crate) fn adopt(&self, state: State) -> Result<State, Rejection> {
        self.apply(state)
    }

    /// Whether the run is in a final state.
    pub(crate) fn is_final(&self) -> bool {
        self.progress()
            .history
            .last_kind()
            .is_some_and(|kind| kind.is_final())
    }

    /// Whether the run has a state and it is not `Completed` (its outcome a failure, a crash, a
    /// cancellation — or not final yet). Reads the kind only: no state is copied.
    pub(crate) fn ended_unsuccessfully(&self) -> bool {
        self.progress()
            .history
            .last_kind()
            .is_some_and(|kind| kind != super::state::StateType::Completed)
    }

    /// The policy's decision on `state`, recorded when accepted.
    #[allow(clippy::result_large_err)]
    fn apply(&self, state: State) -> Result<State, Rejection> {
        {
            let mut p = self.progress();
            let state = orchestration::decide(p.history.last().as_ref(), state).into_result()?;
            if state.is_running() {
                p.attempts += 1;
            }
            p.history.push(state.clone());
            Ok(state)
        }
    }

    pub(crate) fn state(&self) -> Option<State> {
        self.progress().history.last()
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

    /// The attempts so far (the current one included) and when the run first started.
    pub(crate) fn attempts_and_start(&self) -> (u32, Option<DateTime<Utc>>) {
        let p = self.progress();
        (p.attempts, p.history.start_time())
    }

    fn snapshot_parts(&self) -> Parts {
        self.progress().to_parts()
    }

    /// The run's progress, moved out (no copy).
    fn into_parts(self) -> Parts {
        self.progress
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_parts()
    }
}

/// A task run's tags and upstream edges.
#[derive(Debug, Default)]
pub(crate) struct Links {
    tags: Vec<String>,
    inputs: Vec<TaskInput>,
}

impl Links {
    /// `None` when there is neither a tag nor an edge.
    pub(crate) fn of(tags: Vec<String>, inputs: Vec<TaskInput>) -> Option<Box<Links>> {
        (!tags.is_empty() || !inputs.is_empty()).then(|| Box::new(Links { tags, inputs }))
    }
}

/// The static description of a task run, fixed when it is created.
#[derive(Debug)]
pub(crate) struct TaskRunMeta {
    /// Inline: a task run's record lives and goes with its description.
    pub(crate) record: RunRecord,
    pub(crate) task_name: &'static str,
    /// Its tags and upstream edges, when it has any (most runs have neither: one null pointer;
    /// a flow keeps a million of these records).
    pub(crate) links: Option<Box<Links>>,
    /// The parameters the body was called with, as a JSON object's text (see
    /// [`task_params`](super::task_params)): set when the first attempt takes its arguments,
    /// dropped when the run has finished and its hooks ran (a flow holds every task run's record
    /// until it ends: a million of them should not keep their arguments too).
    pub(crate) parameters: Mutex<Option<Vec<u8>>>,
    /// Whether the run has its default name only because its `task_run_name` showed an argument
    /// an upstream run had not produced yet: it is renamed when the body takes its arguments.
    pub(crate) name_pending: bool,
}

impl TaskRunMeta {
    /// The flow run it belongs to (none for a task called outside a flow).
    pub(crate) fn flow_run_id(&self) -> Option<Uuid> {
        self.record.run.flow_run_id
    }

    /// Its tags.
    pub(crate) fn tags(&self) -> &[String] {
        self.links.as_ref().map_or(&[], |links| &links.tags)
    }

    /// Its upstream edges.
    pub(crate) fn inputs(&self) -> &[TaskInput] {
        self.links.as_ref().map_or(&[], |links| &links.inputs)
    }

    /// The final snapshot of a finished run, made without copying what nobody else holds: a flow
    /// of a million task runs does not hold each run's record twice while its snapshots are made.
    pub(crate) fn into_snapshot(self: Arc<Self>) -> TaskRun {
        let meta = match Arc::try_unwrap(self) {
            Ok(meta) => meta,
            Err(shared) => return shared.snapshot(),
        };
        let flow_run_id = meta.flow_run_id();
        let TaskRunMeta {
            record,
            task_name,
            links,
            ..
        } = meta;
        let Links { tags, inputs } = links.map(|links| *links).unwrap_or_default();
        let (id, name) = (record.id(), record.name().to_string());
        let Parts {
            history,
            attempts,
            start_time,
            end_time,
            subflow_run_id,
        } = record.into_parts();
        TaskRun {
            id,
            name,
            task_name: task_name.to_string(),
            flow_run_id,
            tags,
            inputs,
            history,
            attempts,
            start_time,
            end_time,
            subflow_run_id,
        }
    }

    pub(crate) fn snapshot(&self) -> TaskRun {
        let Parts {
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
            flow_run_id: self.flow_run_id(),
            tags: self.tags().to_vec(),
            inputs: self.inputs().to_vec(),
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
    pub(crate) record: RunRecord,
    pub(crate) flow_name: &'static str,
    pub(crate) version: Option<&'static str>,
    pub(crate) parameters: serde_json::Value,
    pub(crate) tags: Vec<String>,
    pub(crate) parent_flow_run_id: Option<Uuid>,
    pub(crate) parent_task_run_id: Option<Uuid>,
}

impl FlowRunMeta {
    pub(crate) fn snapshot(&self) -> FlowRun {
        let Parts {
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
