//! The event sink: how the runtime reports what happens without waiting on I/O.
//!
//! Every run creation, state transition and captured log line becomes an [`Event`] sent on an in-process
//! channel (a few dozen nanoseconds). One background thread, the *reporter*, drains the channel in
//! batches: it prints the run lifecycle in Prefect's style through `tracing`, and hands each batch to the
//! attached [`EventSink`]s (an in-memory [`MemorySink`] here; the store and the API client attach the same
//! way). No task ever waits for a sink. A top-level flow run calls [`flush`] when it ends, so everything it
//! reported has reached every sink when `run` returns.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::TaskInput;
use crate::state::State;

/// Whether a run is a flow run or a task run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A flow run.
    Flow,
    /// A task run.
    Task,
}

/// Identifies a run in events: kind, id and readable name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// Flow run or task run.
    pub kind: RunKind,
    /// The run's id.
    pub id: Uuid,
    /// The run's readable name.
    pub name: Arc<str>,
    /// The flow run this run belongs to: itself for a flow run, the enclosing flow run for a task run
    /// (`None` for a task run outside any flow).
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
}

impl RunRef {
    /// Prefect's prefix for the run's log lines: `Flow run 'complex-jackal'` or `Task run 'load_data-0'`.
    pub fn label(&self) -> String {
        match self.kind {
            RunKind::Flow => format!("Flow run '{}'", self.name),
            RunKind::Task => format!("Task run '{}'", self.name),
        }
    }
}

/// Log levels, as recorded with a run's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// `TRACE`
    Trace,
    /// `DEBUG`
    Debug,
    /// `INFO`
    Info,
    /// `WARNING`
    Warning,
    /// `ERROR`
    Error,
}

impl LogLevel {
    /// The upper-case name Prefect prints (`WARNING`, not `WARN`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

impl From<tracing::Level> for LogLevel {
    fn from(level: tracing::Level) -> LogLevel {
        match level {
            tracing::Level::TRACE => LogLevel::Trace,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warning,
            tracing::Level::ERROR => LogLevel::Error,
        }
    }
}

/// One log line that belongs to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The run the line belongs to.
    pub run: RunRef,
    /// For a task run's line: the flow run it ran in.
    pub flow_run_id: Option<Uuid>,
    /// Severity.
    pub level: LogLevel,
    /// The logger: the `tracing` target (`flowcore` for the runtime's own lines).
    pub target: String,
    /// The formatted message.
    pub message: String,
    /// When it was logged.
    pub timestamp: DateTime<Utc>,
}

/// What the runtime reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A flow run was created.
    FlowRunCreated {
        /// The run.
        run: RunRef,
        /// The flow's name.
        flow_name: String,
        /// The flow's version.
        version: Option<String>,
        /// Parameters as JSON.
        parameters: serde_json::Value,
        /// Tags.
        tags: Vec<String>,
        /// For a subflow: the parent flow run.
        parent_flow_run_id: Option<Uuid>,
        /// For a subflow: the placeholder task run in the parent.
        parent_task_run_id: Option<Uuid>,
        /// Creation time.
        created: DateTime<Utc>,
    },
    /// A task run was created.
    TaskRunCreated {
        /// The run.
        run: RunRef,
        /// The task's name.
        task_name: String,
        /// The flow run it belongs to.
        flow_run_id: Option<Uuid>,
        /// Tags.
        tags: Vec<String>,
        /// Upstream edges.
        inputs: Vec<TaskInput>,
        /// Creation time.
        created: DateTime<Utc>,
    },
    /// A run moved to a new state.
    StateChanged {
        /// The run.
        run: RunRef,
        /// The state it entered.
        state: State,
    },
    /// A log line of a run.
    Log(LogRecord),
}

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

enum Message {
    Event(Event),
    /// A formatted log line to print, in order with the runtime's own lines.
    Print(String),
    Flush(tokio::sync::oneshot::Sender<()>),
}

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
            .spawn(move || report(rx, thread_sinks))
            .expect("cannot start the flowcore reporter thread");
        Reporter { tx, sinks }
    })
}

/// Sends an event to the reporter. Never blocks.
pub(crate) fn emit(event: Event) {
    // The reporter lives as long as the process; a send can only fail during shutdown.
    let _ = reporter().tx.send(Message::Event(event));
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

/// Waits until every event emitted before this call has been handled by every sink and the sinks have
/// flushed.
pub async fn flush() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if reporter().tx.send(Message::Flush(tx)).is_ok() {
        let _ = rx.await;
    }
}

const MAX_BATCH: usize = 4096;

fn report(rx: Receiver<Message>, sinks: Arc<RwLock<Vec<Arc<dyn EventSink>>>>) {
    let mut batch: Vec<Event> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    let mut out = String::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(event) => {
                    let line = lifecycle_log(&event, &mut out);
                    batch.push(event);
                    if let Some(line) = line {
                        batch.push(Event::Log(line));
                    }
                }
                Message::Print(line) => out.push_str(&line),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !out.is_empty() {
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), out.as_bytes());
            out.clear();
        }
        let sinks = sinks.read().unwrap_or_else(|e| e.into_inner()).clone();
        if !batch.is_empty() {
            let shared: Arc<[Event]> = std::mem::take(&mut batch).into();
            for sink in &sinks {
                sink.handle_shared(&shared);
            }
        }
        if !flushes.is_empty() {
            for sink in &sinks {
                sink.flush();
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

/// The level of the runtime's line about a run entering `state`.
pub(crate) fn state_level(state: &State) -> LogLevel {
    match (state.kind, state.name.as_ref()) {
        (crate::StateType::Failed | crate::StateType::Crashed, _) => LogLevel::Error,
        (_, "AwaitingRetry") => LogLevel::Warning,
        (_, "UpstreamFailed") => LogLevel::Warning,
        _ => LogLevel::Info,
    }
}

/// How the runtime's line about a run reaching a final state begins.
const FINISHED: &str = "Finished in state ";

/// The runtime's line about a run reaching a final state.
pub(crate) fn finished_line(state: &State) -> String {
    format!("{FINISHED}{state}")
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
    let label = run.label();
    if crate::logging::prints_itself() {
        if crate::logging::enabled(level) {
            crate::logging::format_line(out, timestamp, level, &label, &message);
        }
    } else {
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
