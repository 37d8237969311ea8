//! Results: persistence, caching (inputs, custom keys, expiration, refresh, one execution for
//! concurrent runs of a key, across processes) and resuming a failed flow run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use flowcore::prelude::*;
use flowcore::TaskRun;

/// Tests in this file share the process's results dir and counters: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn last(run: &TaskRun) -> &State {
    run.history.last().expect("a state")
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Model {
    name: String,
    coef: Vec<f64>,
}

#[task(persist_result = true)]
fn fit(name: String) -> Model {
    Model {
        name,
        coef: vec![1.5, -2.0],
    }
}

#[flow]
async fn fits(name: String) -> Model {
    fit(name).await.unwrap()
}

#[tokio::test]
async fn a_persisted_result_is_written_and_readable_by_key() {
    let _s = SERIAL.lock().await;
    let harness = flowcore::testing::harness();
    let state = fits.run("lr".into()).await;
    assert!(state.is_completed());
    let run = &state.task_runs()[0];
    assert!(last(run).has_name(flowcore::state::StateName::Completed));

    // The record keeps the result's key; the storage (the home's `storage/`) holds the value.
    flowcore::event::flush().await;
    let store = flowcore::store::Store::connect(&harness.database_url())
        .await
        .unwrap();
    let reference = store
        .result_ref(run.id)
        .await
        .unwrap()
        .expect("a reference");
    assert_eq!(reference.produced_by, run.id);
    let path = harness.home().join("storage").join(&reference.storage_key);
    assert!(path.exists(), "{path:?}");
    let record = flowcore::runtime::results::load::<Model>(&reference.storage_key)
        .unwrap()
        .unwrap();
    assert_eq!(record.result, fit::func("lr".into()));
    assert_eq!(record.metadata.task_run_id, run.id);
    assert!(record.metadata.type_name.ends_with("Model"));
}

// ---------------------------------------------------------------------------------------------
// Caching on inputs

static SQUARES: AtomicU32 = AtomicU32::new(0);

#[task(cache_policy = inputs)]
fn square(x: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[flow]
async fn squares(xs: Vec<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    for x in xs {
        out.push(square(x).await.unwrap());
    }
    out
}

#[tokio::test]
async fn equal_inputs_reuse_the_result_across_flow_runs() {
    let _s = SERIAL.lock().await;
    let _h = flowcore::testing::harness();
    SQUARES.store(0, Ordering::SeqCst);
    let salt = fastrand_u64() + 1_000;
    let first = squares.run(vec![salt, salt + 1]).await;
    assert_eq!(
        first.output().unwrap(),
        &vec![salt * salt, (salt + 1) * (salt + 1)]
    );
    assert_eq!(SQUARES.load(Ordering::SeqCst), 2);

    let second = squares.run(vec![salt, salt + 2]).await;
    let values = second.output().unwrap();
    assert_eq!(values, &vec![salt * salt, (salt + 2) * (salt + 2)]);
    assert_eq!(SQUARES.load(Ordering::SeqCst), 3, "only the new input ran");
    let hit = &second.task_runs()[0];
    let state = last(hit);
    assert_eq!(state.kind, StateType::Completed);
    assert_eq!(state.name, "Cached");
    let producer = &first.task_runs()[0];
    let message = state.message.as_deref().unwrap();
    assert!(
        message.contains(&producer.name) && message.contains(&producer.id.to_string()),
        "{message}"
    );
    assert!(message.contains("cache key"), "{message}");
    // Pending, then Cached: the body never ran.
    let names: Vec<&str> = hit.history.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["Pending", "Cached"]);
    assert_eq!(
        second.task_runs()[1].history.last().unwrap().name,
        "Completed"
    );
}

// ---------------------------------------------------------------------------------------------
// Custom keys, expiration, refresh

static KEYED: AtomicU32 = AtomicU32::new(0);

fn by_month(parameters: &serde_json::Value) -> String {
    format!("month-{}", parameters["month"].as_str().unwrap_or(""))
}

#[task(cache_key = by_month)]
fn load_month(month: String, _ignored: u32) -> usize {
    KEYED.fetch_add(1, Ordering::SeqCst);
    month.len()
}

#[task(cache_policy = inputs, cache_expiration = 0.3)]
fn short_lived(x: u32) -> u32 {
    KEYED.fetch_add(1, Ordering::SeqCst);
    x
}

