//! `flowcore deployment …` and `flowcore work-queue …`: deployments and work queues through the API.

use std::io::Write;

use super::args::{DeploymentAction, WorkQueueAction};
use crate::api_client::ApiClient;
use crate::schemas::deployments::{StoredDeployment, StoredWorkQueue};
use crate::schemas::requests::NewWorkQueue;

/// The deployment `name` names: its id, `FLOW/NAME` or a unique name.
async fn find_deployment(client: &ApiClient, name: &str) -> anyhow::Result<StoredDeployment> {
    let list = client.deployments().await?;
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

/// `KEY=VALUE` (VALUE as JSON, else as a string).
pub(crate) fn parse_param(p: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (key, value) = p
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid --param {p:?}: expected KEY=VALUE"))?;
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    Ok((key.to_string(), value))
}

/// A time in local time, `-` for none.
fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".into(), |t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
}

pub(crate) async fn deployment(
    action: DeploymentAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = ApiClient::from_settings();
    match action {
        DeploymentAction::Ls { json } => {
            let list = client.deployments().await?;
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
            let parameters = serde_json::Value::Object(parameters);
            let run = client.run_deployment(d.id, Some(parameters)).await?;
            writeln!(
                out,
                "Created flow run '{}' ({}) of {}/{} on work queue {:?}; an agent on that queue will start it.",
                run.name, run.id, d.spec.flow_name, d.spec.name, d.spec.work_queue_name
            )?;
        }
        DeploymentAction::Pause { name } => {
            let d = find_deployment(&client, &name).await?;
            client.set_deployment_paused(d.id, true).await?;
            writeln!(out, "Paused {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
        DeploymentAction::Resume { name } => {
            let d = find_deployment(&client, &name).await?;
            client.set_deployment_paused(d.id, false).await?;
            writeln!(out, "Resumed {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
        DeploymentAction::Delete { name } => {
            let d = find_deployment(&client, &name).await?;
            client.delete_deployment(d.id).await?;
            writeln!(out, "Deleted {}/{}.", d.spec.flow_name, d.spec.name)?;
        }
    }
    Ok(())
}

pub(crate) async fn work_queue(
    action: WorkQueueAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = ApiClient::from_settings();
    let queue: Option<StoredWorkQueue> = match action {
        WorkQueueAction::Ls => {
            let list = client.work_queues().await?;
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
                .create_work_queue(&NewWorkQueue {
                    name,
                    concurrency_limit: limit,
                })
                .await?,
        ),
        WorkQueueAction::Pause { name } => Some(client.set_work_queue_paused(&name, true).await?),
        WorkQueueAction::Resume { name } => Some(client.set_work_queue_paused(&name, false).await?),
        WorkQueueAction::SetConcurrency { name, limit } => {
            let limit: Option<i64> = match limit.as_str() {
                "none" | "unlimited" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("invalid limit {n:?}: expected a number or `none`")
                })?),
            };
            Some(client.set_work_queue_concurrency(&name, limit).await?)
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
