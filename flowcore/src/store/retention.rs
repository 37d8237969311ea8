//! Retention: deleting finished flow runs older than a cutoff, with their task runs and logs, so
//! the database does not only grow (their artifacts and automations' notifications go with them,
//! and the task queue's entries that ended before it). Runs that may still move — Scheduled, Late, Pending, Running —
//! are never touched.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::codec::{final_types, ts};
use super::connect::{Backend, Store, StoreError};

/// What [`Store::vacuum`] deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Vacuumed {
    /// Finished flow runs.
    pub flow_runs: u64,
    /// Their task runs.
    pub task_runs: u64,
    /// Their log lines (flow runs' and task runs').
    pub logs: u64,
    /// The automations' notifications about them.
    pub notifications: u64,
    /// Their artifacts.
    pub artifacts: u64,
    /// Their task runs' result references (the stored values are the result storage's: not
    /// deleted here).
    pub results: u64,
    /// Task-queue entries (runs sent to task workers) that ended — done or cancelled — before
    /// the cutoff, whatever their flow run.
    pub queued_tasks: u64,
}

impl Store {
    /// Deletes every flow run that finished (a final state: Completed, Failed, Cancelled, Crashed)
    /// before `cutoff`, with its task runs and logs; with `dry_run`, only counts them. On SQLite
    /// the file is then compacted (`VACUUM`), giving the space back.
    pub async fn vacuum(
        &self,
        cutoff: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vacuumed, StoreError> {
        let finished = format!(
            "SELECT id FROM flow_runs WHERE state_type IN {} \
             AND COALESCE(end_time, state_time, created) < ?",
            final_types()
        );
        let statements = [
            (
                "task_run_results",
                format!(
                    "task_run_results WHERE task_run_id IN \
                     (SELECT id FROM task_runs WHERE flow_run_id IN ({finished}))"
                ),
            ),
            (
                "logs",
                format!("logs WHERE flow_run_id IN ({finished}) OR run_id IN ({finished})"),
            ),
            (
                "task_runs",
                format!("task_runs WHERE flow_run_id IN ({finished})"),
            ),
            (
                "notifications",
                format!("notifications WHERE flow_run_id IN ({finished})"),
            ),
            (
                "artifacts",
                format!("artifacts WHERE flow_run_id IN ({finished})"),
            ),
            ("flow_runs", format!("flow_runs WHERE id IN ({finished})")),
            (
                "task_queue",
                "task_queue WHERE finished IS NOT NULL AND finished < ?".to_string(),
            ),
        ];
        let cutoff = ts(&cutoff);
        let mut tx = self.begin_write().await?;
        let mut counts = [0u64; 7];
        for (i, (_, from)) in statements.iter().enumerate() {
            let binds = from.matches('?').count();
            let sql = if dry_run {
                format!("SELECT COUNT(*) AS n FROM {from}")
            } else {
                format!("DELETE FROM {from}")
            };
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for _ in 0..binds {
                query = query.bind(cutoff.clone());
            }
            counts[i] = if dry_run {
                let n: i64 = query.fetch_one(&mut *tx).await?.try_get("n")?;
                n.max(0) as u64
            } else {
                query.execute(&mut *tx).await?.rows_affected()
            };
        }
        tx.commit().await?;
        if !dry_run && counts.iter().any(|n| *n > 0) {
            let compact = match self.backend {
                Backend::Sqlite => "VACUUM",
                Backend::Postgres => "VACUUM (ANALYZE) flow_runs, task_runs, logs, task_queue",
            };
            sqlx::query(compact).execute(&self.pool).await?;
        }
        Ok(Vacuumed {
            results: counts[0],
            logs: counts[1],
            task_runs: counts[2],
            notifications: counts[3],
            artifacts: counts[4],
            flow_runs: counts[5],
            queued_tasks: counts[6],
        })
    }
}
