//! Automations: create, list, inspect (with deliveries), pause, resume, delete.

use super::{ApiClient, ApiClientError};
use crate::schemas::automations::{AutomationDetail, AutomationSpec, StoredAutomation};
use crate::schemas::records::Page;

/// An automation's id or name, as a URL path segment.
fn segment(key: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("a valid URL");
    url.path_segments_mut().expect("a base URL").push(key);
    url.path().trim_start_matches('/').to_string()
}

impl ApiClient {
    /// `POST /automations`.
    pub async fn create_automation(
        &self,
        spec: &AutomationSpec,
    ) -> Result<StoredAutomation, ApiClientError> {
        self.post("/automations", spec).await
    }

    /// `GET /automations`.
    pub async fn automations(&self) -> Result<Vec<StoredAutomation>, ApiClientError> {
        let page: Page<StoredAutomation> = self.get("/automations").await?;
        Ok(page.results)
    }

    /// `GET /automations/{key}`: the automation and its latest deliveries.
    pub async fn automation(&self, key: &str) -> Result<AutomationDetail, ApiClientError> {
        self.get(&format!("/automations/{}", segment(key))).await
    }

    /// `POST /automations/{key}/pause` or `/resume`.
    pub async fn set_automation_paused(
        &self,
        key: &str,
        paused: bool,
    ) -> Result<StoredAutomation, ApiClientError> {
        let verb = if paused { "pause" } else { "resume" };
        self.post(&format!("/automations/{}/{verb}", segment(key)), &())
            .await
    }

    /// `DELETE /automations/{key}`.
    pub async fn delete_automation(&self, key: &str) -> Result<serde_json::Value, ApiClientError> {
        self.send::<(), _>(
            reqwest::Method::DELETE,
            &format!("/automations/{}", segment(key)),
            None,
        )
        .await
    }
}
