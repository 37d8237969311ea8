//! Retry policies: how many more attempts a failed run gets, the pause before each, and whether a
//! failure is worth retrying at all — Prefect's `retries`, `retry_delay_seconds` (a number, a list,
//! or [`exponential_backoff`]), `retry_jitter_factor` and `retry_condition_fn`.
//!
//! ```
//! use std::time::Duration;
//! use flowcore::retry::{exponential_backoff, IntoRetryDelay};
//!
//! let delays = [1, 10, 60].into_retry_delay();
//! assert_eq!(delays.before_retry(0), Duration::from_secs(1));
//! assert_eq!(delays.before_retry(5), Duration::from_secs(60)); // the last one repeats
//!
//! let backoff = exponential_backoff(10);
//! assert_eq!(backoff.before_retry(2), Duration::from_secs(40)); // 10 × 2²
//! ```

use std::time::Duration;

/// A number of seconds (integer or float) or a [`Duration`]: what `timeout = …` and each delay of
/// `retry_delay = …` accept.
#[diagnostic::on_unimplemented(
    message = "expected a number of seconds or a `std::time::Duration`, not `{Self}`"
)]
pub trait IntoSeconds {
    /// The duration (a negative number is zero).
    fn into_duration(self) -> Duration;
}

impl IntoSeconds for Duration {
    fn into_duration(self) -> Duration {
        self
    }
}

impl IntoSeconds for f64 {
    fn into_duration(self) -> Duration {
        Duration::try_from_secs_f64(self.max(0.0)).unwrap_or(Duration::MAX)
    }
}

impl IntoSeconds for f32 {
    fn into_duration(self) -> Duration {
        f64::from(self).into_duration()
    }
}

macro_rules! int_seconds {
    ($($t:ty),*) => {$(
        impl IntoSeconds for $t {
            fn into_duration(self) -> Duration {
                Duration::from_secs(u64::try_from(self).unwrap_or(0))
            }
        }
    )*};
}
int_seconds!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The pause before each retry.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryDelay {
    /// One delay per retry; fewer delays than retries repeat the last (none: no pause).
    Fixed(Vec<Duration>),
    /// `factor × 2^n` before retry `n` (0, 1, 2 …): [`exponential_backoff`].
    Exponential {
        /// The first delay.
        factor: Duration,
    },
}

impl Default for RetryDelay {
    fn default() -> RetryDelay {
        RetryDelay::Fixed(Vec::new())
    }
}

impl RetryDelay {
    /// The pause before retry `n` (0 for the first retry), before any jitter.
    pub fn before_retry(&self, n: u32) -> Duration {
        match self {
            RetryDelay::Fixed(delays) => delays
                .get(n as usize)
                .or(delays.last())
                .copied()
                .unwrap_or(Duration::ZERO),
            RetryDelay::Exponential { factor } => {
                factor.saturating_mul(2u32.saturating_pow(n.min(31)))
            }
        }
    }
}

/// Prefect's `exponential_backoff(backoff_factor)`: the delay before retry `n` (0, 1, 2 …) is
/// `backoff_factor × 2^n` seconds. Combine with `retry_jitter` to spread retries out.
pub fn exponential_backoff(backoff_factor: impl IntoSeconds) -> RetryDelay {
    RetryDelay::Exponential {
        factor: backoff_factor.into_duration(),
    }
}

/// What `retry_delay = …` accepts: seconds (a number or a [`Duration`]), a list of them (one per
/// retry, `[1, 10, 60]`), or a [`RetryDelay`] such as [`exponential_backoff`]`(10)`.
#[diagnostic::on_unimplemented(
    message = "`retry_delay` must be seconds, a `Duration`, a list of them or `exponential_backoff(…)`, not `{Self}`"
)]
pub trait IntoRetryDelay {
    /// The delay policy.
    fn into_retry_delay(self) -> RetryDelay;
}

impl<S: IntoSeconds> IntoRetryDelay for S {
    fn into_retry_delay(self) -> RetryDelay {
        RetryDelay::Fixed(vec![self.into_duration()])
    }
}

impl<S: IntoSeconds, const N: usize> IntoRetryDelay for [S; N] {
    fn into_retry_delay(self) -> RetryDelay {
        RetryDelay::Fixed(self.into_iter().map(IntoSeconds::into_duration).collect())
    }
}

impl<S: IntoSeconds> IntoRetryDelay for Vec<S> {
    fn into_retry_delay(self) -> RetryDelay {
        RetryDelay::Fixed(self.into_iter().map(IntoSeconds::into_duration).collect())
    }
}

impl IntoRetryDelay for RetryDelay {
    fn into_retry_delay(self) -> RetryDelay {
        self
    }
}

/// Decides whether a failure is retried: `retry_if = path` (Prefect's `retry_condition_fn`). It sees
/// the error the body returned (downcast it to look inside); a panic arrives as an error carrying the
/// panic's message, a timeout as a [`TimedOut`](crate::error::TimedOut).
pub type RetryCondition = fn(&anyhow::Error) -> bool;

/// A run's retry policy, borrowed from its task's or flow's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) retries: u32,
    pub(crate) delay: &'static RetryDelay,
    /// Each delay is made up to `jitter × delay` longer, at random.
    pub(crate) jitter: Option<f64>,
    pub(crate) condition: Option<RetryCondition>,
}

impl RetryPolicy {
    /// The policy of a task's or flow's settings.
    pub(crate) fn new(
        retries: u32,
        delay: &'static RetryDelay,
        jitter: Option<f64>,
        condition: Option<RetryCondition>,
    ) -> RetryPolicy {
        RetryPolicy {
            retries,
            delay,
            jitter,
            condition,
        }
    }

    /// The pause before retry `n` (0 for the first), jitter included: never shorter than the base
    /// delay, at most `(1 + jitter)` times it.
    pub(crate) fn pause(&self, n: u32) -> Duration {
        let base = self.delay.before_retry(n);
        match self.jitter {
            Some(factor) if factor > 0.0 && !base.is_zero() => {
                base.saturating_add(base.mul_f64(factor * fastrand::f64()))
            }
            _ => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_repeat_their_last_delay_and_backoff_doubles() {
        let fixed = [0.1, 0.2].into_retry_delay();
        let secs: Vec<f64> = (0..4)
            .map(|n| fixed.before_retry(n).as_secs_f64())
            .collect();
        assert_eq!(secs, [0.1, 0.2, 0.2, 0.2]);
        let backoff = exponential_backoff(10);
        let secs: Vec<u64> = (0..4).map(|n| backoff.before_retry(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80]);
        assert_eq!(RetryDelay::default().before_retry(3), Duration::ZERO);
        assert_eq!(
            Duration::from_millis(1500)
                .into_retry_delay()
                .before_retry(0),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn jitter_only_lengthens_up_to_its_factor() {
        let policy = RetryPolicy {
            retries: 3,
            delay: Box::leak(Box::new(10.into_retry_delay())),
            jitter: Some(0.5),
            condition: None,
        };
        let pauses: Vec<Duration> = (0..200).map(|_| policy.pause(0)).collect();
        assert!(pauses.iter().all(|p| *p >= Duration::from_secs(10)));
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(15)));
        assert!(pauses.iter().any(|p| *p > Duration::from_millis(10_100)));
    }
}
