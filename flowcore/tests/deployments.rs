//! Deployments, schedules, work queues and the agent, end to end against a real server: apply is
//! idempotent, the scheduler never duplicates runs (restarts included) and follows schedule changes,
//! claims are exactly-once on SQLite and PostgreSQL, and an agent runs scheduled runs of a real
//! program (`examples/deployed_flows.rs`), marks crashed processes, fails bad parameters by name and
//! leaves nothing Running when stopped.
#![cfg(all(feature = "server", feature = "agent"))]

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_idempotent_and_the_scheduler_follows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let db = flowcore::store::sqlite_url(&dir.path().join("sched.db"));
    let server = start(&db, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let build = || {
        Deployment::build_from_flow(&quick)
            .name("every-minute")
            .version("1.0")
            .tags(["ml"])
            .parameters(json!({"n": 4}))
            .entrypoint(worker())
    };
    let first = build()
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .apply_to(&client)
        .await
        .unwrap();
    let again = build()
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .apply_to(&client)
        .await
        .unwrap();
    assert_eq!(first.id, again.id, "apply upserts by flow + name");
    assert_eq!(again.schedule_description.as_deref(), Some("every minute"));
    assert_eq!(
        again.spec.parameter_schema["properties"]["n"]["type"],
        "integer"
    );

    // The scheduler creates the next runs (at most 100), tagged auto-scheduled, on the minute.
    let runs = eventually("100 scheduled runs", 10, async || {
        let runs = runs_of(&client, &first, "state=Scheduled").await;
        (runs.len() == 100).then_some(runs)
    })
    .await;
    for run in &runs {
        assert!(run.tags.contains(&"auto-scheduled".to_string()));
        assert_eq!(run.tags[0], "ml");
        let t = run.expected_start_time.unwrap();
        assert_eq!(t.timestamp() % 60, 0, "{t}");
        assert!(t > Utc::now() - chrono::Duration::seconds(5));
        assert_eq!(run.deployment_name.as_deref(), Some("every-minute"));
        assert_eq!(run.parameters, json!({"n": 4}));
    }
    // A restart schedules nothing twice.
    server.stop().await;
    let server = start(&db, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after_restart = runs_of(&client, &first, "state=Scheduled").await;
    let times: HashSet<_> = after_restart
        .iter()
        .map(|r| r.expected_start_time)
        .collect();
    assert_eq!(times.len(), after_restart.len(), "no expected time twice");
    assert!(after_restart.len() <= 101, "{}", after_restart.len());

    // A new schedule replaces the future runs.
    let cron = build()
        .schedule(
            CronSchedule::new("0 0 * * 0")
                .unwrap()
                .timezone("Europe/Paris")
                .unwrap(),
        )
        .apply_to(&client)
        .await
        .unwrap();
    assert_eq!(
        cron.schedule_description.as_deref(),
        Some("cron \"0 0 * * 0\" (Europe/Paris)")
    );
    let weekly = eventually("weekly runs", 10, async || {
        let runs = runs_of(&client, &first, "state=Scheduled").await;
        (!runs.is_empty()
            && runs
                .iter()
                .all(|r| r.expected_start_time.unwrap().timestamp() % 3600 == 0))
        .then_some(runs)
    })
    .await;
    // 100 days ahead: 14 or 15 Sundays, each at midnight in Paris.
    assert!((14..=15).contains(&weekly.len()), "{}", weekly.len());
    for run in &weekly {
        let local = run
            .expected_start_time
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(local.format("%a %H:%M").to_string(), "Sun 00:00");
    }

    // Pausing removes the future runs; resuming brings them back.
    let paused: StoredDeployment = client
        .post(&format!("/deployments/{}/pause", first.id), &json!({}))
        .await
        .unwrap();
    assert!(paused.spec.paused);
    assert!(runs_of(&client, &first, "state=Scheduled").await.is_empty());
    let _: StoredDeployment = client
        .post(&format!("/deployments/{}/resume", first.id), &json!({}))
        .await
        .unwrap();
    eventually("runs after resume", 10, async || {
        (!runs_of(&client, &first, "state=Scheduled").await.is_empty()).then_some(())
    })
    .await;

    // Bad input is named.
    let err = build()
        .parameters(json!({"n": 1, "m": 2}))
        .apply_to(&client)
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::UnknownParameter { .. }));
    assert!(err.to_string().contains("no parameter `m`"), "{err}");
    let mut spec = build().spec().clone();
    spec.entrypoint.exe = "/bin/true".into();
    let mut raw = serde_json::to_value(&spec).unwrap();
    raw["schedule"] = json!({"type": "cron", "cron": "0 0 * *", "timezone": "UTC"});
    let err = client
        .post::<_, Value>("/deployments", &raw)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(err.to_string().contains("invalid `schedule`"), "{err}");
    raw["schedule"] = json!({"type": "cron", "cron": "0 0 * * 0", "timezone": "Mars/Olympus"});
    let err = client
        .post::<_, Value>("/deployments", &raw)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_not_started_in_time_become_late() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        flowcore::store::Store::connect(&flowcore::store::sqlite_url(&dir.path().join("late.db")))
            .await
            .unwrap();
    let mut spec = Deployment::build_from_flow(&quick)
        .entrypoint(worker())
        .spec()
        .clone();
    spec.name = "late".into();
    let d = store.apply_deployment(&spec).await.unwrap();
    let run = store.run_deployment(d.id, None).await.unwrap().unwrap();
    assert_eq!(run.state.as_ref().unwrap().name, "Scheduled");
    assert_eq!(
        store
            .mark_late(Utc::now(), chrono::Duration::seconds(15))
            .await
            .unwrap(),
        0
    );
    let later = Utc::now() + chrono::Duration::seconds(20);
    assert_eq!(
        store
            .mark_late(later, chrono::Duration::seconds(15))
            .await
            .unwrap(),
        1
    );
    let run = store.flow_run_by_id(run.id).await.unwrap().unwrap();
    assert_eq!(run.state.as_ref().unwrap().name, "Late");
    let history: Vec<String> = store
        .states(run.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(history, ["Scheduled", "Late"]);

    // A Crashed that arrives after a final state does not replace it.
    assert!(store
        .set_flow_run_state(run.id, &State::completed())
        .await
        .unwrap());
    assert!(!store
        .set_flow_run_state(run.id, &State::crashed("reaped late"))
        .await
        .unwrap());
    let run = store.flow_run_by_id(run.id).await.unwrap().unwrap();
    assert_eq!(run.state.unwrap().name, "Completed");
}

