//! A task's settings, from its `#[task(...)]` attribute.

use std::time::Duration;

use super::retry::{RetryCondition, RetryDelay, RetryPolicy};
use super::state::State;
use crate::schemas::runs::TaskRun;

/// A task's settings, from its `#[task(...)]` attribute.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskSpec {
    /// The task's name (default: the function's name); task runs are named `{name}-{n}`.
    pub name: &'static str,
    /// Tags given to every run.
    pub tags: &'static [&'static str],
    /// How many times a failed run is tried again.
    pub retries: u32,
    /// The pause before each retry (`retry_delay`).
    pub retry_delay: RetryDelay,
    /// Each pause made up to this factor longer, at random (`retry_jitter`).
    pub retry_jitter: Option<f64>,
    /// Whether a failure is retried at all (`retry_if`).
    pub retry_if: Option<RetryCondition>,
    /// A run (each attempt) that takes longer fails `TimedOut` (`timeout`).
    pub timeout: Option<Duration>,
    /// Called with the final state when a run completes (`on_completion`).
    pub on_completion: &'static [TaskHook],
    /// Called with the final state when a run fails (`on_failure`).
    pub on_failure: &'static [TaskHook],
    /// A description for people.
    pub description: Option<&'static str>,
    /// Whether runs persist their result (`persist_result`; `None`: as the flow run says).
    pub persist_result: Option<bool>,
    /// Which runs share a result (`cache_policy`, `cache_key`). Caching persists the result.
    pub cache_policy: crate::results::CachePolicy,
    /// How long a cached result answers its key (`cache_expiration`; `None`: for ever).
    pub cache_expiration: Option<Duration>,
    /// Run even when a cached result exists, and store the new one (`refresh_cache`).
    pub refresh_cache: bool,
    /// A hash of the task's source tokens (computed by `#[task]`): part of every cache key, so
    /// editing the task invalidates its cache.
    pub source_hash: u64,
}

/// A task run's state hook: `fn(&TaskRun, &State)`, called once with the run's final state.
pub type TaskHook = fn(&TaskRun, &State);

impl TaskSpec {
    /// The settings of a task named `name` with no tags, retries or description.
    pub fn new(name: &'static str) -> TaskSpec {
        TaskSpec {
            name,
            tags: &[],
            retries: 0,
            retry_delay: RetryDelay::default(),
            retry_jitter: None,
            retry_if: None,
            timeout: None,
            on_completion: &[],
            on_failure: &[],
            description: None,
            persist_result: None,
            cache_policy: crate::results::CachePolicy::Default,
            cache_expiration: None,
            refresh_cache: false,
            source_hash: 0,
        }
    }

    pub(crate) fn retry_policy(&'static self) -> RetryPolicy {
        RetryPolicy::new(
            self.retries,
            &self.retry_delay,
            self.retry_jitter,
            self.retry_if,
        )
    }
}
