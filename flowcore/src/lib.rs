//! # flowcore
//!
//! A workflow orchestrator for Rust in the class of Prefect: `#[task]` and `#[flow]` over a runtime that
//! tracks every run's state, with microseconds of overhead per task.
//!
//! ```
//! use flowcore::prelude::*;
//!
//! #[task(retries = 2, retry_delay = 0.01)]
//! fn double(x: i64) -> i64 {
//!     x * 2
//! }
//!
//! #[task]
//! async fn add(a: i64, b: i64) -> Result<i64, std::num::TryFromIntError> {
//!     Ok(a + b)
//! }
//!
//! #[flow(name = "Arithmetic", task_runner = Concurrent)]
//! async fn arithmetic(x: i64) -> anyhow::Result<i64> {
//!     let a = double(x).submit();        // a TaskFuture, running on the task runner
//!     let b = double(x + 1).submit();
//!     let sum = add(&a, &b).await?;      // futures as inputs: edges of the task graph
//!     Ok(sum)
//! }
//!
//! fn main() {
//!     let state = arithmetic.run_blocking(20);
//!     assert!(state.is_completed());
//!     assert_eq!(state.task_runs().len(), 3);
//!     assert_eq!(state.result().unwrap(), 82);
//! }
//! ```
//!
//! * [`task`](macro@task) and [`flow`](macro@flow) are the macros; [`TaskCall`], [`TaskFuture`] and [`FlowState`] what they give.
//!
//! The crate is layered (ARCHITECTURE.md tells how a task run flows through the layers):
//!
//! * [`runtime`]: states and the [orchestration policy](runtime::orchestration) every transition goes
//!   through, tasks, flows, futures, runners and the engine that runs one run's lifecycle.
//! * [`reporting`]: events, log capture, the reporter thread and its sinks.
//! * [`results`]: persisted task results — their storage, stored form and cache keys.
//! * [`schemas`]: the wire types the store, the server, the API client, the agent and the CLI share.
//! * [`deploy`]: flows runnable by name, schedules, deployments, the entrypoint and the agent.
//! * `store` (feature `store`, on by default): runs recorded in SQLite or PostgreSQL; [`config`]
//!   holds the settings.
//! * `api_client` (feature `client`, on by default): a typed client of a flowcore server's API.
//!   `server` (feature `server`): the HTTP API and web UI that `flowcore server start` runs; `cli`
//!   (feature `cli`): the `flowcore` command.
#![warn(missing_docs)]

// The layers, bottom up: see ARCHITECTURE.md.
#[cfg(feature = "client")]
pub mod api_client;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod deploy;
pub mod reporting;
pub mod results;
pub mod runtime;
pub mod schemas;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "store")]
pub mod store;
pub mod testing;

// The paths earlier releases documented, kept working.
#[cfg(feature = "agent")]
pub use deploy::agent;
#[cfg(all(feature = "client", feature = "store"))]
pub use deploy::deployment;
pub use deploy::{registry, schedule, task_worker};
pub use reporting::logging;
pub use runtime::{artifacts, error, flow, retry, runner, state, task};

/// Run records as plain values: [`TaskRun`], [`FlowRun`] and the task graph's edges.
pub mod record {
    pub use crate::schemas::runs::{FlowRun, InputKind, TaskInput, TaskRun};
}

/// The event sink: what the runtime reports ([`Event`](event::Event)) and where it goes.
pub mod event {
    pub use crate::reporting::reporter::{add_sink, flush, remove_sink};
    pub use crate::reporting::sink::{EventSink, MemorySink};
    pub use crate::schemas::events::{Event, LogLevel, LogRecord, RunKind, RunRef};
}

/// Where runs are recorded by default: see [`reporting::destination`].
pub mod recording {
    pub use crate::reporting::destination::disabled;
}

/// Reporting to a flowcore server: see [`reporting::api_sink`].
#[cfg(feature = "client")]
pub mod client {
    pub use crate::reporting::api_sink::{ApiSink, ApiSinkOptions, MAX_BATCH, SEND_AFTER};
    pub use crate::reporting::outbox::Outbox;
}

#[cfg(all(feature = "client", feature = "store"))]
pub use deploy::entrypoint::{entrypoint, FLOW_RUN_ID_VAR};
pub use flowcore_macros::{flow, task};
pub use runtime::error::{FlowRunError, ParameterError, TaskRunError, TaskRunFailure};
pub use runtime::flow::{Flow, FlowSpec, FlowState};
pub use runtime::future::TaskFuture;
pub use runtime::input::{IntoTaskInput, TaskInput};
pub use runtime::retry::IntoRetryDelay;
pub use runtime::runner::TaskRunner;
pub use runtime::state::{State, StateType};
pub use runtime::task::{TaskCall, TaskSpec, WaitFor};
pub use schemas::runs::{FlowRun, InputKind, TaskRun};

