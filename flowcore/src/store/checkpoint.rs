//! Checkpoints on a thread of their own: after each commit of the store writer, this thread copies
//! SQLite's write-ahead log back into the database file while the writer goes on. The writer's own
//! connection still checkpoints when its log reaches its limit, but finds little or nothing left to
//! copy, so a flow seldom waits for a checkpoint.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

use super::connect::Store;

/// The least time between two checkpoints: commits in between are copied back together.
const EVERY: Duration = Duration::from_millis(100);

/// Asks a background thread for checkpoints of one SQLite database.
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread; it connects to `url` on the first [`nudge`](Self::nudge).
    pub(crate) fn start(url: String) -> std::io::Result<Checkpointer> {
        let (nudge, nudges) = sync_channel(1);
        std::thread::Builder::new()
            .name("flowcore-store-checkpoint".into())
            .spawn(move || run(&url, nudges))?;
        Ok(Checkpointer { nudge })
    }

    /// Asks for a checkpoint soon (after the commit that calls this). Never blocks: nudges while one
    /// waits are folded into it.
    pub(crate) fn nudge(&self) {
        // Full: a checkpoint is already asked for. Disconnected: the thread could not start a
        // runtime, and the writer's own connection checkpoints.
        let _ = self.nudge.try_send(());
    }
}

fn run(url: &str, nudges: Receiver<()>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let mut store: Option<Store> = None;
    while nudges.recv().is_ok() {
        if store.is_none() {
            // The writer connected (and migrated) before its first nudge. Should this fail, the
            // writer's own connection does all the checkpoints.
            store = runtime.block_on(Store::open(url)).ok();
        }
        if let Some(store) = &store {
            // A failed checkpoint (the database busy with another checkpoint, say) is retried at the
            // next nudge; the log is never lost, only longer.
            let _ = runtime.block_on(store.checkpoint());
        }
        std::thread::sleep(EVERY);
    }
}
