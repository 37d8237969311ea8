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

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowcore::event::{Event, RunRef};
use flowcore::server::{Server, ServerConfig};
use flowcore::State;
use uuid::Uuid;

#[path = "support/events.rs"]
mod events;

const TASKS: usize = 1_000;

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
    let (_, created) = events::flow_run_created(flow_run_id, "ingest-bench", "ingest");
    post(body(&[created]));

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(3 * TASKS as u64));
    group.bench_function("new_task_runs", |b| {
        b.iter_batched(
            || body(&events::completed_task_runs(flow_run_id, TASKS)),
            post,
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("state_updates", |b| {
        b.iter_batched(
            || {
                let runs: Vec<(RunRef, Event)> = (0..TASKS)
                    .map(|i| events::task_run_created(flow_run_id, i))
                    .collect();
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
