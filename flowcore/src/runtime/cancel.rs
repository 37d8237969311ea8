//! Cancelling a flow run (Prefect: the Cancel button, `prefect flow-run cancel`).
//!
//! From code: run the flow inside [`with_cancellation`] with a [`CancellationToken`] and cancel the
//! token. The flow run then stops cooperatively: no new task starts, its async task bodies are
//! dropped at their next `.await`, its unfinished task runs end `Cancelled`, its
//! `on_cancellation` hooks run, and it ends `Cancelled` — its final states reported before `run`
//! returns. A sync body already running cannot be interrupted; what it reports afterwards is
//! refused (the run is final). Subflows stop with their parent.
//!
//! From outside: `flowcore flow-run cancel RUN`, `POST /api/flow_runs/{id}/cancel` or the UI. A
//! run under an agent is stopped by the agent (SIGTERM, which a deployed program turns into the
//! same cancellation); a run of a plain process that reports to a server learns it from the server
//! within a second or so and cancels itself the same way.
//!
//! ```
//! use std::time::Duration;
//! use flowcore::prelude::*;
//! use flowcore::runtime::{with_cancellation, CancellationToken};
//!
//! #[task]
//! async fn slow() { tokio::time::sleep(Duration::from_secs(30)).await; }
//!
//! #[flow]
//! async fn long() { slow().await.unwrap_or_default(); }
//!
//! # #[tokio::main] async fn main() {
//! # std::env::set_var("FLOWCORE_RECORD", "off");
//! let token = CancellationToken::new();
//! let stop = token.clone();
//! tokio::spawn(async move { tokio::time::sleep(Duration::from_millis(100)).await; stop.cancel() });
//! let state = with_cancellation(token, long.run()).await;
//! assert_eq!(state.state().kind, StateType::Cancelled);
//! # }
//! ```

use std::future::Future;

pub use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static TOKEN: CancellationToken;
}

/// Runs `fut` (usually `flow.run(..)`) so that cancelling `token` cancels every flow run started
/// inside it (their subflows included).
pub async fn with_cancellation<F: Future>(token: CancellationToken, fut: F) -> F::Output {
    TOKEN.scope(token, fut).await
}

/// The token a new top-level flow run observes: [`with_cancellation`]'s, and — when runs report to
/// a server — one the server's answer can cancel (see [`watch_server`]).
pub(crate) fn for_top_level() -> Option<CancellationToken> {
    let scoped = TOKEN.try_with(Clone::clone).ok();
    if crate::reporting::destination::reports_to_server() {
        return Some(scoped.map_or_else(CancellationToken::new, |t| t.child_token()));
    }
    scoped
}

/// Watches flow run `id` on the server while it runs, with a heartbeat every 500 ms in this
/// process's name (so the server marks the run Crashed if the process dies: see
/// [`Store::heartbeat`](crate::store::Store::heartbeat)); when someone cancels it there
/// (`Cancelling`), the heartbeat's answer says so and `token` is cancelled. Ends when `done` does.
#[cfg(feature = "client")]
pub(crate) fn watch_server(
    id: uuid::Uuid,
    token: CancellationToken,
    done: tokio::sync::oneshot::Receiver<()>,
) {
    if !crate::reporting::destination::reports_to_server() {
        return;
    }
    let client = crate::api_client::ApiClient::from_settings();
    tokio::spawn(async move {
        let watch = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                if let Ok((_, true)) = client.heartbeat_answer(id, process_name()).await {
                    token.cancel();
                    return;
                }
            }
        };
        tokio::select! {
            _ = done => {}
            _ = watch => {}
        }
    });
}

/// The variable naming the agent that started this process for a deployment run.
pub(crate) const AGENT_NAME_VAR: &str = "FLOWCORE_AGENT_NAME";

/// The name this process's heartbeats carry: the agent that started it for a deployment run
/// ([`AGENT_NAME_VAR`]), else `process-<pid>-<random>` (pids repeat across machines).
#[cfg(feature = "client")]
fn process_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var(AGENT_NAME_VAR)
            .ok()
            .filter(|agent| !agent.trim().is_empty())
            .unwrap_or_else(|| format!("process-{}-{:08x}", std::process::id(), fastrand::u32(..)))
    })
}

/// Without an API client there is no server to watch.
#[cfg(not(feature = "client"))]
pub(crate) fn watch_server(
    _id: uuid::Uuid,
    _token: CancellationToken,
    _done: tokio::sync::oneshot::Receiver<()>,
) {
}
