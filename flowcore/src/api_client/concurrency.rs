//! Tag concurrency limits: managed, and slots taken, given back and kept alive by task runs.

use uuid::Uuid;

use super::{ApiClient, ApiClientError};
use crate::schemas::concurrency::{
    ConcurrencyLimit, NewConcurrencyLimit, SlotAnswer, SlotRelease, SlotRequest,
};
use crate::schemas::records::Page;

/// A tag as a URL path segment.
fn segment(tag: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("a valid URL");
    url.path_segments_mut().expect("a base URL").push(tag);
    url.path().trim_start_matches('/').to_string()
}

impl ApiClient {
    /// `POST /concurrency_limits`: creates or changes the limit of a tag.
    pub async fn set_concurrency_limit(
        &self,
        tag: &str,
        limit: i64,
    ) -> Result<ConcurrencyLimit, ApiClientError> {
        let body = NewConcurrencyLimit {
            tag: tag.to_string(),
            limit,
        };
        self.post("/concurrency_limits", &body).await
    }

    /// `GET /concurrency_limits`.
    pub async fn concurrency_limits(&self) -> Result<Vec<ConcurrencyLimit>, ApiClientError> {
        let page: Page<ConcurrencyLimit> = self.get("/concurrency_limits").await?;
        Ok(page.results)
    }

    /// `GET /concurrency_limits/{tag}`.
    pub async fn concurrency_limit(&self, tag: &str) -> Result<ConcurrencyLimit, ApiClientError> {
        self.get(&format!("/concurrency_limits/{}", segment(tag)))
            .await
    }

    /// `POST /concurrency_limits/{tag}/reset`: frees every slot of the tag.
    pub async fn reset_concurrency_limit(
        &self,
        tag: &str,
    ) -> Result<ConcurrencyLimit, ApiClientError> {
        self.post(&format!("/concurrency_limits/{}/reset", segment(tag)), &())
            .await
    }

    /// `DELETE /concurrency_limits/{tag}`.
    pub async fn delete_concurrency_limit(
        &self,
        tag: &str,
    ) -> Result<serde_json::Value, ApiClientError> {
        self.send::<(), _>(
            reqwest::Method::DELETE,
            &format!("/concurrency_limits/{}", segment(tag)),
            None,
        )
        .await
    }

    /// `POST /concurrency_limits/acquire`: a slot of every limited tag of a task run, or none.
    pub async fn acquire_slots(&self, request: &SlotRequest) -> Result<SlotAnswer, ApiClientError> {
        self.post("/concurrency_limits/acquire", request).await
    }

    /// `POST /concurrency_limits/release`: a task run's slots go.
    pub async fn release_slots(&self, task_run: Uuid, holder: &str) -> Result<(), ApiClientError> {
        let body = SlotRelease {
            task_run_id: Some(task_run),
            holder: holder.to_string(),
            lease_seconds: None,
        };
        let _: serde_json::Value = self.post("/concurrency_limits/release", &body).await?;
        Ok(())
    }

    /// `POST /concurrency_limits/renew`: extends the lease of every slot `holder` holds.
    pub async fn renew_slots(
        &self,
        holder: &str,
        lease_seconds: i64,
    ) -> Result<(), ApiClientError> {
        let body = SlotRelease {
            task_run_id: None,
            holder: holder.to_string(),
            lease_seconds: Some(lease_seconds),
        };
        let _: serde_json::Value = self.post("/concurrency_limits/renew", &body).await?;
        Ok(())
    }
}
