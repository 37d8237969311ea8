//! What the course's example programs share: the bundled sample, printing run records, JSON reports.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use flowcore::{FlowState, TaskRun};

/// A file of the sample bundled with the repository (20,000 trips a month, yellow 2021-01..03).
pub fn sample(month: &str, ext: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mlpipeline/tests/data")
        .join(format!("yellow_tripdata_sample_{month}.{ext}"))
}

/// One line per task run: name, final state, attempts, and the upstream runs that fed it. A subflow's
/// task runs follow its line, indented.
fn print_task_runs(all: &[&TaskRun], flow_run_id: Option<uuid::Uuid>, depth: usize) {
    for run in all.iter().filter(|r| r.flow_run_id == flow_run_id) {
        let inputs: Vec<String> = run
            .inputs
            .iter()
            .map(|i| format!("{}←{}", i.parameter, i.upstream_name))
            .collect();
        let attempts = if run.attempts > 1 {
            format!(" after {} attempts", run.attempts)
        } else {
            String::new()
        };
        let name = format!("{}{}", "  ".repeat(depth), run.name);
        println!(
            "  {:<34} {}{attempts}{}",
            name,
            run.state(),
            if inputs.is_empty() {
                String::new()
            } else {
                format!("   inputs: {}", inputs.join(", "))
            }
        );
        if let Some(child) = run.subflow_run_id {
            print_task_runs(all, Some(child), depth + 1);
        }
    }
}

/// Prints every task run under the flow run (subflows included, indented under theirs) and the flow
/// run's final state.
pub fn print_record<T>(state: &FlowState<T>) {
    println!();
    let runs: Vec<&TaskRun> = state.all_task_runs().collect();
    print_task_runs(&runs, Some(state.flow_run().id), 0);
    println!(
        "flow run '{}' ({}) finished in state {}",
        state.flow_run().name,
        state.flow_run().flow_name,
        state.state()
    );
}

/// Writes `value` as JSON to `path` (temp file, then rename).
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, format!("{value}\n"))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `{"state":"Failed","message":".."}` for a run that did not complete.
pub fn failure_json<T>(state: &FlowState<T>) -> serde_json::Value {
    serde_json::json!({
        "state": state.state().name,
        "message": state.message().unwrap_or_default(),
    })
}

/// Writes the JSON report if asked, and exits non-zero unless the flow run completed.
pub fn finish<T>(
    state: &FlowState<T>,
    report: &serde_json::Value,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(path) = json {
        write_json(path, report)?;
    }
    if !state.is_completed() {
        std::process::exit(1);
    }
    Ok(())
}
