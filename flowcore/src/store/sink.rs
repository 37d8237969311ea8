//! The sink that records events in the store, on a thread of its own.

use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::Checkpointer;
use super::connect::{Backend, Store};
use super::fast_sqlite::FastTaskRuns;
use super::write::Caller;
use crate::reporting::sink::EventSink;
use crate::reporting::spool::{flatten, Consumer, Spool};
use crate::schemas::events::Event;

/// Write when this many events wait...
const WRITE_AT: usize = 16384;
/// ...or when the oldest has waited this long (and at every flush: the end of each top-level flow run).
const WRITE_AFTER: Duration = Duration::from_millis(500);

/// Records every event in a [`Store`]. The reporter hands batches over without copying them; a
/// writer thread connects as the sink is made and writes what waits in one transaction (on
/// SQLite, a large batch's new task runs in a second one: see `fast_sqlite`). A failure is
/// reported once on stderr and the flow goes on.
pub struct StoreSink {
    spool: Spool,
}

enum Conn {
    /// Not connected yet: connects as the writer thread starts (never on a task's thread).
    Pending(String),
    /// Connected; on SQLite, a checkpointer thread copies the log back into the database, and
    /// new task runs go through a connection of the writer's own (see `fast_sqlite`).
    Ready(Store, Option<Checkpointer>, Option<FastTaskRuns>),
    /// Connecting failed; reported once.
    Broken,
}

/// The writer thread's side.
struct Writer {
    runtime: tokio::runtime::Runtime,
    conn: Conn,
    warned: bool,
}

impl Writer {
    fn warn_once(&mut self, what: &str) {
        if !std::mem::replace(&mut self.warned, true) {
            eprintln!(
                "flowcore: {what}; runs are still recorded in memory (the FlowState each run \
                 returns) but not in the database"
            );
        }
    }

    /// Connects (and migrates) unless it did before. A failure is final (reported once, nothing
    /// written) only on the `last_try`: the attempt as the sink starts may lose to another
    /// connection's migration and is repeated at the first write.
    fn connect(&mut self, last_try: bool) {
        if let Conn::Pending(url) = &self.conn {
            let url = url.clone();
            self.conn = match self.runtime.block_on(Store::connect(&url)) {
                Ok(store) => {
                    let sqlite = store.backend() == Backend::Sqlite;
                    let checkpointer = sqlite
                        .then(|| Checkpointer::start(url.clone()).ok())
                        .flatten();
                    let fast = sqlite.then(|| FastTaskRuns::open(&url)).flatten();
                    Conn::Ready(store, checkpointer, fast)
                }
                Err(_) if !last_try => Conn::Pending(url),
                Err(e) => {
                    self.warn_once(&format!(
                        "cannot open the run database {}: {e}",
                        crate::config::redacted(&url)
                    ));
                    Conn::Broken
                }
            };
        }
    }
}

impl Consumer for Writer {
    /// Connects as the sink starts, on this thread: the database is open and migrated by the time
    /// the first batch is written, instead of the first batch waiting for it.
    fn start(&mut self) {
        self.connect(false);
    }

    fn consume(&mut self, batches: Vec<Arc<[Event]>>) {
        self.connect(true);
        if let Conn::Ready(store, checkpointer, fast) = &mut self.conn {
            let events = flatten(&batches);
            let written = self.runtime.block_on(store.write_events(
                None,
                &events,
                Caller::NeverCancels,
                fast.as_mut(),
            ));
            match written {
                Ok(_) => {
                    if let Some(checkpointer) = checkpointer {
                        checkpointer.nudge();
                    }
                }
                Err(e) => self.warn_once(&format!("cannot write to the run database: {e}")),
            }
        }
    }
}

impl StoreSink {
    /// A sink for the database at `url`, connected on its writer thread (this returns at once).
    pub fn new(url: impl Into<String>) -> std::io::Result<StoreSink> {
        let writer = Writer {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            conn: Conn::Pending(url.into()),
            warned: false,
        };
        let spool = Spool::start("flowcore-store-writer", WRITE_AT, WRITE_AFTER, writer)?;
        Ok(StoreSink { spool })
    }
}

impl EventSink for StoreSink {
    fn handle(&self, batch: &[Event]) {
        self.spool.push(&Arc::from(batch));
    }

    fn handle_shared(&self, batch: &Arc<[Event]>) {
        self.spool.push(batch);
    }

    fn flush(&self) {
        self.spool.flush();
    }
}
