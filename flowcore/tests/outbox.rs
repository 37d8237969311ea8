//! An outage does not split the record (issue 18, item 2): a flow whose server goes away halfway
//! keeps what it could not send in its durable outbox and exits; once the server is back, the next
//! flowcore process that reports to it sends the kept batches first, in order, each once — and the
//! server holds every task run and the flow run's final state.
//!
//! And a flow process killed -9 does not leave its run Running forever: the process sent heartbeats
//! for it, and when they stop the server marks the run Crashed.
//!
//! The flow programs are this test binary itself, started again as child processes (the ignored
//! `outbox_child` test, which does nothing unless `FLOWCORE_OUTBOX_CHILD` says what to run).
#![cfg(all(feature = "server", feature = "client"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowcore::client::Outbox;
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig, Services};
use serde_json::Value;

const CHILD: &str = "FLOWCORE_OUTBOX_CHILD";
const MARKERS: &str = "FLOWCORE_OUTBOX_MARKERS";
/// Task runs of the flow (`OUTBOX_TASKS` overrides: the scenario is 200,000).
fn tasks() -> u64 {
    std::env::var("OUTBOX_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// How long the server stays down after the flow's process exited (`OUTBOX_DOWN_SECONDS`).
fn down() -> Duration {
    Duration::from_secs_f64(
        std::env::var("OUTBOX_DOWN_SECONDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
    )
}

#[task]
fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Half its tasks, then a pause until the parent says the server is gone, then the other half.
#[flow(name = "outboxed")]
async fn outboxed(n: u64) -> Result<u64, FlowError> {
    let markers = PathBuf::from(std::env::var(MARKERS).expect("the markers folder"));
    let mut total = 0u64;
    for i in 0..n / 2 {
        total = total.wrapping_add(square(i).await?);
    }
    // What ran so far reaches the server before it goes away.
    flowcore::event::flush().await;
    std::fs::write(markers.join("half"), b"").expect("a marker");
    let waited = Instant::now();
    while !markers.join("stopped").exists() {
        assert!(waited.elapsed() < Duration::from_secs(60), "no `stopped`");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in n / 2..n {
        total = total.wrapping_add(square(i).await?);
    }
    Ok(total)
}

#[flow(name = "afterwards")]
async fn afterwards() -> u32 {
    7
}

/// The child processes of the test below (does nothing when run by `cargo test --ignored` alone).
#[test]
#[ignore = "a child process of `an_outage_does_not_split_the_record`"]
fn outbox_child() {
    let Ok(role) = std::env::var(CHILD) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        match role.as_str() {
            "flow" => assert!(outboxed.run(tasks()).await.is_completed()),
            "afterwards" => assert!(afterwards.run().await.is_completed()),
            other => panic!("unknown role {other}"),
        }
    });
}

fn child(role: &str, home: &Path, api: &str, markers: &Path) -> std::process::Child {
    let log = std::fs::File::create(markers.join(format!("{role}.log"))).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["outbox_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, role)
        .env(MARKERS, markers)
        .env("FLOWCORE_HOME", home)
        .env("FLOWCORE_API_URL", api)
        .env("FLOWCORE_API_RETRY_SECONDS", "1")
        .env("FLOWCORE_LOGGING_LEVEL", "WARNING")
        .env_remove("FLOWCORE_RECORD")
        .env_remove("FLOWCORE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn wait_for(mut child: std::process::Child, what: &str, markers: &Path) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log =
                std::fs::read_to_string(markers.join(format!("{what}.log"))).unwrap_or_default();
            assert!(status.success(), "{what} failed: {log}");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{what} hangs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The server's record of the `outboxed` run: (state type, task runs stored).
async fn record(api: &str) -> (String, u64) {
    let runs = get(&format!("{api}/flow_runs?flow=outboxed")).await;
    assert_eq!(runs["count"], 1, "{runs}");
    let run = &runs["results"][0];
    let id = run["id"].as_str().unwrap();
    let tasks = get(&format!("{api}/flow_runs/{id}/task_runs")).await;
    let tasks = tasks["results"].as_array().unwrap();
    // Every task run stored is whole: created, and Completed (none is left half-recorded).
    let mut names = std::collections::HashSet::new();
    for task in tasks {
        assert_eq!(task["state"]["type"], "COMPLETED", "{task}");
        assert!(names.insert(task["name"].as_str().unwrap().to_string()));
    }
    (
        run["state"]["type"].as_str().unwrap().to_string(),
        tasks.len() as u64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_split_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client-home");
    let markers = dir.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = ServerConfig {
        port,
        database_url: flowcore::store::sqlite_url(&dir.path().join("server.db")),
        ..ServerConfig::default()
    };
    let server = Server::start(config.clone()).await.unwrap();
    let api = server.api_url();

    // The flow runs half its tasks against the server, which then goes away; the flow finishes and
    // its process exits while the server is down.
    let flow = child("flow", &home, &api, &markers);
    let started = Instant::now();
    while !markers.join("half").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no `half`");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
    std::fs::write(markers.join("stopped"), b"").unwrap();
    wait_for(flow, "flow", &markers).await;
    let outbox = Outbox::for_server(&home, &api);
    let kept = outbox.pending().unwrap().len();
    assert!(kept > 0, "nothing kept in {}", outbox.dir().display());
    let log = std::fs::read_to_string(markers.join("flow.log")).unwrap();
    assert!(log.contains("cannot reach the flowcore server"), "{log}");
    tokio::time::sleep(down()).await;

    // Back up: the server has only part of the run, which is still Running.
    let server = Server::start(config).await.unwrap();
    let (state, tasks) = record(&api).await;
    assert_eq!(state, "RUNNING");
    assert!(tasks < self::tasks(), "{tasks}");

    // The next process that reports to the server sends what the first one kept, then its own.
    let resent = Instant::now();
    wait_for(
        child("afterwards", &home, &api, &markers),
        "afterwards",
        &markers,
    )
    .await;
    assert_eq!(outbox.pending().unwrap().len(), 0);
    eprintln!(
        "outbox: {kept} batches kept while the server was down, sent by the next process in {:.1} s",
        resent.elapsed().as_secs_f64()
    );
    let (state, tasks) = record(&api).await;
    assert_eq!((state.as_str(), tasks), ("COMPLETED", self::tasks()));
    let after = get(&format!("{api}/flow_runs?flow=afterwards")).await;
    assert_eq!(after["results"][0]["state"]["type"], "COMPLETED", "{after}");
    let log = std::fs::read_to_string(markers.join("afterwards.log")).unwrap();
    assert!(log.contains("answers again"), "{log}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_flow_process_leaves_its_run_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client-home");
    let markers = dir.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.path().join("server.db")),
        services: Services {
            interval: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(2),
            ..Services::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    // The flow runs half its tasks, then waits for a `stopped` that never comes: kill -9 it there.
    let mut flow = child("flow", &home, &api, &markers);
    let started = Instant::now();
    while !markers.join("half").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no `half`");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (state, _) = record(&api).await;
    assert_eq!(state, "RUNNING");
    flow.kill().unwrap();
    flow.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let runs = get(&format!("{api}/flow_runs?flow=outboxed")).await;
        let run = runs["results"][0].clone();
        if run["state"]["type"] == "CRASHED" {
            break run;
        }
        assert!(Instant::now() < deadline, "still {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let message = run["state"]["message"].as_str().unwrap();
    assert!(message.contains("no heartbeat"), "{message}");
    server.stop().await;
}
