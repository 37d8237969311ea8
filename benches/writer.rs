//! The store's writer alone: batches of reported events written by `Store::write`, with no
//! runtime, reporter, HTTP or JSON in the way — what recording costs the database side.
//!
//! ```text
//! cargo bench --bench writer
//! ```
//! Each iteration writes one batch of 1,000 task runs with fresh ids, each created and taken
//! through Pending → Running → Completed in the batch (4,000 events): the shape a flow of short
//! tasks reports. Throughput is in events per second.
//!
//! * `writer/sqlite`: the embedded record's SQLite file (WAL, as the runtime opens it);
//! * `writer/sqlite_sink`: the same file through `StoreSink`, the embedded record's own path (its
//!   writer thread; the batch's new task runs through the SQLite fast path), 4,000 task runs
//!   (16,000 events, about the writer's batch) per iteration, timed to the sink's flush;
//! * `writer/postgres`: a fresh database on the PostgreSQL server at `FLOWCORE_BENCH_PG`
//!   (default `postgres://postgres@127.0.0.1:5432/test`, trust auth), created for the run and
//!   dropped after it. Skipped, with a line on stderr, when no server answers there.
//!
//! The table grows over the run (criterion's warm-up and samples add up to some hundred thousand
//! task runs), as a long-lived record does.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowcore::event::{Event, EventSink};
use flowcore::store::Store;
use flowcore::State;
use sqlx::Connection;
use uuid::Uuid;

#[path = "support/events.rs"]
mod events;

const TASKS: usize = 1_000;
/// Task runs per batch handed to the sink: the store writer writes when 16,384 events wait.
const SINK_TASKS: usize = 4_000;
const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A flow run's creation and start, so the task runs have a parent.
fn flow_run() -> (Uuid, Vec<Event>) {
    let id = Uuid::now_v7();
    let (run, created) = events::flow_run_created(id, "writer-bench", "writer-bench");
    let running = Event::StateChanged {
        run,
        state: State::running(),
    };
    (id, vec![created, running])
}

fn bench_store(c: &mut Criterion, runtime: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let (flow_run_id, setup) = flow_run();
    runtime
        .block_on(store.write(&setup))
        .expect("the flow run is written");
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(4 * TASKS as u64));
    group.bench_function(name, |b| {
        b.iter_batched(
            || events::completed_task_runs(flow_run_id, TASKS),
            |events| {
                runtime
                    .block_on(store.write(&events))
                    .expect("the batch is written")
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn bench_sink(c: &mut Criterion, runtime: &tokio::runtime::Runtime, url: &str) {
    let sink = flowcore::store::StoreSink::new(url).expect("the store writer starts");
    let (flow_run_id, setup) = flow_run();
    sink.handle(&setup);
    sink.flush();
    let store = runtime
        .block_on(Store::connect(url))
        .expect("the SQLite record opens");
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(4 * SINK_TASKS as u64));
    group.bench_function("sqlite_sink", |b| {
        b.iter_batched(
            || events::completed_task_runs(flow_run_id, SINK_TASKS),
            |events| {
                sink.handle(&events);
                sink.flush();
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    // Everything handed over was written.
    let written = runtime
        .block_on(store.task_runs(flow_run_id))
        .expect("the task runs read back");
    assert!(written.len() >= SINK_TASKS, "{} task runs", written.len());
}

/// A fresh database on the PostgreSQL server, or why there is none.
async fn fresh_postgres(admin_url: &str) -> Result<(sqlx::PgConnection, String, String), String> {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| format!("cannot connect to {admin_url}: {e}"))?;
    let name = format!("flowcore_writer_bench_{}", Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("cannot create database {name}: {e}"))?;
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => return Err(format!("{admin_url} names no database")),
    };
    Ok((admin, name, url))
}

fn writer(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let url = flowcore::store::sqlite_url(&dir.path().join("writer.db"));
    let sqlite = runtime
        .block_on(Store::connect(&url))
        .expect("the SQLite record opens");
    bench_store(c, &runtime, "sqlite", &sqlite);
    drop(sqlite);
    let sink_url = flowcore::store::sqlite_url(&dir.path().join("sink.db"));
    bench_sink(c, &runtime, &sink_url);

    let admin_url = std::env::var("FLOWCORE_BENCH_PG").unwrap_or_else(|_| PG_DEFAULT.into());
    match runtime.block_on(fresh_postgres(&admin_url)) {
        Ok((mut admin, name, url)) => {
            let postgres = runtime
                .block_on(Store::connect(&url))
                .expect("the PostgreSQL record opens");
            bench_store(c, &runtime, "postgres", &postgres);
            drop(postgres);
            runtime
                .block_on(
                    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin),
                )
                .expect("the bench database is dropped");
        }
        Err(why) => eprintln!("writer/postgres skipped: {why}"),
    }
}

criterion_group!(benches, writer);
criterion_main!(benches);
