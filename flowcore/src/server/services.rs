//! The server's background services, run every [`Services::interval`]: the scheduler (keeps each
//! active deployment's next runs created, tagged `auto-scheduled`, never twice — a unique index per
//! deployment and expected start time holds across restarts), late runs (Scheduled past their start
//! by [`Services::late_after`] become Late), and silent runs (claimed runs whose agent — or, for a
//! run a program started itself, whose process — sent no heartbeat for
//! [`Services::heartbeat_timeout`] become Crashed; not during the server's first heartbeat timeout,
//! so a restart after an outage does not crash runs whose processes were only cut off), and
//! retention (with
//! [`Services::retention`], once a day: finished flow runs older than that are deleted).

use std::time::Duration;

use crate::store::{Horizon, Store};

/// Settings of the background services.
#[derive(Debug, Clone, Copy)]
pub struct Services {
    /// How often they run (default 5 s).
    pub interval: Duration,
    /// How far ahead runs are created.
    pub horizon: Horizon,
    /// A Scheduled run becomes Late this long after its expected start (default 15 s).
    pub late_after: Duration,
    /// A claimed run with no heartbeat for this long becomes Crashed (default 60 s).
    pub heartbeat_timeout: Duration,
    /// Finished flow runs older than this are deleted, once a day (`--retention 30d`; default:
    /// kept forever).
    pub retention: Option<Duration>,
}

impl Default for Services {
    fn default() -> Services {
        Services {
            interval: Duration::from_secs(5),
            horizon: Horizon::default(),
            late_after: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(60),
            retention: None,
        }
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One pass of every service. `detect_crashes`: whether silent runs may be marked Crashed yet (not
/// during the server's first heartbeat timeout: a run's process that could not reach a server
/// that was down gets that long to be heard again).
pub(crate) async fn tick(store: &Store, services: &Services, detect_crashes: bool) {
    let now = chrono::Utc::now();
    match store.schedule_runs(now, services.horizon).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(target: "flowcore::server", "scheduler: created {n} flow run(s)"),
        Err(e) => tracing::error!(target: "flowcore::server", "scheduler: {e}"),
    }
    match store.mark_late(now, chrono(services.late_after)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(target: "flowcore::server", "{n} flow run(s) marked Late"),
        Err(e) => tracing::error!(target: "flowcore::server", "late runs: {e}"),
    }
    match store.recover_lost_tasks(now).await {
        Ok(r) if r.requeued + r.crashed > 0 => tracing::warn!(
            target: "flowcore::server",
            "task queue: {} run(s) queued again and {} crashed: their task worker stopped renewing its lease",
            r.requeued, r.crashed
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(target: "flowcore::server", "task queue: {e}"),
    }
    if !detect_crashes {
        return;
    }
    match store
        .crash_silent_runs(now, chrono(services.heartbeat_timeout))
        .await
    {
        Ok(ids) if !ids.is_empty() => tracing::warn!(
            target: "flowcore::server",
            "{} flow run(s) crashed: their agent stopped sending heartbeats",
            ids.len()
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(target: "flowcore::server", "heartbeats: {e}"),
    }
}

/// Retention: deletes the flow runs that finished more than `keep` ago.
async fn retain(store: &Store, keep: Duration) {
    let cutoff = chrono::Utc::now() - chrono(keep);
    match store.vacuum(cutoff, false).await {
        Ok(done) => tracing::info!(
            target: "flowcore::server",
            "retention: deleted {} flow run(s), {} task run(s), {} log line(s), {} task-queue entr(y/ies) finished before {cutoff}",
            done.flow_runs, done.task_runs, done.logs, done.queued_tasks
        ),
        Err(e) => tracing::error!(target: "flowcore::server", "retention: {e}"),
    }
}

/// How often a server checks that it still leads, or tries to lead: a dead leader is replaced
/// within this (plus one pass of the services).
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// Runs the services until `stop` resolves — while this server holds the lease (see
/// `store::lease`): of several servers on one PostgreSQL database, one runs them at a time, and
/// another takes over within a few seconds of its death. `leading` tells the notifier.
pub(crate) async fn run(
    store: Store,
    services: Services,
    stop: tokio::sync::watch::Receiver<bool>,
    leading: tokio::sync::watch::Sender<bool>,
) {
    let mut stop = stop;
    let mut next_vacuum = tokio::time::Instant::now();
    let started = tokio::time::Instant::now();
    let mut next_tick = started;
    let mut lease = store.lease();
    let mut leading_now = false;
    loop {
        let held = lease.hold().await;
        if held && !leading_now {
            tracing::info!(target: "flowcore::server", "this server runs the background services (scheduler, late runs, heartbeats, notifications, retention)");
            next_tick = tokio::time::Instant::now();
        } else if !held && leading_now {
            tracing::warn!(target: "flowcore::server", "lost the lease: another server runs the background services");
        }
        leading_now = held;
        leading.send_replace(leading_now);
        if leading_now && tokio::time::Instant::now() >= next_tick {
            next_tick = tokio::time::Instant::now() + services.interval;
            tick(
                &store,
                &services,
                started.elapsed() >= services.heartbeat_timeout,
            )
            .await;
            if let Some(keep) = services.retention {
                if tokio::time::Instant::now() >= next_vacuum {
                    next_vacuum += Duration::from_secs(24 * 3600);
                    retain(&store, keep).await;
                }
            }
        }
        let wake = if leading_now {
            next_tick.min(tokio::time::Instant::now() + LEASE_CHECK)
        } else {
            tokio::time::Instant::now() + LEASE_CHECK
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.changed() => return,
        }
    }
}
