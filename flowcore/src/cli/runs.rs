//! `flowcore flow-run …` and `flowcore task-run …`: the record of runs, read from the database.

use std::io::Write;

use super::args::{FlowRunAction, TaskRunAction};
use crate::store::{FlowRunFilter, Store, StoredFlowRun};

fn state_label(run: &StoredFlowRun) -> String {
    run.state
        .as_ref()
        .map_or_else(|| "-".to_string(), |s| s.name.to_string())
}

/// A run's duration in seconds, `running` or `-`.
fn duration(
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!(
            "{:.3}s",
            (e - s).num_microseconds().unwrap_or(0) as f64 / 1e6
        ),
        (Some(_), None) => "running".into(),
        _ => "-".into(),
    }
}

/// The run database of the settings (created on SQLite).
pub(crate) async fn open() -> anyhow::Result<Store> {
    let url = crate::config::database_url()?;
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(crate::config::home())?;
    }
    Store::connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the run database {url}: {e}"))
}

async fn find(store: &Store, key: &str) -> anyhow::Result<StoredFlowRun> {
    store.flow_run(key).await?.ok_or_else(|| {
        anyhow::anyhow!("no flow run with id or name {key:?} (or the prefix is ambiguous)")
    })
}

/// Runs a `flow-run` command.
pub(crate) async fn flow_run(action: FlowRunAction, out: &mut impl Write) -> anyhow::Result<()> {
    let store = open().await?;
    match action {
        FlowRunAction::Ls {
            state,
            flow,
            limit,
            json,
        } => {
            let runs = store
                .flow_runs(&FlowRunFilter {
                    states: state.into_iter().collect(),
                    flows: flow.into_iter().collect(),
                    limit: Some(limit),
                    ..FlowRunFilter::default()
                })
                .await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
            } else if runs.is_empty() {
                writeln!(out, "No flow runs. Run a flow to get started.")?;
            } else {
                writeln!(
                    out,
                    "{:<36}  {:<34}  {:<12}  {:<24}  {:>9}  {:>5}",
                    "ID", "FLOW › RUN", "STATE", "STARTED", "DURATION", "TASKS"
                )?;
                for r in &runs {
                    writeln!(
                        out,
                        "{:<36}  {:<34}  {:<12}  {:<24}  {:>9}  {:>5}",
                        r.id,
                        format!("{} › {}", r.flow_name, r.name),
                        state_label(r),
                        r.start_time
                            .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                        duration(r.start_time, r.end_time),
                        r.task_run_count
                    )?;
                }
            }
        }
        FlowRunAction::Inspect { id, json } => {
            let run = find(&store, &id).await?;
            let states = store.states(run.id).await?;
            let tasks = store.task_runs(run.id).await?;
            if json {
                let value =
                    serde_json::json!({"flow_run": run, "states": states, "task_runs": tasks});
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                writeln!(out, "{} › {}  ({})", run.flow_name, run.name, run.id)?;
                if let Some(s) = &run.state {
                    writeln!(out, "state:      {s}")?;
                }
                writeln!(out, "parameters: {}", run.parameters)?;
                writeln!(out, "tags:       {}", run.tags.join(", "))?;
                writeln!(
                    out,
                    "duration:   {}",
                    duration(run.start_time, run.end_time)
                )?;
                writeln!(out, "history:")?;
                for s in &states {
                    writeln!(out, "  {}  {s}", s.timestamp.format("%H:%M:%S%.3f"))?;
                }
                writeln!(out, "task runs:")?;
                for t in &tasks {
                    let state = t.state.as_ref().map_or("-".to_string(), |s| s.to_string());
                    let inputs: Vec<String> = t
                        .inputs
                        .iter()
                        .map(|input| {
                            let name = tasks
                                .iter()
                                .find(|x| x.id == input.upstream_id)
                                .map_or(input.upstream_id.to_string(), |x| x.name.clone());
                            format!("{}←{name}", input.parameter)
                        })
                        .collect();
                    writeln!(
                        out,
                        "  {:<30} {state}  attempts={}  {}",
                        t.name,
                        t.attempts,
                        inputs.join(", ")
                    )?;
                }
            }
        }
        FlowRunAction::Logs { id } => {
            let run = find(&store, &id).await?;
            let tasks = store.task_runs(run.id).await?;
            for log in store.logs(run.id).await? {
                let who = if log.run_id == run.id {
                    format!("Flow run '{}'", run.name)
                } else {
                    let name = tasks
                        .iter()
                        .find(|t| t.id == log.run_id)
                        .map_or(log.run_id.to_string(), |t| t.name.clone());
                    format!("Task run '{name}'")
                };
                let local = log.timestamp.with_timezone(&chrono::Local);
                writeln!(
                    out,
                    "{} | {:<7} | {who} - {}",
                    local.format("%H:%M:%S%.3f"),
                    log.level,
                    log.message
                )?;
            }
        }
    }
    Ok(())
}

/// Runs a `task-run` command.
pub(crate) async fn task_run(action: TaskRunAction, out: &mut impl Write) -> anyhow::Result<()> {
    let TaskRunAction::Ls { flow_run, json } = action;
    let store = open().await?;
    let run = find(&store, &flow_run).await?;
    let tasks = store.task_runs(run.id).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&tasks)?)?;
    } else {
        writeln!(
            out,
            "{:<36}  {:<30}  {:<14}  {:>8}  {:>9}",
            "ID", "NAME", "STATE", "ATTEMPTS", "DURATION"
        )?;
        for t in &tasks {
            writeln!(
                out,
                "{:<36}  {:<30}  {:<14}  {:>8}  {:>9}",
                t.id,
                t.name,
                t.state
                    .as_ref()
                    .map_or("-".to_string(), |s| s.name.to_string()),
                t.attempts,
                duration(t.start_time, t.end_time)
            )?;
        }
    }
    Ok(())
}
