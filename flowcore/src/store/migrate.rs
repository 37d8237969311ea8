//! Creating and migrating the schema (see `schema` for the tables).

use std::borrow::Cow;

use chrono::Utc;
use sqlx::Row;

use super::codec::{parse_id, parse_state_type, parse_ts, ts};
use super::connect::{Backend, Store, StoreError};
use super::{schema, write};
use crate::schemas::records::StoredInput;

impl Store {
    /// Creates the schema on an empty database, or migrates an older one to this build's version.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Already current (the usual case, and the one where several processes open one home at
        // once): nothing to write. On SQLite a transaction that read first and then wrote could
        // fail with "database is locked" while another process writes.
        let current: Result<Option<i64>, sqlx::Error> =
            sqlx::query("SELECT MAX(version) AS v FROM schema_version")
                .fetch_one(&self.pool)
                .await
                .and_then(|row| row.try_get("v"));
        if let Ok(Some(v)) = current {
            if v == schema::VERSION {
                return Ok(());
            }
        }
        // Within one process, migrations wait for each other (the store writer's, which starts as
        // its sink is attached, and a caller's such as `resume`) instead of on the database's
        // lock and its timeout; across processes the database's lock orders them.
        static MIGRATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = MIGRATING.lock().await;
        let mut tx = self.begin_write().await?;
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
        if from < 5 {
            for statement in schema::v4_to_v5(self.backend) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < 6 {
            for statement in schema::v5_to_v6() {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < 7 {
            for statement in schema::v6_to_v7(self.backend) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < 8 {
            for statement in schema::v7_to_v8(self.backend) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
        }
        if from < 9 {
            for statement in schema::v8_to_v9(self.backend) {
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
        let mut runs: Vec<(String, String, Vec<crate::runtime::state::State>)> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("run_id")?;
            let time: String = row.try_get("timestamp")?;
            let state = crate::runtime::state::State {
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
            let refs: Vec<&crate::runtime::state::State> = states.iter().collect();
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
}