/// The error type flows conventionally return: any error, with its chain and backtrace.
pub type FlowError = anyhow::Error;

/// What a flow or task program usually needs.
pub mod prelude {
    pub use crate::retry::exponential_backoff;
    pub use crate::runner::TaskRunner::{Concurrent, Distributed, Sequential};
    pub use crate::{
        flow, task, FlowError, FlowRunError, FlowState, State, StateType, TaskFuture, TaskRunError,
        TaskRunner,
    };
}

/// What only generated code uses. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::deploy::registry::{
        object_schema, RegisteredFlow, SchemaProbe, ViaAnything, ViaJsonSchema,
    };
    pub use crate::runtime::body::RemoteArgs;
    pub use crate::runtime::body::{Body, Edges, FlowBody, SyncCall};
    pub use crate::runtime::flow::JsonParameters;
    pub use crate::runtime::remote::{
        arg_from_json, remote_mode, ArgProbe, ViaOpaqueArg, ViaSerdeArg,
    };
    pub use crate::runtime::remote_calls::{bad_arguments, delay, run_claimed};
    pub use crate::runtime::results::{
        CacheInputs, Codec, CodecProbe, JsonSource, ViaNoCodec, ViaSerdeCodec,
    };
    pub use crate::runtime::task_params::{
        name_task_run_late, note_task_parameters, ParamProbe, ParamsWriter, ViaOpaqueParam,
        ViaSerdeParam,
    };
    pub use anyhow;
    pub use futures_util::future::BoxFuture;
    pub use inventory;
    pub use schemars;
    pub use serde;
    pub use serde_json;

    use crate::runtime::error::ParameterError;
    use crate::runtime::flow::{FlowSpec, FlowState};

    /// A task call that can be submitted, giving futures of `R` (what `task::map` needs; the
    /// bound lives on a generic so a task whose value is not `Sync` still compiles).
    pub trait Submit<R> {
        /// `.submit()`.
        fn submit_now(self) -> crate::TaskFuture<R>;
    }

    impl<T: Send + Sync + 'static> Submit<T> for crate::TaskCall<T> {
        fn submit_now(self) -> crate::TaskFuture<T> {
            self.submit()
        }
    }

    /// Converts a body's error.
    pub fn into_anyhow<E: Into<anyhow::Error>>(e: E) -> anyhow::Error {
        e.into()
    }

    /// A parameter's JSON record.
    pub fn to_param_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value)
            .unwrap_or_else(|e| serde_json::Value::String(format!("<not serializable: {e}>")))
    }

    /// The record of a parameter that is not a serde type (`validate_parameters = false`).
    pub fn opaque_param<T>(_: &T) -> serde_json::Value {
        serde_json::Value::String(format!("<{}>", std::any::type_name::<T>()))
    }

    /// The retry delay of an attribute.
    pub fn retry_delay(delay: impl crate::retry::IntoRetryDelay) -> crate::retry::RetryDelay {
        delay.into_retry_delay()
    }

    /// The `retry_jitter` of an attribute.
    pub fn jitter(factor: impl Into<f64>) -> f64 {
        factor.into()
    }

    /// The `cache_expiration` of an attribute.
    pub fn cache_expiration(expiration: impl crate::retry::IntoSeconds) -> std::time::Duration {
        expiration.into_duration()
    }

    /// Requires `T` to be a serde type, for `persist_result = true` (the compile error names `T`).
    pub fn persistable<T: serde::Serialize + serde::de::DeserializeOwned>(
    ) -> Option<crate::runtime::results::Codec<T>> {
        Some(crate::runtime::results::Codec::serde())
    }

    /// The `timeout` of an attribute.
    pub fn timeout(timeout: impl crate::retry::IntoSeconds) -> std::time::Duration {
        timeout.into_duration()
    }

    /// Runs a flow run.
    pub fn run_flow<T: Send + 'static>(
        spec: &'static FlowSpec,
        identity: Option<crate::runtime::flow::FlowRunIdentity>,
        name: Option<String>,
        parameters: serde_json::Value,
        body: Result<FlowBody<T>, ParameterError>,
        codec: Option<crate::runtime::results::Codec<T>>,
    ) -> BoxFuture<'static, FlowState<T>> {
        Box::pin(crate::runtime::engine::run_flow(
            spec, identity, name, parameters, body, codec,
        ))
    }

    /// Runs a future to completion on a fresh multi-threaded tokio runtime.
    pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("flowcore: cannot start a tokio runtime")
            .block_on(fut)
    }
}
