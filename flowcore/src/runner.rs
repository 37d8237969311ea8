//! Task runners: how a flow run executes the tasks it `.submit()`s.

use serde::{Deserialize, Serialize};

/// How submitted tasks run. Plain calls (`task(..).await`) always run at once, in the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskRunner {
    /// Submitted tasks run one at a time, to completion, in submission order, on one worker.
    Sequential,
    /// Submitted tasks run concurrently on the tokio runtime as soon as their inputs are ready; the
    /// bodies of sync tasks run on the blocking pool, so CPU-bound steps do not stall async work.
    #[default]
    Concurrent,
}
