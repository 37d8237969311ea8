//! The agent: polls work queues for due runs, claims each atomically, starts the deployment's
//! program as a child process with the flow-run id and API URL in its environment, sends heartbeats
//! while it runs, and records how it ended.
//!
//! A run whose process exits without a final state becomes Crashed (with the exit status). Stopping
//! the agent (Ctrl-C) stops its children and marks their runs Crashed ("the agent stopped"), so no
//! run stays Running; a run whose agent vanished without a word (kill -9) becomes Crashed on the
//! server once its heartbeats stop.
//!
//! A child does not outlive its agent: on Linux it is started with a parent-death signal
//! (`PR_SET_PDEATHSIG`, SIGKILL), so when the agent dies — even by kill -9 — its runs' processes
//! die with it, and nothing unsupervised can report over the Crashed state the server gives the
//! run when the agent's heartbeats stop. (The orchestration policy refuses that anyway: a Crashed
//! run stays Crashed.) The signal is tied to the agent thread that started the child, which lives
//! as long as the agent's runtime.
//!
//! The run's process also sends heartbeats of its own, in the agent's name (see
//! [`entrypoint`](super::entrypoint)): while it lives and reports, the server does not
//! take the run for dead, even if the agent itself is frozen or too busy to send them.
//!
//! A run cancelled while it runs (`Cancelling`) is learnt from the next heartbeat's answer (every
//! poll): its process gets SIGTERM — a deployed program then cancels its flow run and reports it —
//! and SIGKILL after [`AgentConfig::cancel_grace`]; the run ends `Cancelled`.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use crate::api_client::{ApiClient, ApiClientError};
use crate::runtime::state::State;
use crate::schemas::deployments::ClaimedRun;

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The queues it serves (default `default`).
    pub queues: Vec<String>,
    /// Its name, sent with claims and heartbeats (default `agent-<host pid>`).
    pub name: String,
    /// How often it asks for due runs (default 1 s).
    pub poll_interval: Duration,
    /// Kept for compatibility: the agent now sends a heartbeat for each run with every poll
    /// (`poll_interval`), whose answer also says whether the run was cancelled.
    pub heartbeat_interval: Duration,
    /// At most this many runs at once (default unlimited; queues have limits of their own).
    pub limit: Option<usize>,
    /// How long a cancelled run's process has after SIGTERM before SIGKILL (default 10 s).
    pub cancel_grace: Duration,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            queues: vec!["default".into()],
            name: format!("agent-{}", std::process::id()),
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(10),
            limit: None,
            cancel_grace: Duration::from_secs(10),
        }
    }
}

/// What an agent did, when it stops.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AgentSummary {
    /// Runs it started.
    pub started: Vec<Uuid>,
    /// Runs it marked Crashed.
    pub crashed: Vec<Uuid>,
    /// Runs it stopped because they were cancelled.
    pub cancelled: Vec<Uuid>,
}

struct Child {
    name: String,
    process: tokio::process::Child,
    /// When the run was found cancelled and its process sent SIGTERM.
    cancelled_at: Option<tokio::time::Instant>,
}

/// Asks a process to stop (SIGTERM: a deployed program cancels its flow run and reports it).
fn terminate(process: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = process.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a pid this agent started and has not reaped; no memory is touched.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        return;
    }
    let _ = process.start_kill();
}

/// Runs an agent against the API `client` talks to until `stop` resolves.
pub async fn run(
    client: ApiClient,
    config: AgentConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<AgentSummary, ApiClientError> {
    tokio::pin!(stop);
    let mut summary = AgentSummary::default();
    let mut children: HashMap<Uuid, Child> = HashMap::new();
    tracing::info!(
        target: "flowcore::agent",
        "Agent {} started, serving work queue(s) {} on {}",
        config.name,
        config.queues.join(", "),
        client.base()
    );
    loop {
        reap(&client, &config.name, &mut children, &mut summary).await;
        for queue in &config.queues {
            let free = free_slots(&config, &children);
            if free == 0 {
                break;
            }
            let claimed: Vec<ClaimedRun> = match client.claim(queue, &config.name, free).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(target: "flowcore::agent", "cannot poll work queue {queue}: {e}");
                    continue;
                }
            };
            for run in claimed {
                launch(&client, &config, run, &mut children, &mut summary).await;
            }
        }
        // Every poll: a heartbeat per run, whose answer says whether someone cancelled it.
        for (id, child) in children.iter_mut() {
            if let Ok((_, true)) = client.heartbeat_answer(*id, &config.name).await {
                if child.cancelled_at.is_none() {
                    tracing::info!(
                        target: "flowcore::agent",
                        "Flow run '{}' was cancelled: stopping its process",
                        child.name
                    );
                    terminate(&mut child.process);
                    child.cancelled_at = Some(tokio::time::Instant::now());
                }
            }
            if child
                .cancelled_at
                .is_some_and(|at| at.elapsed() >= config.cancel_grace)
            {
                let _ = child.process.start_kill();
            }
        }
        // Until the next poll: with one queue, a long poll — a run created or falling due meanwhile
        // is claimed and started at once, not at the next poll.
        let free = free_slots(&config, &children);
        let long_poll = match config.queues.as_slice() {
            [queue] if free > 0 => Some(queue),
            _ => None,
        };
        // `None`: no long poll (several queues, or no free slot), or it failed.
        let waited = async {
            let queue = long_poll?;
            client
                .claim_wait(queue, &config.name, free, config.poll_interval)
                .await
                .inspect_err(|e| {
                    tracing::warn!(target: "flowcore::agent", "cannot poll work queue {queue}: {e}")
                })
                .ok()
        };
        tokio::select! {
            _ = &mut stop => break,
            claimed = waited => match claimed {
                Some(claimed) => {
                    for run in claimed {
                        launch(&client, &config, run, &mut children, &mut summary).await;
                    }
                }
                None => tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(config.poll_interval) => {}
                },
            },
        }
    }
    // Stopping: the children stop too, and their runs are marked Crashed unless they finished.
    for (id, mut child) in children.drain() {
        let _ = child.process.start_kill();
        let _ = child.process.wait().await;
        let message = "the agent stopped before the run finished";
        if crash_unless_final(&client, id, &config.name, message).await {
            tracing::warn!(
                target: "flowcore::agent",
                "Flow run '{}' marked Crashed: the agent stopped",
                child.name
            );
            summary.crashed.push(id);
        }
    }
    tracing::info!(target: "flowcore::agent", "Agent {} stopped", config.name);
    Ok(summary)
}

