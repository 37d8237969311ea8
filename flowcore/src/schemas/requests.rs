//! The bodies of the API's requests that are not records themselves: what the agent, the CLI and
//! the UI send.

use serde::{Deserialize, Serialize};

/// Parameters for a run now.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RunRequest {
    /// Merged over the deployment's parameters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameters: Option<serde_json::Value>,
}

/// A new work queue.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NewWorkQueue {
    /// Its name.
    pub name: String,
    /// At most this many of its runs at once.
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
}

/// A concurrency limit (`null`: unlimited).
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Concurrency {
    /// At most this many runs of the queue at once.
    pub concurrency_limit: Option<i64>,
}

/// An agent asking for due runs.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClaimRequest {
    /// The agent's name.
    pub agent: String,
    /// At most this many runs.
    pub limit: usize,
}

/// An agent's heartbeat for a run it started.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Heartbeat {
    /// The agent's name.
    pub agent: String,
}
