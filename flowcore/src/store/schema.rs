//! The database schema and its migrations, run at start-up for SQLite and PostgreSQL alike.
//!
//! Runs carry their current state in columns (state, start, end, attempts) and their whole state
//! history as newline-separated JSON in `history`: recording a task run that starts and finishes
//! within one batch is one row, and a later transition is one `UPDATE` that appends to the history.
//! Logs are appended rows, except a task run's "Finished in state …" line: its history's final state
//! already says it, and reading the logs gives it back from there. `batches` remembers which reported batches were written, so a client that
//! resends a batch after a lost answer writes nothing twice.

use super::connect::Backend;

/// The schema version this build writes.
pub(crate) const VERSION: i64 = 9;

/// The columns every run table has for its current state and history.
const STATE_COLUMNS: &str = "state_type TEXT, state_name TEXT, state_message TEXT, \
     state_time TEXT, start_time TEXT, end_time TEXT, attempts BIGINT NOT NULL DEFAULT 0, \
     history TEXT NOT NULL DEFAULT ''";

/// The statements that create the current schema on an empty database.
pub(crate) fn create(backend: Backend) -> Vec<String> {
    let serial = serial(backend);
    vec![
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)".into(),
        "CREATE TABLE IF NOT EXISTS flows (name TEXT PRIMARY KEY, created TEXT NOT NULL)".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS flow_runs (id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, \
             name TEXT NOT NULL, version TEXT, parameters TEXT NOT NULL, tags TEXT NOT NULL, \
             parent_flow_run_id TEXT, parent_task_run_id TEXT, deployment_id TEXT, \
             work_queue_name TEXT, created TEXT NOT NULL, {STATE_COLUMNS})"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT, \
             task_name TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL, \
             inputs TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL, {STATE_COLUMNS})"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS logs (seq {serial}, run_id TEXT NOT NULL, \
             run_kind TEXT NOT NULL, flow_run_id TEXT, level TEXT NOT NULL, target TEXT NOT NULL, \
             message TEXT NOT NULL, timestamp TEXT NOT NULL)"
        ),
        "CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, received TEXT NOT NULL)".into(),
        "CREATE INDEX IF NOT EXISTS logs_flow_run ON logs (flow_run_id, seq)".into(),
        "CREATE INDEX IF NOT EXISTS task_runs_flow_run ON task_runs (flow_run_id)".into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_created ON flow_runs (created)".into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_flow ON flow_runs (flow_name, created)".into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_parent_task ON flow_runs (parent_task_run_id)".into(),
    ]
}

fn serial(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    }
}

/// Version 2 → 3: deployments, work queues (with `default`), and what scheduling needs on flow runs
/// (expected start, auto-scheduled flag, the claiming agent and its heartbeat). An auto-scheduled run
/// is unique per deployment and expected start time, so the scheduler never duplicates one.
pub(crate) fn v2_to_v3() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS work_queues (name TEXT PRIMARY KEY, \
         paused BIGINT NOT NULL DEFAULT 0, concurrency_limit BIGINT, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE IF NOT EXISTS deployments (id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, \
         name TEXT NOT NULL, version TEXT, description TEXT, tags TEXT NOT NULL, \
         parameters TEXT NOT NULL, parameter_schema TEXT NOT NULL, work_queue_name TEXT NOT NULL, \
         schedule TEXT, paused BIGINT NOT NULL DEFAULT 0, entrypoint TEXT NOT NULL, \
         created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (flow_name, name))"
            .into(),
        "ALTER TABLE flow_runs ADD COLUMN expected_start_time TEXT".into(),
        "ALTER TABLE flow_runs ADD COLUMN auto_scheduled BIGINT NOT NULL DEFAULT 0".into(),
        "ALTER TABLE flow_runs ADD COLUMN claimed_by TEXT".into(),
        "ALTER TABLE flow_runs ADD COLUMN heartbeat TEXT".into(),
        "CREATE UNIQUE INDEX IF NOT EXISTS flow_runs_auto ON flow_runs \
         (deployment_id, expected_start_time) WHERE auto_scheduled = 1"
            .into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_due ON flow_runs \
         (work_queue_name, state_type, expected_start_time)"
            .into(),
        "CREATE INDEX IF NOT EXISTS flow_runs_deployment ON flow_runs (deployment_id, created)"
            .into(),
    ]
}

/// Version 3 → 4: task runs' "Finished in state …" lines are no longer log rows (they are read
/// from the runs' histories), so the rows earlier versions wrote go, lest they show twice.
pub(crate) fn v3_to_v4() -> Vec<String> {
    vec![
        "DELETE FROM logs WHERE run_kind = 'task' AND target = 'flowcore' \
          AND message LIKE 'Finished in state %'"
            .into(),
    ]
}

