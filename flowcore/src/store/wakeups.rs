//! Waking agents as soon as a run can be claimed: a long-poll claim ([`Store::claim_wait`]) waits
//! for a change to work-queue runs, for the next run to fall due, or for its deadline.
//!
//! Changes come from this process's writes (a deployment run created, a run retried, a run
//! reaching a state — which may free a queue's concurrency slot) and, on PostgreSQL, from every
//! server on the database: a trigger on `flow_runs` sends `NOTIFY flowcore_runs` with the queue's
//! name on commit, and each store that has a claim waiting `LISTEN`s. A one-second re-check covers
//! the rest (a second process on one SQLite file, a lost notification).

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;
use sqlx::Row;
use tokio::time::Instant;

use super::changes::Wakeups;
use super::codec::parse_ts;
use super::connect::{Store, StoreError};
use crate::schemas::deployments::ClaimedRun;

/// The PostgreSQL channel the `flow_runs` trigger notifies (see `schema::v6_to_v7`).
pub(crate) const CHANNEL: &str = "flowcore_runs";

/// The longest a waiting claim goes without asking the database again.
const RECHECK: Duration = Duration::from_secs(1);

/// The longest wait a claim may ask for.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(60);

/// Listens for the trigger's notifications, reconnecting after an error, and wakes the waiting
/// claims at each one (and after each reconnection: a notification may have been missed) — until
/// the store is gone (checked at each notification and reconnection).
async fn listen(url: String, wakeups: Weak<Wakeups>) {
    let bump = || wakeups.upgrade().map(|w| w.bump()).is_some();
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => {
                if listener.listen(CHANNEL).await.is_ok() {
                    if !bump() {
                        return;
                    }
                    while listener.recv().await.is_ok() {
                        if !bump() {
                            return;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(target: "flowcore::store", "cannot LISTEN for new runs: {e}"),
        }
        tokio::time::sleep(RECHECK).await;
        if wakeups.strong_count() == 0 {
            return;
        }
    }
}

impl Store {
    /// Tells the claims waiting in this process that work-queue runs changed.
    pub(crate) fn wake(&self) {
        self.wakeups.bump();
    }

    /// On PostgreSQL, starts listening for other servers' changes (once per store).
    pub(crate) fn start_listening(&self) {
        let url = self
            .wakeups
            .listen_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(url) = url {
            tokio::spawn(listen(url, Arc::downgrade(&self.wakeups)));
        }
    }

    /// When the soonest unclaimed Scheduled run of `queue` falls due, if one does later than now.
    async fn next_due(&self, queue: &str) -> Result<Option<chrono::DateTime<Utc>>, StoreError> {
        let row = sqlx::query(&self.sql(
            "SELECT MIN(expected_start_time) AS t FROM flow_runs WHERE work_queue_name = ? \
             AND state_type = 'SCHEDULED' AND claimed_by IS NULL",
        ))
        .bind(queue.to_string())
        .fetch_one(&self.pool)
        .await?;
        let t: Option<String> = row.try_get("t")?;
        let due = t.map(|t| parse_ts("flow_runs", &t)).transpose()?;
        Ok(due.filter(|d| *d > Utc::now()))
    }

    /// [`claim`](Self::claim), waiting up to `wait` (at most [`MAX_CLAIM_WAIT`]) for a run to
    /// claim when none is due now: it returns as soon as one is created, retried or falls due, or a
    /// run of the queue ends and frees a concurrency slot — or empty at the deadline. An unknown
    /// queue answers empty at once.
    pub async fn claim_wait(
        &self,
        queue: &str,
        agent: &str,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        let deadline = Instant::now() + wait.min(MAX_CLAIM_WAIT);
        let mut changes = self.wakeups.tx.subscribe();
        if !wait.is_zero() {
            self.start_listening();
        }
        loop {
            changes.borrow_and_update();
            let Some(claimed) = self.claim_from(queue, agent, Utc::now(), limit).await? else {
                return Ok(Vec::new());
            };
            let now = Instant::now();
            if !claimed.is_empty() || now >= deadline {
                return Ok(claimed);
            }
            let mut until = deadline.min(now + RECHECK);
            if let Some(due) = self.next_due(queue).await? {
                let delay = (due - Utc::now()).to_std().unwrap_or_default();
                until = until.min(now + delay);
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }
}
