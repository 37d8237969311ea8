//! Where runs are recorded by default: the embedded database, as Prefect 3 does with its local store.
//!
//! With an API URL configured (`flowcore config set api-url …` or `FLOWCORE_API_URL`), the first flow
//! or task run of a process attaches an [`ApiSink`](super::api_sink::ApiSink) that reports to that server
//! (keeping what it cannot deliver in the home's [`outbox`](super::outbox) until the server answers;
//! `FLOWCORE_API_RETRY_SECONDS` sets how long a batch is retried first). Otherwise it attaches a
//! [`StoreSink`](crate::store::StoreSink) for the database in force (`FLOWCORE_DATABASE_URL`, the profile's `database-url`, else the SQLite file
//! `~/.flowcore/flowcore.db`; `FLOWCORE_HOME` moves the folder). `FLOWCORE_RECORD=off` turns recording
//! off; the run record then lives in memory only (the `FlowState` a run returns).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::sink::EventSink;

/// Whether recording is switched off: the `record` setting set from code
/// ([`set_for_process`](crate::config::set_for_process)), else `FLOWCORE_RECORD` (`off`, `0`,
/// `false`, `no`).
pub fn disabled() -> bool {
    let value = match crate::config::process_setting("record") {
        Some(value) => value.unwrap_or_default(),
        None => std::env::var("FLOWCORE_RECORD").unwrap_or_default(),
    };
    matches!(
        value.to_ascii_lowercase().as_str(),
        "off" | "0" | "false" | "no"
    )
}

/// Whether the default record is attached (checked on every run's creation: one atomic load).
static READY: AtomicBool = AtomicBool::new(false);
/// The sink attached as the default record, if any.
static ATTACHED: Mutex<Option<Arc<dyn EventSink>>> = Mutex::new(None);
/// Whether the default record is a server (an API URL was set when it was attached).
static TO_SERVER: AtomicBool = AtomicBool::new(false);

/// Whether runs report to a server (so a flow run watches it for a cancellation).
pub(crate) fn reports_to_server() -> bool {
    READY.load(Ordering::Acquire) && TO_SERVER.load(Ordering::Acquire)
}

fn init_with(server_known: bool) {
    if READY.load(Ordering::Acquire) {
        return;
    }
    let mut attached = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    if READY.load(Ordering::Acquire) {
        return;
    }
    TO_SERVER.store(false, Ordering::Release);
    if !disabled() {
        *attached = attach(server_known);
    }
    READY.store(true, Ordering::Release);
}

/// Attaches the default record, once (until [`detach`]). Never blocks on the database: the sink
/// connects on its own writer thread.
pub(crate) fn init() {
    init_with(false)
}

/// [`init`] for a process that runs a flow run it loaded from the server: the server is known to
/// exist, so the API sink waits out a restart instead of falling back early.
#[cfg_attr(not(all(feature = "client", feature = "store")), allow(dead_code))]
pub(crate) fn init_for_known_server() {
    init_with(true)
}

/// Detaches the default record after everything reported so far has reached it; the next run
/// attaches one anew, under the settings then in force (the test harness's).
pub(crate) fn detach() {
    let mut attached = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    super::reporter::flush_blocking();
    if let Some(sink) = attached.take() {
        super::reporter::remove_sink(&sink);
    }
    READY.store(false, Ordering::Release);
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
        Ok(sink) => Some((
            std::sync::Arc::new(sink),
            format!("the database {}", crate::config::redacted(&url)),
        )),
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

/// `FLOWCORE_API_RETRY_SECONDS`: how long a batch is retried before it goes to the outbox.
#[cfg(feature = "client")]
fn retry_window() -> Option<std::time::Duration> {
    let raw = std::env::var("FLOWCORE_API_RETRY_SECONDS").ok()?;
    match raw.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Some(std::time::Duration::from_secs_f64(s)),
        _ => {
            eprintln!(
                "flowcore: FLOWCORE_API_RETRY_SECONDS={raw:?} is not a number of seconds; using \
                 the default"
            );
            None
        }
    }
}

fn attach(server_known: bool) -> Option<Arc<dyn EventSink>> {
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
            let outbox = super::outbox::Outbox::for_server(&crate::config::home(), &api_url);
            let mut options = super::api_sink::ApiSinkOptions::new(key, Some(outbox));
            if server_known {
                options = options.server_known();
            }
            if let Some(window) = retry_window() {
                options = options.retry_window(window);
            }
            return match super::api_sink::ApiSink::with_options(&api_url, options) {
                Ok(sink) => {
                    let sink: Arc<dyn EventSink> = Arc::new(sink);
                    TO_SERVER.store(true, Ordering::Release);
                    super::reporter::add_sink(Arc::clone(&sink));
                    Some(sink)
                }
                Err(e) => {
                    eprintln!("flowcore: cannot report to {api_url}: {e}");
                    None
                }
            };
        }
        #[cfg(not(feature = "client"))]
        let _ = server_known;
        #[cfg(not(feature = "client"))]
        eprintln!(
            "flowcore: api-url is set to {api_url}, but this build has no API client (feature \
             `client`); recording runs in the database instead"
        );
    }
    let (sink, _) = store_sink()?;
    super::reporter::add_sink(Arc::clone(&sink));
    Some(sink)
}
