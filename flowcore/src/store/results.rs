//! Task runs' persisted-result references.

use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts};
use super::connect::{Store, StoreError};
use crate::schemas::results::ResultRef;

impl Store {
    /// The reference to task run `task_run_id`'s persisted result, if it has one.
    pub async fn result_ref(&self, task_run_id: Uuid) -> Result<Option<ResultRef>, StoreError> {
        let sql = self
            .sql(
                "SELECT task_run_id, storage_key, cache_key, produced_by, storage, created \
                 FROM task_run_results WHERE task_run_id = ?",
            )
            .into_owned();
        let row = sqlx::query(&sql)
            .bind(task_run_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ResultRef {
            task_run_id: parse_id(
                "task_run_results",
                &row.try_get::<String, _>("task_run_id")?,
            )?,
            storage_key: row.try_get("storage_key")?,
            cache_key: row.try_get("cache_key")?,
            produced_by: parse_id(
                "task_run_results",
                &row.try_get::<String, _>("produced_by")?,
            )?,
            storage: row.try_get("storage")?,
            created: parse_ts("task_run_results", &row.try_get::<String, _>("created")?)?,
        }))
    }
}
