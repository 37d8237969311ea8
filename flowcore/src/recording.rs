//! Where runs are recorded by default: the embedded database, as Prefect 3 does with its local store.
//!
//! The first flow or task run of a process attaches a [`StoreSink`](crate::store::StoreSink) for the
//! database in force (`FLOWCORE_DATABASE_URL`, the profile's `database-url`, else the SQLite file
//! `~/.flowcore/flowcore.db`; `FLOWCORE_HOME` moves the folder). `FLOWCORE_RECORD=off` turns recording
//! off; the run record then lives in memory only (the `FlowState` a run returns).

use std::sync::OnceLock;

/// Whether recording is switched off by `FLOWCORE_RECORD` (`off`, `0`, `false`, `no`).
pub fn disabled() -> bool {
    matches!(
        std::env::var("FLOWCORE_RECORD")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str(),
        "off" | "0" | "false" | "no"
    )
}

/// Attaches the default record, once per process. Never blocks on the database: the sink connects
/// on the reporter thread.
pub(crate) fn init() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if disabled() {
            return;
        }
        #[cfg(feature = "store")]
        attach_store();
    });
}

#[cfg(feature = "store")]
fn attach_store() {
    if let Ok(Some(api)) = crate::config::get("api-url") {
        eprintln!(
            "flowcore: api-url is set to {api}, but reporting to a server is not available in this \
             build yet; recording runs in the database instead"
        );
    }
    let url = match crate::config::database_url() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("flowcore: not recording runs in a database: {e}");
            return;
        }
    };
    if url.starts_with("sqlite:") {
        let _ = std::fs::create_dir_all(crate::config::home());
    }
    match crate::store::StoreSink::new(url) {
        Ok(sink) => crate::event::add_sink(std::sync::Arc::new(sink)),
        Err(e) => eprintln!("flowcore: not recording runs in a database: {e}"),
    }
}
