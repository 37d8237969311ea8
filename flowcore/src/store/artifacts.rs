//! Reading artifacts back: by key (a history, newest first), by flow run, one by id.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts};
use super::connect::{Store, StoreError};
use crate::schemas::artifacts::{Artifact, ArtifactKind};

/// Which artifacts a listing shows (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArtifactFilter {
    /// Only this key.
    pub key: Option<String>,
    /// Only those of this flow run (its task runs' included).
    pub flow_run_id: Option<Uuid>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

const COLUMNS: &str = "id, key, kind, data, description, flow_run_id, task_run_id, created";

fn artifact(row: &AnyRow) -> Result<Artifact, StoreError> {
    let t = "artifacts";
    let corrupt = |message: String| StoreError::Corrupt { table: t, message };
    let id = |column: &str| -> Result<Option<Uuid>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|s| parse_id(t, &s))
            .transpose()
    };
    let kind: String = row.try_get("kind")?;
    Ok(Artifact {
        id: parse_id(t, &row.try_get::<String, _>("id")?)?,
        key: row.try_get("key")?,
        kind: ArtifactKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("unknown kind {kind:?}")))?,
        data: serde_json::from_str(&row.try_get::<String, _>("data")?)
            .map_err(|e| corrupt(e.to_string()))?,
        description: row.try_get("description")?,
        flow_run_id: id("flow_run_id")?,
        task_run_id: id("task_run_id")?,
        created: parse_ts(t, &row.try_get::<String, _>("created")?)?,
    })
}

impl Store {
    /// Artifacts matching `filter`, newest first.
    pub async fn artifacts(&self, filter: &ArtifactFilter) -> Result<Vec<Artifact>, StoreError> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(key) = &filter.key {
            clauses.push("key = ?");
            values.push(key.clone());
        }
        if let Some(run) = filter.flow_run_id {
            clauses.push("flow_run_id = ?");
            values.push(run.to_string());
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = self
            .sql(&format!(
                "SELECT {COLUMNS} FROM artifacts{clause} ORDER BY created DESC, id DESC LIMIT ?"
            ))
            .into_owned();
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query
            .bind(filter.limit.unwrap_or(100))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(artifact).collect()
    }

    /// One artifact.
    pub async fn artifact(&self, id: Uuid) -> Result<Option<Artifact>, StoreError> {
        let sql = self
            .sql(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?"))
            .into_owned();
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(artifact).transpose()
    }
}