/// How many more runs the agent may start now (100 per poll without a limit of its own).
fn free_slots(config: &AgentConfig, children: &HashMap<Uuid, Child>) -> usize {
    config
        .limit
        .map_or(100, |l| l.saturating_sub(children.len()))
}

/// Starts a claimed run's process; a run whose process cannot start is marked Crashed.
async fn launch(
    client: &ApiClient,
    config: &AgentConfig,
    run: ClaimedRun,
    children: &mut HashMap<Uuid, Child>,
    summary: &mut AgentSummary,
) {
    let id = run.flow_run.id;
    match start(client, &run, config) {
        Ok(process) => {
            tracing::info!(
                target: "flowcore::agent",
                "Submitted flow run '{}' ({} › {}) as process {}",
                run.flow_run.name,
                run.flow_run.flow_name,
                run.flow_run.deployment_name.as_deref().unwrap_or("-"),
                process.id().unwrap_or(0)
            );
            summary.started.push(id);
            children.insert(
                id,
                Child {
                    name: run.flow_run.name.clone(),
                    process,
                    cancelled_at: None,
                },
            );
        }
        Err(e) => {
            let message = format!("the agent could not start {}: {e}", run.entrypoint.exe);
            tracing::error!(target: "flowcore::agent", "{message}");
            let _ = client
                .set_flow_run_state(id, &State::crashed(message))
                .await;
            summary.crashed.push(id);
        }
    }
}

fn start(
    client: &ApiClient,
    run: &ClaimedRun,
    config: &AgentConfig,
) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(&run.entrypoint.exe);
    command
        .args(&run.entrypoint.args)
        .env(
            super::entrypoint::FLOW_RUN_ID_VAR,
            run.flow_run.id.to_string(),
        )
        .env("FLOWCORE_API_URL", client.urls().setting())
        // The run's process sends heartbeats of its own, in the agent's name: a frozen or slow
        // agent does not make a healthy run look dead.
        .env(super::entrypoint::AGENT_NAME_VAR, &config.name)
        .kill_on_drop(true);
    if let Some(cwd) = &run.entrypoint.cwd {
        command.current_dir(cwd);
    }
    #[cfg(target_os = "linux")]
    {
        let agent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec the closure calls only async-signal-safe functions
        // (prctl, getppid, _exit) and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The agent died between fork and prctl: the signal will never come.
                if libc::getppid() != agent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    command.spawn()
}

/// Collects the children that exited; a run left without a final state becomes Crashed.
async fn reap(
    client: &ApiClient,
    agent: &str,
    children: &mut HashMap<Uuid, Child>,
    summary: &mut AgentSummary,
) {
    let mut done = Vec::new();
    for (id, child) in children.iter_mut() {
        if let Ok(Some(status)) = child.process.try_wait() {
            done.push((*id, status));
        }
    }
    for (id, status) in done {
        let child = children.remove(&id).expect("listed above");
        tracing::info!(
            target: "flowcore::agent",
            "Process for flow run '{}' exited with {status}",
            child.name
        );
        if child.cancelled_at.is_some() {
            // Its process reported Cancelled before exiting, or was killed: either way it ends so.
            let _ = client
                .set_flow_run_state(id, &State::cancelled("cancelled by user"))
                .await;
            summary.cancelled.push(id);
            continue;
        }
        let message = format!("the flow run's process exited with {status} without a final state");
        if crash_unless_final(client, id, agent, &message).await {
            summary.crashed.push(id);
        }
    }
}

/// Proposes Crashed for the run on behalf of `agent`; refused when the run already reached a final
/// state (its process reports and flushes its final state before it exits) and when it is no
/// longer this agent's (a user retried it since: it is another attempt's). Returns whether the run
/// was marked Crashed.
async fn crash_unless_final(client: &ApiClient, id: Uuid, agent: &str, message: &str) -> bool {
    client
        .set_flow_run_state_as(id, &State::crashed(message), agent)
        .await
        .is_ok()
}
