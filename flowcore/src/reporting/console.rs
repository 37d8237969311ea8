//! What flowcore prints: Prefect-style lines (`12:01:02.345 | INFO    | Task run 'x' - message`), at
//! the level `FLOWCORE_LOGGING_LEVEL` sets, when flowcore's own subscriber is installed.

use std::fmt::Write as _;
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

/// Appends one Prefect-style line: `12:01:02.345 | INFO    | Task run 'x' - message`.
pub(crate) fn format_line(
    out: &mut String,
    timestamp: chrono::DateTime<chrono::Utc>,
    level: LogLevel,
    prefix: &str,
    message: &str,
) {
    use chrono::Timelike;
    let local = timestamp.with_timezone(&local_offset());
    let _ = writeln!(
        out,
        "{:02}:{:02}:{:02}.{:03} | {:<7} | {prefix} - {message}",
        local.hour(),
        local.minute(),
        local.second(),
        local.nanosecond() / 1_000_000 % 1000,
        level.as_str()
    );
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
