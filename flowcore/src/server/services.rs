//! The server's background services, run every [`Services::interval`]: the scheduler (keeps each
//! active deployment's next runs created, tagged `auto-scheduled`, never twice — a unique index per
//! deployment and expected start time holds across restarts), late runs (Scheduled past their start
//! by [`Services::late_after`] become Late), and silent agents (claimed runs whose agent sent no
//! heartbeat for [`Services::heartbeat_timeout`] become Crashed).

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
}

impl Default for Services {
    fn default() -> Services {
        Services {
            interval: Duration::from_secs(5),
            horizon: Horizon::default(),
            late_after: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(60),
        }
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One pass of every service.
pub(crate) async fn tick(store: &Store, services: &Services) {
    let now = chrono::Utc::now();
    if let Err(e) = store.schedule_runs(now, services.horizon).await {
        tracing::error!(target: "flowcore::server", "scheduler: {e}");
    }
    if let Err(e) = store.mark_late(now, chrono(services.late_after)).await {
        tracing::error!(target: "flowcore::server", "late runs: {e}");
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

/// Runs the services until `stop` resolves.
pub(crate) async fn run(
    store: Store,
    services: Services,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut stop = stop;
    loop {
        tick(&store, &services).await;
        tokio::select! {
            _ = tokio::time::sleep(services.interval) => {}
            _ = stop.changed() => return,
        }
    }
}
