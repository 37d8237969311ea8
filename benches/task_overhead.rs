//! Criterion bench of flowcore's overhead.
//!
//! - `task_overhead`: one flow run of 1,000 no-op tasks, awaited in turn (`seq`) or submitted to the
//!   Concurrent runner (`submit`), with sync and async task bodies, recording off. Throughput is
//!   per task, so criterion's "thrpt" reads as tasks per second.
//! - `task_overhead_sqlite`: the same with the embedded database recording every run (a fresh
//!   SQLite file in a temporary folder), each flow run's time including the flush at its end. The
//!   goals are ≤ 10 µs per task in turn and ≤ 20 µs submitted, both ways.
//! - `flow_overhead`: a flow run with no task, recording `off` and `sqlite`: what every top-level
//!   flow run costs on top of its tasks (with the database, mostly the final flush's wait).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flowcore::prelude::*;

const TASKS: usize = 1000;

#[task]
fn noop(i: usize) -> usize {
    i
}

#[task]
async fn noop_async(i: usize) -> usize {
    i
}

#[flow(name = "bench empty")]
async fn empty_flow() -> Result<(), FlowError> {
    Ok(())
}

#[flow(name = "bench seq")]
async fn seq_flow(n: usize, asynchronous: bool) -> Result<usize, FlowError> {
    let mut sum = 0;
    for i in 0..n {
        sum += if asynchronous {
            noop_async(i).await?
        } else {
            noop(i).await?
        };
    }
    Ok(sum)
}

#[flow(name = "bench submit")]
async fn submit_flow(n: usize, asynchronous: bool) -> Result<usize, FlowError> {
    let mut sum = 0;
    if asynchronous {
        let futures: Vec<_> = (0..n).map(|i| noop_async(i).submit()).collect();
        for f in futures {
            sum += f.await?;
        }
    } else {
        let futures: Vec<_> = (0..n).map(|i| noop(i).submit()).collect();
        for f in futures {
            sum += f.await?;
        }
    }
    Ok(sum)
}

fn task_overhead(c: &mut Criterion) {
    std::env::set_var("FLOWCORE_LOGGING_LEVEL", "warning");
    // Nothing is recorded by default here; the SQLite groups attach their own sink.
    std::env::set_var("FLOWCORE_RECORD", "off");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    tasks_group(c, &rt, "task_overhead");
    let mut flows = c.benchmark_group("flow_overhead");
    flows.bench_function("off", |b| {
        b.iter(|| assert!(rt.block_on(empty_flow.run()).is_completed()))
    });

    let dir = tempfile::tempdir().unwrap();
    let url = flowcore::store::sqlite_url(&dir.path().join("flowcore.db"));
    let sink: std::sync::Arc<dyn flowcore::event::EventSink> =
        std::sync::Arc::new(flowcore::store::StoreSink::new(url).unwrap());
    flowcore::event::add_sink(sink.clone());
    flows.bench_function("sqlite", |b| {
        b.iter(|| assert!(rt.block_on(empty_flow.run()).is_completed()))
    });
    flows.finish();
    tasks_group(c, &rt, "task_overhead_sqlite");
    flowcore::event::remove_sink(&sink);
}

fn tasks_group(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(TASKS as u64));
    for asynchronous in [false, true] {
        let body = if asynchronous { "async" } else { "sync" };
        group.bench_with_input(BenchmarkId::new("seq", body), &asynchronous, |b, &a| {
            b.iter(|| {
                let state = rt.block_on(seq_flow.run(TASKS, a));
                assert!(state.is_completed());
            })
        });
        group.bench_with_input(BenchmarkId::new("submit", body), &asynchronous, |b, &a| {
            b.iter(|| {
                let state = rt.block_on(submit_flow.run(TASKS, a));
                assert!(state.is_completed());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, task_overhead);
criterion_main!(benches);
