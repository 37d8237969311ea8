//! The store: the same tests against SQLite (a temporary file) and PostgreSQL (a fresh database on
//! 127.0.0.1:5432, dropped afterwards).
#![cfg(feature = "store")]

mod common;

use std::sync::Arc;

use flowcore::event::{self, Event, EventSink, MemorySink};
use flowcore::prelude::*;
use flowcore::store::{sqlite_url, FlowRunFilter, Store};

#[task(retries = 1, retry_delay = 0.001)]
fn flaky_step(x: u32) -> Result<u32, std::io::Error> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if CALLS
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .is_multiple_of(2)
    {
        return Err(std::io::Error::other("first try fails"));
    }
    tracing::info!("step {x} done");
    Ok(x)
}

#[task]
fn broken(x: u32) -> Result<u32, std::io::Error> {
    Err(std::io::Error::other(format!("cannot handle {x}")))
}

#[flow(name = "Stored flow", tags = ["ml"])]
async fn stored_flow(x: u32) -> Result<u32, FlowError> {
    let a = flaky_step(x).submit();
    let b = flaky_step(&a).submit();
    Ok(b.await?)
}

#[flow(name = "Failing stored flow")]
async fn failing_stored_flow(x: u32) -> Result<u32, FlowError> {
    Ok(broken(x).await?)
}

/// Runs both flows with a memory sink attached and returns the events they reported.
async fn recorded_events() -> (Vec<Event>, uuid::Uuid, uuid::Uuid) {
    // One recording at a time: `flaky_step` alternates failure and success process-wide.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_AT_A_TIME.lock().await;
    let sink = Arc::new(MemorySink::new());
    event::add_sink(sink.clone());
    let ok = stored_flow.run(3).await;
    let failed = failing_stored_flow.run(4).await;
    let sink_dyn: Arc<dyn EventSink> = sink.clone();
    event::remove_sink(&sink_dyn);
    assert!(ok.is_completed(), "{:?}", ok.message());
    assert!(failed.is_failed());
    let ids = [ok.flow_run().id, failed.flow_run().id];
    let task_ids: Vec<_> = ok
        .task_runs()
        .iter()
        .chain(failed.task_runs())
        .map(|t| t.id)
        .collect();
    let events = sink
        .events()
        .into_iter()
        .filter(|e| match e {
            Event::FlowRunCreated { run, .. } => ids.contains(&run.id),
            Event::TaskRunCreated { run, .. } | Event::StateChanged { run, .. } => {
                ids.contains(&run.id) || task_ids.contains(&run.id)
            }
            Event::Log(l) => ids.contains(&l.run.id) || task_ids.contains(&l.run.id),
        })
        .collect();
    (events, ids[0], ids[1])
}