/// Version 4 → 5: automations and their notification queue (persisted, so a restart loses no
/// pending notification), artifacts, and tag concurrency limits with their slots.
pub(crate) fn v4_to_v5(backend: Backend) -> Vec<String> {
    let serial = serial(backend);
    vec![
        "CREATE TABLE IF NOT EXISTS automations (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, \
         spec TEXT NOT NULL, paused BIGINT NOT NULL DEFAULT 0, created TEXT NOT NULL)"
            .into(),
        format!(
            "CREATE TABLE IF NOT EXISTS notifications (id {serial}, automation_id TEXT NOT NULL, \
             flow_run_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL, \
             status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, last_error TEXT, \
             created TEXT NOT NULL, next_attempt TEXT NOT NULL, delivered_at TEXT)"
        ),
        "CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_attempt)"
            .into(),
        "CREATE INDEX IF NOT EXISTS notifications_automation ON notifications (automation_id, id)"
            .into(),
        "CREATE TABLE IF NOT EXISTS artifacts (id TEXT PRIMARY KEY, key TEXT NOT NULL, \
         kind TEXT NOT NULL, data TEXT NOT NULL, description TEXT, flow_run_id TEXT, \
         task_run_id TEXT, created TEXT NOT NULL)"
            .into(),
        "CREATE INDEX IF NOT EXISTS artifacts_key ON artifacts (key, created)".into(),
        "CREATE INDEX IF NOT EXISTS artifacts_flow_run ON artifacts (flow_run_id, created)".into(),
        "CREATE TABLE IF NOT EXISTS concurrency_limits (tag TEXT PRIMARY KEY, \
         slot_limit BIGINT NOT NULL, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE IF NOT EXISTS concurrency_slots (tag TEXT NOT NULL, task_run_id TEXT NOT NULL, \
         holder TEXT NOT NULL, acquired TEXT NOT NULL, lease_until TEXT NOT NULL, \
         PRIMARY KEY (tag, task_run_id))"
            .into(),
        "CREATE INDEX IF NOT EXISTS concurrency_slots_holder ON concurrency_slots (holder)".into(),
    ]
}

/// Version 5 → 6: task runs' persisted results (the reference: the value stays in the result
/// storage).
pub(crate) fn v5_to_v6() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS task_run_results (task_run_id TEXT PRIMARY KEY, \
         storage_key TEXT NOT NULL, cache_key TEXT, produced_by TEXT NOT NULL, \
         storage TEXT NOT NULL, created TEXT NOT NULL)"
            .into(),
    ]
}

/// Version 6 → 7: on PostgreSQL, a change to a work-queue run (created, or a new state) notifies
/// the `flowcore_runs` channel with the queue's name when it commits, so every server's waiting
/// claims wake (see `wakeups`). SQLite has no cross-process notifications: nothing to create.
pub(crate) fn v6_to_v7(backend: Backend) -> Vec<String> {
    match backend {
        Backend::Sqlite => Vec::new(),
        Backend::Postgres => vec![
            "CREATE OR REPLACE FUNCTION flowcore_notify_runs() RETURNS trigger AS $$ \
             BEGIN \
               IF NEW.work_queue_name IS NOT NULL THEN \
                 PERFORM pg_notify('flowcore_runs', NEW.work_queue_name); \
               END IF; \
               RETURN NULL; \
             END $$ LANGUAGE plpgsql"
                .into(),
            "DROP TRIGGER IF EXISTS flowcore_runs_changed ON flow_runs".into(),
            "CREATE TRIGGER flowcore_runs_changed AFTER INSERT OR UPDATE OF state_type \
             ON flow_runs FOR EACH ROW EXECUTE FUNCTION flowcore_notify_runs()"
                .into(),
        ],
    }
}

/// Version 1 → 2, the part SQL does: new columns (filled by the store from the old `states` and
/// `task_inputs` tables before they are dropped) and the logs' flow-run ids.
/// Schema 8: the task queue (task runs sent to task workers, claimed under leases). On
/// PostgreSQL a trigger notifies `flowcore_runs` when one is queued or finishes, so waiting
/// workers and waiting flow runs on every server wake at once.
pub(crate) fn v7_to_v8(backend: Backend) -> Vec<String> {
    let mut statements = vec![
        "CREATE TABLE IF NOT EXISTS task_queue (id TEXT PRIMARY KEY, task TEXT NOT NULL, \
         task_run_name TEXT NOT NULL, flow_run_id TEXT, parameters TEXT NOT NULL, \
         tags TEXT NOT NULL, retries BIGINT NOT NULL, storage_key TEXT NOT NULL, cache_key TEXT, \
         cache_expiration_ms BIGINT, status TEXT NOT NULL, worker TEXT, lease_until TEXT, \
         claims BIGINT NOT NULL DEFAULT 0, outcome TEXT, created TEXT NOT NULL, finished TEXT)"
            .to_string(),
        "CREATE INDEX IF NOT EXISTS task_queue_status ON task_queue (status, task, created)"
            .to_string(),
    ];
    if backend == Backend::Postgres {
        statements.extend([
            "CREATE OR REPLACE FUNCTION flowcore_notify_tasks() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_notify('flowcore_runs', 'task_queue'); RETURN NULL; END $$ \
             LANGUAGE plpgsql"
                .to_string(),
            "DROP TRIGGER IF EXISTS flowcore_tasks_changed ON task_queue".to_string(),
            "CREATE TRIGGER flowcore_tasks_changed AFTER INSERT OR UPDATE OF status \
             ON task_queue FOR EACH STATEMENT EXECUTE FUNCTION flowcore_notify_tasks()"
                .to_string(),
        ]);
    }
    statements
}

