//! Flow runs: list and read them (with their task runs, states and logs), propose a state, an
//! agent's heartbeat.

use uuid::Uuid;

use super::{ApiClient, ApiClientError};
use crate::runtime::state::State;
use crate::schemas::records::{Page, StoredFlowRun, StoredLog, StoredTaskRun};
use crate::schemas::requests::Heartbeat;

/// A flow-run listing's filter, as `GET /flow_runs` takes it: comma-separated lists, RFC 3339
/// times.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FlowRunsQuery {
    /// State names or types (`Failed`, `CRASHED`).
    pub states: Vec<String>,
    /// Flow names.
    pub flows: Vec<String>,
    /// Deployment ids or names.
    pub deployments: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Created at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Run name contains.
    pub name: Option<String>,
    /// At most this many (1–1000).
    pub limit: Option<i64>,
}

impl FlowRunsQuery {
    /// The query string (`state=Failed&limit=20`), encoded.
    fn encoded(&self) -> String {
        let mut url = reqwest::Url::parse("http://query/").expect("a valid URL");
        {
            let mut pairs = url.query_pairs_mut();
            for (key, list) in [
                ("state", &self.states),
                ("flow", &self.flows),
                ("deployment", &self.deployments),
                ("tag", &self.tags),
            ] {
                if !list.is_empty() {
                    pairs.append_pair(key, &list.join(","));
                }
            }
            if let Some(since) = &self.since {
                pairs.append_pair("since", &since.to_rfc3339());
            }
            if let Some(name) = &self.name {
                pairs.append_pair("name", name);
            }
            if let Some(limit) = self.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        url.query().unwrap_or("").to_string()
    }
}

impl ApiClient {
    /// `GET /flow_runs`: flow runs matching `query`, newest first.
    pub async fn flow_runs(
        &self,
        query: &FlowRunsQuery,
    ) -> Result<Page<StoredFlowRun>, ApiClientError> {
        self.get(&format!("/flow_runs?{}", query.encoded())).await
    }

    /// `GET /flow_runs/{id}/task_runs`: a flow run's task runs, in creation order.
    pub async fn flow_run_task_runs(&self, id: Uuid) -> Result<Vec<StoredTaskRun>, ApiClientError> {
        let page: Page<StoredTaskRun> = self.get(&format!("/flow_runs/{id}/task_runs")).await?;
        Ok(page.results)
    }

    /// `GET /flow_runs/{id}/states`: a flow run's states, oldest first.
    pub async fn flow_run_states(&self, id: Uuid) -> Result<Vec<State>, ApiClientError> {
        self.get(&format!("/flow_runs/{id}/states")).await
    }

    /// `GET /flow_runs/{id}/logs`: a flow run's logs and its task runs', in order.
    pub async fn flow_run_logs(&self, id: Uuid) -> Result<Vec<StoredLog>, ApiClientError> {
        let page: Page<StoredLog> = self.get(&format!("/flow_runs/{id}/logs")).await?;
        Ok(page.results)
    }

    /// `GET /flow_runs/{id}`: one flow run.
    pub async fn flow_run(&self, id: Uuid) -> Result<StoredFlowRun, ApiClientError> {
        self.get(&format!("/flow_runs/{id}")).await
    }

    /// `POST /flow_runs/{id}/state`: proposes a state for a flow run. The server's orchestration
    /// policy decides; a refused transition is an [`ApiClientError::Status`] with status 409.
    pub async fn set_flow_run_state(
        &self,
        id: Uuid,
        state: &State,
    ) -> Result<StoredFlowRun, ApiClientError> {
        self.post(&format!("/flow_runs/{id}/state"), state).await
    }

    /// `POST /flow_runs/{id}/state?agent=…`: proposes a state on behalf of `agent`, applied only
    /// while the run is claimed by it (409 otherwise, or when the policy refuses).
    pub async fn set_flow_run_state_as(
        &self,
        id: Uuid,
        state: &State,
        agent: &str,
    ) -> Result<StoredFlowRun, ApiClientError> {
        let agent: String = url::form_urlencoded::byte_serialize(agent.as_bytes()).collect();
        self.post(&format!("/flow_runs/{id}/state?agent={agent}"), state)
            .await
    }

    /// `POST /flow_runs/{id}/cancel`: cancels a flow run (409 when it is already final).
    pub async fn cancel_flow_run(&self, id: Uuid) -> Result<StoredFlowRun, ApiClientError> {
        self.post(&format!("/flow_runs/{id}/cancel"), &()).await
    }

    /// `POST /flow_runs/{id}/retry`: retries (resumes) a Failed, Crashed or Cancelled flow run
    /// (409 otherwise).
    pub async fn retry_flow_run(&self, id: Uuid) -> Result<StoredFlowRun, ApiClientError> {
        self.post(&format!("/flow_runs/{id}/retry"), &()).await
    }

    /// `POST /flow_runs/{id}/heartbeat`: `agent` still watches the run; whether it holds it, and
    /// whether someone asked the run to stop.
    pub async fn heartbeat_answer(
        &self,
        id: Uuid,
        agent: &str,
    ) -> Result<(bool, bool), ApiClientError> {
        let body = Heartbeat {
            agent: agent.to_string(),
        };
        let answer: serde_json::Value = self
            .post(&format!("/flow_runs/{id}/heartbeat"), &body)
            .await?;
        Ok((
            answer["ok"].as_bool().unwrap_or(false),
            answer["cancel"].as_bool().unwrap_or(false),
        ))
    }

    /// `POST /flow_runs/{id}/heartbeat`: `agent` still watches the run; whether it holds it.
    pub async fn heartbeat(&self, id: Uuid, agent: &str) -> Result<bool, ApiClientError> {
        let body = Heartbeat {
            agent: agent.to_string(),
        };
        let answer: serde_json::Value = self
            .post(&format!("/flow_runs/{id}/heartbeat"), &body)
            .await?;
        Ok(answer["ok"].as_bool().unwrap_or(false))
    }
}