#[task(cache_policy = inputs, refresh_cache = true)]
fn refreshed(x: u32) -> u32 {
    KEYED.fetch_add(1, Ordering::SeqCst);
    x
}

#[flow]
async fn keyed(month: String, _salt: u32) -> Vec<String> {
    let mut names = Vec::new();
    for extra in [1, 2] {
        let call = load_month(month.clone(), extra).submit();
        call.wait().await;
        names.push(call.state().unwrap().name.to_string());
    }
    names
}

#[flow]
async fn expiring(x: u32, pause: f64) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..2 {
        let call = short_lived(x).submit();
        call.wait().await;
        names.push(call.state().unwrap().name.to_string());
        tokio::time::sleep(Duration::from_secs_f64(pause)).await;
    }
    names
}

#[flow]
async fn refreshing(x: u32) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..2 {
        let call = refreshed(x).submit();
        call.wait().await;
        names.push(call.state().unwrap().name.to_string());
    }
    names
}

#[tokio::test]
async fn custom_keys_expiration_and_refresh() {
    let _s = SERIAL.lock().await;
    let _h = flowcore::testing::harness();
    let salt = fastrand_u64() as u32;
    let month = format!("2021-{salt}");

    KEYED.store(0, Ordering::SeqCst);
    let names = keyed.call(month.clone(), salt).await.unwrap();
    assert_eq!(names, ["Completed", "Cached"], "the key ignores `_ignored`");
    assert_eq!(KEYED.load(Ordering::SeqCst), 1);

    KEYED.store(0, Ordering::SeqCst);
    let names = expiring.call(salt, 0.5).await.unwrap();
    assert_eq!(names, ["Completed", "Completed"], "expired after 0.3 s");
    assert_eq!(KEYED.load(Ordering::SeqCst), 2);
    KEYED.store(0, Ordering::SeqCst);
    let names = expiring.call(salt.wrapping_add(1), 0.0).await.unwrap();
    assert_eq!(names, ["Completed", "Cached"], "still fresh");
    assert_eq!(KEYED.load(Ordering::SeqCst), 1);

    KEYED.store(0, Ordering::SeqCst);
    let names = refreshing.call(salt).await.unwrap();
    assert_eq!(names, ["Completed", "Completed"]);
    assert_eq!(KEYED.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Concurrent runs of one key: one executes

static SLOW: AtomicU32 = AtomicU32::new(0);

#[task(cache_policy = inputs)]
fn slow_square(x: u64) -> u64 {
    SLOW.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    x * x
}

#[flow]
async fn concurrent_same_key(x: u64) -> Vec<u64> {
    let runs: Vec<_> = (0..4).map(|_| slow_square(x).submit()).collect();
    let mut out = Vec::new();
    for r in runs {
        out.push(r.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_of_one_key_execute_once() {
    let _s = SERIAL.lock().await;
    let _h = flowcore::testing::harness();
    SLOW.store(0, Ordering::SeqCst);
    let x = fastrand_u64();
    let state = concurrent_same_key.run(x).await;
    assert_eq!(state.output().unwrap(), &vec![x * x; 4]);
    assert_eq!(SLOW.load(Ordering::SeqCst), 1, "one run executed");
    let cached = state
        .task_runs()
        .iter()
        .filter(|t| last(t).name == "Cached")
        .count();
    assert_eq!(cached, 3);
}

// ---------------------------------------------------------------------------------------------
// Across processes: the test binary runs itself as a second process sharing the results dir.

const CHILD_VAR: &str = "FLOWCORE_RESULTS_TEST_CHILD";

static CROSS: AtomicU32 = AtomicU32::new(0);

#[task(cache_policy = inputs)]
fn cross_process(x: u64) -> u64 {
    CROSS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[flow]
async fn cross(x: u64) -> String {
    let call = cross_process(x).submit();
    call.wait().await;
    call.state().unwrap().name.to_string()
}

/// The second process's half of `cache_hits_across_processes` (ignored unless run by it).
#[tokio::test]
#[ignore = "run by cache_hits_across_processes as a child process"]
async fn child_process_half() {
    let Ok(spec) = std::env::var(CHILD_VAR) else {
        return;
    };
    let (dir, x) = spec.split_once('|').unwrap();
    let _h = flowcore::testing::harness();
    flowcore::config::set_for_process("results-dir", Some(dir)).unwrap();
    let name = cross.call(x.parse().unwrap()).await.unwrap();
    println!(
        "CHILD-STATE={name} CHILD-EXECUTIONS={}",
        CROSS.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn cache_hits_across_processes() {
    let _s = SERIAL.lock().await;
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    flowcore::config::set_for_process("results-dir", Some(dir.path().to_str().unwrap())).unwrap();
    let x = fastrand_u64();
    CROSS.store(0, Ordering::SeqCst);
    assert_eq!(cross.call(x).await.unwrap(), "Completed");
    flowcore::config::clear_for_process("results-dir");
    flowcore::config::set_for_process("results-dir", None).unwrap();

    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_half", "--ignored", "--nocapture"])
        .env(CHILD_VAR, format!("{}|{x}", dir.path().display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("CHILD-STATE=Cached CHILD-EXECUTIONS=0"),
        "the second process reused the first's result: {stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// Resuming a failed flow run

static PREPARED: AtomicU32 = AtomicU32::new(0);
static TRAINED: AtomicU32 = AtomicU32::new(0);
static TRAIN_FAILS: AtomicBool = AtomicBool::new(true);

#[task(persist_result = true)]
fn prepare(rows: u32) -> Vec<f64> {
    PREPARED.fetch_add(1, Ordering::SeqCst);
    (0..rows).map(f64::from).collect()
}

#[task]
fn train(data: Vec<f64>) -> anyhow::Result<f64> {
    TRAINED.fetch_add(1, Ordering::SeqCst);
    anyhow::ensure!(!TRAIN_FAILS.load(Ordering::SeqCst), "out of memory");
    Ok(data.iter().sum())
}

#[flow(name = "resumable-training")]
async fn resumable(rows: u32) -> anyhow::Result<f64> {
    let a = prepare(rows).submit();
    let b = prepare(rows + 1).submit();
    let total = train(a).await? + train(b).await?;
    Ok(total)
}

#[tokio::test]
async fn a_failed_flow_run_resumes_without_rerunning_completed_tasks() {
    let _s = SERIAL.lock().await;
    let harness = flowcore::testing::harness();
    PREPARED.store(0, Ordering::SeqCst);
    TRAINED.store(0, Ordering::SeqCst);
    TRAIN_FAILS.store(true, Ordering::SeqCst);
    let failed = resumable.run(4).await;
    assert!(failed.is_failed());
    assert_eq!(PREPARED.load(Ordering::SeqCst), 2);
    let id = failed.flow_run().id;

    TRAIN_FAILS.store(false, Ordering::SeqCst);
    let resumed = flowcore::runtime::resume(id).await.unwrap();
    assert!(resumed.is_completed(), "{:?}", resumed.flow_run().history);
    assert_eq!(resumed.flow_run().id, id, "same flow run");
    assert_eq!(
        PREPARED.load(Ordering::SeqCst),
        2,
        "prepare did not run again"
    );
    let prepared: Vec<_> = resumed
        .task_runs()
        .iter()
        .filter(|t| t.task_name == "prepare")
        .collect();
    assert_eq!(prepared.len(), 2);
    for t in &prepared {
        let state = last(t);
        assert_eq!(state.name, "Cached", "{t:?}");
        let earlier = failed
            .task_runs()
            .iter()
            .find(|e| e.name == t.name)
            .unwrap();
        assert!(state
            .message
            .as_deref()
            .unwrap()
            .contains(&earlier.id.to_string()));
    }

    // The record: one flow run, Failed then AwaitingRetry then Completed; both attempts' task runs.
    flowcore::event::flush().await;
    let store = flowcore::store::Store::connect(&harness.database_url())
        .await
        .unwrap();
    let states: Vec<String> = store
        .states(id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let failed_at = states.iter().position(|s| s == "Failed").unwrap();
    assert_eq!(states[failed_at + 1], "AwaitingRetry", "{states:?}");
    assert_eq!(states.last().unwrap(), "Completed", "{states:?}");

    // A Completed run cannot be retried.
    let again = flowcore::runtime::resume(id).await;
    assert!(
        matches!(
            again,
            Err(flowcore::runtime::ResumeError::NotRetryable { .. })
        ),
        "{again:?}"
    );
}

/// A value no earlier run of these tests used (results dirs outlive nothing, but be sure).
fn fastrand_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    1_000 + (nanos ^ (std::process::id() as u64) << 20) % 1_000_000
}