async fn exercise(store: &Store) {
    let (events, ok_id, failed_id) = recorded_events().await;
    // Written in two batches, as the reporter would.
    let (first, second) = events.split_at(events.len() / 2);
    store.write(first).await.unwrap();
    store.write(second).await.unwrap();

    let all = store.flow_runs(&FlowRunFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, failed_id, "newest first");
    let ok = store.flow_run(&ok_id.to_string()).await.unwrap().unwrap();
    assert_eq!(ok.flow_name, "Stored flow");
    assert_eq!(ok.tags, ["ml"]);
    assert_eq!(ok.parameters, serde_json::json!({"x": 3}));
    assert!(ok.state.as_ref().unwrap().is_completed());
    assert_eq!(ok.task_run_count, 2);
    assert_eq!(ok.attempts, 1);
    assert!(ok.end_time.unwrap() >= ok.start_time.unwrap());
    // By name and by id prefix too.
    assert_eq!(store.flow_run(&ok.name).await.unwrap().unwrap().id, ok_id);
    let prefix = &ok_id.to_string()[..30];
    assert_eq!(store.flow_run(prefix).await.unwrap().unwrap().id, ok_id);
    assert!(store.flow_run("no-such-run").await.unwrap().is_none());

    let failed = store
        .flow_runs(&FlowRunFilter {
            states: vec!["failed".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, failed_id);
    assert!(failed[0]
        .state
        .as_ref()
        .unwrap()
        .message
        .as_deref()
        .unwrap()
        .contains("cannot handle 4"));
    let by_flow = store
        .flow_runs(&FlowRunFilter {
            flows: vec!["Stored flow".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_flow.len(), 1);

    let tasks = store.task_runs(ok_id).await.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].name, "flaky_step-0");
    assert_eq!(
        tasks[1].inputs,
        vec![flowcore::store::StoredInput {
            parameter: "x".to_string(),
            upstream_id: tasks[0].id,
            upstream_name: Some("flaky_step-0".to_string()),
            kind: "parameter".to_string()
        }]
    );
    // Every attempt is in the history.
    let history: Vec<String> = store
        .states(tasks[0].id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(
        history,
        [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );
    assert_eq!(tasks[0].attempts, 2);

    let logs = store.logs(ok_id).await.unwrap();
    assert!(logs
        .iter()
        .any(|l| l.message == "step 3 done" && l.level == "INFO"));
    assert!(logs
        .iter()
        .any(|l| l.message.starts_with("Finished in state Completed()")));
    let logs = store.logs(failed_id).await.unwrap();
    assert!(logs
        .iter()
        .any(|l| l.level == "ERROR" && l.message.contains("cannot handle 4")));

    // The store gives back every line that was reported, once: a task run's "Finished in state …"
    // line is not a log row but its history's final state, and reads back the same.
    for flow_run_id in [ok_id, failed_id] {
        // The store keeps times to the microsecond.
        let mut reported: Vec<(uuid::Uuid, String, String, i64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Log(l) if l.flow_run_id.or(l.run.flow_run_id) == Some(flow_run_id) => {
                    Some((
                        l.run.id,
                        l.level.as_str().to_string(),
                        l.message.clone(),
                        l.timestamp.timestamp_micros(),
                    ))
                }
                _ => None,
            })
            .collect();
        let logs = store.logs(flow_run_id).await.unwrap();
        let mut read: Vec<_> = logs
            .iter()
            .map(|l| {
                (
                    l.run_id,
                    l.level.clone(),
                    l.message.clone(),
                    l.timestamp.timestamp_micros(),
                )
            })
            .collect();
        assert!(
            read.windows(2).all(|w| w[0].3 <= w[1].3),
            "in time order: {read:#?}"
        );
        // Each task run's lines end with its "Finished" line.
        for task in store.task_runs(flow_run_id).await.unwrap() {
            let own: Vec<&str> = logs
                .iter()
                .filter(|l| l.run_id == task.id)
                .map(|l| l.message.as_str())
                .collect();
            assert!(
                own.last().unwrap().starts_with("Finished in state "),
                "{own:?}"
            );
            let task_logs = store.task_run_logs(task.id).await.unwrap();
            let task_lines: Vec<&str> = task_logs.iter().map(|l| l.message.as_str()).collect();
            assert_eq!(task_lines, own);
        }
        reported.sort();
        read.sort();
        assert_eq!(read, reported);
    }

    // Writing the same creation events again does not duplicate runs.
    let creations: Vec<Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::FlowRunCreated { .. } | Event::TaskRunCreated { .. }
            )
        })
        .cloned()
        .collect();
    store.write(&creations).await.unwrap();
    assert_eq!(
        store
            .flow_runs(&FlowRunFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );

    store.reset().await.unwrap();
    assert!(store
        .flow_runs(&FlowRunFilter::default())
        .await
        .unwrap()
        .is_empty());
}

#[task]
fn logged(i: usize) -> usize {
    tracing::info!("item {i}");
    i
}

#[flow(name = "Big flow")]
async fn big_flow(n: usize) -> Result<usize, FlowError> {
    let mut sum = 0;
    for i in 0..n {
        sum += logged(i).await?;
    }
    Ok(sum)
}

/// A batch too big to go as one query (statements encoded while the one before executes) and a
/// small one (one query of several statements on SQLite) record the same.
async fn big_and_small_batches(store: &Store) {
    const N: usize = 1200;
    let sink = Arc::new(MemorySink::new());
    event::add_sink(sink.clone());
    let state = big_flow.run(N).await;
    let sink_dyn: Arc<dyn EventSink> = sink.clone();
    event::remove_sink(&sink_dyn);
    assert!(state.is_completed());
    let id = state.flow_run().id;
    let tasks: std::collections::HashSet<uuid::Uuid> =
        state.task_runs().iter().map(|t| t.id).collect();
    let events: Vec<Event> = sink
        .events()
        .into_iter()
        .filter(|e| match e {
            Event::FlowRunCreated { run, .. } => run.id == id,
            Event::TaskRunCreated { run, .. } | Event::StateChanged { run, .. } => {
                run.id == id || tasks.contains(&run.id)
            }
            Event::Log(l) => l.run.id == id || tasks.contains(&l.run.id),
        })
        .collect();
    // The first 40 task runs' events go alone (a small batch), the rest in one big one.
    let split = events
        .iter()
        .position(|e| matches!(e, Event::TaskRunCreated { run, .. } if &*run.name == "logged-40"))
        .unwrap();
    store.write(&events[..split]).await.unwrap();
    store.write(&events[split..]).await.unwrap();

    let run = store.flow_run(&id.to_string()).await.unwrap().unwrap();
    assert!(run.state.unwrap().is_completed());
    assert_eq!(run.task_run_count, N as i64);
    let task_runs = store.task_runs(id).await.unwrap();
    assert_eq!(task_runs.len(), N);
    assert!(task_runs
        .iter()
        .all(|t| t.state.as_ref().unwrap().is_completed() && t.attempts == 1));
    let logs = store.logs(id).await.unwrap();
    // Two flow-run lines, and per task run its own line and its "Finished" line, in order.
    assert_eq!(logs.len(), 2 + 2 * N, "{:?}", &logs[..4]);
    for (i, pair) in logs[1..logs.len() - 1].chunks(2).enumerate() {
        assert_eq!(pair[0].message, format!("item {i}"));
        assert_eq!(
            pair[0].run_name.as_deref(),
            Some(format!("logged-{i}").as_str())
        );
        assert_eq!(pair[1].message, "Finished in state Completed()");
        assert_eq!(pair[1].run_id, pair[0].run_id);
    }
    store.reset().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&sqlite_url(&dir.path().join("runs.db")))
        .await
        .unwrap();
    exercise(&store).await;
    big_and_small_batches(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store() {
    let db = common::FreshPostgres::create("flowcore_test").await;
    {
        let store = Store::connect(&db.url).await.unwrap();
        exercise(&store).await;
        big_and_small_batches(&store).await;
    }
    db.drop().await;
}

#[tokio::test]
async fn an_unknown_database_url_is_a_clear_error() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported database URL \"mysql://localhost/x\""),
        "{err}"
    );
}
