//! The signal waiting claims watch: bumped when work-queue runs change (see `wakeups`).

use std::sync::Mutex;

use tokio::sync::watch;

/// A counter bumped at every change; waiting claims watch it.
#[derive(Debug)]
pub(crate) struct Wakeups {
    pub(crate) tx: watch::Sender<u64>,
    /// For PostgreSQL: the URL to `LISTEN` on, taken by the first waiting claim.
    pub(crate) listen_url: Mutex<Option<String>>,
}

impl Wakeups {
    /// `listen_url`: on PostgreSQL, the database to `LISTEN` on.
    pub(crate) fn new(listen_url: Option<String>) -> Wakeups {
        Wakeups {
            tx: watch::channel(0).0,
            listen_url: Mutex::new(listen_url),
        }
    }

    pub(crate) fn bump(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}
