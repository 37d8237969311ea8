//! Ingest: task-run state events driven into a SQLite-backed server through the API's batch
//! endpoint (`POST /api/events`), over loopback HTTP, as the runtime's API client sends them.
//!
//! ```text
//! cargo bench --bench ingest
//! ```
//! Two shapes, each a batch of 1,000 task runs with fresh ids every iteration (the server writes
//! each batch once; a resent id would be skipped, so no iteration can hit that shortcut):
//! * `new_task_runs`: each task run created and taken through Pending → Running → Completed in the
//!   batch (4,000 events, 3,000 of them state events) — what a flow of short tasks reports;
//! * `state_updates`: one state event each for 1,000 task runs created by an earlier batch —
//!   long-running tasks moving on.
//!
//! Throughput is reported in state events per second. The request body is built before the timer
//! starts; the timer covers the HTTP round trip, JSON parsing and the SQLite transaction.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowcore::event::{Event, RunKind, RunRef};
use flowcore::server::{Server, ServerConfig};
use flowcore::State;
use uuid::Uuid;

const TASKS: usize = 1_000;

fn run_ref(kind: RunKind, id: Uuid, name: String, flow_run_id: Uuid) -> RunRef {
    RunRef {
        kind,
        id,
        name: Arc::from(name),
        flow_run_id: Some(flow_run_id),
    }
}

fn created(flow_run_id: Uuid, i: usize) -> (RunRef, Event) {
    let run = run_ref(
        RunKind::Task,
        Uuid::now_v7(),
        format!("step-{i}"),
        flow_run_id,
    );
    let event = Event::TaskRunCreated {
        run: run.clone(),
        task_name: "step".into(),
        flow_run_id: Some(flow_run_id),
        tags: Vec::new(),
        inputs: Vec::new(),
        created: chrono::Utc::now(),
    };
    (run, event)
}

fn body(events: &[Event]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "batch_id": Uuid::now_v7(), "events": events }))
        .expect("events serialize")
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = runtime
        .block_on(Server::start(ServerConfig {
            port: 0,
            database_url: flowcore::store::sqlite_url(&dir.path().join("ingest.db")),
            ..ServerConfig::default()
        }))
        .expect("server starts");
    let url = format!("{}/events", server.api_url());
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        runtime.block_on(async {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("server answers");
            assert!(response.status().is_success(), "{}", response.status());
        })
    };

    let flow_run_id = Uuid::now_v7();
    post(body(&[Event::FlowRunCreated {
        run: run_ref(
            RunKind::Flow,
            flow_run_id,
            "ingest-bench".into(),
            flow_run_id,
        ),
        flow_name: "ingest".into(),
        version: None,
        parameters: serde_json::json!({}),
        tags: Vec::new(),
        parent_flow_run_id: None,
        parent_task_run_id: None,
        created: chrono::Utc::now(),
    }]));

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(3 * TASKS as u64));
    group.bench_function("new_task_runs", |b| {
        b.iter_batched(
            || {
                let mut events = Vec::with_capacity(4 * TASKS);
                for i in 0..TASKS {
                    let (run, event) = created(flow_run_id, i);
                    events.push(event);
                    for state in [State::pending(), State::running(), State::completed()] {
                        events.push(Event::StateChanged {
                            run: run.clone(),
                            state,
                        });
                    }
                }
                body(&events)
            },
            post,
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("state_updates", |b| {
        b.iter_batched(
            || {
                let runs: Vec<(RunRef, Event)> =
                    (0..TASKS).map(|i| created(flow_run_id, i)).collect();
                let creations: Vec<Event> = runs.iter().map(|(_, e)| e.clone()).collect();
                post(body(&creations));
                let updates: Vec<Event> = runs
                    .into_iter()
                    .map(|(run, _)| Event::StateChanged {
                        run,
                        state: State::running(),
                    })
                    .collect();
                body(&updates)
            },
            post,
            BatchSize::PerIteration,
        )
    });
    group.finish();
    runtime.block_on(server.stop());
}

criterion_group!(benches, ingest);
criterion_main!(benches);
