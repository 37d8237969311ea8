//! The task runners a flow may choose: the value `#[flow(task_runner = …)]` names.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Submitted tasks are sent to [task workers](crate::task_worker) — other processes, other
    /// machines — through the task queue, as `task::delay` sends them; the graph, states and
    /// record are the same. A task whose parameters or value are not serde types runs here, as
    /// under `Concurrent`. Needs a shared record (a server, or one PostgreSQL or SQLite database)
    /// and a shared result storage.
    Distributed,
}

/// Whether this process ever sent a task run to the workers (so a task call checks no more than
/// one atomic until it does).
static USED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while `task::delay` builds its call.
    static DELAYING: Cell<bool> = const { Cell::new(false) };
}

/// Notes that task runs may be sent to workers from now on (a `Distributed` flow run started, or
/// `task::delay` was called).
pub(crate) fn note_distributed() {
    USED.store(true, Ordering::Relaxed);
}

/// Whether task runs may have been sent to workers in this process.
pub(crate) fn distributed_used() -> bool {
    USED.load(Ordering::Relaxed)
}

/// Whether `task::delay` is building its call on this thread.
pub(crate) fn delaying() -> bool {
    DELAYING.with(Cell::get)
}

/// Runs `make` (a task call's construction) as `task::delay` does.
pub(crate) fn while_delaying<R>(make: impl FnOnce() -> R) -> R {
    let before = DELAYING.with(|d| d.replace(true));
    let made = make();
    DELAYING.with(|d| d.set(before));
    made
}
