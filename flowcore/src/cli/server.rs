//! `flowcore server …` and `flowcore agent start`: the long-running processes, and the database's
//! reset.

use std::io::{IsTerminal, Write};

use super::args::{AgentAction, DatabaseAction, ServerAction};
use super::source::open_db as open;

/// Resolves when the process is asked to stop: Ctrl-C, or SIGTERM (systemd, docker stop).
async fn stop_signal() {
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
    if let Err(e) = stop.await {
        eprintln!("flowcore: cannot listen for signals: {e}");
        std::future::pending::<()>().await;
    }
}

/// Runs an `agent` command: serves work queues until stopped (the runs in progress are stopped and
/// marked).
pub(crate) async fn agent(action: AgentAction) -> anyhow::Result<()> {
    let AgentAction::Start {
        queues,
        poll_interval,
        limit,
        cancel_grace,
    } = action;
    crate::logging::init();
    let client = crate::api_client::ApiClient::from_settings();
    let config = crate::agent::AgentConfig {
        queues,
        poll_interval: std::time::Duration::from_secs_f64(poll_interval.max(0.05)),
        limit,
        cancel_grace: std::time::Duration::from_secs_f64(cancel_grace.max(0.0)),
        ..Default::default()
    };
    crate::agent::run(client, config, stop_signal()).await?;
    Ok(())
}

/// Runs a `server` command.
pub(crate) async fn server(action: ServerAction, mut out: impl Write) -> anyhow::Result<()> {
    match action {
        ServerAction::Start {
            host,
            port,
            database_url,
            api_key,
            retention,
            heartbeat_timeout,
            allowed_hosts,
            cors_origins,
            log_level,
        } => {
            // The request log and the services' lines, in flowcore's format, at the level asked.
            if let Some(level) = log_level {
                const LEVELS: &[&str] = &[
                    "trace", "debug", "info", "warn", "warning", "error", "critical", "off",
                ];
                if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                    anyhow::bail!(
                        "--log-level: unknown level {level:?}; expected one of {}",
                        LEVELS.join(", ")
                    );
                }
                crate::config::set_for_process("logging-level", Some(&level))?;
            }
            crate::logging::init();
            start(
                host,
                port,
                database_url,
                api_key,
                Options {
                    retention,
                    heartbeat_timeout,
                    allowed_hosts,
                    cors_origins,
                },
                out,
            )
            .await
        }
        ServerAction::Database {
            action:
                DatabaseAction::Vacuum {
                    older_than,
                    dry_run,
                    json,
                },
        } => {
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(older_than)
                    .map_err(|_| anyhow::anyhow!("--older-than is too large"))?;
            let done = open().await?.vacuum(cutoff, dry_run).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&done)?)?;
            } else {
                let verb = if dry_run { "Would delete" } else { "Deleted" };
                writeln!(
                    out,
                    "{verb} {} flow run(s), {} task run(s) and {} log line(s) that finished before {} ({} ago).",
                    done.flow_runs,
                    done.task_runs,
                    done.logs,
                    cutoff.format("%Y-%m-%d %H:%M:%S UTC"),
                    humantime::format_duration(older_than)
                )?;
                if done.queued_tasks > 0 {
                    writeln!(
                        out,
                        "{verb} {} task-queue entr(y/ies) that ended before it.",
                        done.queued_tasks
                    )?;
                }
            }
            Ok(())
        }
        ServerAction::Database {
            action: DatabaseAction::Reset { yes },
        } => {
            let url = crate::config::redacted(&crate::config::database_url()?);
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
            Ok(())
        }
    }
}

/// `flowcore server start`'s options beyond where to listen.
struct Options {
    retention: Option<std::time::Duration>,
    heartbeat_timeout: Option<std::time::Duration>,
    allowed_hosts: Vec<String>,
    cors_origins: Vec<String>,
}

/// `flowcore server start`: serves until interrupted.
async fn start(
    host: std::net::IpAddr,
    port: u16,
    database_url: Option<String>,
    api_key: Option<String>,
    options: Options,
    mut out: impl Write,
) -> anyhow::Result<()> {
    let Options {
        retention,
        heartbeat_timeout,
        allowed_hosts,
        cors_origins,
    } = options;
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
        services: crate::server::Services {
            retention,
            heartbeat_timeout: heartbeat_timeout
                .unwrap_or(crate::server::Services::default().heartbeat_timeout),
            ..Default::default()
        },
        allowed_hosts,
        cors_origins,
        ..Default::default()
    })
    .await?;
    let addr = server.addr();
    writeln!(out, "flowcore server {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(
        out,
        "  database: {}",
        crate::config::redacted(&database_url)
    )?;
    if let Some(keep) = retention {
        writeln!(
            out,
            "  retention: finished runs older than {} are deleted daily",
            humantime::format_duration(keep)
        )?;
    }
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
    Ok(())
}
