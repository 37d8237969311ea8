//! Criterion bench of flowcore's per-task overhead: one flow run of 100 no-op tasks, awaited in turn
//! (`seq`) or submitted to the Concurrent runner (`submit`), with sync and async task bodies.
//! Throughput is per task, so criterion's "thrpt" reads as tasks per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flowcore::prelude::*;

const TASKS: usize = 100;

#[task]
fn noop(i: usize) -> usize {
    i
}

#[task]
async fn noop_async(i: usize) -> usize {
    i
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("task_overhead");
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
