//! What every handler shares.

use std::sync::Arc;

use crate::store::Store;

/// What every handler shares: the store and the API key, if one is required.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) api_key: Option<Arc<str>>,
}
