//! Task workers in processes of their own on one PostgreSQL database: a `Distributed` flow's graph
//! spread over two workers reaching only the server's API, and a killed worker's runs recovered —
//! run again by another worker while the task's retries allow it, `Crashed` after that.

mod common;

#[path = "../examples/task_workers/tasks.rs"]
#[allow(dead_code)]
mod tasks;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig};
use flowcore::store::Store;

fn worker_binary() -> PathBuf {
    // target/debug/deps/task_workers_pg-… → target/debug/examples/task_workers
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join("task_workers");
    assert!(
        path.exists(),
        "{} missing: `cargo test` builds it (cargo build -p flowcore --example task_workers)",
        path.display()
    );
    path
}

/// A worker process, killed when dropped (a failing test leaves none behind).
struct Worker(Child);

impl Worker {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A worker process with the given settings (the queue and the shared result storage).
fn spawn_worker(env: &[(&str, String)], home: &Path) -> Worker {
    std::fs::create_dir_all(home).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("workers.log"))
        .expect("the workers' log opens");
    let mut cmd = Command::new(worker_binary());
    cmd.args(["serve", "4"])
        .env_remove("FLOWCORE_API_URL")
        .env_remove("FLOWCORE_DATABASE_URL")
        .env("FLOWCORE_HOME", home)
        .env("FLOWCORE_TASK_WORKER_LEASE", "1.5")
        .stdout(log.try_clone().expect("the workers' log"))
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Worker(cmd.spawn().expect("the worker starts"))
}

/// `ran_file`'s lines (`start i pid`, `end i pid`).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[flow(task_runner = Distributed)]
async fn spread(n: u32, ran_file: String) -> Result<Vec<u32>, FlowError> {
    let runs: Vec<_> = (0..n)
        .map(|i| tasks::slow(i, 300, ran_file.clone()).submit())
        .collect();
    let mut out = Vec::new();
    for r in runs {
        out.push(r.await?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_workers_in_their_own_processes_share_a_flow_and_recover_a_killed_one() {
    let db = common::FreshPostgres::create("flowcore_workers").await;
    let _harness = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let results_dir = results.to_string_lossy().into_owned();
    let worker_home = dir.path().join("worker-home");

    // 1. Two workers that reach only the API; the flow's 16 runs are spread over both.
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: db.url.clone(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    flowcore::config::set_for_process("api-url", Some(&api)).unwrap();
    flowcore::config::set_for_process("results-dir", Some(&results_dir)).unwrap();
    flowcore::testing::apply_settings();
    let env = [
        ("FLOWCORE_API_URL", api.clone()),
        ("FLOWCORE_RESULTS_DIR", results_dir.clone()),
    ];
    let mut workers = [
        spawn_worker(&env, &worker_home),
        spawn_worker(&env, &worker_home),
    ];
    let ran = dir.path().join("spread");
    let state = tokio::time::timeout(
        Duration::from_secs(60),
        spread.run(16, ran.to_string_lossy().into_owned()),
    )
    .await
    .expect("the flow ends");
    let log = || std::fs::read_to_string(worker_home.join("workers.log")).unwrap_or_default();
    let values = state
        .result()
        .unwrap_or_else(|e| panic!("{e}\nworkers' log:\n{}", log()));
    assert_eq!(values, (0..16).collect::<Vec<_>>());
    let mut runs_per_pid: HashMap<String, usize> = HashMap::new();
    let mut started = HashSet::new();
    for line in lines(&ran) {
        let parts: Vec<_> = line.split(' ').collect();
        if parts[0] == "start" {
            assert!(
                started.insert(parts[1].to_string()),
                "run {} twice",
                parts[1]
            );
            *runs_per_pid.entry(parts[2].to_string()).or_default() += 1;
        }
    }
    assert_eq!(started.len(), 16);
    assert_eq!(
        runs_per_pid.len(),
        2,
        "both workers ran some: {runs_per_pid:?}"
    );
    for w in &mut workers {
        w.kill();
    }
    server.stop().await;

    // 2. Straight on the database: a worker killed mid-run. The run with a retry left runs again
    //    on another worker; the one without ends Crashed.
    flowcore::config::set_for_process("api-url", None).unwrap();
    flowcore::config::set_for_process("database-url", Some(&db.url)).unwrap();
    flowcore::testing::apply_settings();
    let env = [
        ("FLOWCORE_DATABASE_URL", db.url.clone()),
        ("FLOWCORE_RESULTS_DIR", results_dir.clone()),
    ];
    let ran = dir.path().join("killed");
    let ran_file = ran.to_string_lossy().into_owned();
    let mut first = spawn_worker(&env, &worker_home);
    let retried = tasks::slow::delay(100, 4000, ran_file.clone());
    let crashed = tasks::slow_once::delay(101, 4000, ran_file.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines(&ran).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the first worker never started them"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();
    let mut second = spawn_worker(&env, &worker_home);
    let value = tokio::time::timeout(Duration::from_secs(60), retried.clone())
        .await
        .expect("the retried run ends");
    assert_eq!(value.unwrap(), 100);
    let error = tokio::time::timeout(Duration::from_secs(60), crashed.clone())
        .await
        .expect("the crashed run ends")
        .unwrap_err();
    assert!(error.to_string().contains("lease"), "{error}");
    let first_pid = first.pid();
    let second_pid = second.pid();
    let seen = lines(&ran);
    assert!(seen.contains(&format!("start 100 {first_pid}")), "{seen:?}");
    assert!(seen.contains(&format!("end 100 {second_pid}")), "{seen:?}");
    assert!(!seen
        .iter()
        .any(|l| l.starts_with("start 101") && l.ends_with(&second_pid)));
    let history: Vec<_> = retried
        .task_run()
        .history
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(history.last().map(String::as_str), Some("Completed"));
    assert_eq!(crashed.state().unwrap().name, "Crashed");

    // The record agrees.
    flowcore::event::flush().await;
    let store = Store::connect(&db.url).await.unwrap();
    let counts = store.task_queue_counts().await.unwrap();
    assert!(counts.iter().all(|c| c.status == "done"), "{counts:?}");
    second.kill();
    drop(store);
    flowcore::config::set_for_process("database-url", None).unwrap();
    flowcore::config::set_for_process("results-dir", None).unwrap();
    flowcore::testing::apply_settings();
    db.drop().await;
}

/// Eight workers claiming at once from one queue of 200 runs: each run is claimed by one worker,
/// and no claim takes more than it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_task_claims_take_each_run_once_and_never_more_than_asked() {
    use flowcore::schemas::task_queue::QueuedTask;
    let db = common::FreshPostgres::create("flowcore_task_claims").await;
    let store = Store::connect(&db.url).await.unwrap();
    let queued: Vec<QueuedTask> = (0..200)
        .map(|i| {
            let id = uuid::Uuid::now_v7();
            QueuedTask {
                task_run_id: id,
                task: "noop".into(),
                task_run_name: format!("noop-{i}"),
                flow_run_id: None,
                parameters: serde_json::json!({ "i": i }),
                tags: Vec::new(),
                retries: 0,
                storage_key: id.simple().to_string(),
                cache_key: None,
                cache_expiration_seconds: None,
            }
        })
        .collect();
    store.enqueue_tasks(&queued).await.unwrap();
    let claimers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
                    let got = store
                        .claim_tasks(&format!("w{w}"), &["noop".to_string()], 5, until)
                        .await
                        .unwrap();
                    assert!(got.len() <= 5, "a claim of 5 took {}", got.len());
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|c| c.queued.task_run_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(distinct.len(), 200);
    drop(store);
    db.drop().await;
}
