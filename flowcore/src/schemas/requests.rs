//! The bodies of the API's requests that are not records themselves: what the agent, the CLI and
//! the UI send.

use serde::{Deserialize, Serialize};

/// Parameters for a run now.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RunRequest {
    /// Merged over the deployment's parameters (`null` or absent: none).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<Object>))]
    pub parameters: Option<serde_json::Value>,
}

/// A new work queue.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NewWorkQueue {
    /// Its name: letters, digits, `-`, `_` and `.` (it travels in URL paths).
    #[cfg_attr(
        feature = "server",
        schema(min_length = 1, max_length = 100, pattern = r"^[A-Za-z0-9._-]+$")
    )]
    pub name: String,
    /// At most this many of its runs at once.
    #[serde(default, deserialize_with = "crate::schemas::integers::opt_i64")]
    #[cfg_attr(feature = "server", schema(minimum = 0))]
    pub concurrency_limit: Option<i64>,
}

/// A concurrency limit (`null`: unlimited).
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Concurrency {
    /// At most this many runs of the queue at once.
    #[serde(default, deserialize_with = "crate::schemas::integers::opt_i64")]
    #[cfg_attr(feature = "server", schema(minimum = 0))]
    pub concurrency_limit: Option<i64>,
}

/// An agent asking for due runs.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClaimRequest {
    /// The agent's name (not blank).
    #[cfg_attr(feature = "server", schema(min_length = 1, pattern = r"\S"))]
    pub agent: String,
    /// At most this many runs.
    #[serde(deserialize_with = "crate::schemas::integers::usize")]
    #[cfg_attr(feature = "server", schema(minimum = 0, maximum = 1000000))]
    pub limit: usize,
}

/// An agent's heartbeat for a run it started.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Heartbeat {
    /// The agent's name (not blank).
    #[cfg_attr(feature = "server", schema(min_length = 1, pattern = r"\S"))]
    pub agent: String,
}
