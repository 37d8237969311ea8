//! Work queues: created on first use, paused and resumed, with a concurrency limit.

use chrono::Utc;
use sqlx::Row;

use super::codec::{final_types, parse_ts, ts};
use super::connect::{Store, StoreError};
use crate::schemas::deployments::StoredWorkQueue;

impl Store {
    pub(crate) async fn ensure_queue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "INSERT INTO work_queues (name, paused, created) VALUES (?, 0, ?) \
             ON CONFLICT (name) DO NOTHING",
        ))
        .bind(name.to_string())
        .bind(ts(&Utc::now()))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Every work queue with its waiting and running counts.
    pub async fn work_queues(&self) -> Result<Vec<StoredWorkQueue>, StoreError> {
        let final_types = final_types();
        let rows = self
            .fetch(
                &format!(
                    "SELECT q.*, (SELECT COUNT(*) FROM flow_runs r WHERE r.work_queue_name = q.name \
                     AND r.state_type = 'SCHEDULED') AS scheduled_count, \
                     (SELECT COUNT(*) FROM flow_runs r WHERE r.work_queue_name = q.name \
                     AND r.claimed_by IS NOT NULL AND r.state_type NOT IN {final_types}) AS running_count \
                     FROM work_queues q ORDER BY q.name"
                ),
                Vec::new(),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredWorkQueue {
                    name: row.try_get("name")?,
                    paused: row.try_get::<i64, _>("paused")? != 0,
                    concurrency_limit: row.try_get("concurrency_limit")?,
                    created: parse_ts("work_queues", &row.try_get::<String, _>("created")?)?,
                    scheduled_count: row.try_get("scheduled_count")?,
                    running_count: row.try_get("running_count")?,
                })
            })
            .collect()
    }

    /// One work queue.
    pub async fn work_queue(&self, name: &str) -> Result<Option<StoredWorkQueue>, StoreError> {
        Ok(self
            .work_queues()
            .await?
            .into_iter()
            .find(|q| q.name == name))
    }

    /// Creates a work queue (nothing happens when it exists).
    pub async fn create_work_queue(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.ensure_queue(&mut tx, name).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pauses or resumes a work queue. Returns whether it exists.
    pub async fn set_work_queue_paused(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.sql("UPDATE work_queues SET paused = ? WHERE name = ?"))
            .bind(i64::from(paused))
            .bind(name.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets (or removes, with `None`) a work queue's concurrency limit. Returns whether it exists.
    pub async fn set_work_queue_concurrency(
        &self,
        name: &str,
        limit: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query(&self.sql("UPDATE work_queues SET concurrency_limit = ? WHERE name = ?"))
                .bind(limit)
                .bind(name.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
