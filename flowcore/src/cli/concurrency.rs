//! `flowcore concurrency-limit …`: tag concurrency limits and the task runs holding their slots.

use std::io::Write;

use super::args::ConcurrencyLimitAction;
use super::source::Source;
use crate::schemas::concurrency::ConcurrencyLimit;

fn slots_line(limit: &ConcurrencyLimit) -> String {
    format!(
        "{:<24}  {:>5}  {:>6}",
        limit.tag,
        limit.limit,
        limit.active_slots.len()
    )
}

/// Runs a `concurrency-limit` command.
pub(crate) async fn concurrency_limit(
    action: ConcurrencyLimitAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let source = Source::open().await?;
    match action {
        ConcurrencyLimitAction::Create { tag, limit } => {
            if limit < 0 {
                anyhow::bail!("invalid LIMIT {limit}: 0 or more (0 blocks the tag)");
            }
            source.set_concurrency_limit(&tag, limit).await?;
            writeln!(out, "Set the concurrency limit of tag {tag:?} to {limit}")?;
        }
        ConcurrencyLimitAction::Ls { json } => {
            let limits = source.concurrency_limits().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&limits)?)?;
            } else if limits.is_empty() {
                writeln!(
                    out,
                    "No concurrency limits. Create one with: flowcore concurrency-limit create TAG N"
                )?;
            } else {
                writeln!(out, "{:<24}  {:>5}  {:>6}", "TAG", "LIMIT", "ACTIVE")?;
                for limit in &limits {
                    writeln!(out, "{}", slots_line(limit))?;
                }
            }
        }
        ConcurrencyLimitAction::Inspect { tag, json } => {
            let limit = source.concurrency_limit(&tag).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&limit)?)?;
            } else {
                writeln!(out, "tag:          {}", limit.tag)?;
                writeln!(out, "limit:        {}", limit.limit)?;
                writeln!(out, "active slots: {}", limit.active_slots.len())?;
                for slot in &limit.active_slots {
                    writeln!(
                        out,
                        "  {}  {:<30}  since {}  (lease until {})",
                        slot.task_run_id,
                        slot.task_run_name.as_deref().unwrap_or("-"),
                        slot.acquired.format("%H:%M:%S"),
                        slot.lease_until.format("%H:%M:%S")
                    )?;
                }
            }
        }
        ConcurrencyLimitAction::Reset { tag } => {
            source.reset_concurrency_limit(&tag).await?;
            writeln!(out, "Freed every slot of tag {tag:?}")?;
        }
        ConcurrencyLimitAction::Delete { tag } => {
            source.delete_concurrency_limit(&tag).await?;
            writeln!(out, "Deleted the concurrency limit of tag {tag:?}")?;
        }
    }
    Ok(())
}
