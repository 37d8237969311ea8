//! The reference a task run's record keeps to its persisted result (the value itself stays in the
//! result storage).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::{LogLevel, LogRecord, RunRef};

/// The logger name of the log records result references travel as.
pub const RESULT_TARGET: &str = "flowcore.result";

/// A task run's persisted result: where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ResultRef {
    /// The task run whose record this is.
    pub task_run_id: Uuid,
    /// The key of the result in the result storage.
    pub storage_key: String,
    /// The cache key it answers, if the task caches.
    #[serde(default)]
    pub cache_key: Option<String>,
    /// The task run that produced the value (this one, or, for a `Cached` run, the earlier run
    /// whose result it reused).
    pub produced_by: Uuid,
    /// The result storage, for people (a directory).
    pub storage: String,
    /// When the reference was made.
    pub created: DateTime<Utc>,
}

impl ResultRef {
    /// The reference as the log record it travels as between the runtime and the store (the event
    /// kinds stay the four every consumer knows; the store files it with the task run, not with
    /// its logs).
    pub fn to_log(&self, run: RunRef) -> LogRecord {
        LogRecord {
            flow_run_id: run.flow_run_id,
            run,
            level: LogLevel::Debug,
            target: RESULT_TARGET.to_string(),
            message: serde_json::to_string(self).expect("result references serialize"),
            timestamp: self.created,
        }
    }

    /// The reference a log record carries, if it is one.
    pub fn from_log(log: &LogRecord) -> Option<ResultRef> {
        if log.target != RESULT_TARGET {
            return None;
        }
        serde_json::from_str(&log.message).ok()
    }
}

/// A task run's persisted result as the API serves it (`GET /api/task_runs/{id}/result`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredResult {
    /// Where it is and which run produced it.
    #[serde(flatten)]
    pub reference: ResultRef,
    /// The Rust type of the value.
    pub type_name: String,
    /// When the cached value stops answering its key, if ever.
    #[serde(default)]
    pub expiration: Option<DateTime<Utc>>,
    /// The size of the stored record, in bytes.
    pub size: u64,
    /// The value, as JSON.
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub value: serde_json::Value,
}
