//! The runtime: what a run *is* and how it moves.
//!
//! * [`state`]: Prefect's states; [`orchestration`]: the one policy that decides every proposed
//!   transition (the runtime, the store's ingestion, the server and the agent all ask it).
//! * [`task`] and [`flow`]: what `#[task]` and `#[flow]` generate code against; [`TaskFuture`](crate::TaskFuture)
//!   the handle a submitted task gives; [`runner`]: how submitted tasks run.
//! * [`results`]: how a task run persists its result and reuses a cached one.
//! * The engine (private) runs one run's lifecycle — create, attempts under a retry policy, finish —
//!   for tasks, subflows and flows alike.

pub mod artifacts;
pub(crate) mod body;
pub mod cancel;
pub(crate) mod context;
pub(crate) mod engine;
pub mod error;
pub mod flow;
pub(crate) mod future;
pub(crate) mod history;
pub(crate) mod input;
pub(crate) mod lifecycle;
pub(crate) mod names;
pub mod orchestration;
pub mod remote;
pub mod remote_calls;
pub mod results;
pub mod resume;
pub mod retry;
pub(crate) mod run_context;
pub(crate) mod run_record;
pub mod runner;
pub(crate) mod slots;
pub mod state;
pub mod task;
pub mod task_params;
pub(crate) mod task_queue;
pub(crate) mod task_runner;
pub(crate) mod task_runs;
pub(crate) mod task_spec;
pub(crate) mod upstream;

pub use cancel::{with_cancellation, CancellationToken};
pub use resume::{resume, ResumeError};
pub use run_context::{flow_run, task_run, FlowRunInfo, TaskRunInfo};
