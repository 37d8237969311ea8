//! Task runners: how a flow run executes the tasks it `.submit()`s.

use std::future::Future;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// How submitted tasks run. Plain calls (`task(..).await`) always run at once, in the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskRunner {
    /// Submitted tasks run one at a time, to completion, in submission order, on one worker.
    Sequential,
    /// Submitted tasks run concurrently as soon as their inputs are ready: async tasks on the tokio
    /// runtime, sync tasks on flowcore's worker threads (at most [`max_workers`] at once, like Prefect's
    /// thread-pool runner), so CPU-bound steps never stall the async workers.
    #[default]
    Concurrent,
}

/// How many sync task bodies the Concurrent runner runs at once, process-wide:
/// `FLOWCORE_TASK_RUNNER_MAX_WORKERS`, or `min(32, cores + 4)` as Python's thread pools do.
pub fn max_workers() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("FLOWCORE_TASK_RUNNER_MAX_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                (cores + 4).min(32)
            })
    })
}

type Job = Box<dyn FnOnce() + Send>;

/// The Concurrent runner's thread pool for sync task bodies: [`max_workers`] threads, started on first
/// use, taking jobs in submission order. A job runs the whole task run (states, body, retries,
/// completion) on the pool thread, so a submitted sync task costs one hand-off, not three.
fn pool() -> &'static Mutex<Sender<Job>> {
    static POOL: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..max_workers() {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("flowcore-worker-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("cannot start a flowcore worker thread");
        }
        Mutex::new(tx)
    })
}

/// Runs `fut` to completion on a pool thread, inside the runtime of `handle` (so timers and I/O work).
pub(crate) fn run_on_pool(
    handle: tokio::runtime::Handle,
    fut: impl Future<Output = ()> + Send + 'static,
) {
    let job: Job = Box::new(move || handle.block_on(fut));
    let sent = pool().lock().unwrap_or_else(|e| e.into_inner()).send(job);
    if let Err(returned) = sent {
        // The pool only goes away with the process; run the job here rather than lose it.
        (returned.0)();
    }
}
