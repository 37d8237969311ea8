//! Task runners: how a flow run executes the tasks it `.submit()`s.

use std::future::Future;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::BoxFuture;

use super::context::FlowRunContext;
pub use super::task_runner::TaskRunner;
use super::upstream::Upstream;

tokio::task_local! {
    static OVERRIDE: TaskRunner;
}

/// Runs `fut` (usually `flow.run(..)`) with every flow run started inside it using `runner` instead of
/// the runner its `#[flow]` attribute names, like Prefect's `flow.with_options(task_runner=…)`:
///
/// ```
/// use flowcore::prelude::*;
///
/// #[flow(task_runner = Concurrent)]
/// async fn which_runner() -> Option<TaskRunner> {
///     flowcore::runner::current()
/// }
///
/// # #[tokio::main] async fn main() {
/// let state = flowcore::runner::with_task_runner(Sequential, which_runner.run()).await;
/// assert_eq!(state.result().unwrap(), Some(Sequential));
/// # }
/// ```
pub async fn with_task_runner<F: Future>(runner: TaskRunner, fut: F) -> F::Output {
    OVERRIDE.scope(runner, fut).await
}

/// The runner the caller's flow run uses, if the caller runs inside a flow run. A flow body can use it
/// to decide whether to start independent subflows together (`tokio::join!`) or one after another.
pub fn current() -> Option<TaskRunner> {
    FlowRunContext::current().map(|ctx| ctx.runner)
}

/// The override in force for a new flow run: [`with_task_runner`]'s, or the parent flow run's (so it
/// reaches subflows started anywhere under it, submitted tasks included).
pub(crate) fn override_in_force(parent: Option<&FlowRunContext>) -> Option<TaskRunner> {
    OVERRIDE
        .try_with(|r| *r)
        .ok()
        .or_else(|| parent.and_then(|p| p.runner_override))
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
                        // A job catches its task's panics itself; this keeps the thread alive
                        // whatever else goes wrong (e.g. its runtime is gone).
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                })
                .expect("cannot start a flowcore worker thread");
        }
        Mutex::new(tx)
    })
}

/// Runs `fut` to completion on a pool thread, inside the runtime of `handle` (so timers and I/O work).
fn run_on_pool(handle: tokio::runtime::Handle, fut: impl Future<Output = ()> + Send + 'static) {
    let job: Job = Box::new(move || handle.block_on(fut));
    let sent = pool().lock().unwrap_or_else(|e| e.into_inner()).send(job);
    if let Err(returned) = sent {
        // The pool only goes away with the process; run the job here rather than lose it.
        (returned.0)();
    }
}

/// Where a submitted task run's job goes: the one place that decides how submitted tasks execute.
///
/// Under [`TaskRunner::Sequential`] the job queues on its flow run's sequential worker (unless it
/// was submitted from inside a running task: it must not queue behind its parent). Otherwise an async
/// body runs as a tokio task, and a sync body on the worker pool once its inputs are ready (waiting
/// for them on the async side, holding no worker thread). Outside a flow, tasks run as under
/// [`TaskRunner::Concurrent`].
pub(crate) fn dispatch(
    ctx: Option<&Arc<FlowRunContext>>,
    is_sync: bool,
    nested: bool,
    upstream: Vec<Arc<dyn Upstream>>,
    job: BoxFuture<'static, ()>,
) {
    let runner = ctx.map_or(TaskRunner::Concurrent, |c| c.runner);
    match (runner, ctx) {
        (TaskRunner::Sequential, Some(ctx)) if !nested => ctx.enqueue_sequential(job),
        _ if is_sync => {
            let handle = tokio::runtime::Handle::current();
            if upstream.is_empty() {
                run_on_pool(handle, job);
            } else {
                tokio::spawn(async move {
                    for up in &upstream {
                        up.wait().await;
                    }
                    // Release the inputs first: the job may be their last holder.
                    drop(upstream);
                    run_on_pool(handle, job);
                });
            }
        }
        _ => {
            tokio::spawn(job);
        }
    }
}
