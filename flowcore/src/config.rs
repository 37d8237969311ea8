//! Settings: a profile file under the flowcore home folder, overridable by environment variables.
//!
//! The home folder is `FLOWCORE_HOME`, or `~/.flowcore`. The profile is `config.json` there, holding
//! `api-url`, `api-key`, `database-url` and `results-dir` (where persisted task results go: see
//! [`results`](crate::results)). `FLOWCORE_API_URL`, `FLOWCORE_API_KEY`, `FLOWCORE_DATABASE_URL` and
//! `FLOWCORE_RESULTS_DIR` override the file.
//!
//! A program (a test, most often: see [`testing::harness`](crate::testing::harness)) can also set
//! them for the whole process from code with [`set_for_process`], which wins over both — and so can
//! `home`, `record` and `logging-level`, which otherwise come from `FLOWCORE_HOME`,
//! `FLOWCORE_RECORD` and `FLOWCORE_LOGGING_LEVEL`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

/// The settings a profile may hold.
pub const KEYS: &[&str] = &["api-url", "api-key", "database-url", "results-dir"];

/// The settings [`set_for_process`] accepts.
pub const PROCESS_KEYS: &[&str] = &[
    "home",
    "record",
    "logging-level",
    "api-url",
    "api-key",
    "database-url",
    "results-dir",
];

/// Settings set from code: `Some(value)`, or `None` for "not set" (the environment and the
/// profile are then not consulted either).
static PROCESS: RwLock<BTreeMap<&'static str, Option<String>>> = RwLock::new(BTreeMap::new());

/// Counts changes made with [`set_for_process`] / [`clear_for_process`]: readers that cache a
/// setting (the logging level, read on every line) re-read it when this moves.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of changes made from code so far (see [`set_for_process`]).
pub fn process_generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Sets `key` (one of [`PROCESS_KEYS`]) for this process, over the environment and the profile;
/// `None` makes it unset. Runs started afterwards read it; the record and the API client a process
/// has already attached are kept until [`testing::harness`](crate::testing::harness) re-attaches
/// them.
///
/// ```
/// flowcore::config::set_for_process("logging-level", Some("warning")).unwrap();
/// assert_eq!(flowcore::config::process_setting("logging-level"), Some(Some("warning".into())));
/// flowcore::config::clear_for_process("logging-level");
/// assert!(flowcore::config::set_for_process("colour", None).is_err());
/// ```
pub fn set_for_process(key: &str, value: Option<&str>) -> Result<(), ConfigError> {
    let key = PROCESS_KEYS
        .iter()
        .copied()
        .find(|k| *k == key)
        .ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
    PROCESS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, value.map(str::to_string));
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    Ok(())
}

/// Undoes [`set_for_process`] for `key`: the environment and the profile apply again.
pub fn clear_for_process(key: &str) {
    PROCESS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(key);
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// What [`set_for_process`] set for `key`, if anything (`Some(None)`: set to unset).
pub fn process_setting(key: &str) -> Option<Option<String>> {
    PROCESS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
}

/// The flowcore home folder.
pub fn home() -> PathBuf {
    if let Some(Some(h)) = process_setting("home") {
        return PathBuf::from(h);
    }
    if let Some(h) = std::env::var_os("FLOWCORE_HOME") {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(".flowcore")
}

/// `url` with its password (if any) replaced by `***`, for printing and logging:
/// `postgres://app:s3cret@db/flowcore` → `postgres://app:***@db/flowcore`.
///
/// ```
/// assert_eq!(
///     flowcore::config::redacted("postgres://app:s3cret@db:5432/flowcore"),
///     "postgres://app:***@db:5432/flowcore"
/// );
/// assert_eq!(flowcore::config::redacted("sqlite:///tmp/flowcore.db"), "sqlite:///tmp/flowcore.db");
/// ```
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("***")).is_ok() {
                return parsed.to_string();
            }
            url.to_string()
        }
        _ => url.to_string(),
    }
}

/// A secret shown in part: its first 4 characters, the rest masked.
pub fn masked(secret: &str) -> String {
    let shown: String = secret.chars().take(4).collect();
    if secret.chars().count() <= 4 {
        "****".to_string()
    } else {
        format!("{shown}****")
    }
}

/// The profile file.
pub fn profile_path() -> PathBuf {
    home().join("config.json")
}

/// Why a setting could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not a setting flowcore knows.
    #[error("unknown setting `{0}`; the settings are: api-url, api-key, database-url")]
    UnknownKey(String),
    /// The profile file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The profile file is not valid.
    #[error("{path}: not a valid profile: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The settings in the profile file (empty when there is none).
pub fn load() -> Result<BTreeMap<String, String>, ConfigError> {
    let path = profile_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(ConfigError::Io { path, source }),
    }
}

fn check(key: &str) -> Result<(), ConfigError> {
    if KEYS.contains(&key) {
        Ok(())
    } else {
        Err(ConfigError::UnknownKey(key.to_string()))
    }
}

fn save(settings: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let path = profile_path();
    let io = |source| ConfigError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(home()).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(settings).expect("strings serialize");
    // Readable by its owner only: it may hold an API key and a database password.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    std::io::Write::write_all(&mut file, (text + "\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    #[cfg(unix)]
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Sets a setting in the profile.
pub fn set(key: &str, value: &str) -> Result<(), ConfigError> {
    check(key)?;
    let mut settings = load()?;
    settings.insert(key.to_string(), value.to_string());
    save(&settings)
}

/// Removes a setting from the profile. Returns whether it was set.
pub fn unset(key: &str) -> Result<bool, ConfigError> {
    check(key)?;
    let mut settings = load()?;
    let was = settings.remove(key).is_some();
    save(&settings)?;
    Ok(was)
}

/// The value in force for a setting: what [`set_for_process`] set, else the environment
/// (`FLOWCORE_API_URL`, `FLOWCORE_DATABASE_URL`), else the profile.
pub fn get(key: &str) -> Result<Option<String>, ConfigError> {
    check(key)?;
    if let Some(value) = process_setting(key) {
        return Ok(value);
    }
    let env = format!("FLOWCORE_{}", key.replace('-', "_").to_ascii_uppercase());
    if let Ok(v) = std::env::var(&env) {
        if !v.is_empty() {
            return Ok(Some(v));
        }
    }
    Ok(load()?.get(key).cloned())
}

/// The database runs are recorded in: `database-url`, else the embedded SQLite file
/// `{home}/flowcore.db`.
#[cfg(feature = "store")]
pub fn database_url() -> Result<String, ConfigError> {
    Ok(match get("database-url")? {
        Some(url) => url,
        None => crate::store::sqlite_url(&home().join("flowcore.db")),
    })
}
