//! What generated code hands the runtime: a run's body, boxed so retries can run it again, and the
//! upstream edges of a task call.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::upstream::Upstream;
use crate::schemas::runs::TaskInput;

/// The upstream edges of a task call. Built by generated code.
#[doc(hidden)]
#[derive(Default)]
pub struct Edges {
    pub(crate) inputs: Vec<TaskInput>,
    pub(crate) upstream: Vec<Arc<dyn Upstream>>,
}

/// A task body, boxed so that retries can run it again. Built by generated code.
#[doc(hidden)]
pub enum Body<T> {
    /// A sync function's body.
    Sync(Box<dyn FnMut() -> anyhow::Result<T> + Send>),
    /// An async function's body.
    Async(Box<dyn FnMut() -> BoxFuture<'static, anyhow::Result<T>> + Send>),
    /// A sync function's body with a `timeout`: each attempt takes its arguments on the caller's
    /// side and gives the call, which runs on a thread of its own (a sync body cannot be
    /// interrupted; at the deadline its thread is left behind, not the runner's).
    SyncTimed(SyncCall<T>),
    /// A call sent to the task workers (`task::delay`, the `Distributed` runner): what gives its
    /// arguments as JSON once its upstream runs completed.
    Remote(RemoteArgs),
}

/// What prepares one attempt's call of a sync body with a timeout.
#[doc(hidden)]
pub type SyncCall<T> = Box<dyn FnMut() -> Box<dyn FnOnce() -> anyhow::Result<T> + Send> + Send>;

/// A flow body, boxed so that flow retries can run it again. Built by generated code.
#[doc(hidden)]
pub type FlowBody<T> = Box<dyn FnMut() -> BoxFuture<'static, anyhow::Result<T>> + Send>;

/// What prepares a remote run's arguments: their JSON object, once its upstream runs completed.
/// Built by generated code.
#[doc(hidden)]
pub type RemoteArgs = Box<dyn FnOnce() -> Result<serde_json::Value, String> + Send>;
