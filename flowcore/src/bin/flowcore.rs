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

use clap::{Parser, Subcommand};
use flowcore::store::{FlowRunFilter, Store, StoredFlowRun};

#[derive(Parser)]
#[command(
    name = "flowcore",
    version,
    about = "flowcore: settings, the run database, flow runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Settings in the profile (~/.flowcore/config.json; FLOWCORE_HOME moves it).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Flow runs in the database.
    #[command(name = "flow-run")]
    FlowRun {
        #[command(subcommand)]
        action: FlowRunAction,
    },
    /// Task runs in the database.
    #[command(name = "task-run")]
    TaskRun {
        #[command(subcommand)]
        action: TaskRunAction,
    },
    /// Deployments on the server (api-url).
    Deployment {
        #[command(subcommand)]
        action: DeploymentAction,
    },
    /// Work queues on the server (api-url).
    #[command(name = "work-queue")]
    WorkQueue {
        #[command(subcommand)]
        action: WorkQueueAction,
    },
    /// The agent that runs deployments' flow runs.
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
    /// The server, and its database.
    Server {
        #[command(subcommand)]
        action: ServerAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Sets `api-url` or `database-url`.
    Set {
        /// The setting.
        key: String,
        /// Its value.
        value: String,
    },
    /// Shows the settings in force and where they come from.
    View,
    /// Removes a setting from the profile.
    Unset {
        /// The setting.
        key: String,
    },
}

