//! Event sinks: the consumers of what the runtime reports (the store, the API client, a test's
//! [`MemorySink`]).

use std::sync::{Arc, Mutex};

use crate::schemas::events::Event;

/// A consumer of reported events: the store, the API client, a test's [`MemorySink`].
///
/// Sinks run on the reporter thread, never on a task's path; a slow sink delays the record, not the flow.
pub trait EventSink: Send + Sync + 'static {
    /// Handles a batch of events, in the order they happened.
    fn handle(&self, batch: &[Event]);

    /// Handles a batch shared with the other sinks; a sink that keeps events past the call keeps this
    /// `Arc` instead of copying them. Defaults to [`handle`](Self::handle).
    fn handle_shared(&self, batch: &Arc<[Event]>) {
        self.handle(batch);
    }

    /// Makes everything handled so far durable (called at the end of every top-level flow run).
    fn flush(&self) {}
}

/// A sink that keeps every event in memory, for tests and for inspecting a process's record.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<Event>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// A copy of every event received so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl EventSink for MemorySink {
    fn handle(&self, batch: &[Event]) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(batch);
    }
}
