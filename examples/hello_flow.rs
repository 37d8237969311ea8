//! The course's flaky task: it fails about half the time, and `retries = 3` gets it through (almost
//! always). Prints the flow's final state and each task run's attempts.
//!
//! ```text
//! cargo run --example hello_flow
//! ```

use flowcore::prelude::*;

/// Fails about half the time, like the course's `random_fail` task.
#[task(name = "flaky", tags = ["demo"], retries = 3, retry_delay = 0.2)]
fn flaky(attempt_label: String) -> Result<u32, std::io::Error> {
    let roll = fastrand::u32(..100);
    if fastrand::bool() {
        tracing::warn!("{attempt_label}: the coin came up tails");
        return Err(std::io::Error::other("the coin came up tails"));
    }
    tracing::info!("{attempt_label}: heads");
    Ok(roll % 100)
}

#[task]
fn greet(name: String) -> String {
    let greeting = format!("Hello, {name}!");
    tracing::info!("{greeting}");
    greeting
}

#[flow(name = "Hello flow")]
async fn hello_flow(name: String) -> Result<String, FlowError> {
    let greeting = greet(name).await?;
    let luck = flaky("first".to_string()).submit();
    let more = flaky("second".to_string()).submit();
    Ok(format!(
        "{greeting} Your numbers: {} and {}",
        luck.await?,
        more.await?
    ))
}

fn main() -> anyhow::Result<()> {
    let state = hello_flow.run_blocking("Marvin".to_string());
    println!();
    println!(
        "Flow run '{}' finished in state {}",
        state.flow_run().name,
        state.state()
    );
    for run in state.task_runs() {
        let history: Vec<_> = run.history.iter().map(|s| s.name.to_string()).collect();
        println!(
            "  task run {:<10} {:<12} attempts: {}  states: {}",
            run.name,
            run.state().name,
            run.attempts,
            history.join(" → ")
        );
    }
    let output = state.result()?;
    println!("{output}");
    Ok(())
}