#[derive(Subcommand)]
enum FlowRunAction {
    /// Lists flow runs, newest first.
    Ls {
        /// Only runs in this state (name like `Failed`, or type like `FAILED`).
        #[arg(long)]
        state: Option<String>,
        /// Only runs of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows one flow run: parameters, state history, task runs.
    Inspect {
        /// The run's id (or a prefix of it) or its name.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints a flow run's logs (its task runs' included).
    Logs {
        /// The run's id (or a prefix of it) or its name.
        id: String,
    },
}

#[derive(Subcommand)]
enum TaskRunAction {
    /// Lists the task runs of a flow run.
    Ls {
        /// The flow run's id (or a prefix of it) or its name.
        #[arg(long = "flow-run")]
        flow_run: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DeploymentAction {
    /// Lists deployments with their schedules and next runs.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one deployment (id, `flow/name`, or a unique name).
    Inspect {
        /// The deployment.
        name: String,
    },
    /// Creates a run now; an agent on its work queue starts it.
    Run {
        /// The deployment.
        name: String,
        /// A parameter for this run, `key=value` (value as JSON, else a string); repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Pauses its schedule (future scheduled runs are removed).
    Pause {
        /// The deployment.
        name: String,
    },
    /// Resumes its schedule.
    Resume {
        /// The deployment.
        name: String,
    },
    /// Deletes it (and its runs that have not started).
    Delete {
        /// The deployment.
        name: String,
    },
}

#[derive(Subcommand)]
enum WorkQueueAction {
    /// Lists work queues.
    Ls,
    /// Creates a work queue.
    Create {
        /// Its name.
        name: String,
        /// At most this many of its runs at once.
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Pauses a work queue (agents get no runs from it).
    Pause {
        /// The queue.
        name: String,
    },
    /// Resumes a work queue.
    Resume {
        /// The queue.
        name: String,
    },
    /// Sets a work queue's concurrency limit (`none` removes it).
    SetConcurrency {
        /// The queue.
        name: String,
        /// The limit, or `none`.
        limit: String,
    },
}

#[derive(Subcommand)]
enum AgentAction {
    /// Polls work queues and runs their due flow runs until Ctrl-C (which stops the runs in progress
    /// and marks them Crashed).
    Start {
        /// Work queues to serve.
        #[arg(default_value = "default")]
        queues: Vec<String>,
        /// Seconds between polls.
        #[arg(long, default_value_t = 1.0)]
        poll_interval: f64,
        /// At most this many runs at once.
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Subcommand)]
enum ServerAction {
    /// Serves the API (under /api) and the web UI (at /) until Ctrl-C.
    Start {
        /// Address to bind. Anything but a loopback address requires an API key.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port.
        #[arg(long, default_value_t = 4200)]
        port: u16,
        /// The database (default: the `database-url` setting, else ~/.flowcore/flowcore.db).
        #[arg(long)]
        database_url: Option<String>,
        /// Clients must send `Authorization: Bearer KEY`.
        #[arg(long, env = "FLOWCORE_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// The run database.
    Database {
        #[command(subcommand)]
        action: DatabaseAction,
    },
}

#[derive(Subcommand)]
enum DatabaseAction {
    /// Drops every record and recreates the schema.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

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
    let url = flowcore::config::database_url()?;
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(flowcore::config::home())?;
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
                flowcore::config::set(&key, &value)?;
                writeln!(
                    out,
                    "Set {key} = {value} in {}",
                    flowcore::config::profile_path().display()
                )?;
            }
            ConfigAction::Unset { key } => {
                if flowcore::config::unset(&key)? {
                    writeln!(out, "Unset {key}")?;
                } else {
                    writeln!(out, "{key} was not set")?;
                }
            }
            ConfigAction::View => {
                writeln!(
                    out,
                    "profile: {}",
                    flowcore::config::profile_path().display()
                )?;
                let profile = flowcore::config::load()?;
                for key in flowcore::config::KEYS {
                    let env = format!("FLOWCORE_{}", key.replace('-', "_").to_ascii_uppercase());
                    match (
                        std::env::var(&env).ok().filter(|v| !v.is_empty()),
                        profile.get(*key),
                    ) {
                        (Some(v), _) => writeln!(out, "{key} = {v} (from {env})")?,
                        (None, Some(v)) => writeln!(out, "{key} = {v} (from profile)")?,
                        (None, None) if *key == "database-url" => writeln!(
                            out,
                            "{key} = {} (default)",
                            flowcore::config::database_url()?
                        )?,
                        (None, None) => writeln!(out, "{key} is not set")?,
                    }
                }
                if flowcore::recording::disabled() {
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
            flowcore::logging::init();
            let client = flowcore::api_client::ApiClient::from_settings();
            let config = flowcore::agent::AgentConfig {
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
            flowcore::agent::run(client, config, stop).await?;
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
                    let url = flowcore::config::database_url()?;
                    if url.starts_with("sqlite:") {
                        std::fs::create_dir_all(flowcore::config::home())?;
                    }
                    url
                }
            };
            let server = flowcore::server::Server::start(flowcore::server::ServerConfig {
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
            let url = flowcore::config::database_url()?;
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

#[tokio::main]
async fn main() -> ExitCode {
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

async fn find_deployment(
    client: &flowcore::api_client::ApiClient,
    name: &str,
) -> anyhow::Result<flowcore::store::StoredDeployment> {
    let all: serde_json::Value = client.get("/deployments").await?;
    let list: Vec<flowcore::store::StoredDeployment> =
        serde_json::from_value(all["results"].clone())?;
    let matches: Vec<_> = list
        .into_iter()
        .filter(|d| {
            d.id.to_string() == name
                || format!("{}/{}", d.spec.flow_name, d.spec.name) == name
                || d.spec.name == name
        })
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one")),
        0 => anyhow::bail!("no deployment {name:?} (use `flowcore deployment ls`)"),
        _ => anyhow::bail!("{name:?} names several deployments: write FLOW/NAME"),
    }
}

fn parse_param(p: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (key, value) = p
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid --param {p:?}: expected KEY=VALUE"))?;
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    Ok((key.to_string(), value))
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".into(), |t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
}

async fn deployment(action: DeploymentAction, out: &mut impl Write) -> anyhow::Result<()> {
    let client = flowcore::api_client::ApiClient::from_settings();
    match action {
        DeploymentAction::Ls { json } => {
            let all: serde_json::Value = client.get("/deployments").await?;
            let list: Vec<flowcore::store::StoredDeployment> =
                serde_json::from_value(all["results"].clone())?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else if list.is_empty() {
                writeln!(out, "No deployments.")?;
            } else {
                writeln!(
                    out,
                    "{:<40} {:<36} {:<10} {:<8} NEXT RUN",
                    "FLOW/NAME", "SCHEDULE", "QUEUE", "PAUSED"
                )?;
                for d in list {
                    writeln!(
                        out,
                        "{:<40} {:<36} {:<10} {:<8} {}",
                        format!("{}/{}", d.spec.flow_name, d.spec.name),
                        d.schedule_description.as_deref().unwrap_or("none (ad hoc)"),
                        d.spec.work_queue_name,
                        if d.spec.paused { "yes" } else { "no" },
                        when(d.next_runs.first().and_then(|r| r.expected_start_time))
                    )?;
                }
            }
        }
        DeploymentAction::Inspect { name } => {
            let d = find_deployment(&client, &name).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&d)?)?;
        }
        DeploymentAction::Run { name, params } => {
            let d = find_deployment(&client, &name).await?;
            let mut parameters = serde_json::Map::new();
            for p in &params {
                let (k, v) = parse_param(p)?;
                parameters.insert(k, v);
            }
            let run: flowcore::store::StoredFlowRun = client
                .post(
                    &format!("/deployments/{}/runs", d.id),
                    &serde_json::json!({ "parameters": parameters }),
                )
                .await?;
            writeln!(
                out,
                "Created flow run '{}' ({}) of {}/{} on work queue {:?}; an agent on that queue will start it.",
                run.name, run.id, d.spec.flow_name, d.spec.name, d.spec.work_queue_name
            )?;
        }
        DeploymentAction::Pause { name } => {
            let d = find_deployment(&client, &name).await?;
            let _: serde_json::Value = client
                .post(
                    &format!("/deployments/{}/pause", d.id),
                    &serde_json::json!({}),
                )
                .await?;
            writeln!(out, "Paused {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
        DeploymentAction::Resume { name } => {
            let d = find_deployment(&client, &name).await?;
            let _: serde_json::Value = client
                .post(
                    &format!("/deployments/{}/resume", d.id),
                    &serde_json::json!({}),
                )
                .await?;
            writeln!(out, "Resumed {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
        DeploymentAction::Delete { name } => {
            let d = find_deployment(&client, &name).await?;
            let _: serde_json::Value = client
                .send::<(), _>(
                    reqwest::Method::DELETE,
                    &format!("/deployments/{}", d.id),
                    None,
                )
                .await?;
            writeln!(out, "Deleted {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
    }
    Ok(())
}

async fn work_queue(action: WorkQueueAction, out: &mut impl Write) -> anyhow::Result<()> {
    let client = flowcore::api_client::ApiClient::from_settings();
    let queue: Option<flowcore::store::StoredWorkQueue> = match action {
        WorkQueueAction::Ls => {
            let all: serde_json::Value = client.get("/work_queues").await?;
            let list: Vec<flowcore::store::StoredWorkQueue> =
                serde_json::from_value(all["results"].clone())?;
            writeln!(
                out,
                "{:<20} {:<8} {:<12} {:>9} {:>7}",
                "NAME", "PAUSED", "CONCURRENCY", "SCHEDULED", "RUNNING"
            )?;
            for q in list {
                writeln!(
                    out,
                    "{:<20} {:<8} {:<12} {:>9} {:>7}",
                    q.name,
                    if q.paused { "yes" } else { "no" },
                    q.concurrency_limit
                        .map_or("unlimited".to_string(), |n| n.to_string()),
                    q.scheduled_count,
                    q.running_count
                )?;
            }
            None
        }
        WorkQueueAction::Create { name, limit } => Some(
            client
                .post(
                    "/work_queues",
                    &serde_json::json!({"name": name, "concurrency_limit": limit}),
                )
                .await?,
        ),
        WorkQueueAction::Pause { name } => Some(
            client
                .post(
                    &format!("/work_queues/{name}/pause"),
                    &serde_json::json!({}),
                )
                .await?,
        ),
        WorkQueueAction::Resume { name } => Some(
            client
                .post(
                    &format!("/work_queues/{name}/resume"),
                    &serde_json::json!({}),
                )
                .await?,
        ),
        WorkQueueAction::SetConcurrency { name, limit } => {
            let limit: Option<i64> = match limit.as_str() {
                "none" | "unlimited" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("invalid limit {n:?}: expected a number or `none`")
                })?),
            };
            Some(
                client
                    .send(
                        reqwest::Method::PUT,
                        &format!("/work_queues/{name}/concurrency"),
                        Some(&serde_json::json!({ "concurrency_limit": limit })),
                    )
                    .await?,
            )
        }
    };
    if let Some(q) = queue {
        writeln!(
            out,
            "Work queue {:?}: {}, concurrency {}",
            q.name,
            if q.paused { "paused" } else { "active" },
            q.concurrency_limit
                .map_or("unlimited".to_string(), |n| n.to_string())
        )?;
    }
    Ok(())
}
