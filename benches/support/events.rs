//! Reported events the benches feed the record: a flow run, and task runs created and completed
//! the way the runtime reports them. Shared by `ingest.rs` and `writer.rs`.

use std::sync::Arc;

use flowcore::event::{Event, RunKind, RunRef};
use flowcore::State;
use uuid::Uuid;

/// A flow run's creation event, named `name`, of the flow `flow_name`.
pub fn flow_run_created(id: Uuid, name: &str, flow_name: &str) -> (RunRef, Event) {
    let run = RunRef {
        kind: RunKind::Flow,
        id,
        name: Arc::from(name),
        flow_run_id: Some(id),
    };
    let event = Event::FlowRunCreated {
        run: run.clone(),
        flow_name: flow_name.into(),
        version: None,
        parameters: serde_json::json!({}),
        tags: Vec::new(),
        parent_flow_run_id: None,
        parent_task_run_id: None,
        created: chrono::Utc::now(),
    };
    (run, event)
}

/// The creation of task run `step-{i}` (fresh id) in flow run `flow_run_id`.
pub fn task_run_created(flow_run_id: Uuid, i: usize) -> (RunRef, Event) {
    let run = RunRef {
        kind: RunKind::Task,
        id: Uuid::now_v7(),
        name: Arc::from(format!("step-{i}")),
        flow_run_id: Some(flow_run_id),
    };
    let event = Event::TaskRunCreated {
        run: run.clone(),
        task_name: "step".into(),
        flow_run_id: Some(flow_run_id),
        tags: Vec::new(),
        inputs: Vec::new(),
        created: chrono::Utc::now(),
    };
    (run, event)
}

/// `n` task runs, each created and taken through Pending → Running → Completed: `4 × n` events
/// in the order the runtime reports them.
pub fn completed_task_runs(flow_run_id: Uuid, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(4 * n);
    for i in 0..n {
        let (run, event) = task_run_created(flow_run_id, i);
        events.push(event);
        for state in [State::pending(), State::running(), State::completed()] {
            events.push(Event::StateChanged {
                run: run.clone(),
                state,
            });
        }
    }
    events
}
