//! A program whose flows deployments run: an agent starts it with `FLOWCORE_FLOW_RUN_ID` set, and
//! `flowcore::entrypoint()` runs that flow run and exits. The agent tests deploy these flows.
//!
//! ```text
//! cargo run -p flowcore --example deployed_flows   # without an agent: lists its flows
//! ```

use std::time::Duration;

use flowcore::prelude::*;

#[task]
fn double(n: u32) -> u32 {
    tracing::info!("doubling {n}");
    n * 2
}

#[task]
fn nap(seconds: f64) -> f64 {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    seconds
}

/// A quick flow: doubles a number.
#[flow(name = "quick")]
async fn quick(n: u32) -> Result<u32, FlowError> {
    Ok(double(n).await?)
}

/// A slow flow: writes its process id to `pid_file` (when given), then sleeps.
#[flow(name = "sleepy")]
async fn sleepy(seconds: f64, pid_file: Option<String>) -> Result<f64, FlowError> {
    if let Some(path) = pid_file {
        std::fs::write(&path, std::process::id().to_string())?;
    }
    Ok(nap(seconds).await?)
}

#[task]
async fn async_nap(seconds: f64) -> f64 {
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    seconds
}

/// A slow flow of async tasks: cancelling it drops them at once.
#[flow(name = "sleepy-async")]
async fn sleepy_async(seconds: f64) -> Result<f64, FlowError> {
    Ok(async_nap(seconds).await?)
}

/// A step whose result persists: it appends a line to `count_file` each time it really runs.
#[task(persist_result = true)]
fn stage(n: u32, count_file: String) -> Result<u32, std::io::Error> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&count_file)?;
    writeln!(file, "stage ran")?;
    Ok(n + 1)
}

/// Fails while the file `fail_while` exists.
#[task]
fn finish(n: u32, fail_while: String) -> Result<u32, std::io::Error> {
    if std::path::Path::new(&fail_while).exists() {
        return Err(std::io::Error::other(format!(
            "{fail_while} is still there"
        )));
    }
    Ok(n * 10)
}

/// A flow to retry: `stage` persists its result, `finish` fails while `fail_while` exists. Retried
/// (`flowcore flow-run retry`), it does not run `stage` again.
#[flow(name = "resumable")]
async fn resumable(n: u32, count_file: String, fail_while: String) -> Result<u32, FlowError> {
    let staged = stage(n, count_file).await?;
    Ok(finish(staged, fail_while).await?)
}

#[task]
fn step(i: u32, ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    i
}

/// The chaos script's flow (`benches/chaos/`): notes that it ran (its flow run id, one line per
/// execution, appended to `ran_file`), then runs `tasks` steps of `step_ms` each, two at a time.
#[flow(name = "chaos", task_runner = Concurrent)]
async fn chaos(tasks: u32, step_ms: u64, ran_file: String) -> Result<u32, FlowError> {
    use std::io::Write;
    let id = flowcore::runtime::flow_run().map(|r| r.id.to_string());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ran_file)?;
    // One write per line (O_APPEND): processes appending at once never interleave within a line.
    file.write_all(format!("{}\n", id.unwrap_or_default()).as_bytes())?;
    drop(file);
    let mut total = 0;
    for pair in (0..tasks).collect::<Vec<_>>().chunks(2) {
        let futures: Vec<_> = pair.iter().map(|&i| step(i, step_ms).submit()).collect();
        for future in futures {
            total += future.await?;
        }
    }
    Ok(total)
}

fn main() {
    flowcore::entrypoint();
    // `deployed_flows chaos TASKS STEP_MS RAN_FILE`: runs the chaos flow here, not through an
    // agent, and prints its flow run id (the chaos script's direct runs).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, tasks, step_ms, ran_file] = args.as_slice() {
        if mode == "chaos" {
            let (Ok(tasks), Ok(step_ms)) = (tasks.parse(), step_ms.parse()) else {
                eprintln!("usage: deployed_flows chaos TASKS STEP_MS RAN_FILE");
                std::process::exit(2);
            };
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let state = runtime.block_on(chaos.run(tasks, step_ms, ran_file.clone()));
            println!("{} {}", state.flow_run().id, state.task_runs().len());
            std::process::exit(if state.is_completed() { 0 } else { 1 });
        }
    }
    println!("flows in this program (run them through a deployment and an agent):");
    for flow in flowcore::registry::flows() {
        println!(
            "  {}  parameters: {}",
            flow.name(),
            flow.parameters_schema()["properties"]
        );
    }
}
