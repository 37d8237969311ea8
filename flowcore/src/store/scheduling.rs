//! Scheduled runs: the scheduler's runs created ahead of time, runs made on request, late runs.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, state_type_str, ts};
use super::connect::{Store, StoreError};
use super::rows::history_line;
use crate::runtime::state::{State, StateName};
use crate::schemas::deployments::{StoredDeployment, AUTO_SCHEDULED};

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

impl Store {
    /// Creates a Scheduled run of a deployment, expected at `expected`; `auto` marks the
    /// scheduler's runs (unique per deployment and time: a second one is not created). Returns the
    /// run's id, or `None` when it existed.
    pub(crate) async fn insert_scheduled_run(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        d: &StoredDeployment,
        parameters: &serde_json::Value,
        expected: DateTime<Utc>,
        auto: bool,
    ) -> Result<Option<Uuid>, StoreError> {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let state = State::of(StateName::Scheduled);
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
            .bind(crate::runtime::names::flow_run_name())
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
            let mut tx = self.begin_write().await?;
            // The deployment as read must still be the one in force: a schedule change (or a
            // pause) committed since would otherwise get runs of the old schedule after it removed
            // them. Writing its row first also takes the lock that orders this against `apply`.
            let current = sqlx::query(&self.sql(
                "UPDATE deployments SET updated = updated WHERE id = ? AND updated = ? AND paused = 0",
            ))
            .bind(d.id.to_string())
            .bind(ts(&d.updated))
            .execute(&mut *tx)
            .await?;
            if current.rows_affected() == 0 {
                continue;
            }
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
        if created > 0 {
            self.wake();
        }
        Ok(created)
    }

    /// Marks runs still Scheduled `grace` after their expected start as Late. Returns how many.
    pub async fn mark_late(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let message = format!(
            "not started {}s after its expected start",
            grace.num_seconds()
        );
        let late = State {
            timestamp: now,
            ..State::late(message)
        };
        let candidates = sqlx::query(&self.sql(
            "SELECT id FROM flow_runs WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled' \
             AND claimed_by IS NULL AND expected_start_time < ?",
        ))
        .bind(ts(&(now - grace)))
        .fetch_all(&self.pool)
        .await?;
        let mut marked = 0;
        for row in &candidates {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            if self.set_flow_run_state(id, &late).await? {
                marked += 1;
            }
        }
        Ok(marked)
    }
}
