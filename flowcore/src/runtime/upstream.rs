//! A type-erased view of a task future: what the runtime needs to wait on it and draw its edge.

use std::future::Future;
use std::pin::Pin;

use super::error::TaskRunError;
use super::run_record::RunRecord;

/// A type-erased view of a task future: what the runtime needs to wait on it and draw its edge.
pub(crate) trait Upstream: Send + Sync {
    fn record(&self) -> &RunRecord;
    fn wait(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    fn succeeded(&self) -> bool;
    /// Why the run did not complete, once it ended so.
    fn error(&self) -> Option<TaskRunError>;
}
