//! Cancelling flow runs: from code (a token), through the API (Scheduled → Cancelled at once,
//! Running → Cancelling → Cancelled when its process stops), and a final run → 409.
#![cfg(all(feature = "server", feature = "client"))]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowcore::prelude::*;
use flowcore::runtime::{with_cancellation, CancellationToken};
use flowcore::{FlowRun, State};

static CANCELLED_HOOKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn on_cancel(run: &FlowRun, state: &State) {
    CANCELLED_HOOKS
        .lock()
        .unwrap()
        .push(format!("{} {}", run.flow_name, state.name));
}

#[task]
async fn nap(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[task]
fn never_started() -> u32 {
    1
}

#[flow(task_runner = Sequential, on_cancellation = [on_cancel])]
async fn sleepy_flow() {
    let first = nap(30).submit();
    let second = never_started().submit();
    let _ = first.await;
    let _ = second.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_cancels_a_running_flow_its_tasks_and_runs_its_hooks() {
    let _harness = flowcore::testing::harness();
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let start = Instant::now();
    let state = with_cancellation(token, sleepy_flow.run()).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        state.state().kind,
        StateType::Cancelled,
        "{:?}",
        state.state()
    );
    assert_eq!(state.message(), Some("The flow run was cancelled"));
    for task in state.task_runs() {
        assert_eq!(task.state().kind, StateType::Cancelled, "{task:?}");
    }
    // The queued task never started.
    let queued = state.task_run("never_started-0").unwrap();
    assert!(queued.start_time.is_none());
    assert_eq!(*CANCELLED_HOOKS.lock().unwrap(), ["sleepy_flow Cancelled"]);
}

#[flow]
async fn waits_long() {
    nap(30).await.unwrap_or_default();
}

/// Through the API: a run not started is cancelled at once; a running plain process reporting to
/// the server learns it and cancels itself; a final run answers 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_cancels_scheduled_and_running_runs_and_refuses_final_ones() {
    let harness = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let url = flowcore::store::sqlite_url(&dir.path().join("cancel.db"));
    let server = flowcore::server::Server::start(flowcore::server::ServerConfig {
        port: 0,
        database_url: url.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = flowcore::api_client::ApiClient::new(&server.api_url(), None);
    let store = flowcore::store::Store::connect(&url).await.unwrap();

    // A deployment's scheduled run: Cancelled at once, no agent needed.
    let mut spec = flowcore::deployment::Deployment::build_from_flow(&waits_long)
        .entrypoint(flowcore::store::Entrypoint {
            exe: "/bin/true".into(),
            args: Vec::new(),
            cwd: None,
        })
        .spec()
        .clone();
    spec.name = "later".into();
    let d = store.apply_deployment(&spec).await.unwrap();
    let scheduled = store.run_deployment(d.id, None).await.unwrap().unwrap();
    let cancelled = client.cancel_flow_run(scheduled.id).await.unwrap();
    let state = cancelled.state.unwrap();
    assert_eq!(state.name, "Cancelled");
    assert_eq!(state.message.as_deref(), Some("cancelled by user"));
    let again = client.cancel_flow_run(scheduled.id).await.unwrap_err();
    assert!(again.to_string().contains("already Cancelled"), "{again}");

    // A plain process (this one) reporting to the server.
    flowcore::config::set_for_process("api-url", Some(&server.api_url())).unwrap();
    flowcore::testing::apply_settings();
    let running = tokio::spawn(waits_long.run());
    let deadline = Instant::now() + Duration::from_secs(15);
    let id = loop {
        assert!(
            Instant::now() < deadline,
            "the run never showed Running on the server"
        );
        let runs = client
            .flow_runs(&flowcore::api_client::FlowRunsQuery::default())
            .await
            .unwrap()
            .results;
        if let Some(run) = runs.iter().find(|r| {
            r.flow_name == "waits_long" && r.state.as_ref().is_some_and(|s| s.name == "Running")
        }) {
            break run.id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let asked = Instant::now();
    assert_eq!(
        client
            .cancel_flow_run(id)
            .await
            .unwrap()
            .state
            .unwrap()
            .name,
        "Cancelling"
    );
    let state = running.await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(state.state().kind, StateType::Cancelled);
    let stored = client.flow_run(id).await.unwrap();
    assert_eq!(stored.state.unwrap().name, "Cancelled");
    flowcore::config::set_for_process("api-url", None).unwrap();
    flowcore::testing::apply_settings();
    drop(harness);
    server.stop().await;
}
