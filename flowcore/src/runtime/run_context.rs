//! The runtime context: what code running inside a run can ask about it — Prefect's
//! `get_run_context()` / `prefect.runtime`.
//!
//! [`flow_run()`] and [`task_run()`] answer inside a run — in sync and async bodies, in state hooks,
//! on worker threads — and give `None` outside.
//!
//! ```
//! use flowcore::prelude::*;
//!
//! #[task]
//! fn who(greeting: String) -> (String, u32) {
//!     let run = flowcore::runtime::task_run().expect("inside a task run");
//!     assert_eq!(run.parameters["greeting"], greeting);
//!     (run.task_name, run.attempt)
//! }
//!
//! #[flow]
//! async fn hello(month: String) -> (String, String, u32) {
//!     let flow = flowcore::runtime::flow_run().expect("inside a flow run");
//!     let (task, attempt) = who("hi".to_string()).await.unwrap();
//!     (flow.parameters["month"].as_str().unwrap().to_string(), task, attempt)
//! }
//!
//! # #[tokio::main] async fn main() {
//! # std::env::set_var("FLOWCORE_RECORD", "off");
//! assert!(flowcore::runtime::flow_run().is_none());
//! let out = hello.call("2021-01".into()).await.unwrap();
//! assert_eq!(out, ("2021-01".to_string(), "who".to_string(), 1));
//! # }
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::context::FlowRunContext;
use super::run_record::{FlowRunMeta, TaskRunMeta};
use crate::reporting::logging;

/// The flow run the caller runs in.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FlowRunInfo {
    /// The run's id.
    pub id: Uuid,
    /// The run's name (`flow_run_name`, or a generated `adjective-animal`).
    pub name: String,
    /// The flow's name.
    pub flow_name: String,
    /// The run's parameters, as recorded (a JSON object).
    pub parameters: serde_json::Value,
    /// The run's tags.
    pub tags: Vec<String>,
    /// The current attempt: 1 for the first run, 2 for the first retry, …
    pub attempt: u32,
    /// When the run started running.
    pub start_time: Option<DateTime<Utc>>,
}

/// The task run the caller runs in.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskRunInfo {
    /// The run's id.
    pub id: Uuid,
    /// The run's name (`task_run_name`, or `{task}-{n}`).
    pub name: String,
    /// The task's name.
    pub task_name: String,
    /// The flow run it belongs to, if any.
    pub flow_run_id: Option<Uuid>,
    /// The arguments the body was called with, as a JSON object by parameter name (upstream runs'
    /// values included). A serde type is its JSON (a value over
    /// [`PARAMETER_JSON_CAP`](super::task_params::PARAMETER_JSON_CAP) is a string placeholder
    /// naming its type), any other type a string placeholder naming its type. `null` while the body
    /// has not started (in the hooks of a run whose result came from the cache); the run's hooks
    /// see them, and they are dropped after (a finished run does not keep its arguments).
    pub parameters: serde_json::Value,
    /// The run's tags.
    pub tags: Vec<String>,
    /// The current attempt: 1 for the first run, 2 for the first retry, …
    pub attempt: u32,
    /// When the run started running.
    pub start_time: Option<DateTime<Utc>>,
}

fn flow_info(meta: &FlowRunMeta) -> FlowRunInfo {
    let (attempt, start_time) = meta.record.attempts_and_start();
    FlowRunInfo {
        id: meta.record.id(),
        name: meta.record.name().to_string(),
        flow_name: meta.flow_name.to_string(),
        parameters: meta.parameters.clone(),
        tags: meta.tags.clone(),
        attempt,
        start_time,
    }
}

/// The flow run the caller runs in (its task runs' code included), or `None` outside any.
pub fn flow_run() -> Option<FlowRunInfo> {
    if let Some(ctx) = FlowRunContext::current() {
        return Some(flow_info(&ctx.meta));
    }
    // A hook, or a sync body on a thread of its own, has the run's scope but not the task-local.
    let meta = logging::current_meta()?;
    if let Ok(flow) = Arc::clone(&meta).downcast::<FlowRunMeta>() {
        return Some(flow_info(&flow));
    }
    None
}

/// The task run the caller runs in, or `None` outside any.
pub fn task_run() -> Option<TaskRunInfo> {
    let meta = logging::current_meta()?.downcast::<TaskRunMeta>().ok()?;
    let (attempt, start_time) = meta.record.attempts_and_start();
    Some(TaskRunInfo {
        id: meta.record.id(),
        name: meta.record.name().to_string(),
        task_name: meta.task_name.to_string(),
        flow_run_id: meta.flow_run_id(),
        parameters: super::task_params::parameters_of(&meta),
        tags: meta.tags().to_vec(),
        attempt,
        start_time,
    })
}
