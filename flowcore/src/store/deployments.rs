//! Deployments: applied (upserted by flow + name), listed, paused, deleted, run on request.

use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts, ts};
use super::connect::{Store, StoreError};
use super::read::{flow_run_from_row, FLOW_RUN_SELECT};
use crate::deploy::schedule::Schedule;
use crate::schemas::deployments::{DeploymentSpec, StoredDeployment};
use crate::schemas::records::StoredFlowRun;

fn deployment_from_row(row: &AnyRow) -> Result<StoredDeployment, StoreError> {
    const T: &str = "deployments";
    let json = |column: &str| -> Result<serde_json::Value, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: T,
            message: format!("{column}: {e}"),
        })
    };
    let schedule: Option<String> = row.try_get("schedule")?;
    let schedule: Option<Schedule> = schedule
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            table: T,
            message: format!("schedule: {e}"),
        })?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        table: T,
        message: e.to_string(),
    };
    Ok(StoredDeployment {
        id: parse_id(T, &row.try_get::<String, _>("id")?)?,
        schedule_description: schedule.as_ref().map(Schedule::describe),
        spec: DeploymentSpec {
            flow_name: row.try_get("flow_name")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            description: row.try_get("description")?,
            tags: serde_json::from_value(json("tags")?).map_err(corrupt)?,
            parameters: json("parameters")?,
            parameter_schema: json("parameter_schema")?,
            work_queue_name: row.try_get("work_queue_name")?,
            schedule,
            paused: row.try_get::<i64, _>("paused")? != 0,
            entrypoint: serde_json::from_value(json("entrypoint")?).map_err(corrupt)?,
        },
        created: parse_ts(T, &row.try_get::<String, _>("created")?)?,
        updated: parse_ts(T, &row.try_get::<String, _>("updated")?)?,
        next_runs: Vec::new(),
        last_run: None,
    })
}

