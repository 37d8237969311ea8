//! Per-task overhead: one flow running N no-op tracked tasks.
//!
//! ```text
//! cargo run --release --example overhead -- --tasks 10000 --mode seq --json overhead.json
//! ```
//! `--mode seq` awaits each task in turn (a plain call); `--mode submit` submits them all to the
//! Concurrent runner and lets the flow wait for them. `--body async` uses an `async fn` task instead of
//! a sync one (sync bodies submitted to the Concurrent runner run on flowcore's worker threads).
//! `--read-task-runs` reads the finished flow's task runs afterwards (their snapshots are made on
//! that first read; the wall time printed does not include it). Prints (and with `--json` writes)
//! `{"tasks":N,"mode":"seq","wall_s":..,"us_per_task":..,"state":"Completed"}`.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use flowcore::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Await each task in turn.
    Seq,
    /// Submit every task, then let the flow wait for them.
    Submit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Body {
    /// `#[task] fn noop`.
    Sync,
    /// `#[task] async fn noop`.
    Async,
}

#[derive(Parser)]
#[command(about = "Measure flowcore's per-task overhead")]
struct Cli {
    /// How many no-op tasks the flow runs.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Plain calls (seq) or submitted tasks (submit).
    #[arg(long, value_enum, default_value_t = Mode::Seq)]
    mode: Mode,
    /// Sync task bodies (run on flowcore's worker threads when submitted) or async ones.
    #[arg(long, value_enum, default_value_t = Body::Sync)]
    body: Body,
    /// Afterwards, read the flow run's task runs (`FlowState::task_runs`: their snapshots are made
    /// on this first read) and check that every one completed.
    #[arg(long)]
    read_task_runs: bool,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[task]
fn noop(i: usize) -> usize {
    i
}

#[task]
async fn noop_async(i: usize) -> usize {
    i
}

#[flow(name = "overhead")]
async fn overhead(tasks: usize, mode: Mode, body: Body) -> Result<usize, FlowError> {
    match (mode, body) {
        (Mode::Seq, Body::Sync) => {
            let mut sum = 0;
            for i in 0..tasks {
                sum += noop(i).await?;
            }
            Ok(sum)
        }
        (Mode::Seq, Body::Async) => {
            let mut sum = 0;
            for i in 0..tasks {
                sum += noop_async(i).await?;
            }
            Ok(sum)
        }
        (Mode::Submit, Body::Sync) => {
            let futures: Vec<_> = (0..tasks).map(|i| noop(i).submit()).collect();
            Ok(futures.len())
        }
        (Mode::Submit, Body::Async) => {
            let futures: Vec<_> = (0..tasks).map(|i| noop_async(i).submit()).collect();
            Ok(futures.len())
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let start = Instant::now();
    let state = overhead.run_blocking(cli.tasks, cli.mode, cli.body);
    let wall = start.elapsed().as_secs_f64();
    if cli.read_task_runs {
        let runs = state.task_runs();
        anyhow::ensure!(
            runs.len() == cli.tasks && runs.iter().all(|r| r.state().is_completed()),
            "expected {} completed task runs, found {} ({} completed)",
            cli.tasks,
            runs.len(),
            runs.iter().filter(|r| r.state().is_completed()).count()
        );
    }
    let report = serde_json::json!({
        "tasks": cli.tasks,
        "mode": cli.mode,
        "body": cli.body,
        "wall_s": wall,
        "us_per_task": wall * 1e6 / cli.tasks.max(1) as f64,
        "state": state.state().name,
    });
    println!("{report}");
    if let Some(path) = &cli.json {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, format!("{report}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    anyhow::ensure!(state.is_completed(), "flow run ended in {}", state.state());
    Ok(())
}
