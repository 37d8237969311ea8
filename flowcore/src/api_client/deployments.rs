//! Deployments and work queues: apply, list, run, pause, resume, delete; agents' claims.

use uuid::Uuid;

use super::{ApiClient, ApiClientError};
use crate::schemas::deployments::{ClaimedRun, DeploymentSpec, StoredDeployment, StoredWorkQueue};
use crate::schemas::records::{Page, StoredFlowRun};
use crate::schemas::requests::{ClaimRequest, Concurrency, NewWorkQueue, RunRequest};

impl ApiClient {
    /// `POST /deployments`: creates or updates (by flow + name) a deployment.
    pub async fn apply_deployment(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<StoredDeployment, ApiClientError> {
        self.post("/deployments", spec).await
    }

    /// `GET /deployments`: every deployment.
    pub async fn deployments(&self) -> Result<Vec<StoredDeployment>, ApiClientError> {
        let page: Page<StoredDeployment> = self.get("/deployments").await?;
        Ok(page.results)
    }

    /// `POST /deployments/{id}/runs`: a run of the deployment now, `parameters` merged over its own.
    pub async fn run_deployment(
        &self,
        id: Uuid,
        parameters: Option<serde_json::Value>,
    ) -> Result<StoredFlowRun, ApiClientError> {
        self.post(
            &format!("/deployments/{id}/runs"),
            &RunRequest { parameters },
        )
        .await
    }

    /// `POST /deployments/{id}/pause` (`paused`) or `…/resume`: pauses or resumes its schedule.
    pub async fn set_deployment_paused(
        &self,
        id: Uuid,
        paused: bool,
    ) -> Result<StoredDeployment, ApiClientError> {
        let verb = if paused { "pause" } else { "resume" };
        self.post(&format!("/deployments/{id}/{verb}"), &serde_json::json!({}))
            .await
    }

    /// `DELETE /deployments/{id}`.
    pub async fn delete_deployment(&self, id: Uuid) -> Result<serde_json::Value, ApiClientError> {
        self.send::<(), _>(reqwest::Method::DELETE, &format!("/deployments/{id}"), None)
            .await
    }

    /// `GET /work_queues`: every work queue with its counts.
    pub async fn work_queues(&self) -> Result<Vec<StoredWorkQueue>, ApiClientError> {
        let page: Page<StoredWorkQueue> = self.get("/work_queues").await?;
        Ok(page.results)
    }

    /// `POST /work_queues`: creates a work queue.
    pub async fn create_work_queue(
        &self,
        queue: &NewWorkQueue,
    ) -> Result<StoredWorkQueue, ApiClientError> {
        self.post("/work_queues", queue).await
    }

    /// `POST /work_queues/{name}/pause` (`paused`) or `…/resume`.
    pub async fn set_work_queue_paused(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<StoredWorkQueue, ApiClientError> {
        let verb = if paused { "pause" } else { "resume" };
        self.post(
            &format!("/work_queues/{name}/{verb}"),
            &serde_json::json!({}),
        )
        .await
    }

    /// `PUT /work_queues/{name}/concurrency`: at most `limit` of its runs at once (`None`: no limit).
    pub async fn set_work_queue_concurrency(
        &self,
        name: &str,
        limit: Option<i64>,
    ) -> Result<StoredWorkQueue, ApiClientError> {
        let body = Concurrency {
            concurrency_limit: limit,
        };
        self.send(
            reqwest::Method::PUT,
            &format!("/work_queues/{name}/concurrency"),
            Some(&body),
        )
        .await
    }

    /// `POST /work_queues/{name}/claim`: up to `limit` due runs of the queue for `agent`.
    pub async fn claim(
        &self,
        queue: &str,
        agent: &str,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, ApiClientError> {
        let body = ClaimRequest {
            agent: agent.to_string(),
            limit,
        };
        self.post(&format!("/work_queues/{queue}/claim"), &body)
            .await
    }

    /// `POST /work_queues/{name}/claim?wait=…`: [`claim`](Self::claim), but when no run is due the
    /// server holds the request up to `wait` (at most 20 s here, under the client's 30 s request
    /// timeout) and answers as soon as one can be claimed — a long poll.
    pub async fn claim_wait(
        &self,
        queue: &str,
        agent: &str,
        limit: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<ClaimedRun>, ApiClientError> {
        let wait = wait.min(std::time::Duration::from_secs(20)).as_secs_f64();
        let body = ClaimRequest {
            agent: agent.to_string(),
            limit,
        };
        self.post(&format!("/work_queues/{queue}/claim?wait={wait}"), &body)
            .await
    }
}
