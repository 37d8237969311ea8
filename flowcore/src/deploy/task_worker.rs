//! Task workers (Prefect 3's `serve(tasks)`): a process that runs the queued runs of the tasks it
//! knows — sent by `task::delay(…)` or by a flow under [`TaskRunner::Distributed`](crate::TaskRunner::Distributed) —
//! with their retries, timeouts, tag concurrency limits, hooks and states, like any task run.
//!
//! ```no_run
//! use flowcore::prelude::*;
//!
//! #[task]
//! fn square(x: i64) -> i64 {
//!     x * x
//! }
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // In one process (or on one machine):
//! flowcore::task_worker::serve([square::remote()]).await?;
//! # Ok(()) }
//! # async fn sender() -> Result<(), Box<dyn std::error::Error>> {
//! // In another: queue a run, get its future, await its value.
//! let future = square::delay(7);
//! assert_eq!(future.await?, 49);
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! The queue is where the run record is: the server when `api-url` is set (workers that reach only
//! the API), else the database (`database-url`: one PostgreSQL for several machines; the embedded
//! SQLite file for processes on one machine). A worker claims runs under a lease it renews while
//! it runs them; a worker that dies loses its runs when the lease runs out (default 30 s): each is
//! run again by another worker while its task's `retries` allow it, else it ends `Crashed`. A run
//! that finished is never run again. Values travel through the result storage (`results-dir`),
//! which workers and the programs sending them runs must share (one machine, or a shared
//! directory).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use crate::reporting::reporter;
use crate::runtime::task_queue::QueueAccess;
use crate::schemas::task_queue::{
    ClaimedTask, TaskClaim, TaskFinish, TaskLeases, TaskOutcome, MAX_TASKS_PER_REQUEST,
};

/// A task a worker can run: `my_task::remote()` (the task's parameters and value must be serde
/// types).
#[derive(Clone, Copy)]
pub struct RemoteTask {
    name: &'static str,
    run: fn(ClaimedTask) -> BoxFuture<'static, TaskOutcome>,
}

impl std::fmt::Debug for RemoteTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTask")
            .field("name", &self.name)
            .finish()
    }
}

impl RemoteTask {
    #[doc(hidden)]
    pub fn __new(
        name: &'static str,
        run: fn(ClaimedTask) -> BoxFuture<'static, TaskOutcome>,
    ) -> RemoteTask {
        RemoteTask { name, run }
    }

    /// The task's name: the worker claims the queued runs of this name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Why a task worker could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskWorkerError {
    /// It was given no task.
    #[error("a task worker needs at least one task to serve")]
    NoTasks,
    /// The task queue could not be opened.
    #[error("cannot open the task queue: {0}")]
    Queue(String),
}

/// A task worker: the tasks it serves and how. [`serve`] is the short form.
#[derive(Debug)]
pub struct TaskWorker {
    tasks: HashMap<&'static str, RemoteTask>,
    limit: usize,
    lease: Duration,
    name: String,
}

