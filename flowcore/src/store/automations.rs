//! Automations and their notification queue. Every flow-run transition the store records
//! (ingested batches, the server's own transitions) is matched against the active automations in
//! the same transaction: a match is queued in `notifications`, so a restart loses nothing; the
//! server's notifier delivers the queue (see `server::notifier`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts, ts};
use super::connect::{Store, StoreError};
use crate::runtime::state::State;
use crate::schemas::automations::{
    AutomationDetail, AutomationSpec, Delivery, StoredAutomation, Transition,
};

/// A queued notification, as the notifier sends it.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Its id.
    pub id: i64,
    /// Where it goes.
    pub webhook: String,
    /// With these headers.
    pub headers: Vec<(String, String)>,
    /// The body (without the server's `url` and `text`, which the notifier adds).
    pub body: serde_json::Value,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the transition was stored (retries stop ~10 minutes later).
    pub created: DateTime<Utc>,
}

/// The automations that may fire: read in the transaction that records the transitions.
pub(crate) const ACTIVE_AUTOMATIONS: &str = "SELECT id, spec FROM automations WHERE paused = 0";

/// The rows of [`ACTIVE_AUTOMATIONS`]: each automation's id and spec.
pub(crate) fn active_automations(
    rows: &[AnyRow],
) -> Result<Vec<(String, AutomationSpec)>, StoreError> {
    rows.iter()
        .map(|row| Ok((row.try_get::<String, _>("id")?, spec_of(row)?)))
        .collect()
}

fn spec_of(row: &AnyRow) -> Result<AutomationSpec, StoreError> {
    serde_json::from_str(&row.try_get::<String, _>("spec")?).map_err(|e| StoreError::Corrupt {
        table: "automations",
        message: e.to_string(),
    })
}

