//! Where runs are recorded by default: the embedded database, as Prefect 3 does with its local store.
//!
//! With an API URL configured (`flowcore config set api-url …` or `FLOWCORE_API_URL`), the first flow
//! or task run of a process attaches an [`ApiSink`](super::api_sink::ApiSink) that reports to that server
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

static ONCE: OnceLock<()> = OnceLock::new();

/// Attaches the default record, once per process. Never blocks on the database: the sink connects
/// on the reporter thread.
pub(crate) fn init() {
    ONCE.get_or_init(|| {
        if !disabled() {
            attach(false);
        }
    });
}

/// [`init`] for a process that runs a flow run it loaded from the server: the server is known to
/// exist, so the API sink waits out a restart instead of falling back early.
#[cfg_attr(not(all(feature = "client", feature = "store")), allow(dead_code))]
pub(crate) fn init_for_known_server() {
    ONCE.get_or_init(|| {
        if !disabled() {
            attach(true);
        }
    });
}

/// The embedded database's sink, and where it writes (for messages).
#[cfg(feature = "store")]
fn store_sink() -> Option<(std::sync::Arc<dyn super::sink::EventSink>, String)> {
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
fn store_sink() -> Option<(std::sync::Arc<dyn super::sink::EventSink>, String)> {
    None
}

fn attach(server_known: bool) {
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
            let sink = if server_known {
                super::api_sink::ApiSink::to_known_server(&api_url, key, store_sink())
            } else {
                super::api_sink::ApiSink::new(&api_url, key, store_sink())
            };
            match sink {
                Ok(sink) => super::reporter::add_sink(std::sync::Arc::new(sink)),
                Err(e) => eprintln!("flowcore: cannot report to {api_url}: {e}"),
            }
            return;
        }
        #[cfg(not(feature = "client"))]
        let _ = server_known;
        #[cfg(not(feature = "client"))]
        eprintln!(
            "flowcore: api-url is set to {api_url}, but this build has no API client (feature \
             `client`); recording runs in the database instead"
        );
    }
    if let Some((sink, _)) = store_sink() {
        super::reporter::add_sink(sink);
    }
}
