//! A task worker (Prefect 3's `serve(tasks)`): runs the queued runs of its tasks that other
//! programs send with `task::delay(…)` or from `#[flow(task_runner = Distributed)]` flows.
//!
//! ```text
//! cargo run -p flowcore --example task_workers -- serve [LIMIT]   # a worker (Ctrl-C stops it)
//! cargo run -p flowcore --example task_workers -- send N          # N delayed runs of `square`
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
        _ => {
            eprintln!("usage: task_workers serve [LIMIT] | send N | flow N");
            std::process::exit(2);
        }
    }
    Ok(())
}
