//! The runtime context's task-run parameters, and a `task_run_name` that shows an upstream run's
//! value: rendered when the value arrives, and the name the record keeps.

use std::sync::Arc;
use std::time::Duration;

use flowcore::event::{Event, RunKind, RunRef};
use flowcore::prelude::*;
use flowcore::store::Store;
use flowcore::State;
use uuid::Uuid;

/// Not a serde type.
#[derive(Debug, Clone)]
pub struct Handle;

#[task]
fn seven() -> u32 {
    7
}

#[task(retries = 1, retry_delay = 0)]
fn shows_parameters(
    n: u32,
    path: String,
    tags: Vec<String>,
    big: Vec<u8>,
    handle: Handle,
) -> serde_json::Value {
    let _ = (n, path, tags, big.len(), handle);
    let run = flowcore::runtime::task_run().expect("inside a task run");
    run.parameters
}

#[task]
async fn shows_parameters_async(x: f64) -> serde_json::Value {
    let _ = x;
    flowcore::runtime::task_run().unwrap().parameters
}

#[flow]
async fn parameters_flow() -> (serde_json::Value, serde_json::Value) {
    let upstream = seven().submit();
    let shown = shows_parameters(
        &upstream,
        "a.parquet".to_string(),
        vec!["x".to_string()],
        vec![0u8; 100_000],
        Handle,
    )
    .await
    .unwrap();
    let shown_async = shows_parameters_async(2.5).submit().await.unwrap();
    (shown, shown_async)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_run_parameters_are_the_arguments_as_json() {
    let _harness = flowcore::testing::harness();
    let state = parameters_flow.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    let (shown, shown_async) = state.output().unwrap().clone();
    assert_eq!(shown["n"], 7, "an upstream's value: {shown}");
    assert_eq!(shown["path"], "a.parquet");
    assert_eq!(shown["tags"], serde_json::json!(["x"]));
    let big = shown["big"].as_str().expect("a placeholder");
    assert!(
        big.contains("Vec<u8>") && big.contains("more than 64 KiB"),
        "{big}"
    );
    let handle = shown["handle"].as_str().expect("a placeholder");
    assert!(handle.contains("Handle"), "{handle}");
    assert_eq!(shown_async, serde_json::json!({ "x": 2.5 }));
    assert!(flowcore::runtime::task_run().is_none());
}

#[task]
async fn slow_seven() -> u32 {
    // Longer than the store writer's 0.5 s: the named task run is written before its upstream
    // completes, and its new name arrives in a later batch.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    7
}

#[task(task_run_name = "scaled-{x}")]
fn scaled(x: u32) -> String {
    let _ = x;
    flowcore::runtime::task_run().unwrap().name
}

#[flow]
async fn late_named() -> String {
    let upstream = slow_seven().submit();
    let named = scaled(&upstream).submit();
    named.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_name_showing_a_running_upstream_renders_when_the_value_arrives() {
    let harness = flowcore::testing::harness();
    let state = late_named.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.output().unwrap(), "scaled-7");
    let names: Vec<&str> = state.task_runs().iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"scaled-7"), "{names:?}");

    let store = Store::connect(&harness.database_url()).await.unwrap();
    let stored = store.task_runs(state.flow_run().id).await.unwrap();
    let mut names: Vec<&str> = stored.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["scaled-7", "slow_seven-0"]);
}

fn task_ref(id: Uuid, name: &str, flow_run_id: Uuid) -> RunRef {
    RunRef {
        kind: RunKind::Task,
        id,
        name: Arc::from(name),
        flow_run_id: Some(flow_run_id),
    }
}

#[tokio::test]
async fn the_store_keeps_the_latest_name_a_run_is_reported_under() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&flowcore::store::sqlite_url(&dir.path().join("r.db")))
        .await
        .unwrap();
    let flow = Uuid::now_v7();
    let (early, late) = (Uuid::now_v7(), Uuid::now_v7());
    let created = |id| Event::TaskRunCreated {
        run: task_ref(id, "step-0", flow),
        task_name: "step".into(),
        flow_run_id: Some(flow),
        tags: Vec::new(),
        inputs: Vec::new(),
        created: chrono::Utc::now(),
    };
    let changed = |id, name: &str, state: State| Event::StateChanged {
        run: task_ref(id, name, flow),
        state,
    };
    // `early`: created in one batch, renamed in the next; `late`: both in one batch.
    store
        .write(&[created(early), changed(early, "step-0", State::pending())])
        .await
        .unwrap();
    store
        .write(&[
            changed(early, "step-x", State::running()),
            changed(early, "step-x", State::completed()),
            created(late),
            changed(late, "step-0", State::pending()),
            changed(late, "step-y", State::running()),
        ])
        .await
        .unwrap();
    let runs = store.task_runs(flow).await.unwrap();
    let name_of = |id| runs.iter().find(|r| r.id == id).unwrap().name.clone();
    assert_eq!(name_of(early), "step-x");
    assert_eq!(name_of(late), "step-y");
}

static SEEN_BY_HOOK: std::sync::Mutex<Option<serde_json::Value>> = std::sync::Mutex::new(None);

fn note_parameters(_: &flowcore::TaskRun, _: &State) {
    let parameters = flowcore::runtime::task_run().map(|r| r.parameters);
    *SEEN_BY_HOOK.lock().unwrap() = parameters;
}

#[task(on_completion = [note_parameters])]
fn hooked(label: String) -> usize {
    label.len()
}

#[flow]
async fn hooked_parameters() -> usize {
    hooked("seen".to_string()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_hooks_see_its_parameters() {
    let _harness = flowcore::testing::harness();
    let state = hooked_parameters.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    let seen = SEEN_BY_HOOK.lock().unwrap().clone();
    assert_eq!(seen, Some(serde_json::json!({ "label": "seen" })));
}
