//! `flowcore automation …`: webhooks notified of flow-run transitions, through the API.

use std::io::Write;

use super::args::AutomationAction;
use crate::api_client::ApiClient;
use crate::schemas::automations::{AutomationSpec, StoredAutomation};

/// `Key:Value` → the header.
fn header(text: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("invalid --header {text:?}: expected KEY:VALUE"))?;
    if key.trim().is_empty() {
        anyhow::bail!("invalid --header {text:?}: the name is empty");
    }
    Ok((key.trim().to_string(), value.trim().to_string()))
}

fn line(a: &StoredAutomation) -> String {
    format!(
        "{:<24}  {:<8}  {:<28}  {:>9}  {:>7}  {:>6}  {}",
        a.spec.name,
        if a.paused { "paused" } else { "active" },
        a.spec.on.join(","),
        a.delivered,
        a.pending,
        a.failed,
        a.spec.webhook
    )
}

/// Runs an `automation` command.
pub(crate) async fn automation(
    action: AutomationAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = ApiClient::from_settings();
    match action {
        AutomationAction::Create {
            name,
            on,
            flow,
            deployment,
            tag,
            webhook,
            headers,
        } => {
            let spec = AutomationSpec {
                name,
                on,
                flows: flow,
                deployments: deployment,
                tags: tag,
                webhook,
                headers: headers
                    .iter()
                    .map(|h| header(h))
                    .collect::<anyhow::Result<_>>()?,
            };
            let created = client.create_automation(&spec).await?;
            writeln!(
                out,
                "Created automation {:?} ({}): {} → {}",
                created.spec.name,
                created.id,
                created.spec.on.join(", "),
                created.spec.webhook
            )?;
        }
        AutomationAction::Ls { json } => {
            let list = client.automations().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else if list.is_empty() {
                writeln!(
                    out,
                    "No automations. Create one with: flowcore automation create NAME --on Failed --webhook URL"
                )?;
            } else {
                writeln!(
                    out,
                    "{:<24}  {:<8}  {:<28}  {:>9}  {:>7}  {:>6}  WEBHOOK",
                    "NAME", "STATUS", "ON", "DELIVERED", "PENDING", "FAILED"
                )?;
                for a in &list {
                    writeln!(out, "{}", line(a))?;
                }
            }
        }
        AutomationAction::Inspect { name, json } => {
            let detail = client.automation(&name).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&detail)?)?;
            } else {
                let a = &detail.automation;
                writeln!(out, "{}  ({})", a.spec.name, a.id)?;
                writeln!(
                    out,
                    "status:     {}",
                    if a.paused { "paused" } else { "active" }
                )?;
                writeln!(out, "on:         {}", a.spec.on.join(", "))?;
                for (what, list) in [
                    ("flows", &a.spec.flows),
                    ("deployments", &a.spec.deployments),
                    ("tags", &a.spec.tags),
                ] {
                    if !list.is_empty() {
                        writeln!(out, "{what:<11} {}", list.join(", "))?;
                    }
                }
                writeln!(out, "webhook:    {}", a.spec.webhook)?;
                writeln!(
                    out,
                    "deliveries: {} delivered, {} pending, {} failed",
                    a.delivered, a.pending, a.failed
                )?;
                for d in &detail.deliveries {
                    writeln!(
                        out,
                        "  {}  {:<9}  {:<14} run {}  attempts={}{}",
                        d.created.format("%Y-%m-%d %H:%M:%S"),
                        d.status,
                        d.state,
                        d.flow_run_id,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        AutomationAction::Pause { name } => {
            let a = client.set_automation_paused(&name, true).await?;
            writeln!(out, "Paused automation {:?}", a.spec.name)?;
        }
        AutomationAction::Resume { name } => {
            let a = client.set_automation_paused(&name, false).await?;
            writeln!(out, "Resumed automation {:?}", a.spec.name)?;
        }
        AutomationAction::Delete { name } => {
            client.delete_automation(&name).await?;
            writeln!(out, "Deleted automation {name:?}")?;
        }
    }
    Ok(())
}
