//! Deployments, work queues and what schedules and agents do with flow runs: scheduled runs created
//! ahead of time, late runs, claims, heartbeats and crashed runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::read::{flow_run_from_row, FLOW_RUN_SELECT};
use super::write::{history_line, SET_STATE};
use super::{parse_id, parse_ts, state_type_str, ts, Store, StoreError, StoredFlowRun};
use crate::schedule::Schedule;
use crate::state::{State, StateType};

/// How an agent starts a deployment's program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Entrypoint {
    /// The executable.
    pub exe: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The working directory (the agent's own when absent).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// What `apply` sends: a deployment, upserted by flow name + deployment name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentSpec {
    /// The flow's name.
    pub flow_name: String,
    /// The deployment's name (unique per flow).
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags given to its runs.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Parameters of its runs.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameters: serde_json::Value,
    /// The flow's parameter schema.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "server", schema(value_type = Object))]
    pub parameter_schema: serde_json::Value,
    /// The work queue its runs go to.
    #[serde(default = "default_queue")]
    pub work_queue_name: String,
    /// When it runs by itself (none: only when asked).
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Whether its schedule is paused.
    #[serde(default)]
    pub paused: bool,
    /// How to start its program.
    pub entrypoint: Entrypoint,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn default_queue() -> String {
    "default".into()
}

/// A stored deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredDeployment {
    /// Id.
    pub id: Uuid,
    /// The deployment as applied.
    #[serde(flatten)]
    pub spec: DeploymentSpec,
    /// The schedule in words.
    pub schedule_description: Option<String>,
    /// First applied.
    pub created: DateTime<Utc>,
    /// Last applied or changed.
    pub updated: DateTime<Utc>,
    /// Up to five upcoming scheduled runs, soonest first.
    pub next_runs: Vec<StoredFlowRun>,
    /// Its newest run that started.
    pub last_run: Option<StoredFlowRun>,
}

/// A stored work queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredWorkQueue {
    /// Name.
    pub name: String,
    /// A paused queue hands out no runs.
    pub paused: bool,
    /// At most this many of its runs at once (none: unlimited).
    pub concurrency_limit: Option<i64>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Runs waiting (Scheduled or Late).
    pub scheduled_count: i64,
    /// Runs claimed by an agent and not finished.
    pub running_count: i64,
}

/// A run an agent claimed, with how to start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ClaimedRun {
    /// The flow run (now Pending).
    pub flow_run: StoredFlowRun,
    /// The deployment's program.
    pub entrypoint: Entrypoint,
}

/// How far ahead the scheduler creates runs: at most `max_runs`, none further than `horizon`, but
/// always at least `min_runs` (as Prefect's scheduler does).
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    /// At most this many future runs per deployment.
    pub max_runs: usize,
    /// At least this many.
    pub min_runs: usize,
    /// No further ahead than this (unless needed for `min_runs`).
    pub horizon: chrono::Duration,
}

impl Default for Horizon {
    fn default() -> Horizon {
        Horizon {
            max_runs: 100,
            min_runs: 3,
            horizon: chrono::Duration::days(100),
        }
    }
}

/// The tag of runs the scheduler created.
pub const AUTO_SCHEDULED: &str = "auto-scheduled";

