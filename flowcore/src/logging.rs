//! Logging: `tracing` events inside a task or flow are captured with the run they belong to, and printed
//! in Prefect's style:
//!
//! ```text
//! 12:01:02.345 | INFO    | Task run 'load_data-0' - Finished in state Completed()
//! ```
//!
//! The runtime enters a `tracing` span for every flow run and task run; [`PrefectLayer`] finds the run of
//! an event through that span, prints the line, and reports it as a [`LogRecord`](crate::event::LogRecord).
//!
//! The first flow or task run installs a default subscriber ([`init`]) unless the program already set
//! one: users keep their own subscriber. To capture run logs under your own subscriber, add
//! [`capture_layer`] to it. `FLOWCORE_LOGGING_LEVEL` (`debug`, `info` (default), `warning`, `error`,
//! `off`) sets what is printed and recorded.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use uuid::Uuid;

use crate::event::{self, LogRecord, RunKind, RunRef};

/// The target of the runtime's own spans and events.
pub(crate) const TARGET: &str = "flowcore";

/// Span names the runtime uses for runs.
pub(crate) const FLOW_RUN_SPAN: &str = "flow_run";
pub(crate) const TASK_RUN_SPAN: &str = "task_run";

/// Installs flowcore's default subscriber (Prefect-style lines on stderr plus run-log capture) as the
/// global default, unless one is already set. Returns whether it was installed. Called automatically
/// by the first flow or task run.
pub fn init() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry()
            .with(PrefectLayer::new(true, true).with_filter(level_from_env()));
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
    PrefectLayer::new(false, true).with_filter(level_from_env())
}

/// The level set by `FLOWCORE_LOGGING_LEVEL` (default `info`).
pub fn level_from_env() -> LevelFilter {
    match std::env::var("FLOWCORE_LOGGING_LEVEL")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "critical" => LevelFilter::ERROR,
        "off" | "none" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
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

/// What the layer keeps in a run span's extensions.
struct RunSpan {
    run: RunRef,
    flow_run_id: Option<Uuid>,
    label: String,
}

#[derive(Default)]
struct RunFields {
    id: u128,
    flow_run_id: u128,
    name: Option<String>,
}

impl Visit for RunFields {
    fn record_u128(&mut self, field: &Field, value: u128) {
        match field.name() {
            "run_id" => self.id = value,
            "flow_run_id" => self.flow_run_id = value,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "run_name" {
            self.name = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "run_name" {
            self.name = Some(format!("{value:?}"));
        }
    }
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
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if meta.target() != TARGET {
            return;
        }
        let kind = match meta.name() {
            FLOW_RUN_SPAN => RunKind::Flow,
            TASK_RUN_SPAN => RunKind::Task,
            _ => return,
        };
        let mut fields = RunFields::default();
        attrs.record(&mut fields);
        let run = RunRef {
            kind,
            id: Uuid::from_u128(fields.id),
            name: Arc::from(fields.name.unwrap_or_default()),
        };
        let flow_run_id = match kind {
            RunKind::Flow => Some(run.id),
            RunKind::Task => (fields.flow_run_id != 0).then(|| Uuid::from_u128(fields.flow_run_id)),
        };
        let label = run.label();
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(RunSpan {
                run,
                flow_run_id,
                label,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = MessageFields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        message.push_str(&fields.rest);

        let mut owner: Option<(RunRef, Option<Uuid>, String)> = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(run) = span.extensions().get::<RunSpan>() {
                    owner = Some((run.run.clone(), run.flow_run_id, run.label.clone()));
                    break;
                }
            }
        }

        if self.print {
            let prefix = match (&owner, &fields.run_label) {
                (Some((_, _, label)), _) => label.as_str(),
                (None, Some(label)) => label.as_str(),
                (None, None) => meta.target(),
            };
            let level = crate::event::LogLevel::from(*meta.level()).as_str();
            let line = format!(
                "{} | {:<7} | {} - {}\n",
                chrono::Local::now().format("%H:%M:%S%.3f"),
                level,
                prefix,
                message
            );
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }

        if self.capture {
            if let Some((run, flow_run_id, _)) = owner {
                event::emit(event::Event::Log(LogRecord {
                    run,
                    flow_run_id,
                    level: (*meta.level()).into(),
                    target: meta.target().to_string(),
                    message,
                    timestamp: chrono::Utc::now(),
                }));
            }
        }
    }
}
