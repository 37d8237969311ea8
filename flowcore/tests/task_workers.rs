//! Task workers on the embedded record (SQLite), worker and sender in one process: delayed runs,
//! retries on the worker, a `Distributed` flow's graph, and what the record says of them.

#[path = "../examples/task_workers/tasks.rs"]
#[allow(dead_code)]
mod tasks;

use std::time::Duration;

use flowcore::prelude::*;
use flowcore::store::Store;
use flowcore::task_worker::TaskWorker;
use tokio::sync::oneshot;

/// Not a serde type: a task taking it cannot be sent to a worker and runs where it is called.
struct Local(i64);

#[task]
fn unwrap_local(l: Local) -> i64 {
    l.0
}

#[flow(task_runner = Distributed)]
async fn distributed(n: i64) -> Result<(i64, i64), FlowError> {
    let squares = tasks::square::map(1..=n);
    let mut total = tasks::add(0, 0).submit();
    for s in squares {
        total = tasks::add(total, s).submit();
    }
    let local = unwrap_local(Local(5)).submit();
    Ok((total.await?, local.await?))
}

/// The tests share the harness's record: one at a time, so each one's worker runs its runs.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn start_worker(limit: usize) -> (oneshot::Sender<()>, tokio::task::JoinHandle<u64>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = TaskWorker::new(tasks::all())
        .limit(limit)
        .lease(Duration::from_secs(5));
    let handle = tokio::spawn(async move {
        worker
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("the worker runs")
    });
    (stop, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delayed_runs_and_a_distributed_flow_run_on_a_task_worker() {
    let _serial = SERIAL.lock().await;
    let harness = flowcore::testing::harness();
    let (stop, worker) = start_worker(4);

    // Delayed runs: their futures give the values the worker computed.
    let futures: Vec<_> = (0..20).map(tasks::square::delay).collect();
    let mut values = Vec::new();
    for f in &futures {
        values.push(f.clone().await.unwrap());
    }
    assert_eq!(values, (0..20).map(|i| i * i).collect::<Vec<_>>());
    let run = futures[3].task_run();
    let names: Vec<_> = run.history.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["Scheduled", "Running", "Completed"], "{names:?}");

    // Retries happen on the worker: the first attempt fails, the second completes.
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("flaky").to_string_lossy().into_owned();
    let flaky = tasks::flaky::delay(ran.clone());
    assert_eq!(flaky.clone().await.unwrap(), "second attempt");
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 2);
    let names: Vec<_> = flaky
        .task_run()
        .history
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Scheduled",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );

    // A Distributed flow: its graph (map, upstream futures) runs on the worker; a task whose
    // parameter is not a serde type runs here.
    let state = distributed.run(6).await;
    let flow_run_id = state.flow_run().id;
    assert!(state
        .task_runs()
        .iter()
        .all(|t| t.history.last().is_some_and(|s| s.name == "Completed")));
    assert_eq!(state.result().unwrap(), (91, 5));

    stop.send(()).unwrap();
    let ran = worker.await.unwrap();
    // 20 squares, 1 flaky, 6 squares + 7 adds in the flow (the local task ran here).
    assert_eq!(ran, 34);

    // The record has the worker's states under the sender's runs.
    flowcore::event::flush().await;
    let store = Store::connect(&harness.database_url()).await.unwrap();
    let flow_run = store
        .flow_run(&flow_run_id.to_string())
        .await
        .unwrap()
        .expect("the flow run is recorded");
    assert_eq!(flow_run.state.unwrap().name, "Completed");
    let task_runs = store.task_runs(flow_run_id).await.unwrap();
    assert_eq!(task_runs.len(), 14);
    for t in &task_runs {
        let s = t.state.as_ref().expect("a state");
        assert_eq!(s.name, "Completed", "{}", t.name);
        // Sent runs ran on the worker: their start is recorded there.
        assert!(t.start_time.is_some(), "{}", t.name);
    }
    let counts = store.task_queue_counts().await.unwrap();
    assert!(counts.iter().all(|c| c.status == "done"), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_bad_arguments_fails_on_the_worker_naming_the_parameter() {
    let _serial = SERIAL.lock().await;
    let _harness = flowcore::testing::harness();
    let store = Store::connect(&_harness.database_url()).await.unwrap();
    let id = uuid::Uuid::now_v7();
    store
        .enqueue_tasks(&[flowcore::schemas::task_queue::QueuedTask {
            task_run_id: id,
            task: "square".into(),
            task_run_name: "square-bad".into(),
            flow_run_id: None,
            parameters: serde_json::json!({"x": "seven"}),
            tags: Vec::new(),
            retries: 0,
            storage_key: id.simple().to_string(),
            cache_key: None,
            cache_expiration_seconds: None,
        }])
        .await
        .unwrap();
    let (stop, worker) = start_worker(1);
    let outcome = loop {
        let found = store.task_outcomes(&[id]).await.unwrap();
        if let Some(o) = found.into_iter().next() {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send(()).unwrap();
    worker.await.unwrap();
    let state = outcome.state().unwrap();
    assert_eq!(state.name, "Failed");
    let message = state.message.clone().unwrap_or_default();
    assert!(message.contains("parameter `x`"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_lease_keeps_it() {
    let _serial = SERIAL.lock().await;
    let _harness = flowcore::testing::harness();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = TaskWorker::new(tasks::all()).lease(Duration::from_millis(600));
    let worker = tokio::spawn(async move {
        worker
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran").to_string_lossy().into_owned();
    let value = tasks::slow_once::delay(1, 2000, ran.clone()).await.unwrap();
    assert_eq!(value, 1);
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 2);
    stop.send(()).unwrap();
    assert_eq!(worker.await.unwrap(), 1);
}

/// The queue's long polls over HTTP: a claim with nothing queued waits (and answers as soon as a
/// run is queued, well before its deadline); out-of-bounds waits and leases are refused naming
/// the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_queue_api_long_polls_and_checks_its_bounds() {
    use flowcore::api_client::ApiClient;
    use flowcore::schemas::task_queue::{QueuedTask, TaskClaim};
    use flowcore::server::{Server, ServerConfig};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.path().join("q.db")),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = ApiClient::new(&server.api_url(), None);
    let claim = TaskClaim {
        worker: "w".into(),
        tasks: vec!["noop".into()],
        limit: 5,
        lease_seconds: 10.0,
    };
    let waiting = {
        let (client, claim) = (client.clone(), claim.clone());
        tokio::spawn(async move {
            let asked = std::time::Instant::now();
            let got = client
                .claim_tasks(&claim, Duration::from_secs(10))
                .await
                .unwrap();
            (got, asked.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = uuid::Uuid::now_v7();
    client
        .enqueue_tasks(&[QueuedTask {
            task_run_id: id,
            task: "noop".into(),
            task_run_name: "noop-0".into(),
            flow_run_id: None,
            parameters: serde_json::json!({"i": 0}),
            tags: Vec::new(),
            retries: 0,
            storage_key: id.simple().to_string(),
            cache_key: None,
            cache_expiration_seconds: None,
        }])
        .await
        .unwrap();
    let (got, after) = waiting.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].queued.task_run_id, id);
    assert!(after < Duration::from_secs(2), "answered after {after:?}");

    for wait in ["-1", "61", "soon"] {
        let e = client
            .send::<_, serde_json::Value>(
                reqwest::Method::POST,
                &format!("/task_queue/claim?wait={wait}"),
                Some(&claim),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("wait"), "{wait}: {e}");
    }
    let bad_lease = TaskClaim {
        lease_seconds: 0.0,
        ..claim.clone()
    };
    let e = client
        .claim_tasks(&bad_lease, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lease_seconds"), "{e}");
    server.stop().await;
}