const FINAL_TYPES: &str = "('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')";

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
        let mut tx = self.pool.begin().await?;
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

    async fn ensure_queue(
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

    async fn remove_future_auto_runs(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        deployment: Uuid,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(&self.sql(
            "DELETE FROM flow_runs WHERE deployment_id = ? AND auto_scheduled = 1 \
             AND state_type = 'SCHEDULED' AND claimed_by IS NULL",
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
    async fn deployment_rows(
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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

    /// Creates a Scheduled run of a deployment, expected at `expected`; `auto` marks the
    /// scheduler's runs (unique per deployment and time: a second one is not created). Returns the
    /// run's id, or `None` when it existed.
    async fn insert_scheduled_run(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        d: &StoredDeployment,
        parameters: &serde_json::Value,
        expected: DateTime<Utc>,
        auto: bool,
    ) -> Result<Option<Uuid>, StoreError> {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let state = State::named(StateType::Scheduled, "Scheduled");
        let state = State {
            timestamp: now,
            message: Some(format!("expected at {}", ts(&expected))),
            ..state
        };
        let mut tags = d.spec.tags.clone();
        if auto {
            tags.push(AUTO_SCHEDULED.to_string());
        }
        let sql = self.sql(
            "INSERT INTO flow_runs (id, flow_name, name, version, parameters, tags, deployment_id, \
             work_queue_name, created, state_type, state_name, state_message, state_time, attempts, \
             history, expected_start_time, auto_scheduled) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT DO NOTHING",
        );
        let done = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(d.spec.flow_name.clone())
            .bind(crate::names::flow_run_name())
            .bind(d.spec.version.clone())
            .bind(parameters.to_string())
            .bind(serde_json::to_string(&tags).expect("tags serialize"))
            .bind(d.id.to_string())
            .bind(d.spec.work_queue_name.clone())
            .bind(ts(&now))
            .bind(state_type_str(state.kind))
            .bind(state.name.to_string())
            .bind(state.message.clone())
            .bind(ts(&state.timestamp))
            .bind(history_line(&state))
            .bind(ts(&expected))
            .bind(i64::from(auto))
            .execute(&mut **tx)
            .await?;
        Ok((done.rows_affected() > 0).then_some(id))
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
        let mut tx = self.pool.begin().await?;
        let run = self
            .insert_scheduled_run(&mut tx, &d, &merged, Utc::now(), false)
            .await?;
        tx.commit().await?;
        match run {
            Some(run) => self.flow_run_by_id(run).await,
            None => Ok(None),
        }
    }

    /// The scheduler's step: for every active deployment with a schedule, creates the runs that
    /// fall within `horizon` and do not exist yet. Returns how many were created.
    pub async fn schedule_runs(
        &self,
        now: DateTime<Utc>,
        horizon: Horizon,
    ) -> Result<usize, StoreError> {
        let mut created = 0;
        for d in self
            .deployment_rows("paused = 0 AND schedule IS NOT NULL", Vec::new())
            .await?
        {
            let Some(schedule) = d.spec.schedule.as_ref().filter(|_| !d.spec.paused) else {
                continue;
            };
            let times = schedule.next_after(now, horizon.max_runs);
            let mut tx = self.pool.begin().await?;
            for (i, t) in times.into_iter().enumerate() {
                if i >= horizon.min_runs && t > now + horizon.horizon {
                    break;
                }
                if self
                    .insert_scheduled_run(&mut tx, &d, &d.spec.parameters, t, true)
                    .await?
                    .is_some()
                {
                    created += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(created)
    }

    /// Marks runs still Scheduled `grace` after their expected start as Late. Returns how many.
    pub async fn mark_late(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let late = State {
            message: Some(format!(
                "not started {}s after its expected start",
                grace.num_seconds()
            )),
            timestamp: now,
            ..State::named(StateType::Scheduled, "Late")
        };
        let done = sqlx::query(&self.sql(
            "UPDATE flow_runs SET state_name = 'Late', state_message = ?, state_time = ?, \
             history = history || ? WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled' \
             AND claimed_by IS NULL AND expected_start_time < ?",
        ))
        .bind(late.message.clone())
        .bind(ts(&now))
        .bind(history_line(&late))
        .bind(ts(&(now - grace)))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Moves a flow run to `state` (the server's and agents' transitions: Pending on claim,
    /// Crashed when its process died).
    /// A Crashed state never replaces a final one (a run that completed while its process was
    /// being reaped stays Completed). Returns whether the run changed.
    pub async fn set_flow_run_state(&self, id: Uuid, state: &State) -> Result<bool, StoreError> {
        let refs = [state];
        let summary = super::write::Summary::of(&refs);
        let guard = if state.kind == StateType::Crashed {
            format!(" AND (state_type IS NULL OR state_type NOT IN {FINAL_TYPES})")
        } else {
            String::new()
        };
        let sql = self
            .sql(&format!(
                "UPDATE flow_runs SET {SET_STATE} WHERE id = ?{guard}"
            ))
            .into_owned();
        let done = summary
            .bind(sqlx::query(&sql))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Claims up to `limit` due runs of `queue` for `agent`, atomically: each run is claimed by one
    /// agent only, on SQLite and PostgreSQL, and the queue's concurrency limit holds. Claimed runs
    /// move to Pending.
    pub async fn claim(
        &self,
        queue: &str,
        agent: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Writing the queue's row first takes SQLite's write lock, and PostgreSQL's lock on that row:
        // concurrent claims on one queue run one after the other from here.
        let locked =
            sqlx::query(&self.sql("UPDATE work_queues SET paused = paused WHERE name = ?"))
                .bind(queue.to_string())
                .execute(&mut *tx)
                .await?;
        if locked.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        let row = sqlx::query(&self.sql(&format!(
            "SELECT q.paused, q.concurrency_limit, (SELECT COUNT(*) FROM flow_runs r \
             WHERE r.work_queue_name = q.name AND r.claimed_by IS NOT NULL \
             AND r.state_type NOT IN {FINAL_TYPES}) AS running FROM work_queues q WHERE q.name = ?"
        )))
        .bind(queue.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<i64, _>("paused")? != 0 {
            return Ok(Vec::new());
        }
        let cap: Option<i64> = row.try_get("concurrency_limit")?;
        let running: i64 = row.try_get("running")?;
        let n = match cap {
            Some(cap) => (cap - running).max(0).min(limit as i64),
            None => limit as i64,
        };
        if n == 0 {
            return Ok(Vec::new());
        }
        let pending = State {
            message: Some(format!("claimed by agent {agent}")),
            ..State::pending()
        };
        let refs = [&pending];
        let summary = super::write::Summary::of(&refs);
        let sql = self
            .sql(&format!(
                "UPDATE flow_runs SET {SET_STATE}, claimed_by = ?, heartbeat = ? WHERE id IN \
             (SELECT id FROM flow_runs WHERE work_queue_name = ? AND state_type = 'SCHEDULED' \
             AND claimed_by IS NULL AND expected_start_time <= ? \
             ORDER BY expected_start_time LIMIT {n}) AND claimed_by IS NULL RETURNING id"
            ))
            .into_owned();
        let rows = summary
            .bind(sqlx::query(&sql))
            .bind(agent.to_string())
            .bind(ts(&now))
            .bind(queue.to_string())
            .bind(ts(&now))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            let Some(flow_run) = self.flow_run_by_id(id).await? else {
                continue;
            };
            let deployment = match &flow_run.deployment_id {
                Some(d) => self
                    .deployment_rows("id = ?", vec![d.clone()])
                    .await?
                    .into_iter()
                    .next(),
                None => None,
            };
            let Some(deployment) = deployment else {
                // Deleted between the claim and now: nothing can start it.
                let failed = State::failed("its deployment was deleted before an agent started it");
                self.set_flow_run_state(id, &failed).await?;
                continue;
            };
            out.push(ClaimedRun {
                flow_run,
                entrypoint: deployment.spec.entrypoint,
            });
        }
        Ok(out)
    }

    /// Records that `agent` still watches these runs.
    pub async fn heartbeat(
        &self,
        agent: &str,
        runs: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for id in runs {
            n += sqlx::query(
                &self.sql("UPDATE flow_runs SET heartbeat = ? WHERE id = ? AND claimed_by = ?"),
            )
            .bind(ts(&now))
            .bind(id.to_string())
            .bind(agent.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(n)
    }

    /// Claimed runs not final whose agent has not sent a heartbeat for `timeout` become Crashed.
    /// Returns their ids.
    pub async fn crash_silent_runs(
        &self,
        now: DateTime<Utc>,
        timeout: chrono::Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows = self
            .fetch(
                &format!(
                    "SELECT id, claimed_by FROM flow_runs WHERE claimed_by IS NOT NULL \
                     AND state_type NOT IN {FINAL_TYPES} AND heartbeat < ?"
                ),
                vec![ts(&(now - timeout))],
            )
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            let agent: String = row.try_get("claimed_by")?;
            let state = State::crashed(format!(
                "no heartbeat from agent {agent} for {}s",
                timeout.num_seconds()
            ));
            self.set_flow_run_state(id, &state).await?;
            out.push(id);
        }
        Ok(out)
    }

    /// Every work queue with its waiting and running counts.
    pub async fn work_queues(&self) -> Result<Vec<StoredWorkQueue>, StoreError> {
        let rows = self
            .fetch(
                &format!(
                    "SELECT q.*, (SELECT COUNT(*) FROM flow_runs r WHERE r.work_queue_name = q.name \
                     AND r.state_type = 'SCHEDULED') AS scheduled_count, \
                     (SELECT COUNT(*) FROM flow_runs r WHERE r.work_queue_name = q.name \
                     AND r.claimed_by IS NOT NULL AND r.state_type NOT IN {FINAL_TYPES}) AS running_count \
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
        let mut tx = self.pool.begin().await?;
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
