//! The same independent tasks under the Sequential and the Concurrent task runner, with wall times.
//!
//! ```text
//! cargo run --example runners
//! ```

use std::time::{Duration, Instant};

use flowcore::prelude::*;

/// A step that takes a while (I/O, a download, a query).
#[task]
fn slow_step(n: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    n
}

#[flow(name = "four steps (sequential)", task_runner = Sequential)]
async fn sequential_flow() -> Result<u64, FlowError> {
    let steps: Vec<_> = (0..4).map(|n| slow_step(n).submit()).collect();
    let mut total = 0;
    for step in steps {
        total += step.await?;
    }
    Ok(total)
}

#[flow(name = "four steps (concurrent)", task_runner = Concurrent)]
async fn concurrent_flow() -> Result<u64, FlowError> {
    let steps: Vec<_> = (0..4).map(|n| slow_step(n).submit()).collect();
    let mut total = 0;
    for step in steps {
        total += step.await?;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let sequential = sequential_flow.run().await;
    let sequential_time = start.elapsed();
    let start = Instant::now();
    let concurrent = concurrent_flow.run().await;
    let concurrent_time = start.elapsed();
    println!();
    println!(
        "four 200 ms tasks, Sequential runner: {sequential_time:>8.0?}  ({})",
        sequential.state()
    );
    println!(
        "four 200 ms tasks, Concurrent runner: {concurrent_time:>8.0?}  ({})",
        concurrent.state()
    );
    sequential.result()?;
    concurrent.result()?;
    Ok(())
}
