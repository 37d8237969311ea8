//! The task queue: task runs sent to task workers (`task::delay`, the `Distributed` task runner),
//! claimed under a lease — `FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers claim in parallel,
//! the write lock on SQLite — finished once, and recovered when their worker is lost: run again
//! while the task's `retries` allow it, `Crashed` after that.
//!
//! A row goes `queued` → `running` (claimed; its lease renewed by its worker) → `done` (its outcome
//! written by the worker holding the lease, and only by it), or `queued` → `cancelled`. A run whose
//! lease ran out goes back to `queued` (claimed again later) or to `done` as `Crashed`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use tokio::time::Instant;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts, ts};
use super::connect::{Backend, Store, StoreError};
use super::wakeups::MAX_CLAIM_WAIT;
use crate::runtime::state::State;
use crate::schemas::events::{Event, RunKind, RunRef};
use crate::schemas::task_queue::{ClaimedTask, QueuedTask, TaskOutcome, TaskQueueCount};

const TABLE: &str = "task_queue";

/// The columns a claim reads back.
const COLUMNS: &str = "id, task, task_run_name, flow_run_id, parameters, tags, retries, \
     storage_key, cache_key, cache_expiration_ms, claims, lease_until";

/// How often a waiting claim or outcome asks the database again without a signal: often on
/// SQLite (another process's writes send none), rarely on PostgreSQL (its trigger notifies).
fn recheck(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => Duration::from_millis(50),
        Backend::Postgres => Duration::from_secs(1),
    }
}

/// What [`Store::recover_lost_tasks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveredTasks {
    /// Runs queued again (their task's retries allow another run).
    pub requeued: u64,
    /// Runs ended `Crashed`.
    pub crashed: u64,
}

fn parse_claimed(row: &sqlx::any::AnyRow) -> Result<ClaimedTask, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        table: TABLE,
        message,
    };
    let id: String = row.try_get("id")?;
    let flow_run_id: Option<String> = row.try_get("flow_run_id")?;
    let parameters: String = row.try_get("parameters")?;
    let tags: String = row.try_get("tags")?;
    let lease_until: Option<String> = row.try_get("lease_until")?;
    let expiration: Option<i64> = row.try_get("cache_expiration_ms")?;
    Ok(ClaimedTask {
        queued: QueuedTask {
            task_run_id: parse_id(TABLE, &id)?,
            task: row.try_get("task")?,
            task_run_name: row.try_get("task_run_name")?,
            flow_run_id: flow_run_id.map(|f| parse_id(TABLE, &f)).transpose()?,
            parameters: serde_json::from_str(&parameters)
                .map_err(|e| corrupt(format!("parameters of {id}: {e}")))?,
            tags: serde_json::from_str(&tags).map_err(|e| corrupt(format!("tags of {id}: {e}")))?,
            retries: row.try_get("retries")?,
            storage_key: row.try_get("storage_key")?,
            cache_key: row.try_get("cache_key")?,
            cache_expiration_seconds: expiration.map(|ms| ms as f64 / 1000.0),
        },
        claims: row.try_get("claims")?,
        lease_until: match lease_until {
            Some(t) => parse_ts(TABLE, &t)?,
            None => Utc::now(),
        },
    })
}

impl Store {
    /// Queues task runs for the task workers. A run already queued (same id) is left as it is.
    pub async fn enqueue_tasks(&self, tasks: &[QueuedTask]) -> Result<(), StoreError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let now = ts(&Utc::now());
        let mut tx = self.begin_write().await?;
        for chunk in tasks.chunks(500) {
            let rows =
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?)"; chunk.len()].join(", ");
            let sql = self
                .sql(&format!(
                "INSERT INTO task_queue (id, task, task_run_name, flow_run_id, parameters, tags, \
                 retries, storage_key, cache_key, cache_expiration_ms, status, claims, created) \
                 VALUES {rows} ON CONFLICT (id) DO NOTHING"
            ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(t.task_run_id.to_string())
                    .bind(t.task.clone())
                    .bind(t.task_run_name.clone())
                    .bind(t.flow_run_id.map(|f| f.to_string()))
                    .bind(t.parameters.to_string())
                    .bind(serde_json::to_string(&t.tags).unwrap_or_else(|_| "[]".into()))
                    .bind(t.retries)
                    .bind(t.storage_key.clone())
                    .bind(t.cache_key.clone())
                    .bind(
                        t.cache_expiration_seconds
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .map(|s| (s * 1000.0).min(i64::MAX as f64) as i64),
                    )
                    .bind(now.clone());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Claims up to `limit` queued runs of `tasks` for `worker`, oldest first, each for one worker
    /// only, under a lease until `lease_until`. Runs whose worker was lost are recovered first.
    pub async fn claim_tasks(
        &self,
        worker: &str,
        tasks: &[String],
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        if tasks.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        self.recover_lost_tasks(Utc::now()).await?;
        let names = vec!["?"; tasks.len()].join(", ");
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        // The picked rows in a materialized CTE: a plain `IN (SELECT … LIMIT n)` may be
        // evaluated more than once by PostgreSQL, claiming more than `limit` rows.
        let sql = self
            .sql(&format!(
                "WITH picked AS MATERIALIZED (SELECT id FROM task_queue WHERE status = 'queued' \
                 AND task IN ({names}) ORDER BY created, id LIMIT {limit}{skip_locked}) \
                 UPDATE task_queue SET status = 'running', worker = ?, lease_until = ?, \
                 claims = claims + 1 WHERE id IN (SELECT id FROM picked) AND status = 'queued' \
                 RETURNING {COLUMNS}"
            ))
            .into_owned();
        let mut query = sqlx::query(&sql);
        for t in tasks {
            query = query.bind(t.clone());
        }
        let query = query.bind(worker.to_string()).bind(ts(&lease_until));
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Oldest first from the queued-runs index, never by sorting the queue: planner
            // statistics lag a queue that fills in a second (taken when it was empty, they make
            // sorting every queued row look cheap — 260 ms per claim with 100,000 queued).
            sqlx::query(
                "SELECT set_config('enable_sort', 'off', true), \
                 set_config('enable_bitmapscan', 'off', true)",
            )
            .execute(&mut *tx)
            .await?;
        }
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut claimed = rows
            .iter()
            .map(parse_claimed)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| c.queued.task_run_id);
        Ok(claimed)
    }

