//! Logging: `tracing` events inside a task or flow are captured with the run they belong to, and printed
//! in Prefect's style:
//!
//! ```text
//! 12:01:02.345 | INFO    | Task run 'load_data-0' - Finished in state Completed()
//! ```
//!
//! The runtime marks the thread that executes a run's body (around every poll, and around every call of
//! a sync task body); [`PrefectLayer`] finds an event's run there, prints the line, and reports it as a
//! [`LogRecord`]. Under a subscriber of the program's own, the runtime also
//! opens a `task_run` / `flow_run` span per run (target `flowcore`), so the program's output shows it.
//!
//! The first flow or task run installs a default subscriber ([`init`]) unless the program already set
//! one: users keep their own subscriber. To capture run logs under your own subscriber, add
//! [`capture_layer`] to it. `FLOWCORE_LOGGING_LEVEL` (`debug`, `info` (default), `warning`, `error`,
//! `off`) sets what is printed and recorded.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use uuid::Uuid;

use super::console::{format_line, level, prints_itself, INSTALLED};
use super::reporter;
use crate::schemas::events::{self, LogRecord, RunRef};

/// The target of the runtime's own spans and events.
pub(crate) const TARGET: &str = "flowcore";

/// Span names the runtime uses for runs.
pub(crate) const FLOW_RUN_SPAN: &str = "flow_run";
pub(crate) const TASK_RUN_SPAN: &str = "task_run";

/// Installs flowcore's default subscriber (Prefect-style lines on stderr plus run-log capture) as the
/// global default, unless one is already set. Returns whether it was installed. Called automatically
/// by the first flow or task run.
pub fn init() -> bool {
    *INSTALLED.get_or_init(|| {
        let subscriber =
            tracing_subscriber::registry().with(PrefectLayer::new(true, true).with_filter(level()));
        tracing::subscriber::set_global_default(subscriber).is_ok()
    })
}

/// A layer that records run logs (without printing anything), for programs that install their own
/// `tracing` subscriber:
///
/// ```
/// use tracing_subscriber::prelude::*;
/// tracing_subscriber::registry()
///     .with(flowcore::logging::capture_layer())
///     .init();
/// ```
pub fn capture_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    PrefectLayer::new(false, true).with_filter(level())
}

/// Prints events in Prefect's format and records those inside a run as that run's logs.
#[derive(Debug, Clone, Copy)]
pub struct PrefectLayer {
    print: bool,
    capture: bool,
}

impl PrefectLayer {
    /// A layer that prints (to stderr) and/or captures.
    pub fn new(print: bool, capture: bool) -> PrefectLayer {
        PrefectLayer { print, capture }
    }
}

/// The run a thread is executing right now: set around every poll of a run's body and around every
/// call of a sync task body, so that an event knows its run without any span bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct RunScope {
    pub(crate) run: RunRef,
    pub(crate) flow_run_id: Option<Uuid>,
    /// The runtime's live record of the run (what `flowcore::runtime::task_run()` reads).
    pub(crate) meta: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

thread_local! {
    static CURRENT: RefCell<Option<RunScope>> = const { RefCell::new(None) };
}

/// Restores the previous run scope when dropped (also on panic).
struct Restore(Option<RunScope>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn enter(scope: &RunScope) -> Restore {
    Restore(CURRENT.with(|c| c.borrow_mut().replace(scope.clone())))
}

/// The kind of run the calling thread is executing, if any.
pub(crate) fn current_run_kind() -> Option<crate::schemas::events::RunKind> {
    CURRENT.with(|c| c.borrow().as_ref().map(|s| s.run.kind))
}

/// The runtime's record of the current run, if the caller runs inside one.
pub(crate) fn current_meta() -> Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|s| s.meta.clone()))
}

/// Runs `f` with `scope` as the current run.
pub(crate) fn in_run<R>(scope: &RunScope, f: impl FnOnce() -> R) -> R {
    let _restore = enter(scope);
    f()
}

/// A future whose every poll runs with a run scope set.
pub(crate) struct InRun<F> {
    scope: RunScope,
    inner: F,
}

impl<F> InRun<F> {
    pub(crate) fn new(scope: RunScope, inner: F) -> InRun<F> {
        InRun { scope, inner }
    }
}

impl<F: Future + Unpin> Future for InRun<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _restore = enter(&this.scope);
        Pin::new(&mut this.inner).poll(cx)
    }
}

/// Whether the runtime should also open `tracing` spans for runs: only when the program installed its
/// own subscriber (which may show or export them); flowcore's own subscriber does not need them.
pub(crate) fn wants_spans() -> bool {
    !prints_itself()
}

#[derive(Default)]
struct MessageFields {
    message: String,
    rest: String,
    run_label: Option<String>,
}

impl Visit for MessageFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "run" => self.run_label = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "run" => self.run_label = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

impl<S> Layer<S> for PrefectLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = MessageFields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        message.push_str(&fields.rest);

        let owner: Option<RunScope> = CURRENT.with(|c| c.borrow().clone());

        let timestamp = chrono::Utc::now();
        if self.print {
            let label = owner.as_ref().map(|o| o.run.label());
            let prefix = match (&label, &fields.run_label) {
                (Some(label), _) => label.as_str(),
                (None, Some(label)) => label.as_str(),
                (None, None) => meta.target(),
            };
            let mut line = String::new();
            format_line(
                &mut line,
                timestamp,
                (*meta.level()).into(),
                &[prefix],
                &message,
            );
            reporter::print(line);
        }

        if self.capture {
            if let Some(RunScope {
                run, flow_run_id, ..
            }) = owner
            {
                reporter::emit(events::Event::Log(LogRecord {
                    run,
                    flow_run_id,
                    level: (*meta.level()).into(),
                    target: meta.target().to_string(),
                    message,
                    timestamp,
                }));
            }
        }
    }
}