impl TaskWorker {
    /// A worker for `tasks`, running at most 10 runs at once (Prefect's default), under 30 s
    /// leases (`FLOWCORE_TASK_WORKER_LEASE` seconds).
    pub fn new(tasks: impl IntoIterator<Item = RemoteTask>) -> TaskWorker {
        let lease = std::env::var("FLOWCORE_TASK_WORKER_LEASE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .map_or(Duration::from_secs(30), Duration::from_secs_f64);
        TaskWorker {
            tasks: tasks.into_iter().map(|t| (t.name, t)).collect(),
            limit: 10,
            lease,
            name: format!(
                "task-worker-{}-{}",
                std::process::id(),
                &Uuid::now_v7().simple().to_string()[20..]
            ),
        }
    }

    /// Runs at most `limit` runs at once (at least 1, at most 1000).
    pub fn limit(mut self, limit: usize) -> TaskWorker {
        self.limit = limit.clamp(1, MAX_TASKS_PER_REQUEST);
        self
    }

    /// How long a claimed run stays this worker's without a renewal (renewed every third of it);
    /// a worker that dies loses its runs this long after its last renewal.
    pub fn lease(mut self, lease: Duration) -> TaskWorker {
        self.lease = lease.clamp(Duration::from_millis(100), Duration::from_secs(3600));
        self
    }

    /// The name its leases are held under (default: `task-worker-<pid>-<random>`).
    pub fn name(mut self, name: impl Into<String>) -> TaskWorker {
        self.name = name.into();
        self
    }

    /// The name its leases are held under.
    pub fn worker_name(&self) -> &str {
        &self.name
    }

    /// Serves until Ctrl-C (SIGINT), then finishes the runs it holds.
    #[cfg(feature = "client")]
    pub async fn serve(self) -> Result<u64, TaskWorkerError> {
        self.run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }

    /// Serves until `shutdown` resolves, then finishes the runs it holds (claiming no more), and
    /// gives how many runs it ran.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<u64, TaskWorkerError> {
        if self.tasks.is_empty() {
            return Err(TaskWorkerError::NoTasks);
        }
        crate::logging::init();
        let access = Arc::new(QueueAccess::open().await.map_err(TaskWorkerError::Queue)?);
        let names: Vec<String> = self.tasks.keys().map(|s| s.to_string()).collect();
        tracing::info!(
            target: "flowcore::task_worker",
            "Task worker {} serving {} (at most {} at once)",
            self.name,
            names.join(", "),
            self.limit
        );
        let held: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
        let ran = Arc::new(AtomicU64::new(0));
        let permits = Arc::new(Semaphore::new(self.limit));
        let (finished, outcomes) = mpsc::unbounded_channel::<TaskOutcome>();
        let renewer = tokio::spawn(renew(
            Arc::clone(&access),
            self.name.clone(),
            Arc::clone(&held),
            self.lease,
        ));
        let finisher = tokio::spawn(finish(
            Arc::clone(&access),
            self.name.clone(),
            Arc::clone(&held),
            outcomes,
        ));
        tokio::pin!(shutdown);
        loop {
            let first = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                p = Arc::clone(&permits).acquire_owned() => p.expect("the semaphore is never closed"),
            };
            let mut free = vec![first];
            while let Ok(p) = Arc::clone(&permits).try_acquire_owned() {
                free.push(p);
            }
            let claim = TaskClaim {
                worker: self.name.clone(),
                tasks: names.clone(),
                limit: free.len() as i64,
                lease_seconds: self.lease.as_secs_f64(),
            };
            // A claim is never abandoned midway (runs it took would wait out their lease): it
            // waits at most a second, and the shutdown is looked at between claims.
            let claimed = match access.claim(&claim, Duration::from_secs(1)).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(target: "flowcore::task_worker", "cannot claim task runs: {e}");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            for item in claimed {
                // Never more than asked for; should a server give more, they wait for a slot.
                let permit = match free.pop() {
                    Some(p) => p,
                    None => Arc::clone(&permits)
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed"),
                };
                let Some(task) = self.tasks.get(item.queued.task.as_str()).copied() else {
                    continue;
                };
                held.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(item.queued.task_run_id);
                let finished = finished.clone();
                let ran = Arc::clone(&ran);
                let handle = tokio::runtime::Handle::current();
                // Each run on a thread of its own: a sync body may block for as long as it likes.
                tokio::task::spawn_blocking(move || {
                    let outcome = handle.block_on((task.run)(item));
                    ran.fetch_add(1, Ordering::Relaxed);
                    let _ = finished.send(outcome);
                    drop(permit);
                });
            }
        }
        // Every run it holds finishes (their permits come back), then their outcomes are written.
        let _ = permits.acquire_many(self.limit as u32).await;
        drop(finished);
        let _ = finisher.await;
        renewer.abort();
        Ok(ran.load(Ordering::Relaxed))
    }
}

/// Serves `tasks` until Ctrl-C: `flowcore::task_worker::serve([square::remote()]).await`.
#[cfg(feature = "client")]
pub async fn serve(tasks: impl IntoIterator<Item = RemoteTask>) -> Result<u64, TaskWorkerError> {
    TaskWorker::new(tasks).serve().await
}

/// Renews the worker's leases every third of a lease; a run it no longer holds was lost.
async fn renew(
    access: Arc<QueueAccess>,
    worker: String,
    held: Arc<Mutex<HashSet<Uuid>>>,
    lease: Duration,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let ids: Vec<Uuid> = held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        for chunk in ids.chunks(MAX_TASKS_PER_REQUEST) {
            let leases = TaskLeases {
                worker: worker.clone(),
                task_run_ids: chunk.to_vec(),
                lease_seconds: lease.as_secs_f64(),
            };
            match access.renew(&leases).await {
                Ok(kept) => {
                    let kept: HashSet<Uuid> = kept.into_iter().collect();
                    for id in chunk.iter().filter(|id| !kept.contains(id)) {
                        // Finished meanwhile, or lost: only the latter is still held.
                        if held.lock().unwrap_or_else(|e| e.into_inner()).contains(id) {
                            tracing::warn!(
                                target: "flowcore::task_worker",
                                "Task worker {worker} lost its lease on task run {id}: it may be run elsewhere"
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!(
                    target: "flowcore::task_worker",
                    "cannot renew the leases of task worker {worker}: {e}"
                ),
            }
        }
    }
}

/// Writes the outcomes of finished runs, in batches, once their states reached the record.
async fn finish(
    access: Arc<QueueAccess>,
    worker: String,
    held: Arc<Mutex<HashSet<Uuid>>>,
    mut outcomes: mpsc::UnboundedReceiver<TaskOutcome>,
) {
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_TASKS_PER_REQUEST {
            match outcomes.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        // The states this worker reported reach the record before the outcome says it ended.
        reporter::flush().await;
        let finish = TaskFinish {
            worker: worker.clone(),
            outcomes: batch,
        };
        let mut pause = Duration::from_millis(100);
        let done = loop {
            match access.finish(&finish).await {
                Ok(done) => break done,
                Err(e) if pause < Duration::from_secs(30) => {
                    tracing::warn!(target: "flowcore::task_worker", "cannot write task run outcomes (retrying): {e}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    tracing::error!(target: "flowcore::task_worker", "cannot write task run outcomes: {e}");
                    break Vec::new();
                }
            }
        };
        let done: HashSet<Uuid> = done.into_iter().collect();
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        for o in &finish.outcomes {
            held.remove(&o.task_run_id);
            if !done.contains(&o.task_run_id) {
                tracing::warn!(
                    target: "flowcore::task_worker",
                    "Task run {} finished after task worker {worker} lost its lease: its outcome is not the queue's",
                    o.task_run_id
                );
            }
        }
    }
}
