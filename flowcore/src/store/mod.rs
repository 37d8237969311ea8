//! The store: every run, state, log line and task-graph edge, in SQLite (embedded, the default) or
//! PostgreSQL (for a shared server), through one code path (sqlx's `Any` driver).
//!
//! The schema is created (or migrated) at connection time; the `schema` module describes the tables.

mod checkpoint;
mod deployments;
mod filter;
mod read;
mod records;
mod schema;
mod sink;
mod write;

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::event::RunKind;
use crate::state::StateType;

pub use deployments::{
    ClaimedRun, DeploymentSpec, Entrypoint, Horizon, StoredDeployment, StoredWorkQueue,
    AUTO_SCHEDULED,
};
pub use filter::{FlowRunFilter, Sort};
pub use records::{
    FilterValues, FlowGraph, GraphEdge, GraphNode, StoredFlow, StoredFlowRun, StoredInput,
    StoredLog, StoredTaskRun,
};
pub use sink::StoreSink;
pub use write::WriteOutcome;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this build supports.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database was written by a newer flowcore.
    #[error("the database has schema version {0}, newer than this build's (upgrade flowcore)")]
    NewerSchema(i64),
    /// A batch of events contradicts itself (it names the run and what is wrong).
    #[error("invalid events: {0}")]
    Invalid(String),
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

/// SQLite settings of every connection: WAL (with NORMAL sync, durable against application
/// crashes; only a power loss can cost the last transactions), a 10 s busy timeout, a page cache that
/// holds a batch of thousands of rows (no spills to the WAL mid-transaction), fewer and larger
/// checkpoints.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-32768",
    "PRAGMA wal_autocheckpoint=8192",
];

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

