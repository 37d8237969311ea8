//! Tag concurrency limits (Prefect's `prefect concurrency-limit`): at most N task runs with a tag
//! run at once, across processes; each running task run holds a slot of every limited tag it has.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A slot held by a task run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Slot {
    /// The task run holding it.
    pub task_run_id: Uuid,
    /// Its name, once its record has arrived.
    pub task_run_name: Option<String>,
    /// The process holding it (its lease is renewed while it lives).
    pub holder: String,
    /// Since when.
    pub acquired: DateTime<Utc>,
    /// Until when the holder's lease runs, unless renewed.
    pub lease_until: DateTime<Utc>,
}

/// A tag's concurrency limit and the slots in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ConcurrencyLimit {
    /// The tag.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub tag: String,
    /// How many task runs with the tag may run at once (0 blocks the tag).
    #[serde(deserialize_with = "crate::schemas::integers::i64")]
    #[cfg_attr(feature = "server", schema(minimum = 0))]
    pub limit: i64,
    /// When the limit was created.
    pub created: DateTime<Utc>,
    /// The slots held now.
    pub active_slots: Vec<Slot>,
}

/// What `POST /api/concurrency_limits` sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct NewConcurrencyLimit {
    /// The tag.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub tag: String,
    /// The limit.
    #[serde(deserialize_with = "crate::schemas::integers::i64")]
    #[cfg_attr(feature = "server", schema(minimum = 0))]
    pub limit: i64,
}

/// What a task run asks for before it runs (`POST /api/concurrency_limits/acquire`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SlotRequest {
    /// The task run.
    pub task_run_id: Uuid,
    /// Its tags (those without a limit need no slot).
    pub tags: Vec<String>,
    /// The process asking (its lease id).
    pub holder: String,
    /// How long the slots are held unless the holder renews its lease.
    #[serde(deserialize_with = "crate::schemas::integers::i64")]
    pub lease_seconds: i64,
}

/// The answer to a [`SlotRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SlotAnswer {
    /// Whether the task run now holds a slot of every limited tag it has (all or none).
    pub acquired: bool,
    /// The limited tags that are full, when it does not.
    pub full: Vec<String>,
}

/// A task run giving back its slots (`POST /api/concurrency_limits/release`; other fields, such
/// as a [`SlotRelease`]'s, are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TaskRunSlots {
    /// The task run whose slots go.
    pub task_run_id: Uuid,
}

/// A holder's lease renewal or a task run's release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SlotRelease {
    /// The task run whose slots go (release), or none (renewal).
    #[serde(default)]
    pub task_run_id: Option<Uuid>,
    /// The process.
    pub holder: String,
    /// For a renewal: the new lease length.
    #[serde(default, deserialize_with = "crate::schemas::integers::opt_i64")]
    pub lease_seconds: Option<i64>,
}