/// Two claimers race for 50 due runs through the API: every run is claimed exactly once.
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

async fn claims_exactly_once(database_url: &str) {
    let server = start(database_url, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("burst")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    create_runs(&client, &d, 50).await;
    let claimer = |agent: &'static str| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let claimed: Vec<ClaimedRun> = client
                    .post(
                        "/work_queues/default/claim",
                        &json!({"agent": agent, "limit": 3}),
                    )
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    empty += 1;
                }
                for c in claimed {
                    assert_eq!(c.flow_run.state.as_ref().unwrap().name, "Pending");
                    mine.push(c.flow_run.id);
                }
            }
            mine
        })
    };
    let (a, b) = (claimer("agent-a"), claimer("agent-b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: HashSet<_> = a.iter().chain(&b).collect();
    assert_eq!(a.len() + b.len(), 50, "a: {}, b: {}", a.len(), b.len());
    assert_eq!(all.len(), 50, "a run was claimed twice");

    // A concurrency limit caps what a queue hands out while its runs are not finished.
    let _: Value = client
        .send(
            reqwest::Method::PUT,
            "/work_queues/default/concurrency",
            Some(&json!({"concurrency_limit": 53})),
        )
        .await
        .unwrap();
    create_runs(&client, &d, 5).await;
    let claimed: Vec<ClaimedRun> = client
        .post(
            "/work_queues/default/claim",
            &json!({"agent": "agent-c", "limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3, "50 running + 3 = the limit of 53");
    let _: Value = client
        .post("/work_queues/default/pause", &json!({}))
        .await
        .unwrap();
    let claimed: Vec<ClaimedRun> = client
        .post(
            "/work_queues/default/claim",
            &json!({"agent": "agent-c", "limit": 10}),
        )
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a paused queue hands out nothing");
    // Queue names travel in URLs: a name that cannot is refused, naming the field.
    let err = client
        .post::<_, Value>("/work_queues", &json!({"name": "gpu/large"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("invalid `name`"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_exactly_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    claims_exactly_once(&flowcore::store::sqlite_url(&dir.path().join("claims.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_exactly_once_on_postgres() {
    let db = common::FreshPostgres::create("flowcore_claims").await;
    claims_exactly_once(&db.url).await;
    db.drop().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_deployment_every_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("e2e.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("every-2s")
        .schedule(IntervalSchedule::every(Duration::from_secs(2)).unwrap())
        .parameters(json!({"n": 21}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-1");
    let completed = eventually("3 completed runs", 14, async || {
        let runs = runs_of(&client, &d, "state=Completed").await;
        (runs.len() >= 3).then_some(runs)
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert!(summary.started.len() >= 3);
    for run in &completed {
        assert_eq!(run.task_run_count, 1);
        let (_, _) = run_state(&client, run.id).await;
        let tasks: Value = client
            .get(&format!("/flow_runs/{}/task_runs", run.id))
            .await
            .unwrap();
        assert_eq!(tasks["results"][0]["name"], "double-0");
        let states: Vec<Value> = client
            .get(&format!("/flow_runs/{}/states", run.id))
            .await
            .unwrap();
        let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names[0], "Scheduled");
        assert!(
            names.contains(&"Pending") && names.contains(&"Running"),
            "{names:?}"
        );
        assert_eq!(*names.last().unwrap(), "Completed");
    }
    server.stop().await;
}

/// Two real agents on one queue and 50 due runs: every run's program is started exactly once.
async fn two_agents_run_each_run_once(database_url: &str) {
    let server = start(database_url, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("fifty")
        .parameters(json!({"n": 1}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let ids: HashSet<_> = create_runs(&client, &d, 50).await.into_iter().collect();
    let (stop_a, a) = agent(&client, "agent-a");
    let (stop_b, b) = agent(&client, "agent-b");
    eventually("50 completed runs", 90, async || {
        (runs_of(&client, &d, "state=Completed").await.len() == 50).then_some(())
    })
    .await;
    let _ = (stop_a.send(()), stop_b.send(()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let started: Vec<_> = a.started.iter().chain(&b.started).copied().collect();
    assert_eq!(
        started.len(),
        50,
        "a: {}, b: {}",
        a.started.len(),
        b.started.len()
    );
    assert_eq!(started.iter().copied().collect::<HashSet<_>>(), ids);
    for id in ids {
        let states: Vec<Value> = client
            .get(&format!("/flow_runs/{id}/states"))
            .await
            .unwrap();
        let running = states.iter().filter(|s| s["name"] == "Running").count();
        assert_eq!(running, 1, "run {id} ran {running} times");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    two_agents_run_each_run_once(&flowcore::store::sqlite_url(&dir.path().join("two.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_queue_on_postgres() {
    let db = common::FreshPostgres::create("flowcore_agents").await;
    two_agents_run_each_run_once(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_bad_parameters_and_stopping_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("crash.db")),
        Services {
            heartbeat_timeout: Duration::from_secs(4),
            ..fast_services()
        },
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let sleepy_d = Deployment::build_from_flow(&sleepy)
        .name("nap")
        .parameters(json!({"seconds": 30.0, "pid_file": null}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let quick_d = Deployment::build_from_flow(&quick)
        .name("bad-params")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-1");

    // kill -9 of the flow's process → Crashed.
    let pid_file = dir.path().join("pid");
    let run: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", sleepy_d.id),
            &json!({"parameters": {"pid_file": pid_file.display().to_string()}}),
        )
        .await
        .unwrap();
    let pid = eventually("the flow's process", 15, async || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| !p.is_empty())
    })
    .await;
    eventually("Running", 10, async || {
        (run_state(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let (name, message) = eventually("Crashed", 10, async || {
        let s = run_state(&client, run.id).await;
        (s.0 == "Crashed").then_some(s)
    })
    .await;
    assert_eq!(name, "Crashed");
    assert!(message.contains("signal: 9"), "{message}");

    // Parameters that do not fit the flow: Failed, naming the field.
    let bad: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", quick_d.id),
            &json!({"parameters": {"n": "many"}}),
        )
        .await
        .unwrap();
    let (name, message) = eventually("Failed", 15, async || {
        let s = run_state(&client, bad.id).await;
        (s.0 == "Failed").then_some(s)
    })
    .await;
    assert_eq!(name, "Failed");
    assert!(message.contains("`n`"), "{message}");

    // Stopping the agent stops its runs: nothing stays Running.
    let long: StoredFlowRun = client
        .post(&format!("/deployments/{}/runs", sleepy_d.id), &json!({}))
        .await
        .unwrap();
    eventually("Running", 15, async || {
        (run_state(&client, long.id).await.0 == "Running").then_some(())
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert!(summary.crashed.contains(&long.id));
    let (name, message) = run_state(&client, long.id).await;
    assert_eq!(name, "Crashed");
    assert!(message.contains("agent stopped"), "{message}");

    // A claimed run whose agent went silent becomes Crashed after the heartbeat timeout.
    let silent: StoredFlowRun = client
        .post(&format!("/deployments/{}/runs", quick_d.id), &json!({}))
        .await
        .unwrap();
    let claimed: Vec<ClaimedRun> = client
        .post(
            "/work_queues/default/claim",
            &json!({"agent": "vanished", "limit": 5}),
        )
        .await
        .unwrap();
    assert!(claimed.iter().any(|c| c.flow_run.id == silent.id));
    let (_, message) = eventually("Crashed by the heartbeat service", 15, async || {
        let s = run_state(&client, silent.id).await;
        (s.0 == "Crashed").then_some(s)
    })
    .await;
    assert!(
        message.contains("no heartbeat from agent vanished"),
        "{message}"
    );
    server.stop().await;
}

/// Changing a deployment's schedule or parameters removes only its future, not-yet-due
/// auto-scheduled runs: a backlog of Late runs stays (unlike PrefectHQ/prefect#17764).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_runs_survive_a_schedule_change() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        flowcore::store::Store::connect(&flowcore::store::sqlite_url(&dir.path().join("keep.db")))
            .await
            .unwrap();
    let mut spec = Deployment::build_from_flow(&quick)
        .entrypoint(worker())
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .spec()
        .clone();
    spec.name = "backlog".into();
    let d = store.apply_deployment(&spec).await.unwrap();
    // Scheduled from ten minutes ago: the past ones are missed and become Late.
    let then = Utc::now() - chrono::Duration::minutes(10);
    let horizon = flowcore::store::Horizon {
        max_runs: 20,
        min_runs: 20,
        horizon: chrono::Duration::minutes(20),
    };
    assert!(store.schedule_runs(then, horizon).await.unwrap() >= 20);
    let late = store
        .mark_late(Utc::now(), chrono::Duration::seconds(15))
        .await
        .unwrap();
    assert!(late >= 9, "{late}");
    let count = |name: &'static str| {
        let store = &store;
        async move {
            store
                .flow_runs(&flowcore::store::FlowRunFilter {
                    deployments: vec![d.id.to_string()],
                    states: vec![name.to_string()],
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    let (late_before, scheduled_before) = (count("Late").await, count("Scheduled").await);
    // A "Scheduled" filter matches the state type: the Late runs, and the future ones.
    assert!(
        scheduled_before > late_before,
        "{scheduled_before} {late_before}"
    );

    spec.parameters = json!({"n": 5});
    store.apply_deployment(&spec).await.unwrap();
    assert_eq!(count("Late").await, late_before, "the Late backlog stays");
    let left = store
        .flow_runs(&flowcore::store::FlowRunFilter {
            deployments: vec![d.id.to_string()],
            states: vec!["Scheduled".to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
    let now = Utc::now();
    assert!(
        left.iter().all(|r| r.expected_start_time.unwrap() <= now),
        "only due runs stay: {:?}",
        left.iter()
            .map(|r| (
                r.expected_start_time,
                &r.tags,
                r.state.as_ref().map(|s| s.name.clone())
            ))
            .collect::<Vec<_>>()
    );
}

/// Cancelling a deployment's run that is running under an agent: the agent learns it from its next
/// heartbeat, SIGTERMs the process, which cancels its flow run and reports it; Cancelled within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_deployment_run_stops_it_within_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("cancel.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&sleepy_async)
        .name("cancel-me")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-cancel");
    let run: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", d.id),
            &json!({"parameters": {"seconds": 60.0}}),
        )
        .await
        .unwrap();
    eventually("Running", 20, async || {
        (run_state(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;
    let asked = std::time::Instant::now();
    let cancelling = client.cancel_flow_run(run.id).await.unwrap();
    assert_eq!(cancelling.state.unwrap().name, "Cancelling");
    eventually("Cancelled", 10, async || {
        (run_state(&client, run.id).await.0 == "Cancelled").then_some(())
    })
    .await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let tasks: Value = client
        .get(&format!("/flow_runs/{}/task_runs", run.id))
        .await
        .unwrap();
    for task in tasks["results"].as_array().unwrap() {
        assert_eq!(task["state"]["type"], "CANCELLED", "{task}");
    }
    // Final: a second cancel is refused, naming the state.
    let again = client.cancel_flow_run(run.id).await.unwrap_err();
    assert!(again.to_string().contains("409"), "{again}");
    assert!(again.to_string().contains("already Cancelled"), "{again}");
    let _ = stop.send(());
    // The process stopped itself (it watches its run on the server) or the agent stopped it: the
    // run is not Crashed either way.
    let summary = handle.await.unwrap();
    assert!(!summary.crashed.contains(&run.id), "{summary:?}");
    server.stop().await;
}

/// A failed deployment run, retried through the API, is started again by the agent under the same
/// id; its task run that completed with a persisted result is not run again (`Cached`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_deployment_run_runs_again_without_its_completed_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("retry.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let count_file = dir.path().join("count.txt");
    let fail_while = dir.path().join("fail");
    std::fs::write(&fail_while, b"").unwrap();
    let d = Deployment::build_from_flow(&resumable)
        .name("retry-me")
        .parameters(json!({
            "n": 4,
            "count_file": count_file.display().to_string(),
            "fail_while": fail_while.display().to_string(),
        }))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let id = create_runs(&client, &d, 1).await[0];
    let (stop, handle) = agent(&client, "agent-retry");
    eventually("the run to fail", 30, async || {
        let (name, _) = run_state(&client, id).await;
        (name == "Failed").then_some(())
    })
    .await;

    std::fs::remove_file(&fail_while).unwrap();
    let retried: StoredFlowRun = client
        .post(&format!("/flow_runs/{id}/retry"), &json!({}))
        .await
        .unwrap();
    assert_eq!(retried.state.unwrap().name, "AwaitingRetry");
    eventually("the retried run to complete", 30, async || {
        let (name, _) = run_state(&client, id).await;
        (name == "Completed").then_some(())
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert_eq!(summary.started.len(), 2, "the agent started the run twice");

    let lines = std::fs::read_to_string(&count_file).unwrap();
    assert_eq!(lines.lines().count(), 1, "stage ran once: {lines}");
    let tasks: Value = client
        .get(&format!("/flow_runs/{id}/task_runs"))
        .await
        .unwrap();
    let stages: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["task_name"] == "stage")
        .map(|t| t["state"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = stages.clone();
    sorted.sort();
    assert_eq!(sorted, ["Cached", "Completed"], "{tasks}");
    server.stop().await;
}
