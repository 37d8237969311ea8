//! A typed client of a flowcore server's API, for deployments, agents, the entrypoint and the CLI:
//! one method per endpoint (flow runs and deployments), over [`ApiClient::send`].

mod automations;
mod concurrency;
mod deployments;
mod error;
mod runs;
mod task_queue;
mod urls;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use error::chain;
pub use error::ApiClientError;
pub use runs::FlowRunsQuery;
pub use urls::ApiUrls;

/// A client of `…/api`.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: ApiUrls,
    key: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:4200/api`), sending `key` as a bearer
    /// token when given. `base` may list several servers' URLs separated by commas: a request
    /// goes to the one that answered last and fails over to the next when it cannot connect.
    pub fn new(base: &str, key: Option<String>) -> ApiClient {
        ApiClient {
            base: ApiUrls::parse(base),
            key,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// A client of the API in force: the `api-url` setting (`FLOWCORE_API_URL`), else
    /// `http://127.0.0.1:4200/api`, with `api-key` (`FLOWCORE_API_KEY`).
    pub fn from_settings() -> ApiClient {
        let url = crate::config::get("api-url")
            .ok()
            .flatten()
            .unwrap_or_else(|| "http://127.0.0.1:4200/api".into());
        ApiClient::new(&url, crate::config::get("api-key").ok().flatten())
    }

    /// The API's base URL in use (of several: the one that answered last).
    pub fn base(&self) -> &str {
        self.base.current()
    }

    /// Every base URL, as the `api-url` setting spells them (comma-separated).
    pub fn urls(&self) -> &ApiUrls {
        &self.base
    }

    /// Sends a request and decodes the answer. When a server cannot be reached (the connection
    /// fails), the request goes to the next URL of the list; any answer — an error status included
    /// — comes from the first server that took the connection.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ApiClientError> {
        let sent = self
            .base
            .send(|base, _| {
                let mut request = self.http.request(method.clone(), format!("{base}{path}"));
                if let Some(key) = &self.key {
                    request = request.bearer_auth(key);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await;
        let (url, response) = match sent {
            Ok((base, response)) => (format!("{base}{path}"), response),
            Err((base, e)) => {
                return Err(ApiClientError::Unreachable {
                    url: format!("{base}{path}"),
                    message: chain(&e),
                })
            }
        };
        let unreachable = |e: reqwest::Error| ApiClientError::Unreachable {
            url: url.clone(),
            message: chain(&e),
        };
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(ApiClientError::Status {
                url,
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiClientError::Decode {
            url,
            message: e.to_string(),
        })
    }

    /// `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiClientError> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiClientError> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}
