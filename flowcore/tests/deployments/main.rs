//! Deployments, schedules, work queues and the agent, end to end against a real server: apply is
//! idempotent, the scheduler never duplicates runs (restarts included) and follows schedule changes,
//! claims are exactly-once on SQLite and PostgreSQL, and an agent runs scheduled runs of a real
//! program (`examples/deployed_flows.rs`), marks crashed processes, fails bad parameters by name and
//! leaves nothing Running when stopped.
#![cfg(all(feature = "server", feature = "agent"))]

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use flowcore::agent::{AgentConfig, AgentSummary};
use flowcore::api_client::ApiClient;
use flowcore::deployment::{DeployError, Deployment};
use flowcore::prelude::*;
use flowcore::schedule::{CronSchedule, IntervalSchedule};
use flowcore::server::{Server, ServerConfig, Services};
use flowcore::store::{ClaimedRun, Entrypoint, StoredDeployment, StoredFlowRun};
use serde_json::{json, Value};

mod agents;
mod claims;
mod scheduling;

/// Stands for the flow of the same name in `examples/deployed_flows.rs` (applied from here, run there).
#[flow(name = "quick")]
async fn quick(n: u32) -> Result<u32, FlowError> {
    Ok(n * 2)
}

/// As `quick`.
#[flow(name = "resumable")]
async fn resumable(n: u32, count_file: String, fail_while: String) -> Result<u32, FlowError> {
    let _ = (count_file, fail_while);
    Ok(n)
}

/// As `quick`.
#[flow(name = "sleepy")]
async fn sleepy(seconds: f64, pid_file: Option<String>) -> Result<f64, FlowError> {
    let _ = pid_file;
    Ok(seconds)
}

/// As `quick`.
#[flow(name = "sleepy-async")]
async fn sleepy_async(seconds: f64) -> Result<f64, FlowError> {
    Ok(seconds)
}

fn worker() -> Entrypoint {
    // target/debug/deps/deployments-… → target/debug/examples/deployed_flows
    let exe = std::env::current_exe().unwrap();
    let path: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join("deployed_flows");
    assert!(
        path.exists(),
        "{} missing: `cargo test` builds it (cargo build -p flowcore --example deployed_flows)",
        path.display()
    );
    Entrypoint {
        exe: path.display().to_string(),
        args: Vec::new(),
        cwd: None,
    }
}

fn fast_services() -> Services {
    Services {
        interval: Duration::from_millis(200),
        late_after: Duration::from_secs(15),
        heartbeat_timeout: Duration::from_secs(60),
        ..Services::default()
    }
}

async fn start(database_url: &str, services: Services) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: database_url.to_string(),
        services,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn runs_of(
    client: &ApiClient,
    deployment: &StoredDeployment,
    query: &str,
) -> Vec<StoredFlowRun> {
    let page: Value = client
        .get(&format!(
            "/flow_runs?deployment={}&limit=1000&{query}",
            deployment.id
        ))
        .await
        .unwrap();
    serde_json::from_value(page["results"].clone()).unwrap()
}

async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs an agent in this process until `stop` is sent.
fn agent(
    client: &ApiClient,
    name: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<AgentSummary>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let client = client.clone();
    let name = name.to_string();
    let handle = tokio::spawn(async move {
        flowcore::agent::run(
            client,
            AgentConfig {
                poll_interval: Duration::from_millis(200),
                heartbeat_interval: Duration::from_millis(300),
                name,
                ..AgentConfig::default()
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap()
    });
    (stop, handle)
}

async fn run_state(client: &ApiClient, id: uuid::Uuid) -> (String, String) {
    let run: StoredFlowRun = client.get(&format!("/flow_runs/{id}")).await.unwrap();
    let state = run.state.unwrap();
    (state.name.into_owned(), state.message.unwrap_or_default())
}

/// Creates `n` runs of deployment `d` through the API, returning their ids.
async fn create_runs(client: &ApiClient, d: &StoredDeployment, n: usize) -> Vec<uuid::Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let run: StoredFlowRun = client
            .post(&format!("/deployments/{}/runs", d.id), &json!({}))
            .await
            .unwrap();
        ids.push(run.id);
    }
    ids
}
