//! How values are spelt in the database: timestamps, ids, run kinds and state types.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::connect::StoreError;
use crate::runtime::state::StateType;
use crate::schemas::events::RunKind;

pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(table: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            table,
            message: format!("timestamp {s:?}: {e}"),
        })
}

pub(crate) fn parse_id(table: &'static str, s: &str) -> Result<Uuid, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt {
        table,
        message: format!("id {s:?}: {e}"),
    })
}

pub(crate) fn kind_str(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Flow => "flow",
        RunKind::Task => "task",
    }
}

pub(crate) fn state_type_str(t: StateType) -> &'static str {
    t.as_str()
}

pub(crate) fn parse_state_type(table: &'static str, s: &str) -> Result<StateType, StoreError> {
    StateType::parse(s).ok_or_else(|| StoreError::Corrupt {
        table,
        message: format!("state type {s:?}"),
    })
}

/// The final state types as an SQL list, `('COMPLETED', 'FAILED', …)`, from [`StateType::is_final`].
pub(crate) fn final_types() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let quoted: Vec<String> = StateType::ALL
            .iter()
            .filter(|t| t.is_final())
            .map(|t| format!("'{}'", t.as_str()))
            .collect();
        format!("({})", quoted.join(", "))
    })
}
