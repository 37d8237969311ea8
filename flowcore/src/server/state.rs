//! What every handler shares.

use std::sync::Arc;

use crate::store::Store;

/// What every handler shares: the store, the API key if one is required, and whom requests may
/// come from.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) api_key: Option<Arc<str>>,
    /// `Host` names accepted besides the loopback names (`--allowed-host`).
    pub(crate) allowed_hosts: Arc<[String]>,
    /// Browser origins allowed to call the API (`--cors-origin`).
    pub(crate) cors_origins: Arc<[String]>,
    /// Whether this server runs the background services (holds the lease).
    pub(crate) leader: tokio::sync::watch::Receiver<bool>,
}
