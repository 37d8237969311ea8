//! A task worker (Prefect 3's `serve(tasks)`): runs the queued runs of its tasks that other
//! programs send with `task::delay(…)` or from `#[flow(task_runner = Distributed)]` flows.
//!
//! ```text
//! cargo run -p flowcore --example task_workers -- serve [LIMIT]   # a worker (Ctrl-C stops it)
//! cargo run -p flowcore --example task_workers -- send N          # N delayed runs of `square`
//! cargo run -p flowcore --example task_workers -- flow N          # a Distributed flow of 2N runs
//! cargo run -p flowcore --release --example task_workers -- bench N   # N delayed no-op runs, timed
//! ```
//!
//! Both sides use the record in force (`api-url`, else `database-url`, else the embedded SQLite
//! file) as the queue, and the result storage (`results-dir`) for values.

mod tasks;

use flowcore::prelude::*;
use flowcore::task_worker::TaskWorker;

#[flow(task_runner = Distributed)]
async fn squares(n: i64) -> Result<i64, FlowError> {
    let futures = tasks::square::map(0..n);
    let mut total = 0;
    for f in futures {
        total = tasks::add(total, f).await?;
    }
    Ok(total)
}

/// Sends `n` delayed no-op runs at once and waits for all: prints one JSON line (runs/s, and the
/// latency from sending a run to having its value, p50/p99).
async fn bench(n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let start = std::time::Instant::now();
    let runs: Vec<_> = (0..n)
        .map(|i| {
            let sent = std::time::Instant::now();
            let future = tasks::noop::delay(i);
            tokio::spawn(async move {
                let value = future.await;
                (value, sent.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(runs.len());
    for (i, run) in runs.into_iter().enumerate() {
        let (value, latency) = run.await?;
        if value? != i as u64 {
            return Err(format!("run {i} gave another run's value").into());
        }
        latencies.push(latency.as_secs_f64() * 1000.0);
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{{\"runs\": {n}, \"seconds\": {seconds:.2}, \"runs_per_s\": {:.0}, \"p50_ms\": {:.0}, \"p99_ms\": {:.0}}}",
        n as f64 / seconds,
        at(0.5),
        at(0.99)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let limit = args.get(1).and_then(|l| l.parse().ok()).unwrap_or(10);
            let worker = TaskWorker::new(tasks::all()).limit(limit);
            println!("ready {} {}", worker.worker_name(), std::process::id());
            let ran = worker.serve().await?;
            println!("ran {ran}");
        }
        Some("send") => {
            let n: i64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10);
            let futures: Vec<_> = (0..n).map(tasks::square::delay).collect();
            for (i, f) in futures.into_iter().enumerate() {
                println!("square({i}) = {}", f.await?);
            }
        }
        Some("flow") => {
            let n: i64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10);
            let state = squares.run(n).await;
            println!("sum of squares below {n}: {}", state.result()?);
        }
        Some("bench") => {
            let n: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
            bench(n).await?;
        }
        _ => {
            eprintln!("usage: task_workers serve [LIMIT] | send N | flow N | bench N");
            std::process::exit(2);
        }
    }
    Ok(())
}
