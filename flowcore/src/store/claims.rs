//! What agents do with runs: claims (atomic, within the queue's concurrency limit), heartbeats, and
//! runs whose agent went silent marked Crashed.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::codec::{final_types, parse_id, ts};
use super::connect::{Backend, Store, StoreError};
use super::transitions::Transition;
use crate::runtime::state::State;
use crate::schemas::deployments::ClaimedRun;

/// Who holds a top-level flow run a program reported through the API until its process's first
/// heartbeat names it.
const PROCESS: &str = "process";

impl Store {
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
        Ok(self
            .claim_from(queue, agent, now, limit)
            .await?
            .unwrap_or_default())
    }

    /// [`claim`](Self::claim), `None` when there is no queue `queue`.
    pub(crate) async fn claim_from(
        &self,
        queue: &str,
        agent: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Option<Vec<ClaimedRun>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let locked = match self.backend {
            // Writing the queue's row takes SQLite's write lock: claims run one after the other.
            Backend::Sqlite => {
                sqlx::query("UPDATE work_queues SET paused = paused WHERE name = ?")
                    .bind(queue.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0
            }
            // PostgreSQL: claims on a queue with a concurrency limit run one after the other (the
            // queue's row locked FOR UPDATE: the count of running runs stays exact); on a queue
            // without one they run in parallel (FOR SHARE), each taking the due runs the others
            // have not locked (SKIP LOCKED below).
            Backend::Postgres => {
                let limited: Option<Option<i64>> =
                    sqlx::query("SELECT concurrency_limit FROM work_queues WHERE name = $1")
                        .bind(queue.to_string())
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| row.try_get("concurrency_limit"))
                        .transpose()?;
                let Some(limited) = limited else {
                    return Ok(None);
                };
                let lock = if limited.is_some() { "UPDATE" } else { "SHARE" };
                sqlx::query(&format!(
                    "SELECT name FROM work_queues WHERE name = $1 FOR {lock}"
                ))
                .bind(queue.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .is_some()
            }
        };
        if !locked {
            return Ok(None);
        }
        let final_types = final_types();
        let row = sqlx::query(&self.sql(&format!(
            "SELECT q.paused, q.concurrency_limit, (SELECT COUNT(*) FROM flow_runs r \
             WHERE r.work_queue_name = q.name AND r.claimed_by IS NOT NULL \
             AND r.state_type NOT IN {final_types}) AS running FROM work_queues q WHERE q.name = ?"
        )))
        .bind(queue.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<i64, _>("paused")? != 0 {
            return Ok(Some(Vec::new()));
        }
        let cap: Option<i64> = row.try_get("concurrency_limit")?;
        let running: i64 = row.try_get("running")?;
        let n = match cap {
            Some(cap) => (cap - running).max(0).min(limit as i64),
            None => limit as i64,
        };
        if n == 0 {
            return Ok(Some(Vec::new()));
        }
        // The due runs, soonest first; each moves to Pending as the policy decides.
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let candidates = sqlx::query(&self.sql(&format!(
            "SELECT id FROM flow_runs WHERE work_queue_name = ? AND state_type = 'SCHEDULED' \
             AND claimed_by IS NULL AND expected_start_time <= ? \
             ORDER BY expected_start_time LIMIT {n}{skip_locked}"
        )))
        .bind(queue.to_string())
        .bind(ts(&now))
        .fetch_all(&mut *tx)
        .await?;
        let pending = State::pending().with_message(format!("claimed by agent {agent}"));
        let also = [("claimed_by", agent.to_string()), ("heartbeat", ts(&now))];
        let mut rows = Vec::with_capacity(candidates.len());
        for row in &candidates {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            let claimed = self
                .propose_flow_run_state_with(&mut tx, id, &pending, &also)
                .await?;
            if matches!(claimed, Transition::Accepted(_)) {
                rows.push(id);
            }
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(rows.len());
        for id in rows {
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
        Ok(Some(out))
    }

    /// Records that `agent` still watches these runs. A run no agent claimed and no deployment
    /// owns (a flow run started by a program itself) is claimed by its first heartbeat's sender —
    /// that program's process — so it too becomes Crashed when its process stops sending them.
    pub async fn heartbeat(
        &self,
        agent: &str,
        runs: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for id in runs {
            n += sqlx::query(&self.sql(
                "UPDATE flow_runs SET heartbeat = ?, claimed_by = ? WHERE id = ? \
                 AND (claimed_by = ? OR (deployment_id IS NULL \
                      AND (claimed_by IS NULL OR claimed_by = ?)))",
            ))
            .bind(ts(&now))
            .bind(agent.to_string())
            .bind(id.to_string())
            .bind(agent.to_string())
            .bind(PROCESS)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(n)
    }

    /// Top-level flow runs a program reported through the API (no deployment, no agent): the
    /// program's process sends heartbeats for them, so they are held by "its process" from now —
    /// Crashed after the heartbeat timeout if none comes (the process died before its first one).
    /// The first heartbeat names the process.
    pub async fn expect_heartbeats(
        &self,
        runs: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in runs.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self
                .sql(&format!(
                    "UPDATE flow_runs SET claimed_by = ?, heartbeat = ? WHERE id IN ({marks}) \
                     AND claimed_by IS NULL AND deployment_id IS NULL"
                ))
                .into_owned();
            let mut query = sqlx::query(&sql).bind(PROCESS).bind(ts(&now));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Whether someone asked flow run `id` to stop (it is `Cancelling`, or already `Cancelled`): the
    /// heartbeat's answer, so the agent stops the run's process.
    pub async fn cancel_requested(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.flow_run_by_id(id).await?.is_some_and(|run| {
            run.state.as_ref().is_some_and(|s| {
                s.has_name(crate::runtime::state::StateName::Cancelling) || s.is_cancelled()
            })
        }))
    }

    /// Claimed runs not final whose agent has not sent a heartbeat for `timeout` become Crashed.
    /// Returns their ids.
    pub async fn crash_silent_runs(
        &self,
        now: DateTime<Utc>,
        timeout: chrono::Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let final_types = final_types();
        let rows = self
            .fetch(
                &format!(
                    "SELECT id, claimed_by, deployment_id FROM flow_runs \
                     WHERE claimed_by IS NOT NULL \
                     AND state_type NOT IN {final_types} AND heartbeat < ?"
                ),
                vec![ts(&(now - timeout))],
            )
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let id = parse_id("flow_runs", &row.try_get::<String, _>("id")?)?;
            let agent: String = row.try_get("claimed_by")?;
            let deployed: Option<String> = row.try_get("deployment_id")?;
            let from = if deployed.is_some() {
                format!("agent {agent}")
            } else {
                format!("the run's process ({agent})")
            };
            let state = State::crashed(format!(
                "no heartbeat from {from} for {}s",
                timeout.num_seconds()
            ));
            // Refused when the run reached a final state meanwhile.
            if self.set_flow_run_state(id, &state).await? {
                out.push(id);
            }
        }
        Ok(out)
    }
}
