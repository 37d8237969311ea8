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

use std::process::ExitCode;

mod args;
mod automations;
mod concurrency;
mod config;
mod deployments;
mod runs;
mod server;
mod source;

use clap::Parser;

use args::{Cli, Command};

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Locked per command: the long-running ones (server, agent) must not hold stdout.
    let out = std::io::stdout();
    match cli.command {
        Command::Config { action } => config::config(action, &mut out.lock()),
        Command::FlowRun { action } => runs::flow_run(action, &mut out.lock()).await,
        Command::TaskRun { action } => runs::task_run(action, &mut out.lock()).await,
        Command::Deployment { action } => deployments::deployment(action, &mut out.lock()).await,
        Command::WorkQueue { action } => deployments::work_queue(action, &mut out.lock()).await,
        Command::ConcurrencyLimit { action } => {
            concurrency::concurrency_limit(action, &mut out.lock()).await
        }
        Command::Automation { action } => automations::automation(action, &mut out.lock()).await,
        Command::Agent { action } => server::agent(action).await,
        Command::Server { action } => server::server(action, out).await,
    }
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
