//! The task queue from the runtime's side: where it is (the server when an API URL is set, else the
//! configured database — PostgreSQL for several machines — as for the run record), and the
//! process's thread that queues task runs in batches and waits for their outcomes.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::schemas::task_queue::{
    ClaimedTask, QueuedTask, TaskClaim, TaskFinish, TaskLeases, TaskOutcome, MAX_TASKS_PER_REQUEST,
};

/// Where the task queue is, as the settings in force say.
pub(crate) enum QueueAccess {
    #[cfg(feature = "client")]
    Api(crate::api_client::ApiClient),
    #[cfg(feature = "store")]
    Db(crate::store::Store),
}

/// The settings that choose the queue: `api-url`, else the database URL.
fn target() -> Result<String, String> {
    if let Ok(Some(url)) = crate::config::get("api-url") {
        if !url.is_empty() {
            return Ok(format!("api:{url}"));
        }
    }
    crate::config::database_url()
        .map(|u| format!("db:{u}"))
        .map_err(|e| e.to_string())
}

impl QueueAccess {
    /// Opens the queue the settings name. Recording switched off leaves no queue to share.
    pub(crate) async fn open() -> Result<QueueAccess, String> {
        if crate::reporting::destination::disabled() {
            return Err(
                "recording is off (FLOWCORE_RECORD=off): task runs cannot be sent to task \
                 workers without a shared record"
                    .into(),
            );
        }
        #[cfg(feature = "client")]
        if let Ok(Some(url)) = crate::config::get("api-url") {
            if !url.is_empty() {
                return Ok(QueueAccess::Api(
                    crate::api_client::ApiClient::from_settings(),
                ));
            }
        }
        #[cfg(feature = "store")]
        {
            Ok(QueueAccess::Db(
                crate::store::Store::connect_configured().await?,
            ))
        }
        #[cfg(not(feature = "store"))]
        Err("this build has neither the `store` nor the `client` feature: no task queue".into())
    }

    /// Whether waiting is done by the server (a long poll) rather than by asking again.
    fn waits_remotely(&self) -> bool {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(_) => true,
            #[cfg(feature = "store")]
            QueueAccess::Db(_) => false,
        }
    }

    pub(crate) async fn enqueue(&self, tasks: &[QueuedTask]) -> Result<(), String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => {
                for chunk in tasks.chunks(MAX_TASKS_PER_REQUEST) {
                    c.enqueue_tasks(chunk).await.map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => s.enqueue_tasks(tasks).await.map_err(|e| e.to_string()),
        }
    }

    /// Claims runs, waiting up to `wait` for one.
    pub(crate) async fn claim(
        &self,
        claim: &TaskClaim,
        wait: Duration,
    ) -> Result<Vec<ClaimedTask>, String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => c.claim_tasks(claim, wait).await.map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => s
                .claim_tasks_wait(
                    &claim.worker,
                    &claim.tasks,
                    claim.limit.max(0) as usize,
                    Duration::from_secs_f64(claim.lease_seconds),
                    wait,
                )
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub(crate) async fn renew(&self, leases: &TaskLeases) -> Result<Vec<Uuid>, String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => c.renew_task_leases(leases).await.map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => {
                let until = chrono::Utc::now()
                    + chrono::Duration::from_std(Duration::from_secs_f64(leases.lease_seconds))
                        .unwrap_or_default();
                s.renew_task_leases(&leases.worker, &leases.task_run_ids, until)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub(crate) async fn finish(&self, finish: &TaskFinish) -> Result<Vec<Uuid>, String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => c.finish_tasks(finish).await.map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => s
                .finish_tasks(&finish.worker, &finish.outcomes)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    async fn outcomes(&self, ids: &[Uuid], wait: Duration) -> Result<Vec<TaskOutcome>, String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => c.task_outcomes(ids, wait).await.map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => s.task_outcomes(ids).await.map_err(|e| e.to_string()),
        }
    }

    async fn cancel(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, String> {
        match self {
            #[cfg(feature = "client")]
            QueueAccess::Api(c) => c.cancel_queued_tasks(ids).await.map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            QueueAccess::Db(s) => s
                .cancel_queued_tasks(
                    ids,
                    "The flow run was cancelled before a task worker ran it",
                )
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Without a server, the waiting process recovers runs whose worker was lost (a server's
    /// services do it otherwise).
    async fn recover(&self) {
        #[cfg(feature = "store")]
        if let QueueAccess::Db(s) = self {
            let _ = s.recover_lost_tasks(chrono::Utc::now()).await;
        }
    }
}

/// How many of the oldest runs waited for a round asks about.
const WINDOW: usize = 2 * MAX_TASKS_PER_REQUEST;

/// How often a round asks about every run waited for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// What the queue thread is asked.
enum Request {
    /// Queue a run and answer its outcome.
    Run(
        Box<QueuedTask>,
        oneshot::Sender<Result<TaskOutcome, String>>,
    ),
    /// Cancel a run if it is still queued.
    Cancel(Uuid),
}

/// Sends `task` to the task workers and waits for its outcome.
pub(crate) async fn run(task: QueuedTask) -> Result<TaskOutcome, String> {
    let (tx, rx) = oneshot::channel();
    sender()
        .send(Request::Run(Box::new(task), tx))
        .map_err(|_| "the task queue thread is gone".to_string())?;
    rx.await
        .map_err(|_| "the task queue thread stopped".to_string())?
}

/// Cancels a run not yet claimed by a worker.
pub(crate) fn cancel(id: Uuid) {
    let _ = sender().send(Request::Cancel(id));
}

fn sender() -> &'static mpsc::UnboundedSender<Request> {
    static SENDER: OnceLock<mpsc::UnboundedSender<Request>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("flowcore-task-queue".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("flowcore: cannot start the task queue's runtime")
                    .block_on(serve(rx))
            })
            .expect("flowcore: cannot start the task queue thread");
        tx
    })
}

