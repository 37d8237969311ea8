//! The task queue: task runs queued for task workers, claimed, kept, finished and waited for.

use std::time::Duration;

use uuid::Uuid;

use super::{ApiClient, ApiClientError};
use crate::schemas::task_queue::{
    ClaimedTask, QueuedTask, TaskClaim, TaskFinish, TaskLeases, TaskOutcome, TaskQueueCount,
    TaskRunIds,
};

impl ApiClient {
    /// `POST /task_queue`: queues task runs (their records reported first).
    pub async fn enqueue_tasks(&self, tasks: &[QueuedTask]) -> Result<Vec<Uuid>, ApiClientError> {
        self.post("/task_queue", &tasks).await
    }

    /// `POST /task_queue/claim?wait=…`: claims queued runs of `claim.tasks`, waiting up to `wait`
    /// for one when none is queued.
    pub async fn claim_tasks(
        &self,
        claim: &TaskClaim,
        wait: Duration,
    ) -> Result<Vec<ClaimedTask>, ApiClientError> {
        self.post(
            &format!("/task_queue/claim?wait={}", wait.as_secs_f64()),
            claim,
        )
        .await
    }

    /// `POST /task_queue/renew`: renews leases; gives back the runs still held.
    pub async fn renew_task_leases(
        &self,
        leases: &TaskLeases,
    ) -> Result<Vec<Uuid>, ApiClientError> {
        self.post("/task_queue/renew", leases).await
    }

    /// `POST /task_queue/finish`: writes outcomes; gives back the runs finished.
    pub async fn finish_tasks(&self, finish: &TaskFinish) -> Result<Vec<Uuid>, ApiClientError> {
        self.post("/task_queue/finish", finish).await
    }

    /// `POST /task_queue/outcomes?wait=…`: the outcomes of those of `ids` that ended, waiting up
    /// to `wait` for one when none has.
    pub async fn task_outcomes(
        &self,
        ids: &[Uuid],
        wait: Duration,
    ) -> Result<Vec<TaskOutcome>, ApiClientError> {
        let body = TaskRunIds {
            task_run_ids: ids.to_vec(),
        };
        self.post(
            &format!("/task_queue/outcomes?wait={}", wait.as_secs_f64()),
            &body,
        )
        .await
    }

    /// `POST /task_queue/cancel`: cancels those of `ids` still queued.
    pub async fn cancel_queued_tasks(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, ApiClientError> {
        let body = TaskRunIds {
            task_run_ids: ids.to_vec(),
        };
        self.post("/task_queue/cancel", &body).await
    }

    /// `GET /task_queue`: how many runs each task has in each status.
    pub async fn task_queue_counts(&self) -> Result<Vec<TaskQueueCount>, ApiClientError> {
        self.get("/task_queue").await
    }
}
