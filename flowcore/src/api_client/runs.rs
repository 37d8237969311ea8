//! Flow runs: read one, propose a state, an agent's heartbeat.

use uuid::Uuid;

use super::{ApiClient, ApiClientError};
use crate::runtime::state::State;
use crate::schemas::records::StoredFlowRun;
use crate::schemas::requests::Heartbeat;

impl ApiClient {
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
