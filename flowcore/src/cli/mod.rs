//! The `flowcore` command-line tool: settings, the run database, and the record of flow runs.
//!
//! ```text
//! flowcore config set api-url http://127.0.0.1:4200/api
//! flowcore config view
//! flowcore flow-run ls --state Failed --limit 10
//! flowcore flow-run inspect complex-jackal
//! flowcore flow-run logs complex-jackal
//! flowcore task-run ls --flow-run complex-jackal
//! flowcore server start --port 4200
//! flowcore server database reset --yes
//! ```

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

mod args;
mod deployments;

use clap::Parser;

use crate::store::{FlowRunFilter, Store, StoredFlowRun};
use args::*;
use deployments::{deployment, work_queue};

fn state_label(run: &StoredFlowRun) -> String {
    run.state
        .as_ref()
        .map_or_else(|| "-".to_string(), |s| s.name.to_string())
}

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

async fn open() -> anyhow::Result<Store> {
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Config { action } => match action {
            ConfigAction::Set { key, value } => {
                crate::config::set(&key, &value)?;
                writeln!(
                    out,
                    "Set {key} = {value} in {}",
                    crate::config::profile_path().display()
                )?;
            }
            ConfigAction::Unset { key } => {
                if crate::config::unset(&key)? {
                    writeln!(out, "Unset {key}")?;
                } else {
                    writeln!(out, "{key} was not set")?;
                }
            }
            ConfigAction::View => {
                writeln!(out, "profile: {}", crate::config::profile_path().display())?;
                let profile = crate::config::load()?;
                for key in crate::config::KEYS {
                    let env = format!("FLOWCORE_{}", key.replace('-', "_").to_ascii_uppercase());
                    match (
                        std::env::var(&env).ok().filter(|v| !v.is_empty()),
                        profile.get(*key),
                    ) {
                        (Some(v), _) => writeln!(out, "{key} = {v} (from {env})")?,
                        (None, Some(v)) => writeln!(out, "{key} = {v} (from profile)")?,
                        (None, None) if *key == "database-url" => {
                            writeln!(out, "{key} = {} (default)", crate::config::database_url()?)?
                        }
                        (None, None) => writeln!(out, "{key} is not set")?,
                    }
                }
                if crate::recording::disabled() {
                    writeln!(out, "recording is off (FLOWCORE_RECORD)")?;
                }
            }
        },
        Command::FlowRun { action } => {
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
                                r.start_time.map_or("-".into(), |t| t
                                    .format("%Y-%m-%d %H:%M:%S")
                                    .to_string()),
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
                        let value = serde_json::json!({"flow_run": run, "states": states, "task_runs": tasks});
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
        }
        Command::TaskRun {
            action: TaskRunAction::Ls { flow_run, json },
        } => {
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
        }
        Command::Deployment { action } => deployment(action, &mut out).await?,
        Command::WorkQueue { action } => work_queue(action, &mut out).await?,
        Command::Agent {
            action:
                AgentAction::Start {
                    queues,
                    poll_interval,
                    limit,
                },
        } => {
            crate::logging::init();
            let client = crate::api_client::ApiClient::from_settings();
            let config = crate::agent::AgentConfig {
                queues,
                poll_interval: std::time::Duration::from_secs_f64(poll_interval.max(0.05)),
                limit,
                ..Default::default()
            };
            drop(out);
            // Ctrl-C, or SIGTERM (systemd, docker stop): stop the runs in progress, mark them.
            let stop = async {
                #[cfg(unix)]
                {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
                std::io::Result::Ok(())
            };
            let stop = async {
                if let Err(e) = stop.await {
                    eprintln!("flowcore: cannot listen for signals: {e}");
                    std::future::pending::<()>().await;
                }
            };
            crate::agent::run(client, config, stop).await?;
            return Ok(());
        }
        Command::Server {
            action:
                ServerAction::Start {
                    host,
                    port,
                    database_url,
                    api_key,
                },
        } => {
            let database_url = match database_url {
                Some(url) => url,
                None => {
                    let url = crate::config::database_url()?;
                    if url.starts_with("sqlite:") {
                        std::fs::create_dir_all(crate::config::home())?;
                    }
                    url
                }
            };
            let server = crate::server::Server::start(crate::server::ServerConfig {
                host,
                port,
                database_url: database_url.clone(),
                api_key: api_key.filter(|k| !k.is_empty()),
                ..Default::default()
            })
            .await?;
            let addr = server.addr();
            writeln!(out, "flowcore server {}", env!("CARGO_PKG_VERSION"))?;
            writeln!(out, "  database: {database_url}")?;
            writeln!(out, "  UI:       http://{addr}/")?;
            writeln!(
                out,
                "  API:      http://{addr}/api (OpenAPI at /api/openapi.json)"
            )?;
            writeln!(
                out,
                "Point flows at it with: flowcore config set api-url http://{addr}/api"
            )?;
            writeln!(out, "Ctrl-C stops the server.")?;
            out.flush()?;
            drop(out);
            server.run_until_interrupted().await?;
            return Ok(());
        }
        Command::Server {
            action:
                ServerAction::Database {
                    action: DatabaseAction::Reset { yes },
                },
        } => {
            let url = crate::config::database_url()?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!("refusing to reset {url} without confirmation: pass --yes");
                }
                write!(out, "Drop every record in {url}? [y/N] ")?;
                out.flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    writeln!(out, "Aborted.")?;
                    return Ok(());
                }
            }
            open().await?.reset().await?;
            writeln!(out, "Reset the database {url}.")?;
        }
    }
    Ok(())
}

/// Runs the `flowcore` command with the process's arguments; its exit code.
#[tokio::main]
pub async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        // `flowcore flow-run ls | head`: the reader went away; not an error of ours.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