/// Schema 9: the task queue's indexes fit its two hot queries. A claim takes the oldest queued
/// runs: `(created, id)` over queued rows only gives them in order without sorting the queue (with
/// the schema-8 index `(status, task, created)` a worker serving several tasks sorted every queued
/// row per claim — 165 ms per claim with 100,000 queued). Recovery scans running rows by lease, and
/// retention finished rows by age. On PostgreSQL the table is vacuumed and analyzed more often.
pub(crate) fn v8_to_v9(backend: Backend) -> Vec<String> {
    let mut statements: Vec<String> = [
        "DROP INDEX IF EXISTS task_queue_status",
        "CREATE INDEX IF NOT EXISTS task_queue_queued ON task_queue (created, id) \
         WHERE status = 'queued'",
        "CREATE INDEX IF NOT EXISTS task_queue_running ON task_queue (lease_until) \
         WHERE status = 'running'",
        "CREATE INDEX IF NOT EXISTS task_queue_finished ON task_queue (finished) \
         WHERE finished IS NOT NULL",
    ]
    .map(String::from)
    .to_vec();
    if backend == Backend::Postgres {
        // A queue's rows are each updated twice and then left: vacuum and analyze it after 1 %
        // of it changed (not the default 20 %/10 %), so dead index entries do not pile up.
        statements.push(
            "ALTER TABLE task_queue SET (autovacuum_vacuum_scale_factor = 0.01, \
             autovacuum_analyze_scale_factor = 0.01)"
                .to_string(),
        );
    }
    statements
}

pub(crate) fn v1_to_v2_columns() -> Vec<String> {
    let mut out = Vec::new();
    for table in ["flow_runs", "task_runs"] {
        for column in STATE_COLUMNS.split(", ") {
            out.push(format!("ALTER TABLE {table} ADD COLUMN {column}"));
        }
    }
    out.push("ALTER TABLE task_runs ADD COLUMN inputs TEXT NOT NULL DEFAULT '[]'".into());
    out.push(
        "UPDATE logs SET flow_run_id = (SELECT t.flow_run_id FROM task_runs t \
         WHERE t.id = logs.run_id) WHERE flow_run_id IS NULL AND run_kind = 'task'"
            .into(),
    );
    out
}

/// Version 1 → 2, after the data moved: the old tables and indexes go.
pub(crate) const V1_DROPPED: &[&str] = &[
    "DROP INDEX IF EXISTS logs_run",
    "DROP TABLE IF EXISTS task_inputs",
    "DROP TABLE IF EXISTS states",
];

/// The tables, in an order that can be dropped.
pub(crate) const TABLES: &[&str] = &[
    "task_queue",
    "task_run_results",
    "concurrency_slots",
    "concurrency_limits",
    "artifacts",
    "notifications",
    "automations",
    "deployments",
    "work_queues",
    "logs",
    "states",
    "task_inputs",
    "task_runs",
    "flow_runs",
    "flows",
    "batches",
    "schema_version",
];

/// Version 1 of the schema, kept to test the migration from it.
#[cfg(test)]
pub(crate) fn v1(backend: Backend) -> Vec<String> {
    let serial = serial(backend);
    vec![
        "CREATE TABLE schema_version (version BIGINT NOT NULL)".into(),
        "INSERT INTO schema_version (version) VALUES (1)".into(),
        "CREATE TABLE flows (name TEXT PRIMARY KEY, created TEXT NOT NULL)".into(),
        "CREATE TABLE flow_runs (id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, \
         name TEXT NOT NULL, version TEXT, parameters TEXT NOT NULL, tags TEXT NOT NULL, \
         parent_flow_run_id TEXT, parent_task_run_id TEXT, deployment_id TEXT, \
         work_queue_name TEXT, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE task_runs (id TEXT PRIMARY KEY, flow_run_id TEXT, \
         task_name TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL, created TEXT NOT NULL)"
            .into(),
        "CREATE TABLE task_inputs (task_run_id TEXT NOT NULL, parameter TEXT NOT NULL, \
         upstream_id TEXT NOT NULL, kind TEXT NOT NULL)"
            .into(),
        format!(
            "CREATE TABLE states (seq {serial}, run_id TEXT NOT NULL, \
             run_kind TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, message TEXT, \
             timestamp TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE logs (seq {serial}, run_id TEXT NOT NULL, \
             run_kind TEXT NOT NULL, flow_run_id TEXT, level TEXT NOT NULL, target TEXT NOT NULL, \
             message TEXT NOT NULL, timestamp TEXT NOT NULL)"
        ),
        "CREATE INDEX logs_run ON logs (run_id, seq)".into(),
    ]
}
