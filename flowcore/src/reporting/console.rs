//! What flowcore prints: Prefect-style lines (`12:01:02.345 | INFO    | Task run 'x' - message`), at
//! the level `FLOWCORE_LOGGING_LEVEL` sets, when flowcore's own subscriber is installed.

use std::sync::OnceLock;

use tracing_subscriber::filter::LevelFilter;

use crate::schemas::events::LogLevel;

/// Whether flowcore's own subscriber was installed (set once, by the first run).
pub(crate) static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Whether flowcore's own subscriber is installed, so the reporter prints lifecycle lines itself.
pub(crate) fn prints_itself() -> bool {
    INSTALLED.get().copied().unwrap_or(false)
}

/// The level in force: read once, and again after a setting changed from code.
pub(crate) fn level() -> LevelFilter {
    use std::sync::atomic::{AtomicU64, Ordering};
    // (generation + 1) << 3 | level index; 0: not read yet.
    static CACHED: AtomicU64 = AtomicU64::new(0);
    const LEVELS: [LevelFilter; 6] = [
        LevelFilter::OFF,
        LevelFilter::ERROR,
        LevelFilter::WARN,
        LevelFilter::INFO,
        LevelFilter::DEBUG,
        LevelFilter::TRACE,
    ];
    let generation = crate::config::process_generation() + 1;
    let cached = CACHED.load(Ordering::Relaxed);
    if cached >> 3 == generation {
        return LEVELS[(cached & 7) as usize];
    }
    let level = level_from_env();
    let index = LEVELS.iter().position(|l| *l == level).unwrap_or(3) as u64;
    CACHED.store(generation << 3 | index, Ordering::Relaxed);
    level
}

/// Whether a line of this level passes `FLOWCORE_LOGGING_LEVEL`.
pub(crate) fn enabled(level: LogLevel) -> bool {
    let as_tracing = match level {
        LogLevel::Trace => tracing::Level::TRACE,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warning => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    self::level() >= as_tracing
}

/// The local UTC offset, looked up at most once a second (time-zone rules are not cheap to apply).
fn local_offset() -> chrono::FixedOffset {
    use std::sync::atomic::{AtomicI64, Ordering};
    static CACHED: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let cached = CACHED.load(Ordering::Relaxed);
    // Packed as (unix second << 20) | (offset + 2^19): offsets are within ±18 h = ±64,800 s.
    if cached != i64::MIN && cached >> 20 == now {
        let secs = (cached & 0xFFFFF) as i32 - (1 << 19);
        if let Some(offset) = chrono::FixedOffset::east_opt(secs) {
            return offset;
        }
    }
    let offset = *chrono::Local::now().offset();
    let secs = chrono::Offset::fix(&offset).local_minus_utc();
    CACHED.store((now << 20) | i64::from(secs + (1 << 19)), Ordering::Relaxed);
    chrono::Offset::fix(&offset)
}

/// Appends one Prefect-style line: `12:01:02.345 | INFO    | Task run 'x' - message`. The prefix
/// comes in pieces (`["Task run '", name, "'"]`) so that a run's label needs no string of its own.
///
/// Spelt without `fmt` (the reporter writes one per task run: `write!` with widths was a third of
/// its instructions); the bytes are `writeln!`'s, as a test checks.
pub(crate) fn format_line(
    out: &mut String,
    timestamp: chrono::DateTime<chrono::Utc>,
    level: LogLevel,
    prefix: &[&str],
    message: &str,
) {
    use chrono::Timelike;
    let local = timestamp.with_timezone(&local_offset());
    push_padded(out, local.hour(), 2);
    out.push(':');
    push_padded(out, local.minute(), 2);
    out.push(':');
    push_padded(out, local.second(), 2);
    out.push('.');
    push_padded(out, local.nanosecond() / 1_000_000 % 1000, 3);
    out.push_str(" | ");
    let level = level.as_str();
    out.push_str(level);
    out.extend(std::iter::repeat_n(' ', 7usize.saturating_sub(level.len())));
    out.push_str(" | ");
    for piece in prefix {
        out.push_str(piece);
    }
    out.push_str(" - ");
    out.push_str(message);
    out.push('\n');
}

/// `n` in decimal, zero-padded to at least `width` digits (`{:0width$}`).
fn push_padded(out: &mut String, n: u32, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// A run's label in [`format_line`]'s pieces: `Task run 'name'`, `Flow run 'name'`.
pub(crate) fn label_pieces(run: &crate::schemas::events::RunRef) -> [&str; 3] {
    let kind = match run.kind {
        crate::schemas::events::RunKind::Flow => "Flow run '",
        crate::schemas::events::RunKind::Task => "Task run '",
    };
    [kind, &run.name, "'"]
}

/// The level set by the `logging-level` setting set from code
/// ([`set_for_process`](crate::config::set_for_process)), else `FLOWCORE_LOGGING_LEVEL` (default
/// `info`).
pub fn level_from_env() -> LevelFilter {
    let value = match crate::config::process_setting("logging-level") {
        Some(value) => value.unwrap_or_default(),
        None => std::env::var("FLOWCORE_LOGGING_LEVEL").unwrap_or_default(),
    };
    match value.to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "critical" => LevelFilter::ERROR,
        "off" | "none" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// `format_line` spells exactly what `writeln!` with widths did.
    #[test]
    fn lines_are_spelt_as_by_writeln() {
        use chrono::{TimeZone, Timelike};
        let levels = [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
        ];
        let times = [
            chrono::Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap(),
            chrono::Utc
                .with_ymd_and_hms(2026, 12, 7, 23, 59, 59)
                .unwrap()
                + chrono::Duration::milliseconds(999),
            chrono::Utc.with_ymd_and_hms(2026, 6, 15, 9, 5, 7).unwrap()
                + chrono::Duration::microseconds(45_678),
        ];
        let (label, message) = ("Task run 'x-1'", "Finished in state Completed()");
        for (i, timestamp) in times.into_iter().enumerate() {
            let level = levels[i % levels.len()];
            for level in [level, levels[(i + 2) % levels.len()]] {
                let local = timestamp.with_timezone(&local_offset());
                let mut expected = String::new();
                writeln!(
                    expected,
                    "{:02}:{:02}:{:02}.{:03} | {:<7} | {label} - {message}",
                    local.hour(),
                    local.minute(),
                    local.second(),
                    local.nanosecond() / 1_000_000 % 1000,
                    level.as_str(),
                )
                .unwrap();
                let mut line = String::from("kept ");
                format_line(
                    &mut line,
                    timestamp,
                    level,
                    &["Task run '", "x-1", "'"],
                    message,
                );
                assert_eq!(line, format!("kept {expected}"));
            }
        }
    }

    #[test]
    fn a_label_in_pieces_is_the_label() {
        use crate::schemas::events::{RunKind, RunRef};
        for kind in [RunKind::Flow, RunKind::Task] {
            let run = RunRef {
                kind,
                id: uuid::Uuid::nil(),
                name: "etl-7".into(),
                flow_run_id: None,
            };
            assert_eq!(label_pieces(&run).concat(), run.label());
        }
    }
}
