//! The reporter: how the runtime reports what happens without waiting on I/O.
//!
//! Every run creation, state transition and captured log line becomes an [`Event`] sent on an in-process
//! channel (a few dozen nanoseconds). One background thread, the *reporter*, drains the channel in
//! batches: it prints the run lifecycle in Prefect's style through `tracing`, and hands each batch to the
//! attached [`EventSink`]s (an in-memory [`MemorySink`](super::sink::MemorySink) here; the store and the API client attach the same
//! way). No task ever waits for a sink's I/O; a run's thread pauses only while the record is far
//! behind (hundreds of thousands of events: see `reporting::backlog`). A top-level flow run calls [`flush`] when it ends, so everything it
//! reported has reached every sink when `run` returns.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock, RwLock};

use super::backlog;
use super::console;
use super::sink::EventSink;
use crate::runtime::state::{State, StateType};
use crate::schemas::events::{Event, LogLevel, LogRecord, RunKind};

enum Message {
    Event(Event),
    /// A formatted log line to print, in order with the runtime's own lines.
    Print(String),
    Flush(tokio::sync::oneshot::Sender<()>),
    /// A flush whose caller blocks (outside async code, or in a `Drop`).
    FlushBlocking(std::sync::mpsc::Sender<()>),
}

/// Whether printed lines go through the test harness's writer (`eprint!`, which `cargo test`
/// captures) instead of straight to stderr.
pub(crate) static TO_TEST_WRITER: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

struct Reporter {
    tx: Sender<Message>,
    sinks: Arc<RwLock<Vec<Arc<dyn EventSink>>>>,
}

fn reporter() -> &'static Reporter {
    static REPORTER: OnceLock<Reporter> = OnceLock::new();
    REPORTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let sinks: Arc<RwLock<Vec<Arc<dyn EventSink>>>> = Arc::default();
        let thread_sinks = Arc::clone(&sinks);
        std::thread::Builder::new()
            .name("flowcore-reporter".into())
            .spawn(move || {
                backlog::mark_draining_thread();
                report(rx, thread_sinks)
            })
            .expect("cannot start the flowcore reporter thread");
        Reporter { tx, sinks }
    })
}

/// Sends an event to the reporter. Does no I/O; pauses only while the record is far behind (see
/// [`backlog`](super::backlog)).
pub(crate) fn emit(event: Event) {
    // The reporter lives as long as the process; a send can only fail during shutdown.
    if reporter().tx.send(Message::Event(event)).is_ok() {
        backlog::sent();
    }
}

/// Queues a formatted log line for printing on the reporter thread, in order with the lifecycle lines.
pub(crate) fn print(line: String) {
    let _ = reporter().tx.send(Message::Print(line));
}

/// Attaches a sink: every event reported from now on reaches it.
pub fn add_sink(sink: Arc<dyn EventSink>) {
    reporter()
        .sinks
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(sink);
}

/// Detaches a sink previously attached with [`add_sink`] (compared by pointer).
pub fn remove_sink(sink: &Arc<dyn EventSink>) {
    reporter()
        .sinks
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|s| !Arc::ptr_eq(s, sink));
}

/// [`flush`], blocking the calling thread: for code that cannot await (a `Drop`).
pub(crate) fn flush_blocking() {
    let (tx, rx) = std::sync::mpsc::channel();
    if reporter().tx.send(Message::FlushBlocking(tx)).is_ok() {
        let _ = rx.recv();
    }
}

/// Waits until every event emitted before this call has been handled by every sink and the sinks have
/// flushed.
pub async fn flush() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if reporter().tx.send(Message::Flush(tx)).is_ok() {
        let _ = rx.await;
    }
}

const MAX_BATCH: usize = 4096;

/// A flush's caller, told when the flush is done.
enum Done {
    Async(tokio::sync::oneshot::Sender<()>),
    Blocking(std::sync::mpsc::Sender<()>),
}