    /// [`claim_tasks`](Self::claim_tasks), waiting up to `wait` (at most a minute) for a run to be
    /// queued when none is: empty at the deadline.
    pub async fn claim_tasks_wait(
        &self,
        worker: &str,
        tasks: &[String],
        limit: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        let deadline = Instant::now() + wait.min(MAX_CLAIM_WAIT);
        let mut changes = self.wakeups.tx.subscribe();
        if !wait.is_zero() {
            self.start_listening();
        }
        loop {
            changes.borrow_and_update();
            let until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            let claimed = self.claim_tasks(worker, tasks, limit, until).await?;
            let now = Instant::now();
            if !claimed.is_empty() || now >= deadline {
                return Ok(claimed);
            }
            let until = deadline.min(now + recheck(self.backend));
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Renews `worker`'s leases on `ids` until `lease_until`; gives back the ids it still holds
    /// (a run missing was lost: its lease ran out and it was recovered, or it was never this
    /// worker's).
    pub async fn renew_task_leases(
        &self,
        worker: &str,
        ids: &[Uuid],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut held = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self
                .sql(&format!(
                "UPDATE task_queue SET lease_until = ? WHERE worker = ? AND status = 'running' \
                 AND id IN ({marks}) RETURNING id"
            ))
                .into_owned();
            let mut query = sqlx::query(&sql)
                .bind(ts(&lease_until))
                .bind(worker.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                held.push(parse_id(TABLE, &row.try_get::<String, _>("id")?)?);
            }
        }
        Ok(held)
    }

    /// Writes the outcomes of runs `worker` holds; gives back the ids it finished. A run whose
    /// lease `worker` lost is not finished by it (another worker may be running it).
    pub async fn finish_tasks(
        &self,
        worker: &str,
        outcomes: &[TaskOutcome],
    ) -> Result<Vec<Uuid>, StoreError> {
        let now = ts(&Utc::now());
        let mut done = Vec::with_capacity(outcomes.len());
        let mut tx = self.begin_write().await?;
        // One statement per chunk: the outcomes joined to their rows as a VALUES list (its
        // columns are `column1`, `column2` on both databases).
        for chunk in outcomes.chunks(500) {
            let values = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = self
                .sql(&format!(
                    "UPDATE task_queue SET status = 'done', outcome = v.column2, finished = ?, \
                     lease_until = NULL FROM (VALUES {values}) AS v \
                     WHERE task_queue.id = v.column1 AND task_queue.worker = ? \
                     AND task_queue.status = 'running' RETURNING task_queue.id AS id"
                ))
                .into_owned();
            let mut query = sqlx::query(&sql).bind(now.clone());
            for outcome in chunk {
                let text = serde_json::to_string(outcome).map_err(|e| {
                    StoreError::Invalid(format!("outcome of {}: {e}", outcome.task_run_id))
                })?;
                query = query.bind(outcome.task_run_id.to_string()).bind(text);
            }
            for row in query.bind(worker.to_string()).fetch_all(&mut *tx).await? {
                let id: String = row.try_get("id")?;
                done.push(parse_id(TABLE, &id)?);
            }
        }
        tx.commit().await?;
        if !done.is_empty() {
            self.wake();
        }
        Ok(done)
    }

    /// The outcomes of those of `ids` that ended (done or cancelled).
    pub async fn task_outcomes(&self, ids: &[Uuid]) -> Result<Vec<TaskOutcome>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = self
                .sql(&format!(
                    "SELECT id, outcome FROM task_queue WHERE id IN ({marks}) \
                 AND status IN ('done', 'cancelled')"
                ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let id: String = row.try_get("id")?;
                let text: Option<String> = row.try_get("outcome")?;
                let outcome: TaskOutcome = serde_json::from_str(text.as_deref().unwrap_or(""))
                    .map_err(|e| StoreError::Corrupt {
                        table: TABLE,
                        message: format!("outcome of {id}: {e}"),
                    })?;
                out.push(outcome);
            }
        }
        Ok(out)
    }

