//! The task runners a flow may choose: the value `#[flow(task_runner = …)]` names.

use serde::{Deserialize, Serialize};

/// How submitted tasks run. Plain calls (`task(..).await`) always run at once, in the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskRunner {
    /// Submitted tasks run one at a time, to completion, in submission order, on one worker.
    Sequential,
    /// Submitted tasks run concurrently as soon as their inputs are ready: async tasks on the tokio
    /// runtime, sync tasks on flowcore's worker threads (at most [`max_workers`](super::runner::max_workers) at once, like Prefect's
    /// thread-pool runner), so CPU-bound steps never stall the async workers.
    #[default]
    Concurrent,
}
