//! `flowcore config …`: settings in the profile.

use std::io::Write;

use super::args::ConfigAction;

/// Runs a `config` command.
pub(crate) fn config(action: ConfigAction, out: &mut impl Write) -> anyhow::Result<()> {
    match action {
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
                // Secrets are shown masked, URLs without their password.
                let shown = |v: &str| match *key {
                    "api-key" => crate::config::masked(v),
                    _ => crate::config::redacted(v),
                };
                match (
                    std::env::var(&env)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(|v| shown(&v)),
                    profile.get(*key).map(|v| shown(v)),
                ) {
                    (Some(v), _) => writeln!(out, "{key} = {v} (from {env})")?,
                    (None, Some(v)) => writeln!(out, "{key} = {v} (from profile)")?,
                    (None, None) if *key == "database-url" => writeln!(
                        out,
                        "{key} = {} (default)",
                        shown(&crate::config::database_url()?)
                    )?,
                    (None, None) => writeln!(out, "{key} is not set")?,
                }
            }
            if crate::recording::disabled() {
                writeln!(out, "recording is off (FLOWCORE_RECORD)")?;
            }
        }
    }
    Ok(())
}
