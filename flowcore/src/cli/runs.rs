//! `flowcore flow-run …` and `flowcore task-run …`: the record of runs, read from the database.

use std::io::Write;

use super::args::{FlowRunAction, TaskRunAction};
use super::source::Source;
use crate::api_client::FlowRunsQuery;
use crate::schemas::records::{StoredFlowRun, StoredLog};

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

/// Runs a `flow-run` command.
pub(crate) async fn flow_run(action: FlowRunAction, out: &mut impl Write) -> anyhow::Result<()> {
    let store = Source::open().await?;
    match action {
        FlowRunAction::Ls {
            state,
            flow,
            deployment,
            tag,
            since,
            limit,
            json,
        } => {
            let query = FlowRunsQuery {
                states: state,
                flows: flow,
                deployments: deployment,
                tags: tag,
                since,
                limit: Some(limit),
                ..FlowRunsQuery::default()
            };
            let runs = store.flow_runs(&query).await?;
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
            let run = store.find(&id).await?;
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
        FlowRunAction::Cancel { id } => {
            let run = store.find(&id).await?;
            let now = store.cancel(run.id).await?;
            let state = state_name(&now);
            let after = if state == "Cancelling" {
                "; its process stops it and it ends Cancelled"
            } else {
                ""
            };
            writeln!(
                out,
                "Cancelled flow run '{}' ({}): it is {state}{after}",
                now.name, now.id
            )?;
        }
        FlowRunAction::Retry { id } => {
            let run = store.find(&id).await?;
            let now = store.retry(run.id).await?;
            let after = match &now.deployment_id {
                Some(_) => "; an agent of its work queue starts it again",
                None => {
                    "; it has no deployment: resume it from its program with \
                         flowcore::runtime::resume"
                }
            };
            let state = state_name(&now);
            writeln!(
                out,
                "Retrying flow run '{}' ({}): it is {state}{after}",
                now.name, now.id
            )?;
        }
        FlowRunAction::Logs { id, follow } => {
            let run = store.find(&id).await?;
            let mut tasks = store.task_runs(run.id).await?;
            let mut seen = std::collections::HashSet::new();
            let mut finished = run.state.as_ref().is_some_and(|s| s.is_final());
            loop {
                let logs = store.logs(run.id).await?;
                if logs
                    .iter()
                    .any(|l| l.run_id != run.id && !tasks.iter().any(|t| t.id == l.run_id))
                {
                    tasks = store.task_runs(run.id).await?;
                }
                for log in logs {
                    let key = (log.run_id, log.timestamp, log.message.clone());
                    if seen.insert(key) {
                        print_log(out, &run, &tasks, &log)?;
                    }
                }
                out.flush()?;
                // Following: until the run is final, and once more after that.
                if !follow || finished {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                finished = store
                    .find(&run.id.to_string())
                    .await?
                    .state
                    .is_some_and(|s| s.is_final());
            }
        }
    }
    Ok(())
}

/// One log line, in Prefect's style, in local time.
fn print_log(
    out: &mut impl Write,
    run: &StoredFlowRun,
    tasks: &[crate::schemas::records::StoredTaskRun],
    log: &StoredLog,
) -> std::io::Result<()> {
    let who = if log.run_id == run.id {
        format!("Flow run '{}'", run.name)
    } else {
        let name = log.run_name.clone().unwrap_or_else(|| {
            tasks
                .iter()
                .find(|t| t.id == log.run_id)
                .map_or(log.run_id.to_string(), |t| t.name.clone())
        });
        format!("Task run '{name}'")
    };
    let local = log.timestamp.with_timezone(&chrono::Local);
    writeln!(
        out,
        "{} | {:<7} | {who} - {}",
        local.format("%H:%M:%S%.3f"),
        log.level,
        log.message
    )
}

/// Runs a `task-run` command.
pub(crate) async fn task_run(action: TaskRunAction, out: &mut impl Write) -> anyhow::Result<()> {
    let TaskRunAction::Ls { flow_run, json } = action;
    let store = Source::open().await?;
    let run = store.find(&flow_run).await?;
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

/// The name of a run's state, `-` when it has none.
fn state_name(run: &StoredFlowRun) -> String {
    run.state
        .as_ref()
        .map_or("-".into(), |s| s.name.to_string())
}
