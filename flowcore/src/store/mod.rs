//! The store: every run, state, log line and task-graph edge, in SQLite (embedded, the default) or
//! PostgreSQL (for a shared server), through one code path (sqlx's `Any` driver).
//!
//! The schema is created at connection time. Run tables are insert-only; a run's current state,
//! attempts and timing are derived from its `states` rows when read.

mod schema;
mod sink;

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::event::{Event, RunKind};
use crate::state::{State, StateType};

pub use sink::StoreSink;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this build supports.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value could not be read back.
    #[error("corrupt record in table `{table}`: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }
}

/// A connection pool to the store's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The SQLite URL of a database file (created if missing).
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(table: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            table,
            message: format!("timestamp {s:?}: {e}"),
        })
}

fn parse_id(table: &'static str, s: &str) -> Result<Uuid, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt {
        table,
        message: format!("id {s:?}: {e}"),
    })
}

fn kind_str(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Flow => "flow",
        RunKind::Task => "task",
    }
}

fn state_type_str(t: StateType) -> &'static str {
    match t {
        StateType::Scheduled => "SCHEDULED",
        StateType::Pending => "PENDING",
        StateType::Running => "RUNNING",
        StateType::Completed => "COMPLETED",
        StateType::Failed => "FAILED",
        StateType::Cancelled => "CANCELLED",
        StateType::Crashed => "CRASHED",
    }
}

fn parse_state_type(table: &'static str, s: &str) -> Result<StateType, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        StoreError::Corrupt {
            table,
            message: format!("state type {s:?}"),
        }
    })
}

/// A value bound to a statement.
enum Value {
    Text(String),
    OptText(Option<String>),
}

/// The current state of a run, derived from its `states` rows.
const CURRENT_STATE: &str = "(SELECT s.type FROM states s WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1) AS state_type, \
     (SELECT s.name FROM states s WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1) AS state_name, \
     (SELECT s.message FROM states s WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1) AS state_message, \
     (SELECT s.timestamp FROM states s WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1) AS state_time, \
     (SELECT MIN(s.timestamp) FROM states s WHERE s.run_id = r.id AND s.type = 'RUNNING') AS start_time, \
     (SELECT COUNT(*) FROM states s WHERE s.run_id = r.id AND s.type = 'RUNNING') AS attempts";

/// A run's current state and timing, derived from its `states` rows.
struct Current {
    state: Option<State>,
    attempts: i64,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
}

/// Every flow run with its current state and task-run count: what flow-run reads select from.
fn flow_run_select() -> String {
    format!(
        "SELECT r.id, r.name, r.flow_name, r.version, r.parameters, r.tags, r.parent_flow_run_id, \
         r.created, {CURRENT_STATE}, \
         (SELECT COUNT(*) FROM task_runs t WHERE t.flow_run_id = r.id) AS task_run_count \
         FROM flow_runs r"
    )
}

/// Filters for [`Store::flow_runs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRunFilter {
    /// Only runs whose current state has this name (`Failed`) or type (`FAILED`), case-insensitive.
    pub state: Option<String>,
    /// Only runs of this flow.
    pub flow: Option<String>,
    /// Only runs whose name contains this.
    pub name_contains: Option<String>,
    /// At most this many (newest first); default 100.
    pub limit: Option<i64>,
}

/// A stored flow run with its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFlowRun {
    /// Id.
    pub id: Uuid,
    /// Readable name.
    pub name: String,
    /// The flow's name.
    pub flow_name: String,
    /// The flow's version.
    pub version: Option<String>,
    /// Parameters as JSON.
    pub parameters: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// For a subflow: its parent.
    pub parent_flow_run_id: Option<Uuid>,
    /// The current state (`None` if no state was recorded).
    pub state: Option<State>,
    /// How many times the body started.
    pub attempts: i64,
    /// First entry into `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When the final state was reached.
    pub end_time: Option<DateTime<Utc>>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Number of task runs.
    pub task_run_count: i64,
}