    /// [`task_outcomes`](Self::task_outcomes), waiting up to `wait` (at most a minute) for one of
    /// `ids` to end when none has.
    pub async fn task_outcomes_wait(
        &self,
        ids: &[Uuid],
        wait: Duration,
    ) -> Result<Vec<TaskOutcome>, StoreError> {
        let deadline = Instant::now() + wait.min(MAX_CLAIM_WAIT);
        let mut changes = self.wakeups.tx.subscribe();
        if !wait.is_zero() {
            self.start_listening();
        }
        loop {
            changes.borrow_and_update();
            let found = self.task_outcomes(ids).await?;
            let now = Instant::now();
            if !found.is_empty() || now >= deadline || ids.is_empty() {
                return Ok(found);
            }
            let until = deadline.min(now + recheck(self.backend));
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Cancels those of `ids` still queued (not claimed yet); gives back the ids cancelled.
    pub async fn cancel_queued_tasks(
        &self,
        ids: &[Uuid],
        message: &str,
    ) -> Result<Vec<Uuid>, StoreError> {
        let now = Utc::now();
        let mut cancelled = Vec::new();
        let mut tx = self.begin_write().await?;
        for id in ids {
            let outcome = TaskOutcome {
                task_run_id: *id,
                history: vec![State::cancelled(message.to_string())],
                storage_key: None,
            };
            let n = sqlx::query(&self.sql(
                "UPDATE task_queue SET status = 'cancelled', outcome = ?, finished = ? \
                 WHERE id = ? AND status = 'queued'",
            ))
            .bind(serde_json::to_string(&outcome).unwrap_or_default())
            .bind(ts(&now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                cancelled.push(*id);
            }
        }
        tx.commit().await?;
        if !cancelled.is_empty() {
            self.wake();
        }
        Ok(cancelled)
    }

    /// Recovers the runs whose worker's lease ran out before `now`: queued again while their
    /// task's retries allow another run, else ended `Crashed` (the task run's record too, through
    /// the orchestration policy).
    pub async fn recover_lost_tasks(
        &self,
        now: DateTime<Utc>,
    ) -> Result<RecoveredTasks, StoreError> {
        let now_text = ts(&now);
        let mut tx = self.begin_write().await?;
        let requeued = sqlx::query(&self.sql(
            "UPDATE task_queue SET status = 'queued', worker = NULL, lease_until = NULL \
             WHERE status = 'running' AND lease_until < ? AND claims <= retries",
        ))
        .bind(now_text.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let lost = sqlx::query(&self.sql(
            "SELECT id, task_run_name, flow_run_id, worker, claims FROM task_queue \
             WHERE status = 'running' AND lease_until < ? AND claims > retries",
        ))
        .bind(now_text.clone())
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(lost.len());
        for row in &lost {
            let id: String = row.try_get("id")?;
            let worker: Option<String> = row.try_get("worker")?;
            let claims: i64 = row.try_get("claims")?;
            let flow_run_id: Option<String> = row.try_get("flow_run_id")?;
            let crashed = State::crashed(format!(
                "The task worker {} running this task run stopped renewing its lease (run {} \
                 time(s); no retries left)",
                worker.as_deref().unwrap_or("?"),
                claims
            ));
            let run_id = parse_id(TABLE, &id)?;
            let outcome = TaskOutcome {
                task_run_id: run_id,
                history: vec![crashed.clone()],
                storage_key: None,
            };
            let n = sqlx::query(&self.sql(
                "UPDATE task_queue SET status = 'done', outcome = ?, finished = ?, \
                 lease_until = NULL WHERE id = ? AND status = 'running'",
            ))
            .bind(serde_json::to_string(&outcome).unwrap_or_default())
            .bind(now_text.clone())
            .bind(id.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                continue;
            }
            events.push(Event::StateChanged {
                run: RunRef {
                    kind: RunKind::Task,
                    id: run_id,
                    name: row.try_get::<String, _>("task_run_name")?.into(),
                    flow_run_id: flow_run_id.map(|f| parse_id(TABLE, &f)).transpose()?,
                },
                state: crashed,
            });
        }
        tx.commit().await?;
        if !events.is_empty() {
            self.ingest(None, &events).await?;
        }
        if requeued > 0 || !events.is_empty() {
            self.wake();
        }
        Ok(RecoveredTasks {
            requeued,
            crashed: events.len() as u64,
        })
    }

    /// How many queued task runs each task has in each status.
    pub async fn task_queue_counts(&self) -> Result<Vec<TaskQueueCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT task, status, COUNT(*) AS n FROM task_queue GROUP BY task, status \
             ORDER BY task, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TaskQueueCount {
                    task: row.try_get("task")?,
                    status: row.try_get("status")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }
}