/// The queue thread: queues what arrives in batches, and asks for the outcomes of every run it
/// waits for in one request (a long poll on a server), until each has one.
async fn serve(mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut access: Option<(String, QueueAccess)> = None;
    let mut waiting: HashMap<Uuid, oneshot::Sender<Result<TaskOutcome, String>>> = HashMap::new();
    let mut carried: Vec<Request> = Vec::new();
    let mut pause = Duration::from_millis(2);
    let mut last_recovery = tokio::time::Instant::now();
    // The runs waited for, in the order they were sent: runs mostly end in that order, so each
    // round asks for the oldest ones only, and for all of them now and then (a run that ended
    // out of turn).
    let mut order: std::collections::VecDeque<Uuid> = std::collections::VecDeque::new();
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        // New requests: those that arrived, or wait for one when nothing is outstanding.
        let mut requests = std::mem::take(&mut carried);
        if waiting.is_empty() && requests.is_empty() {
            match rx.recv().await {
                Some(r) => requests.push(r),
                None => return,
            }
        }
        while let Ok(r) = rx.try_recv() {
            requests.push(r);
        }
        if !requests.is_empty() {
            // The settings may have changed since the queue was opened (the test harness).
            let wanted = target();
            let stale = match (&access, &wanted) {
                (Some((t, _)), Ok(w)) => t != w,
                (None, _) => true,
                _ => false,
            };
            if stale {
                access = match (wanted, QueueAccess::open().await) {
                    (Ok(t), Ok(a)) => Some((t, a)),
                    (_, Err(e)) | (Err(e), _) => {
                        for r in requests {
                            if let Request::Run(_, reply) = r {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                        continue;
                    }
                };
            }
        }
        let Some((_, queue)) = &access else { continue };
        let mut batch = Vec::new();
        let mut cancels = Vec::new();
        for r in requests {
            match r {
                Request::Run(task, reply) => {
                    waiting.insert(task.task_run_id, reply);
                    order.push_back(task.task_run_id);
                    batch.push(*task);
                }
                Request::Cancel(id) => cancels.push(id),
            }
        }
        if !batch.is_empty() {
            if let Err(e) = queue.enqueue(&batch).await {
                for t in &batch {
                    if let Some(reply) = waiting.remove(&t.task_run_id) {
                        let _ = reply.send(Err(format!("cannot queue the task run: {e}")));
                    }
                }
            }
            pause = Duration::from_millis(2);
        }
        if !cancels.is_empty() {
            let _ = queue.cancel(&cancels).await;
        }
        if waiting.is_empty() {
            continue;
        }
        while order.front().is_some_and(|id| !waiting.contains_key(id)) {
            order.pop_front();
        }
        let sweep = last_sweep.elapsed() >= SWEEP_EVERY;
        let ids: Vec<Uuid> = if sweep {
            last_sweep = tokio::time::Instant::now();
            order.retain(|id| waiting.contains_key(id));
            order.iter().copied().collect()
        } else {
            order
                .iter()
                .filter(|id| waiting.contains_key(id))
                .take(WINDOW)
                .copied()
                .collect()
        };
        let remote = queue.waits_remotely();
        let single = ids.len() <= MAX_TASKS_PER_REQUEST;
        let mut found = Vec::new();
        for chunk in ids.chunks(MAX_TASKS_PER_REQUEST) {
            // One long poll when every id fits in it; a new request ends the wait (its run is
            // queued and waited for in the next round).
            let wait = if remote && single {
                Duration::from_secs(5)
            } else {
                Duration::ZERO
            };
            let asked = queue.outcomes(chunk, wait);
            let answer = if wait.is_zero() {
                asked.await
            } else {
                tokio::select! {
                    a = asked => a,
                    r = rx.recv() => match r {
                        Some(r) => {
                            carried.push(r);
                            Ok(Vec::new())
                        }
                        None => return,
                    },
                }
            };
            match answer {
                Ok(outcomes) => found.extend(outcomes),
                Err(e) => {
                    tracing::warn!(target: "flowcore::task_queue", "cannot ask for task run outcomes: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let progressed = !found.is_empty();
        for outcome in found {
            if let Some(reply) = waiting.remove(&outcome.task_run_id) {
                let _ = reply.send(Ok(outcome));
            }
        }
        if !remote {
            if last_recovery.elapsed() >= Duration::from_secs(1) {
                queue.recover().await;
                last_recovery = tokio::time::Instant::now();
            }
            pause = if progressed {
                Duration::from_millis(2)
            } else {
                (pause * 2).min(Duration::from_millis(100))
            };
            // Wait before asking again, unless a request arrives.
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => carried.push(r),
                    None => return,
                },
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