impl Store {
    /// Creates an automation; a name already taken is an [`StoreError::Invalid`] naming it.
    pub async fn create_automation(
        &self,
        spec: &AutomationSpec,
    ) -> Result<StoredAutomation, StoreError> {
        if spec.on.is_empty() {
            return Err(StoreError::Invalid(
                "an automation needs at least one state in `on`".into(),
            ));
        }
        if self.automation(&spec.name).await?.is_some() {
            return Err(StoreError::Invalid(format!(
                "an automation named {:?} exists already",
                spec.name
            )));
        }
        let id = Uuid::now_v7();
        sqlx::query(&self.sql(
            "INSERT INTO automations (id, name, spec, paused, created) VALUES (?, ?, ?, 0, ?)",
        ))
        .bind(id.to_string())
        .bind(spec.name.clone())
        .bind(serde_json::to_string(spec).expect("specs serialize"))
        .bind(ts(&Utc::now()))
        .execute(&self.pool)
        .await?;
        self.automation(&id.to_string())
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "automations",
                message: "the automation vanished after its insert".into(),
            })
    }

    /// Every automation, by name, with its delivery counts.
    pub async fn automations(&self) -> Result<Vec<StoredAutomation>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.spec, a.paused, a.created, \
             (SELECT COUNT(*) FROM notifications n WHERE n.automation_id = a.id AND n.status = 'delivered') AS delivered, \
             (SELECT COUNT(*) FROM notifications n WHERE n.automation_id = a.id AND n.status = 'pending') AS pending, \
             (SELECT COUNT(*) FROM notifications n WHERE n.automation_id = a.id AND n.status = 'failed') AS failed \
             FROM automations a ORDER BY a.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredAutomation {
                    id: parse_id("automations", &row.try_get::<String, _>("id")?)?,
                    spec: spec_of(row)?,
                    paused: row.try_get::<i64, _>("paused")? != 0,
                    created: parse_ts("automations", &row.try_get::<String, _>("created")?)?,
                    delivered: row.try_get("delivered")?,
                    pending: row.try_get("pending")?,
                    failed: row.try_get("failed")?,
                })
            })
            .collect()
    }

    /// The automation `key` names (its id or name).
    pub async fn automation(&self, key: &str) -> Result<Option<StoredAutomation>, StoreError> {
        Ok(self
            .automations()
            .await?
            .into_iter()
            .find(|a| a.spec.name == key || a.id.to_string() == key))
    }

    /// An automation and its latest `limit` deliveries.
    pub async fn automation_detail(
        &self,
        key: &str,
        limit: i64,
    ) -> Result<Option<AutomationDetail>, StoreError> {
        let Some(automation) = self.automation(key).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(&self.sql(
            "SELECT id, flow_run_id, state, status, attempts, last_error, created, delivered_at, body \
             FROM notifications WHERE automation_id = ? ORDER BY id DESC LIMIT ?",
        ))
        .bind(automation.id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let t = "notifications";
        let deliveries = rows
            .iter()
            .map(|row| {
                let delivered: Option<String> = row.try_get("delivered_at")?;
                Ok(Delivery {
                    id: row.try_get("id")?,
                    flow_run_id: parse_id(t, &row.try_get::<String, _>("flow_run_id")?)?,
                    state: row.try_get("state")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    created: parse_ts(t, &row.try_get::<String, _>("created")?)?,
                    delivered_at: delivered.map(|d| parse_ts(t, &d)).transpose()?,
                    body: serde_json::from_str(&row.try_get::<String, _>("body")?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(AutomationDetail {
            automation,
            deliveries,
        }))
    }

    /// Pauses or resumes an automation; whether it exists.
    pub async fn set_automation_paused(&self, id: Uuid, paused: bool) -> Result<bool, StoreError> {
        let done = sqlx::query(&self.sql("UPDATE automations SET paused = ? WHERE id = ?"))
            .bind(i64::from(paused))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an automation and its queue; whether it existed.
    pub async fn delete_automation(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&self.sql("DELETE FROM notifications WHERE automation_id = ?"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(&self.sql("DELETE FROM automations WHERE id = ?"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queues a notification for every active automation each recorded flow-run transition
    /// matches. Runs inside the caller's transaction, after the runs' rows are written.
    pub(crate) async fn queue_notifications(
        &self,
        conn: &mut sqlx::AnyConnection,
        changes: &[(Uuid, Vec<&State>)],
    ) -> Result<(), StoreError> {
        if changes.iter().all(|(_, states)| states.is_empty()) {
            return Ok(());
        }
        let rows = sqlx::query(ACTIVE_AUTOMATIONS)
            .fetch_all(&mut *conn)
            .await?;
        let automations = active_automations(&rows)?;
        self.queue_notifications_for(conn, changes, &automations)
            .await
    }

    /// [`queue_notifications`](Self::queue_notifications) with the active automations already
    /// read (by [`ACTIVE_AUTOMATIONS`], in the same transaction).
    pub(crate) async fn queue_notifications_for(
        &self,
        conn: &mut sqlx::AnyConnection,
        changes: &[(Uuid, Vec<&State>)],
        automations: &[(String, AutomationSpec)],
    ) -> Result<(), StoreError> {
        if automations.is_empty() || changes.iter().all(|(_, states)| states.is_empty()) {
            return Ok(());
        }
        let marks = vec!["?"; changes.len()].join(", ");
        let sql = self.sql(&format!(
            "SELECT r.id, r.flow_name, r.name, r.tags, r.deployment_id, d.name AS deployment_name \
             FROM flow_runs r LEFT JOIN deployments d ON d.id = r.deployment_id WHERE r.id IN ({marks})"
        )).into_owned();
        let mut query = sqlx::query(&sql);
        for (id, _) in changes {
            query = query.bind(id.to_string());
        }
        let mut runs = HashMap::new();
        for row in query.fetch_all(&mut *conn).await? {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            let tags: Vec<String> =
                serde_json::from_str(&row.try_get::<String, _>("tags")?).unwrap_or_default();
            let deployment: Option<String> = row.try_get("deployment_id")?;
            let deployment_name: Option<String> = row.try_get("deployment_name")?;
            let flow: String = row.try_get("flow_name")?;
            let name: String = row.try_get("name")?;
            runs.insert(id, (flow, name, tags, deployment, deployment_name));
        }
        let now = ts(&Utc::now());
        let insert = self.sql(
            "INSERT INTO notifications (automation_id, flow_run_id, state, body, status, attempts, \
             created, next_attempt) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
        );
        for (id, states) in changes {
            let Some((flow, name, tags, deployment, deployment_name)) = runs.get(id) else {
                continue;
            };
            for state in states {
                let transition = Transition {
                    flow,
                    tags,
                    deployment: deployment
                        .as_deref()
                        .map(|d| (d, deployment_name.as_deref().unwrap_or(""))),
                    state_type: state.kind.as_str(),
                    state_name: &state.name,
                };
                for (automation_id, spec) in automations {
                    if !spec.matches(&transition) {
                        continue;
                    }
                    let body = serde_json::json!({
                        "automation": spec.name,
                        "flow": flow,
                        "flow_run": {"id": id, "name": name},
                        "state": {"type": state.kind.as_str(), "name": state.name},
                        "message": state.message,
                        "deployment": deployment_name,
                        "timestamp": state.timestamp,
                    });
                    sqlx::query(&insert)
                        .bind(automation_id.clone())
                        .bind(id.to_string())
                        .bind(state.name.to_string())
                        .bind(body.to_string())
                        .bind(now.clone())
                        .bind(now.clone())
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` queued notifications due at `now`, oldest first.
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Queued>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT n.id, n.body, n.attempts, n.created, a.spec FROM notifications n \
             JOIN automations a ON a.id = n.automation_id \
             WHERE n.status = 'pending' AND n.next_attempt <= ? ORDER BY n.id LIMIT ?",
        ))
        .bind(ts(&now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let spec = spec_of(row)?;
                Ok(Queued {
                    id: row.try_get("id")?,
                    webhook: spec.webhook,
                    headers: spec.headers.into_iter().collect(),
                    body: serde_json::from_str(&row.try_get::<String, _>("body")?)
                        .unwrap_or(serde_json::Value::Null),
                    attempts: row.try_get("attempts")?,
                    created: parse_ts("notifications", &row.try_get::<String, _>("created")?)?,
                })
            })
            .collect()
    }

    /// Records a delivery attempt: delivered; or failed with `error`, to be retried at `retry_at`
    /// (`None`: given up).
    pub async fn record_attempt(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let now = ts(&Utc::now());
        let (sql, values): (&str, Vec<String>) = match (error, retry_at) {
            (None, _) => (
                "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, \
                 delivered_at = ?, last_error = NULL WHERE id = ?",
                vec![now],
            ),
            (Some(error), Some(at)) => (
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?, \
                 next_attempt = ? WHERE id = ?",
                vec![error.to_string(), ts(&at)],
            ),
            (Some(error), None) => (
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                 last_error = ? WHERE id = ?",
                vec![error.to_string()],
            ),
        };
        let sql = self.sql(sql);
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        query.bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
