//! Where runs are recorded by default: the embedded database, as Prefect 3 does with its local store.
//!
//! With an API URL configured (`flowcore config set api-url …` or `FLOWCORE_API_URL`), the first flow
//! or task run of a process attaches an [`ApiSink`](crate::client::ApiSink) that reports to that server
//! (falling back to the embedded database if the server cannot be reached). Otherwise it attaches a
//! [`StoreSink`](crate::store::StoreSink) for the database in force (`FLOWCORE_DATABASE_URL`, the profile's `database-url`, else the SQLite file
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
        attach();
    });
}

/// The embedded database's sink, and where it writes (for messages).
#[cfg(feature = "store")]
fn store_sink() -> Option<(std::sync::Arc<dyn crate::event::EventSink>, String)> {
    let url = match crate::config::database_url() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("flowcore: not recording runs in a database: {e}");
            return None;
        }
    };
    if url.starts_with("sqlite:") {
        let _ = std::fs::create_dir_all(crate::config::home());
    }
    match crate::store::StoreSink::new(url.clone()) {
        Ok(sink) => Some((std::sync::Arc::new(sink), format!("the database {url}"))),
        Err(e) => {
            eprintln!("flowcore: not recording runs in a database: {e}");
            None
        }
    }
}

#[cfg(not(feature = "store"))]
fn store_sink() -> Option<(std::sync::Arc<dyn crate::event::EventSink>, String)> {
    None
}

fn attach() {
    let api_url = match crate::config::get("api-url") {
        Ok(url) => url.filter(|u| !u.is_empty()),
        Err(e) => {
            eprintln!("flowcore: {e}");
            None
        }
    };
    if let Some(api_url) = api_url {
        #[cfg(feature = "client")]
        {
            let key = crate::config::get("api-key").ok().flatten();
            match crate::client::ApiSink::new(&api_url, key, store_sink()) {
                Ok(sink) => crate::event::add_sink(std::sync::Arc::new(sink)),
                Err(e) => eprintln!("flowcore: cannot report to {api_url}: {e}"),
            }
            return;
        }
        #[cfg(not(feature = "client"))]
        eprintln!(
            "flowcore: api-url is set to {api_url}, but this build has no API client (feature \
             `client`); recording runs in the database instead"
        );
    }
    if let Some((sink, _)) = store_sink() {
        crate::event::add_sink(sink);
    }
}
