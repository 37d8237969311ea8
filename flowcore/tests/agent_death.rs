//! kill -9 of an agent: its run's process dies with it (nothing runs unsupervised), and the run
//! becomes Crashed once the agent's heartbeats stop — and stays Crashed. A frozen agent (alive, but
//! sending nothing) does not make a healthy run look dead: the run's process sends heartbeats of
//! its own.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowcore::api_client::ApiClient;
use flowcore::deployment::Deployment;
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig, Services};
use flowcore::store::{Entrypoint, StoredFlowRun};
use serde_json::{json, Value};

/// The deployed program's `sleepy` flow (`examples/deployed_flows.rs`): its parameters, here.
#[flow(name = "sleepy")]
async fn sleepy(seconds: f64, pid_file: Option<String>) -> Result<f64, FlowError> {
    let _ = pid_file;
    Ok(seconds)
}

fn target_dir() -> PathBuf {
    // target/debug/deps/agent_death-… → target/debug
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_path_buf()
}

fn worker() -> Entrypoint {
    let path = target_dir().join("examples").join("deployed_flows");
    assert!(
        path.exists(),
        "{} missing: `cargo test` builds it (cargo build -p flowcore --all-features --example deployed_flows)",
        path.display()
    );
    Entrypoint {
        exe: path.display().to_string(),
        args: Vec::new(),
        cwd: None,
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs nothing).
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn state_of(client: &ApiClient, id: uuid::Uuid) -> (String, Vec<String>) {
    let run: Value = client.get(&format!("/flow_runs/{id}")).await.unwrap();
    let name = run["state"]["name"].as_str().unwrap_or("").to_string();
    let history: Value = client
        .get(&format!("/flow_runs/{id}/states"))
        .await
        .unwrap_or(Value::Null);
    let names = history
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (name, names)
}

async fn wait_for<T>(what: &str, secs: u64, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(api_url: &str, home: &Path) -> KillOnDrop {
    KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_flowcore"))
            .args(["agent", "start", "default", "--poll-interval", "0.2"])
            .env("FLOWCORE_API_URL", api_url)
            .env("FLOWCORE_HOME", home)
            .env("FLOWCORE_LOGGING_LEVEL", "warning")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn server_with_short_heartbeats(dir: &Path) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.join("agent.db")),
        services: Services {
            interval: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(3),
            ..Services::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// A server with a 3 s heartbeat timeout, its client, and a deployment of `sleepy` (6 s).
async fn deployed_sleepy(dir: &Path) -> (Server, ApiClient, flowcore::store::StoredDeployment) {
    let server = server_with_short_heartbeats(dir).await;
    let client = ApiClient::new(&server.api_url(), None);
    let deployment = Deployment::build_from_flow(&sleepy)
        .name("nap")
        .parameters(json!({"seconds": 6.0, "pid_file": null}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    (server, client, deployment)
}

fn signal(process: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_agents_healthy_run_is_not_taken_for_dead() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, deployment) = deployed_sleepy(dir.path()).await;
    let agent = start_agent(&server.api_url(), &dir.path().join("home"));
    let run: StoredFlowRun = client
        .post(&format!("/deployments/{}/runs", deployment.id), &json!({}))
        .await
        .unwrap();
    wait_for("Running", 15, async || {
        (state_of(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;
    // The agent sends nothing for the rest of the run (twice the heartbeat timeout)...
    signal(&agent.0, "-STOP");
    // ...yet its run, whose process is alive and well, ends Completed, never Crashed.
    let ended = wait_for("the run to end", 30, async || {
        let (name, history) = state_of(&client, run.id).await;
        (name == "Completed" || name == "Crashed").then_some((name, history))
    })
    .await;
    signal(&agent.0, "-CONT");
    assert_eq!(ended.0, "Completed", "{:?}", ended.1);
    assert!(!ended.1.iter().any(|s| s == "Crashed"), "{:?}", ended.1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_takes_its_runs_processes_with_it_and_the_run_stays_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, deployment) = deployed_sleepy(dir.path()).await;
    let mut agent = start_agent(&server.api_url(), &dir.path().join("home"));

    let pid_file = dir.path().join("pid");
    let run: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", deployment.id),
            &json!({"parameters": {"pid_file": pid_file.display().to_string()}}),
        )
        .await
        .unwrap();
    let child = wait_for("the flow's process", 30, async || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| !p.is_empty())
    })
    .await;
    wait_for("Running", 15, async || {
        (state_of(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;

    agent.0.kill().unwrap(); // SIGKILL
    let _ = agent.0.wait();
    wait_for("the run's process to die with its agent", 5, async || {
        dead(&child).then_some(())
    })
    .await;
    wait_for("Crashed", 15, async || {
        (state_of(&client, run.id).await.0 == "Crashed").then_some(())
    })
    .await;
    // Past the time the flow would have finished: nothing reported over the Crashed state.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (name, history) = state_of(&client, run.id).await;
    assert_eq!(name, "Crashed", "{history:?}");
    assert!(!history.iter().any(|s| s == "Completed"), "{history:?}");
    server.stop().await;
}