fn report(rx: Receiver<Message>, sinks: Arc<RwLock<Vec<Arc<dyn EventSink>>>>) {
    let mut batch: Vec<Event> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    let mut out = String::new();
    let mut received = 0;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(event) => {
                    received += 1;
                    let line = lifecycle_log(&event, &mut out);
                    batch.push(event);
                    if let Some(line) = line {
                        batch.push(Event::Log(line));
                    }
                }
                Message::Print(line) => out.push_str(&line),
                Message::Flush(done) => flushes.push(Done::Async(done)),
                Message::FlushBlocking(done) => flushes.push(Done::Blocking(done)),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !out.is_empty() {
            if TO_TEST_WRITER.load(std::sync::atomic::Ordering::Relaxed) {
                eprint!("{out}");
            } else {
                let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), out.as_bytes());
            }
            out.clear();
        }
        let sinks = sinks.read().unwrap_or_else(|e| e.into_inner()).clone();
        if !batch.is_empty() {
            // Moved into one exact allocation; `batch` keeps its capacity for the next one.
            let shared: Arc<[Event]> = batch.drain(..).collect();
            for sink in &sinks {
                sink.handle_shared(&shared);
            }
        }
        backlog::handed(std::mem::take(&mut received));
        if !flushes.is_empty() {
            for sink in &sinks {
                sink.flush();
            }
            for done in flushes.drain(..) {
                match done {
                    Done::Async(done) => {
                        let _ = done.send(());
                    }
                    Done::Blocking(done) => {
                        let _ = done.send(());
                    }
                }
            }
        }
    }
}

/// The level of the runtime's line about a run entering `state`.
pub(crate) fn state_level(state: &State) -> LogLevel {
    match (state.kind, state.name.as_ref()) {
        (StateType::Failed | StateType::Crashed, _) => LogLevel::Error,
        (_, "AwaitingRetry") => LogLevel::Warning,
        (_, "UpstreamFailed") => LogLevel::Warning,
        _ => LogLevel::Info,
    }
}

/// How the runtime's line about a run reaching a final state begins.
const FINISHED: &str = "Finished in state ";

/// The runtime's line about a run reaching a final state.
pub(crate) fn finished_line(state: &State) -> String {
    use std::fmt::Write as _;
    // Sized for the line (`Finished in state Completed()`, `… Failed('boom')`): one allocation.
    let message = state.message.as_deref().map_or(0, |m| m.len() + 2);
    let mut line = String::with_capacity(FINISHED.len() + state.name.len() + 2 + message);
    line.push_str(FINISHED);
    let _ = write!(line, "{state}");
    line
}

/// Whether `log` is the runtime's "Finished in state …" line of a task run. The store does not keep
/// these as log rows: each is the final state in the task run's history, and reading a run's logs
/// gives them back from there (one row fewer per task run written).
pub(crate) fn is_task_finished_line(log: &LogRecord) -> bool {
    log.run.kind == RunKind::Task && log.target == "flowcore" && log.message.starts_with(FINISHED)
}

/// The runtime's own log line for an event, recorded with the run and printed: into `out` when
/// flowcore's own subscriber prints, through `tracing` (for the program's subscriber) otherwise.
fn lifecycle_log(event: &Event, out: &mut String) -> Option<LogRecord> {
    let (run, flow_run_id, level, message, timestamp) = match event {
        Event::FlowRunCreated {
            run,
            flow_name,
            created,
            ..
        } => (
            run,
            run.flow_run_id,
            LogLevel::Info,
            format!("Beginning flow run '{}' for flow '{}'", run.name, flow_name),
            *created,
        ),
        Event::StateChanged { run, state } => {
            let level = state_level(state);
            let message = if state.is_final() {
                finished_line(state)
            } else if state.name == "AwaitingRetry" {
                state.message.clone().unwrap_or_default()
            } else {
                return None;
            };
            (run, run.flow_run_id, level, message, state.timestamp)
        }
        _ => return None,
    };
    if console::prints_itself() {
        if console::enabled(level) {
            let label = console::label_pieces(run);
            console::format_line(out, timestamp, level, &label, &message);
        }
    } else {
        let label = run.label();
        match level {
            LogLevel::Error => tracing::error!(target: "flowcore", run = %label, "{message}"),
            LogLevel::Warning => tracing::warn!(target: "flowcore", run = %label, "{message}"),
            _ => tracing::info!(target: "flowcore", run = %label, "{message}"),
        }
    }
    Some(LogRecord {
        run: run.clone(),
        flow_run_id,
        level,
        target: "flowcore".into(),
        message,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_lines_spell_the_state_as_prefect_does() {
        for state in [
            State::completed(),
            State::failed("boom: 'quoted'"),
            State::cached("Cached: reused 'x'"),
            State::crashed(""),
        ] {
            assert_eq!(finished_line(&state), format!("Finished in state {state}"));
        }
        assert_eq!(
            finished_line(&State::failed("boom")),
            "Finished in state Failed('boom')"
        );
    }
}
