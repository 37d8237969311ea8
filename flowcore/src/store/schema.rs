//! The database schema, created at start-up for SQLite and PostgreSQL alike.
//!
//! Run tables are insert-only: a run's current state, attempts, start and end are derived from its
//! `states` rows, so recording a transition is one appended row, never an update.

use super::Backend;

/// The schema version this build writes.
pub(crate) const VERSION: i64 = 1;

/// The statements that create version 1 of the schema.
pub(crate) fn statements(backend: Backend) -> Vec<String> {
    let serial = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    vec![
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)".into(),
        "CREATE TABLE IF NOT EXISTS flows (name TEXT PRIMARY KEY, created TEXT NOT NULL)".into(),
        "CREATE TABLE IF NOT EXISTS flow_runs (id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, \
         name TEXT NOT NULL, version TEXT, parameters TEXT NOT NULL, tags TEXT NOT NULL, \
         parent_flow_run_id TEXT, parent_task_run_id TEXT, deployment_id TEXT, \
         work_queue_name TEXT, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE IF NOT EXISTS task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT, \
         task_name TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE IF NOT EXISTS task_inputs (task_run_id TEXT NOT NULL, parameter TEXT NOT NULL, \
         upstream_id TEXT NOT NULL, kind TEXT NOT NULL)"
            .into(),
        format!(
            "CREATE TABLE IF NOT EXISTS states (seq {serial}, run_id TEXT NOT NULL, \
             run_kind TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, message TEXT, \
             timestamp TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS logs (seq {serial}, run_id TEXT NOT NULL, \
             run_kind TEXT NOT NULL, flow_run_id TEXT, level TEXT NOT NULL, target TEXT NOT NULL, \
             message TEXT NOT NULL, timestamp TEXT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS states_run ON states (run_id, seq)".into(),
        "CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id, seq)".into(),
        "CREATE INDEX IF NOT EXISTS logs_flow_run ON logs (flow_run_id, seq)".into(),
        "CREATE INDEX IF NOT EXISTS task_runs_flow_run ON task_runs (flow_run_id)".into(),
        "CREATE INDEX IF NOT EXISTS task_inputs_task_run ON task_inputs (task_run_id)".into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_created ON flow_runs (created)".into(),
    ]
}

/// The tables, in an order that can be dropped.
pub(crate) const TABLES: &[&str] = &[
    "logs",
    "states",
    "task_inputs",
    "task_runs",
    "flow_runs",
    "flows",
    "schema_version",
];
