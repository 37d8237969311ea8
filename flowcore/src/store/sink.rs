//! The sink that records events in the store, on the reporter thread.

use std::sync::Mutex;

use super::Store;
use crate::event::{Event, EventSink};

enum Conn {
    /// Not connected yet: connects on the first batch (on the reporter thread, never on a task's).
    Pending(String),
    Ready(Store),
    /// Connecting failed; the record stays in memory and the failure was reported once.
    Broken,
}

/// Records every event in a [`Store`]. A batch that cannot be written is reported once on stderr
/// (with where the record went instead) and the flow goes on.
pub struct StoreSink {
    runtime: tokio::runtime::Runtime,
    conn: Mutex<Conn>,
    buffer: Mutex<Buffer>,
    warned: std::sync::atomic::AtomicBool,
}

/// Events waiting to be written: one transaction per few thousand events, not per batch.
#[derive(Default)]
struct Buffer {
    events: Vec<Event>,
    since: Option<std::time::Instant>,
}

/// Write when this many events wait...
const WRITE_AT: usize = 4096;
/// ...or when the oldest has waited this long (and at every flush: the end of each flow run).
const WRITE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

impl StoreSink {
    /// A sink for the database at `url`, connected lazily.
    pub fn new(url: impl Into<String>) -> std::io::Result<StoreSink> {
        Ok(StoreSink {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            conn: Mutex::new(Conn::Pending(url.into())),
            buffer: Mutex::new(Buffer::default()),
            warned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn warn_once(&self, what: &str) {
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "flowcore: {what}; runs are still recorded in memory (the FlowState each run returns) \
                 but not in the database"
            );
        }
    }
}

impl StoreSink {
    fn write(&self, batch: &[Event]) {
        if batch.is_empty() {
            return;
        }
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Conn::Pending(url) = &*conn {
            let url = url.clone();
            *conn = match self.runtime.block_on(Store::connect(&url)) {
                Ok(store) => Conn::Ready(store),
                Err(e) => {
                    self.warn_once(&format!("cannot open the run database {url}: {e}"));
                    Conn::Broken
                }
            };
        }
        if let Conn::Ready(store) = &*conn {
            if let Err(e) = self.runtime.block_on(store.write(batch)) {
                self.warn_once(&format!("cannot write to the run database: {e}"));
            }
        }
    }

    fn take(&self, force: bool) -> Vec<Event> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let due = force
            || buffer.events.len() >= WRITE_AT
            || buffer.since.is_some_and(|t| t.elapsed() >= WRITE_AFTER);
        if due {
            buffer.since = None;
            std::mem::take(&mut buffer.events)
        } else {
            Vec::new()
        }
    }
}

impl EventSink for StoreSink {
    fn handle(&self, batch: &[Event]) {
        {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.since.get_or_insert_with(std::time::Instant::now);
            buffer.events.extend_from_slice(batch);
        }
        let due = self.take(false);
        self.write(&due);
    }

    fn flush(&self) {
        let all = self.take(true);
        self.write(&all);
    }
}
