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
//! * [`state`]: Prefect's state types. [`record`]: run records ([`TaskRun`], [`FlowRun`]).
//! * [`event`]: the in-process event sink the runtime reports to. [`logging`]: Prefect-style logs.
//! * [`store`] (feature `store`, on by default): runs recorded in SQLite or PostgreSQL; [`recording`]
//!   says where by default, [`config`] holds the settings.
//! * `client` (feature `client`, on by default): runs reported to a flowcore server when an API URL is
//!   configured. `server` (feature `server`): the HTTP API and web UI that `flowcore server start` runs.
#![warn(missing_docs)]

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "client")]
pub mod api_client;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
mod context;
#[cfg(all(feature = "client", feature = "store"))]
pub mod deployment;
mod engine;
#[cfg(all(feature = "client", feature = "store"))]
mod entrypoint;
pub mod error;
pub mod event;
pub mod flow;
mod future;
mod input;
pub mod logging;
mod names;
pub mod record;
pub mod recording;
pub mod registry;
pub mod runner;
pub mod schedule;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(feature = "store", feature = "client"))]
mod spool;
pub mod state;
#[cfg(feature = "store")]
pub mod store;
pub mod task;

#[cfg(all(feature = "client", feature = "store"))]
pub use entrypoint::{entrypoint, FLOW_RUN_ID_VAR};
pub use error::{FlowRunError, ParameterError, TaskRunError, TaskRunFailure};
pub use flow::{Flow, FlowSpec, FlowState};
pub use flowcore_macros::{flow, task};
pub use future::TaskFuture;
pub use input::{IntoTaskInput, TaskInput};
pub use record::{FlowRun, InputKind, TaskRun};
pub use runner::TaskRunner;
pub use state::{State, StateType};
pub use task::{IntoRetryDelay, TaskCall, TaskSpec, WaitFor};

/// The error type flows conventionally return: any error, with its chain and backtrace.
pub type FlowError = anyhow::Error;

/// What a flow or task program usually needs.
pub mod prelude {
    pub use crate::runner::TaskRunner::{Concurrent, Sequential};
    pub use crate::{
        flow, task, FlowError, FlowRunError, FlowState, State, StateType, TaskFuture, TaskRunError,
        TaskRunner,
    };
}

/// What only generated code uses. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::engine::FlowBody;
    pub use crate::flow::JsonParameters;
    pub use crate::registry::{
        object_schema, RegisteredFlow, SchemaProbe, ViaAnything, ViaJsonSchema,
    };
    pub use crate::task::{Body, Edges};
    pub use anyhow;
    pub use futures_util::future::BoxFuture;
    pub use inventory;
    pub use schemars;
    pub use serde;
    pub use serde_json;

    use crate::error::ParameterError;
    use crate::flow::{FlowSpec, FlowState};

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
    pub fn retry_delay(delay: impl crate::task::IntoRetryDelay) -> std::time::Duration {
        delay.into_retry_delay()
    }

    /// Runs a flow run.
    pub fn run_flow<T: Send + 'static>(
        spec: &'static FlowSpec,
        parameters: serde_json::Value,
        body: Result<FlowBody<T>, ParameterError>,
    ) -> BoxFuture<'static, FlowState<T>> {
        Box::pin(crate::engine::run_flow(spec, parameters, body))
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
