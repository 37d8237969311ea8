//! The command line: every command and its arguments (clap).

use clap::{Parser, Subcommand};

/// The `flowcore` command.
#[derive(Parser)]
#[command(
    name = "flowcore",
    version,
    about = "flowcore: settings, the run database, flow runs"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Tag concurrency limits: at most N task runs with a tag run at once (through the API when
    /// api-url is set, else the database).
    #[command(name = "concurrency-limit")]
    ConcurrencyLimit {
        #[command(subcommand)]
        action: ConcurrencyLimitAction,
    },
    /// Automations on the server (api-url): webhooks notified of flow-run transitions.
    Automation {
        #[command(subcommand)]
        action: AutomationAction,
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
pub(crate) enum ConfigAction {
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
pub(crate) enum FlowRunAction {
    /// Lists flow runs, newest first.
    Ls {
        /// Only runs in these states (names like `Failed`, or types like `FAILED`; comma-separated).
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        /// Only runs of these flows.
        #[arg(long, value_delimiter = ',')]
        flow: Vec<String>,
        /// Only runs of these deployments (ids or names).
        #[arg(long, value_delimiter = ',')]
        deployment: Vec<String>,
        /// Only runs with any of these tags.
        #[arg(long, value_delimiter = ',')]
        tag: Vec<String>,
        /// Only runs created since: an RFC 3339 time, a date, or a duration ago (`2h`, `7d`).
        #[arg(long, value_parser = super::source::parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
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
    /// Cancels a flow run: one not started yet at once, a running one through its agent or its own
    /// process (it ends Cancelled).
    Cancel {
        /// The run's id or name.
        id: String,
    },
    /// Retries (resumes) a Failed, Crashed or Cancelled flow run under the same id: a deployment's
    /// run goes back to its work queue for an agent; its task runs that completed with a persisted
    /// result are reused, not run again.
    Retry {
        /// The run's id or name.
        id: String,
    },
    /// Prints a flow run's logs (its task runs' included).
    Logs {
        /// The run's id (or a prefix of it) or its name.
        id: String,
        /// Keep printing new lines until the run is final.
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum TaskRunAction {
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
pub(crate) enum DeploymentAction {
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
pub(crate) enum WorkQueueAction {
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
pub(crate) enum AgentAction {
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
        /// Seconds a cancelled run's process has after SIGTERM before SIGKILL.
        #[arg(long, default_value_t = 10.0)]
        cancel_grace: f64,
    },
}

#[derive(Subcommand)]
pub(crate) enum ServerAction {
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
        /// Delete finished flow runs older than this, once a day (`30d`, `12h`; default: keep all).
        #[arg(long, value_parser = humantime::parse_duration)]
        retention: Option<std::time::Duration>,
        /// A claimed run whose agent (or process) sent no heartbeat for this long becomes Crashed
        /// (`60s`, `5s`; default 60 s).
        #[arg(long, value_parser = humantime::parse_duration)]
        heartbeat_timeout: Option<std::time::Duration>,
        /// A `Host` name the server answers to besides localhost, 127.0.0.1 and [::1] (repeat for
        /// more; e.g. the name a reverse proxy forwards). Without any, a server with an API key
        /// answers to any name.
        #[arg(long = "allowed-host", value_name = "NAME")]
        allowed_hosts: Vec<String>,
        /// A web origin (`https://dash.example.com`) whose pages may call the API: CORS headers and
        /// writes allowed for it (repeat for more; default: none).
        #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = parse_origin)]
        cors_origins: Vec<String>,
        /// The server's log level: requests and services at INFO, errors at ERROR (`debug`,
        /// `info`, `warning`, `error`, `off`; default: `FLOWCORE_LOGGING_LEVEL`, else `info`).
        #[arg(long)]
        log_level: Option<String>,
    },
    /// The run database.
    Database {
        #[command(subcommand)]
        action: DatabaseAction,
    },
}

#[derive(Subcommand)]
pub(crate) enum DatabaseAction {
    /// Drops every record and recreates the schema.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Deletes finished flow runs older than a cutoff, with their task runs and logs (never runs
    /// that are Scheduled, Late, Pending or Running), then compacts the database.
    Vacuum {
        /// How old a finished run must be: `30d`, `12h`, `90min`.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AutomationAction {
    /// Creates an automation: flow runs entering one of the states notify the webhook.
    Create {
        /// A unique name.
        name: String,
        /// States that trigger it, comma-separated (`Failed,Crashed,TimedOut`; `FAILED`: the type).
        #[arg(long, value_delimiter = ',', required = true)]
        on: Vec<String>,
        /// Only runs of these flows.
        #[arg(long, value_delimiter = ',')]
        flow: Vec<String>,
        /// Only runs of these deployments (names or ids).
        #[arg(long, value_delimiter = ',')]
        deployment: Vec<String>,
        /// Only runs with any of these tags.
        #[arg(long, value_delimiter = ',')]
        tag: Vec<String>,
        /// The URL the notification is POSTed to (a Slack incoming webhook works).
        #[arg(long)]
        webhook: String,
        /// A request header, `Key:Value`; repeatable.
        #[arg(long = "header", value_name = "KEY:VALUE")]
        headers: Vec<String>,
    },
    /// Lists automations with their delivery counts.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows an automation and its latest deliveries.
    Inspect {
        /// Its name or id.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pauses an automation.
    Pause {
        /// Its name or id.
        name: String,
    },
    /// Resumes an automation.
    Resume {
        /// Its name or id.
        name: String,
    },
    /// Deletes an automation and its queued notifications.
    Delete {
        /// Its name or id.
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ConcurrencyLimitAction {
    /// Creates (or changes) the limit of a tag.
    Create {
        /// The tag.
        tag: String,
        /// How many task runs with the tag may run at once (0 blocks the tag).
        limit: i64,
    },
    /// Lists limits with their active slots.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a limit and the task runs holding its slots.
    Inspect {
        /// The tag.
        tag: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Frees every slot of a tag (its limit stays).
    Reset {
        /// The tag.
        tag: String,
    },
    /// Deletes the limit of a tag.
    Delete {
        /// The tag.
        tag: String,
    },
}

/// A web origin: `scheme://host[:port]`, nothing after it.
fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(origin).map_err(|e| format!("{raw:?} is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{raw:?} is not an http(s) origin"));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{raw:?} is not an origin (scheme://host[:port], no path): e.g. https://dash.example.com"
        ));
    }
    Ok(origin.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            super::parse_origin("https://dash.example.com/").unwrap(),
            "https://dash.example.com"
        );
        assert!(super::parse_origin("http://127.0.0.1:3000").is_ok());
        for bad in [
            "dash.example.com",
            "ftp://x.example",
            "https://x.example/path",
            "",
        ] {
            assert!(super::parse_origin(bad).is_err(), "{bad}");
        }
    }
}