impl Store {
    /// Connects and creates the schema if needed. SQLite files use WAL journaling.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without creating or migrating the schema (for a helper beside a store that did).
    pub(crate) async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => 4,
            })
            // Every connection the pool opens (also after idle timeouts) gets the settings.
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::Executor::execute(&mut *conn, *pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Store { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies what SQLite's write-ahead log holds back into the database file, as far as readers
    /// allow, without waiting for writers or blocking them (a passive checkpoint). Nothing to do on
    /// PostgreSQL.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_optional(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Creates the schema on an empty database, or migrates an older one to this build's version.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Processes starting together on one database migrate one after the other.
            sqlx::query("SELECT pg_advisory_xact_lock(4200420042)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let version: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM schema_version")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        let from = match version {
            Some(v) if v > schema::VERSION => return Err(StoreError::NewerSchema(v)),
            Some(1) => {
                self.migrate_v1(&mut tx).await?;
                self.create(&mut tx).await?;
                2
            }
            Some(v) => v,
            None => {
                self.create(&mut tx).await?;
                sqlx::query("INSERT INTO schema_version (version) VALUES (2)")
                    .execute(&mut *tx)
                    .await?;
                2
            }
        };
        if from < 3 {
            for statement in schema::v2_to_v3() {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < 4 {
            for statement in schema::v3_to_v4() {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < schema::VERSION {
            sqlx::query(&self.sql("UPDATE schema_version SET version = ?"))
                .bind(schema::VERSION)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&self.sql(
            "INSERT INTO work_queues (name, paused, created) VALUES ('default', 0, ?) \
             ON CONFLICT (name) DO NOTHING",
        ))
        .bind(ts(&Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        for statement in schema::create(self.backend) {
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Schema 1 kept states and task inputs in tables of their own: fold them into the run rows.
    async fn migrate_v1(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        for statement in schema::v1_to_v2_columns() {
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        let rows = sqlx::query(
            "SELECT run_id, run_kind, type, name, message, timestamp FROM states ORDER BY seq",
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut runs: Vec<(String, String, Vec<crate::state::State>)> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("run_id")?;
            let time: String = row.try_get("timestamp")?;
            let state = crate::state::State {
                kind: parse_state_type("states", &row.try_get::<String, _>("type")?)?,
                name: Cow::Owned(row.try_get("name")?),
                message: row.try_get("message")?,
                timestamp: parse_ts("states", &time)?,
            };
            match runs.iter_mut().rev().find(|(r, _, _)| *r == id) {
                Some((_, _, states)) => states.push(state),
                None => runs.push((id, row.try_get("run_kind")?, vec![state])),
            }
        }
        for (id, kind, states) in &runs {
            let table = if kind == "flow" {
                "flow_runs"
            } else {
                "task_runs"
            };
            let refs: Vec<&crate::state::State> = states.iter().collect();
            let summary = write::Summary::of(&refs);
            let sql = self
                .sql(&format!(
                    "UPDATE {table} SET {} WHERE id = ?",
                    write::SET_STATE
                ))
                .into_owned();
            summary
                .bind(sqlx::query(&sql))
                .bind(id.clone())
                .execute(&mut **tx)
                .await?;
        }
        let edges =
            sqlx::query("SELECT task_run_id, parameter, upstream_id, kind FROM task_inputs")
                .fetch_all(&mut **tx)
                .await?;
        let mut inputs: std::collections::BTreeMap<String, Vec<StoredInput>> = Default::default();
        for row in &edges {
            inputs
                .entry(row.try_get("task_run_id")?)
                .or_default()
                .push(StoredInput {
                    parameter: row.try_get("parameter")?,
                    upstream_id: parse_id(
                        "task_inputs",
                        &row.try_get::<String, _>("upstream_id")?,
                    )?,
                    upstream_name: None,
                    kind: row.try_get("kind")?,
                });
        }
        for (id, list) in inputs {
            sqlx::query(&self.sql("UPDATE task_runs SET inputs = ? WHERE id = ?"))
                .bind(serde_json::to_string(&list).expect("inputs serialize"))
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for statement in schema::V1_DROPPED {
            sqlx::query(statement).execute(&mut **tx).await?;
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_run_events(name: &str, log: bool) -> (Uuid, Vec<crate::event::Event>) {
        use crate::event::{Event, LogLevel, LogRecord, RunRef};
        let id = Uuid::now_v7();
        let run = RunRef {
            kind: RunKind::Flow,
            id,
            name: name.into(),
            flow_run_id: Some(id),
        };
        let mut events = vec![
            Event::FlowRunCreated {
                run: run.clone(),
                flow_name: "f".into(),
                version: None,
                parameters: serde_json::json!({}),
                tags: Vec::new(),
                parent_flow_run_id: None,
                parent_task_run_id: None,
                created: Utc::now(),
            },
            Event::StateChanged {
                run: run.clone(),
                state: crate::State::running(),
            },
        ];
        if log {
            events.push(Event::Log(LogRecord {
                run,
                flow_run_id: Some(id),
                level: LogLevel::Info,
                target: "t".into(),
                message: "hello".into(),
                timestamp: Utc::now(),
            }));
        }
        (id, events)
    }

    /// A small batch goes to SQLite as one query of several statements (inside `BEGIN … COMMIT`
    /// for the store writer's thread, inside a transaction otherwise): when one statement fails,
    /// nothing of the batch stays and the connection is usable afterwards.
    #[tokio::test]
    async fn a_failed_small_batch_leaves_nothing_behind() {
        use write::Caller;
        for caller in [Caller::NeverCancels, Caller::MayCancel] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::connect(&sqlite_url(&dir.path().join("x.db")))
                .await
                .unwrap();
            sqlx::query("DROP TABLE logs")
                .execute(&store.pool)
                .await
                .unwrap();
            let (failed, events) = flow_run_events("doomed", true);
            let refs: Vec<_> = events.iter().collect();
            let err = store.write_events(None, &refs, caller).await.unwrap_err();
            assert!(err.to_string().contains("logs"), "{caller:?}: {err}");
            assert!(store.flow_run(&failed.to_string()).await.unwrap().is_none());

            let (ok, events) = flow_run_events("fine", false);
            let refs: Vec<_> = events.iter().collect();
            store.write_events(None, &refs, caller).await.unwrap();
            let run = store.flow_run(&ok.to_string()).await.unwrap().unwrap();
            assert_eq!(run.name, "fine");
            assert!(run.state.unwrap().is_running());
        }
    }

    /// A batch whose creation events contradict the runs' kinds is refused, naming the run.
    #[tokio::test]
    async fn contradictory_kinds_are_refused() {
        use crate::event::{Event, RunRef};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&sqlite_url(&dir.path().join("x.db")))
            .await
            .unwrap();
        let (id, mut events) = flow_run_events("twice", false);
        let Event::FlowRunCreated { run, .. } = &mut events[0] else {
            unreachable!()
        };
        run.kind = RunKind::Task;
        let err = store.write(&events).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains(&id.to_string())),
            "{err}"
        );

        let (id, mut events) = flow_run_events("twice", false);
        events.push(Event::TaskRunCreated {
            run: RunRef {
                kind: RunKind::Task,
                id,
                name: "t-0".into(),
                flow_run_id: Some(id),
            },
            task_name: "t".into(),
            flow_run_id: Some(id),
            tags: Vec::new(),
            inputs: Vec::new(),
            created: Utc::now(),
        });
        let err = store.write(&events).await.unwrap_err();
        assert!(
            err.to_string().contains("both a flow run and a task run"),
            "{err}"
        );
        assert!(store.flow_run(&id.to_string()).await.unwrap().is_none());
    }

    /// Schema 3 stored task runs' "Finished in state …" lines as rows; schema 4 reads them from the
    /// runs' histories, so migrating drops the rows and each line still shows exactly once.
    #[tokio::test]
    async fn schema_3_finished_lines_show_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("v3.db"));
        let store = Store::connect(&url).await.unwrap();
        let flow = "01a21ba6-ec75-7208-8085-a59b11b12882";
        let task = "01a21ba6-ec75-7208-8085-a59b11b12883";
        let history = format!(
            "{}{}",
            write::history_line(&crate::State::running()),
            write::history_line(&crate::State::completed())
        );
        for statement in [
            format!(
                "INSERT INTO flow_runs (id, flow_name, name, parameters, tags, created) VALUES \
                 ('{flow}', 'f', 'old-run', '{{}}', '[]', '2026-11-27T06:00:00.000000Z')"
            ),
            format!(
                "INSERT INTO task_runs (id, flow_run_id, task_name, name, tags, created, \
                 state_type, state_name, end_time, history) VALUES ('{task}', '{flow}', 't', \
                 't-0', '[]', '2026-11-27T06:00:01.000000Z', 'COMPLETED', 'Completed', \
                 '2026-11-27T06:00:02.000000Z', '{history}')"
            ),
            format!(
                "INSERT INTO logs (run_id, run_kind, flow_run_id, level, target, message, \
                 timestamp) VALUES ('{task}', 'task', '{flow}', 'INFO', 'flowcore', \
                 'Finished in state Completed()', '2026-11-27T06:00:02.000000Z')"
            ),
            "UPDATE schema_version SET version = 3".to_string(),
        ] {
            sqlx::query(&statement).execute(&store.pool).await.unwrap();
        }
        let before = store.logs(flow.parse().unwrap()).await.unwrap();
        assert_eq!(before.len(), 2, "schema 3's row and the history's line");
        drop(store);

        let store = Store::connect(&url).await.unwrap();
        let logs = store.logs(flow.parse().unwrap()).await.unwrap();
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["Finished in state Completed()"]);
        assert_eq!(logs[0].run_id.to_string(), task);
        assert_eq!(logs[0].run_name.as_deref(), Some("t-0"));
        let version: i64 = sqlx::query("SELECT version FROM schema_version")
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .try_get("version")
            .unwrap();
        assert_eq!(version, schema::VERSION);
    }

    /// A database written by schema 1 is migrated at connection: states and inputs move into the
    /// run rows, logs learn their flow run, nothing is lost.
    #[tokio::test]
    async fn schema_1_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("v1.db"));
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let flow = "01a21ba6-ec75-7208-8085-a59b11b12882";
        let task = "01a21ba6-ec75-7208-8085-a59b11b12883";
        let up = "01a21ba6-ec75-7208-8085-a59b11b12884";
        let mut statements = schema::v1(Backend::Sqlite);
        statements.extend([
            "INSERT INTO flows VALUES ('f', '2026-11-27T06:00:00.000000Z')".to_string(),
            format!(
                "INSERT INTO flow_runs VALUES ('{flow}', 'f', 'old-run', NULL, '{{}}', '[]', NULL, \
                 NULL, NULL, NULL, '2026-11-27T06:00:00.000000Z')"
            ),
            format!(
                "INSERT INTO task_runs VALUES ('{task}', '{flow}', 't', 't-0', '[]', \
                 '2026-11-27T06:00:01.000000Z')"
            ),
            format!("INSERT INTO task_inputs VALUES ('{task}', 'x', '{up}', 'parameter')"),
        ]);
        for (run, kind, ty, name, at) in [
            (flow, "flow", "RUNNING", "Running", "06:00:00"),
            (task, "task", "PENDING", "Pending", "06:00:01"),
            (task, "task", "RUNNING", "Running", "06:00:02"),
            (task, "task", "FAILED", "Failed", "06:00:03"),
            (flow, "flow", "FAILED", "Failed", "06:00:04"),
        ] {
            statements.push(format!(
                "INSERT INTO states (run_id, run_kind, type, name, message, timestamp) VALUES \
                 ('{run}', '{kind}', '{ty}', '{name}', NULL, '2026-11-27T{at}.000000Z')"
            ));
        }
        statements.push(format!(
            "INSERT INTO logs (run_id, run_kind, flow_run_id, level, target, message, timestamp) \
             VALUES ('{task}', 'task', NULL, 'ERROR', 'flowcore', 'boom', '2026-11-27T06:00:03.000000Z')"
        ));
        for statement in statements {
            sqlx::query(&statement).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = Store::connect(&url).await.unwrap();
        let run = store.flow_run("old-run").await.unwrap().unwrap();
        assert_eq!(run.state.unwrap().name, "Failed");
        assert_eq!(run.attempts, 1);
        assert_eq!(run.task_run_count, 1);
        let tasks = store.task_runs(run.id).await.unwrap();
        assert_eq!(tasks[0].inputs[0].parameter, "x");
        assert_eq!(tasks[0].inputs[0].upstream_id.to_string(), up);
        let names: Vec<String> = store
            .states(tasks[0].id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name.into_owned())
            .collect();
        assert_eq!(names, ["Pending", "Running", "Failed"]);
        let logs = store.logs(run.id).await.unwrap();
        let lines: Vec<(&str, &str)> = logs
            .iter()
            .map(|l| (l.run_name.as_deref().unwrap(), l.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [("t-0", "boom"), ("t-0", "Finished in state Failed()")],
            "the task's log line now belongs to its flow run, and its final state reads as a line"
        );
        // Connecting again finds the current version and changes nothing.
        drop(store);
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(
            store
                .flow_runs(&FlowRunFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