/// A stored task run with its current state and inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTaskRun {
    /// Id.
    pub id: Uuid,
    /// Readable name.
    pub name: String,
    /// The task's name.
    pub task_name: String,
    /// The flow run it ran in.
    pub flow_run_id: Option<Uuid>,
    /// Tags.
    pub tags: Vec<String>,
    /// The current state.
    pub state: Option<State>,
    /// How many times the body started.
    pub attempts: i64,
    /// First entry into `Running`.
    pub start_time: Option<DateTime<Utc>>,
    /// When the final state was reached.
    pub end_time: Option<DateTime<Utc>>,
    /// Upstream edges: (parameter, upstream task run id, `parameter` or `wait_for`).
    pub inputs: Vec<(String, Uuid, String)>,
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredLog {
    /// The run it belongs to.
    pub run_id: Uuid,
    /// `flow` or `task`.
    pub run_kind: String,
    /// Level name (`INFO`, `WARNING`, …).
    pub level: String,
    /// The logger (`tracing` target).
    pub target: String,
    /// The message.
    pub message: String,
    /// When.
    pub timestamp: DateTime<Utc>,
}

impl Store {
    /// Connects and creates the schema if needed. SQLite files use WAL journaling.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => 4,
            })
            .connect(url)
            .await?;
        let store = Store { pool, backend };
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&store.pool)
                .await?;
            sqlx::query("PRAGMA busy_timeout=10000")
                .execute(&store.pool)
                .await?;
            // WAL makes NORMAL durable against application crashes; only a power loss can cost
            // the last transactions.
            sqlx::query("PRAGMA synchronous=NORMAL")
                .execute(&store.pool)
                .await?;
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Creates the tables that are missing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in schema::statements(self.backend) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        let version: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        if version.is_none() {
            sqlx::query(&self.sql("INSERT INTO schema_version (version) VALUES (?)"))
                .bind(schema::VERSION)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops every table and creates the schema again: all records are lost.
    pub async fn reset(&self) -> Result<(), StoreError> {
        for table in schema::TABLES {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(&self.pool)
                .await?;
        }
        self.migrate().await
    }

    /// SQL written with `?` placeholders, in this backend's syntax.
    fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Sqlite => Cow::Borrowed(sql),
            Backend::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    async fn insert_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        head: &str,
        tail: &str,
        width: usize,
        rows: Vec<Vec<Value>>,
    ) -> Result<(), StoreError> {
        // A fixed number of rows per statement (well under every backend's limit on bound
        // parameters), so the prepared statement is reused from the connection's cache.
        let per_statement = 64;
        for chunk in rows.chunks(per_statement) {
            let row = format!("({})", vec!["?"; width].join(", "));
            let sql = format!(
                "{head} VALUES {} {tail}",
                vec![row.as_str(); chunk.len()].join(", ")
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for row in chunk {
                for value in row {
                    query = match value {
                        Value::Text(s) => query.bind(s.clone()),
                        Value::OptText(s) => query.bind(s.clone()),
                    };
                }
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Records a batch of events in one transaction.
    pub async fn write(&self, batch: &[Event]) -> Result<(), StoreError> {
        let (mut flows, mut flow_runs, mut task_runs, mut inputs, mut states, mut logs) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for event in batch {
            match event {
                Event::FlowRunCreated {
                    run,
                    flow_name,
                    version,
                    parameters,
                    tags,
                    parent_flow_run_id,
                    parent_task_run_id,
                    created,
                } => {
                    flows.push(vec![
                        Value::Text(flow_name.clone()),
                        Value::Text(ts(created)),
                    ]);
                    flow_runs.push(vec![
                        Value::Text(run.id.to_string()),
                        Value::Text(flow_name.clone()),
                        Value::Text(run.name.to_string()),
                        Value::OptText(version.clone()),
                        Value::Text(parameters.to_string()),
                        Value::Text(serde_json::to_string(tags).unwrap_or_default()),
                        Value::OptText(parent_flow_run_id.map(|i| i.to_string())),
                        Value::OptText(parent_task_run_id.map(|i| i.to_string())),
                        Value::Text(ts(created)),
                    ]);
                }
                Event::TaskRunCreated {
                    run,
                    task_name,
                    flow_run_id,
                    tags,
                    inputs: edges,
                    created,
                } => {
                    task_runs.push(vec![
                        Value::Text(run.id.to_string()),
                        Value::OptText(flow_run_id.map(|i| i.to_string())),
                        Value::Text(task_name.clone()),
                        Value::Text(run.name.to_string()),
                        Value::Text(serde_json::to_string(tags).unwrap_or_default()),
                        Value::Text(ts(created)),
                    ]);
                    for edge in edges {
                        inputs.push(vec![
                            Value::Text(run.id.to_string()),
                            Value::Text(edge.parameter.clone()),
                            Value::Text(edge.upstream_id.to_string()),
                            Value::Text(
                                match edge.kind {
                                    crate::record::InputKind::Parameter => "parameter",
                                    crate::record::InputKind::WaitFor => "wait_for",
                                }
                                .to_string(),
                            ),
                        ]);
                    }
                }
                Event::StateChanged { run, state } => states.push(vec![
                    Value::Text(run.id.to_string()),
                    Value::Text(kind_str(run.kind).to_string()),
                    Value::Text(state_type_str(state.kind).to_string()),
                    Value::Text(state.name.to_string()),
                    Value::OptText(state.message.clone()),
                    Value::Text(ts(&state.timestamp)),
                ]),
                Event::Log(log) => logs.push(vec![
                    Value::Text(log.run.id.to_string()),
                    Value::Text(kind_str(log.run.kind).to_string()),
                    Value::OptText(log.flow_run_id.map(|i| i.to_string())),
                    Value::Text(log.level.as_str().to_string()),
                    Value::Text(log.target.clone()),
                    Value::Text(log.message.clone()),
                    Value::Text(ts(&log.timestamp)),
                ]),
            }
        }
        let mut tx = self.pool.begin().await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO flows (name, created)",
            "ON CONFLICT (name) DO NOTHING",
            2,
            flows,
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO flow_runs (id, flow_name, name, version, parameters, tags, parent_flow_run_id, parent_task_run_id, created)",
            "ON CONFLICT (id) DO NOTHING",
            9,
            flow_runs,
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO task_runs (id, flow_run_id, task_name, name, tags, created)",
            "ON CONFLICT (id) DO NOTHING",
            6,
            task_runs,
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO task_inputs (task_run_id, parameter, upstream_id, kind)",
            "",
            4,
            inputs,
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO states (run_id, run_kind, type, name, message, timestamp)",
            "",
            6,
            states,
        )
        .await?;
        self.insert_rows(
            &mut tx,
            "INSERT INTO logs (run_id, run_kind, flow_run_id, level, target, message, timestamp)",
            "",
            7,
            logs,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    fn current_state(table: &'static str, row: &AnyRow) -> Result<Current, StoreError> {
        let state_type: Option<String> = row.try_get("state_type")?;
        let state = match state_type {
            None => None,
            Some(t) => {
                let time: String = row.try_get("state_time")?;
                Some(State {
                    kind: parse_state_type(table, &t)?,
                    name: Cow::Owned(row.try_get::<String, _>("state_name")?),
                    message: row.try_get("state_message")?,
                    timestamp: parse_ts(table, &time)?,
                })
            }
        };
        let start: Option<String> = row.try_get("start_time")?;
        let start = start.map(|s| parse_ts(table, &s)).transpose()?;
        let end = state.as_ref().filter(|s| s.is_final()).map(|s| s.timestamp);
        Ok(Current {
            state,
            attempts: row.try_get("attempts")?,
            start_time: start,
            end_time: end,
        })
    }

    fn flow_run_from_row(row: &AnyRow) -> Result<StoredFlowRun, StoreError> {
        const T: &str = "flow_runs";
        let Current {
            state,
            attempts,
            start_time,
            end_time,
        } = Self::current_state(T, row)?;
        let parameters: String = row.try_get("parameters")?;
        let tags: String = row.try_get("tags")?;
        let parent: Option<String> = row.try_get("parent_flow_run_id")?;
        let created: String = row.try_get("created")?;
        Ok(StoredFlowRun {
            id: parse_id(T, &row.try_get::<String, _>("id")?)?,
            name: row.try_get("name")?,
            flow_name: row.try_get("flow_name")?,
            version: row.try_get("version")?,
            parameters: serde_json::from_str(&parameters).unwrap_or(serde_json::Value::Null),
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            parent_flow_run_id: parent.map(|p| parse_id(T, &p)).transpose()?,
            state,
            attempts,
            start_time,
            end_time,
            created: parse_ts(T, &created)?,
            task_run_count: row.try_get("task_run_count")?,
        })
    }

    /// Flow runs, newest first, filtered.
    pub async fn flow_runs(
        &self,
        filter: &FlowRunFilter,
    ) -> Result<Vec<StoredFlowRun>, StoreError> {
        let mut sql = format!("SELECT * FROM ({}) q WHERE 1 = 1", flow_run_select());
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = &filter.state {
            sql.push_str(" AND (LOWER(q.state_name) = LOWER(?) OR LOWER(q.state_type) = LOWER(?))");
            binds.push(state.clone());
            binds.push(state.clone());
        }
        if let Some(flow) = &filter.flow {
            sql.push_str(" AND q.flow_name = ?");
            binds.push(flow.clone());
        }
        if let Some(part) = &filter.name_contains {
            sql.push_str(" AND q.name LIKE ?");
            binds.push(format!("%{part}%"));
        }
        sql.push_str(" ORDER BY q.created DESC LIMIT ?");
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(filter.limit.unwrap_or(100))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::flow_run_from_row).collect()
    }

    /// One flow run by id (or by a unique prefix of it, or by its readable name).
    pub async fn flow_run(&self, key: &str) -> Result<Option<StoredFlowRun>, StoreError> {
        let sql = format!(
            "SELECT * FROM ({}) q WHERE q.id LIKE ? OR q.name = ? ORDER BY q.created DESC LIMIT 2",
            flow_run_select()
        );
        let sql = self.sql(&sql);
        let rows = sqlx::query(&sql)
            .bind(format!("{key}%"))
            .bind(key.to_string())
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [row] => Ok(Some(Self::flow_run_from_row(row)?)),
            _ => Ok(None),
        }
    }

    /// The task runs of a flow run, in creation order, with their inputs.
    pub async fn task_runs(&self, flow_run_id: Uuid) -> Result<Vec<StoredTaskRun>, StoreError> {
        const T: &str = "task_runs";
        let sql = format!(
            "SELECT r.id, r.name, r.task_name, r.flow_run_id, r.tags, r.created, {CURRENT_STATE} \
             FROM task_runs r WHERE r.flow_run_id = ? ORDER BY r.created, r.name"
        );
        let sql = self.sql(&sql);
        let rows = sqlx::query(&sql)
            .bind(flow_run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let sql = self.sql(
            "SELECT i.task_run_id, i.parameter, i.upstream_id, i.kind FROM task_inputs i \
             JOIN task_runs t ON t.id = i.task_run_id WHERE t.flow_run_id = ?",
        );
        let edges = sqlx::query(&sql)
            .bind(flow_run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let Current {
                state,
                attempts,
                start_time,
                end_time,
            } = Self::current_state(T, row)?;
            let id: String = row.try_get("id")?;
            let tags: String = row.try_get("tags")?;
            let flow_run: Option<String> = row.try_get("flow_run_id")?;
            let mut inputs = Vec::new();
            for e in &edges {
                if e.try_get::<String, _>("task_run_id")? == id {
                    inputs.push((
                        e.try_get("parameter")?,
                        parse_id("task_inputs", &e.try_get::<String, _>("upstream_id")?)?,
                        e.try_get("kind")?,
                    ));
                }
            }
            out.push(StoredTaskRun {
                id: parse_id(T, &id)?,
                name: row.try_get("name")?,
                task_name: row.try_get("task_name")?,
                flow_run_id: flow_run.map(|f| parse_id(T, &f)).transpose()?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                state,
                attempts,
                start_time,
                end_time,
                inputs,
            });
        }
        Ok(out)
    }

    /// Every state of a run, oldest first.
    pub async fn states(&self, run_id: Uuid) -> Result<Vec<State>, StoreError> {
        const T: &str = "states";
        let sql = self
            .sql("SELECT type, name, message, timestamp FROM states WHERE run_id = ? ORDER BY seq");
        let rows = sqlx::query(&sql)
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("type")?;
                let time: String = row.try_get("timestamp")?;
                Ok(State {
                    kind: parse_state_type(T, &kind)?,
                    name: Cow::Owned(row.try_get::<String, _>("name")?),
                    message: row.try_get("message")?,
                    timestamp: parse_ts(T, &time)?,
                })
            })
            .collect()
    }

    /// The logs of a flow run and of its task runs, in order.
    pub async fn logs(&self, flow_run_id: Uuid) -> Result<Vec<StoredLog>, StoreError> {
        const T: &str = "logs";
        let sql = self.sql(
            "SELECT run_id, run_kind, level, target, message, timestamp FROM logs \
             WHERE flow_run_id = ? OR run_id = ? \
             OR run_id IN (SELECT id FROM task_runs WHERE flow_run_id = ?) ORDER BY timestamp, seq",
        );
        let id = flow_run_id.to_string();
        let rows = sqlx::query(&sql)
            .bind(id.clone())
            .bind(id.clone())
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let time: String = row.try_get("timestamp")?;
                Ok(StoredLog {
                    run_id: parse_id(T, &row.try_get::<String, _>("run_id")?)?,
                    run_kind: row.try_get("run_kind")?,
                    level: row.try_get("level")?,
                    target: row.try_get("target")?,
                    message: row.try_get("message")?,
                    timestamp: parse_ts(T, &time)?,
                })
            })
            .collect()
    }
}