impl Store {
    /// Creates or updates (by flow name + deployment name) a deployment. When its schedule, queue or
    /// parameters change, or it is paused, the runs the scheduler created ahead of time that have not
    /// started are removed (the scheduler makes new ones).
    pub async fn apply_deployment(
        &self,
        spec: &DeploymentSpec,
    ) -> Result<StoredDeployment, StoreError> {
        let now = ts(&Utc::now());
        let existing = self.deployment_by_name(&spec.flow_name, &spec.name).await?;
        let schedule = spec
            .schedule
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("schedules serialize"));
        let mut tx = self.begin_write().await?;
        let sql = self.sql(
            "INSERT INTO deployments (id, flow_name, name, version, description, tags, parameters, \
             parameter_schema, work_queue_name, schedule, paused, entrypoint, created, updated) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (flow_name, name) DO UPDATE SET version = excluded.version, \
             description = excluded.description, tags = excluded.tags, \
             parameters = excluded.parameters, parameter_schema = excluded.parameter_schema, \
             work_queue_name = excluded.work_queue_name, schedule = excluded.schedule, \
             paused = excluded.paused, entrypoint = excluded.entrypoint, updated = excluded.updated",
        );
        sqlx::query(&sql)
            .bind(Uuid::now_v7().to_string())
            .bind(spec.flow_name.clone())
            .bind(spec.name.clone())
            .bind(spec.version.clone())
            .bind(spec.description.clone())
            .bind(serde_json::to_string(&spec.tags).expect("tags serialize"))
            .bind(spec.parameters.to_string())
            .bind(spec.parameter_schema.to_string())
            .bind(spec.work_queue_name.clone())
            .bind(schedule)
            .bind(i64::from(spec.paused))
            .bind(serde_json::to_string(&spec.entrypoint).expect("entrypoints serialize"))
            .bind(now.clone())
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
        self.ensure_queue(&mut tx, &spec.work_queue_name).await?;
        if let Some(old) = &existing {
            let changed = old.spec.schedule != spec.schedule
                || old.spec.work_queue_name != spec.work_queue_name
                || old.spec.parameters != spec.parameters
                || spec.paused;
            if changed {
                self.remove_future_auto_runs(&mut tx, old.id).await?;
            }
        }
        tx.commit().await?;
        self.deployment_by_name(&spec.flow_name, &spec.name)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "deployments",
                message: "the deployment vanished after its upsert".into(),
            })
    }

    /// Removes a deployment's auto-scheduled runs that are still to come: `Scheduled` (not `Late`:
    /// a backlog of missed runs is kept, unlike Prefect's PrefectHQ/prefect#17764) and unclaimed. A
    /// run due within the Late grace but not yet marked Late goes with the old schedule too.
    async fn remove_future_auto_runs(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        deployment: Uuid,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(&self.sql(
            "DELETE FROM flow_runs WHERE deployment_id = ? AND auto_scheduled = 1 \
             AND state_type = 'SCHEDULED' AND state_name = 'Scheduled' AND claimed_by IS NULL",
        ))
        .bind(deployment.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn with_runs(&self, mut d: StoredDeployment) -> Result<StoredDeployment, StoreError> {
        let rows = self
            .fetch(
                &format!(
                    "{FLOW_RUN_SELECT} WHERE r.deployment_id = ? AND r.state_type = 'SCHEDULED' \
                     ORDER BY r.expected_start_time LIMIT 5"
                ),
                vec![d.id.to_string()],
            )
            .await?;
        d.next_runs = rows
            .iter()
            .map(flow_run_from_row)
            .collect::<Result<_, _>>()?;
        let rows = self
            .fetch(
                &format!(
                    "{FLOW_RUN_SELECT} WHERE r.deployment_id = ? AND r.start_time IS NOT NULL \
                     ORDER BY r.start_time DESC LIMIT 1"
                ),
                vec![d.id.to_string()],
            )
            .await?;
        d.last_run = rows.first().map(flow_run_from_row).transpose()?;
        Ok(d)
    }

    async fn deployment_by_name(
        &self,
        flow: &str,
        name: &str,
    ) -> Result<Option<StoredDeployment>, StoreError> {
        let rows = self
            .fetch(
                "SELECT * FROM deployments WHERE flow_name = ? AND name = ?",
                vec![flow.to_string(), name.to_string()],
            )
            .await?;
        match rows.first() {
            Some(row) => Ok(Some(self.with_runs(deployment_from_row(row)?).await?)),
            None => Ok(None),
        }
    }

    /// Every deployment, by flow and name.
    pub async fn deployments(&self) -> Result<Vec<StoredDeployment>, StoreError> {
        let mut out = Vec::new();
        for d in self.deployment_rows("1 = 1", Vec::new()).await? {
            out.push(self.with_runs(d).await?);
        }
        Ok(out)
    }

    /// Deployments matching `clause`, without their runs (what the scheduler and claims need).
    pub(crate) async fn deployment_rows(
        &self,
        clause: &str,
        binds: Vec<String>,
    ) -> Result<Vec<StoredDeployment>, StoreError> {
        self.fetch(
            &format!("SELECT * FROM deployments WHERE {clause} ORDER BY flow_name, name"),
            binds,
        )
        .await?
        .iter()
        .map(deployment_from_row)
        .collect()
    }

    /// One deployment by id, by `flow/name`, or by name when only one deployment has it.
    pub async fn deployment(&self, key: &str) -> Result<Option<StoredDeployment>, StoreError> {
        let rows = match key.split_once('/') {
            Some((flow, name)) => {
                self.fetch(
                    "SELECT * FROM deployments WHERE (flow_name = ? AND name = ?) OR id = ?",
                    vec![flow.to_string(), name.to_string(), key.to_string()],
                )
                .await?
            }
            None => {
                self.fetch(
                    "SELECT * FROM deployments WHERE id = ? OR name = ?",
                    vec![key.to_string(), key.to_string()],
                )
                .await?
            }
        };
        match rows.as_slice() {
            [row] => Ok(Some(self.with_runs(deployment_from_row(row)?).await?)),
            _ => Ok(None),
        }
    }

    /// Pauses or resumes a deployment's schedule (pausing removes its future scheduled runs).
    pub async fn set_deployment_paused(&self, id: Uuid, paused: bool) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&self.sql("UPDATE deployments SET paused = ?, updated = ? WHERE id = ?"))
            .bind(i64::from(paused))
            .bind(ts(&Utc::now()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if paused {
            self.remove_future_auto_runs(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a deployment and its runs that have not started; its past runs stay.
    pub async fn delete_deployment(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&self.sql(
            "DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = 'SCHEDULED' \
             AND claimed_by IS NULL",
        ))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(&self.sql("DELETE FROM deployments WHERE id = ?"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// A run of a deployment now (`flowcore deployment run`, the UI's Run button), its parameters
    /// merged over the deployment's.
    pub async fn run_deployment(
        &self,
        id: Uuid,
        parameters: Option<&serde_json::Value>,
    ) -> Result<Option<StoredFlowRun>, StoreError> {
        let Some(d) = self.deployment(&id.to_string()).await? else {
            return Ok(None);
        };
        let mut merged = d.spec.parameters.clone();
        if let (Some(serde_json::Value::Object(over)), serde_json::Value::Object(base)) =
            (parameters, &mut merged)
        {
            for (k, v) in over {
                base.insert(k.clone(), v.clone());
            }
        }
        let mut tx = self.begin_write().await?;
        let run = self
            .insert_scheduled_run(&mut tx, &d, &merged, Utc::now(), false)
            .await?;
        tx.commit().await?;
        self.wake();
        match run {
            Some(run) => self.flow_run_by_id(run).await,
            None => Ok(None),
        }
    }
}
