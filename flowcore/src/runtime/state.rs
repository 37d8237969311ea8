//! Run states, as Prefect has them.
//!
//! A [`State`] is what a flow run or task run *is* at one moment: a [`StateType`] (the coarse kind that
//! decides what may happen next), a name that refines it (`"AwaitingRetry"` is a `Scheduled` state,
//! `"Retrying"` a `Running` one, `"UpstreamFailed"` a `Cancelled` one), an optional message, and the time
//! it was entered. Every run keeps the full history of its states.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The coarse kind of a [`State`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum StateType {
    /// Waiting for a start time (scheduled runs, and tasks waiting between retries).
    Scheduled,
    /// Created, waiting for its inputs or for a worker.
    Pending,
    /// Executing.
    Running,
    /// Finished successfully (terminal).
    Completed,
    /// Finished with an error (terminal).
    Failed,
    /// Stopped before it finished, or never started (terminal).
    Cancelled,
    /// The process running it died without reporting a final state (terminal).
    Crashed,
}

impl StateType {
    /// Every state type, in lifecycle order.
    pub const ALL: &'static [StateType] = &[
        StateType::Scheduled,
        StateType::Pending,
        StateType::Running,
        StateType::Completed,
        StateType::Failed,
        StateType::Cancelled,
        StateType::Crashed,
    ];

    /// The type as the API and the store spell it: `COMPLETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateType::Scheduled => "SCHEDULED",
            StateType::Pending => "PENDING",
            StateType::Running => "RUNNING",
            StateType::Completed => "COMPLETED",
            StateType::Failed => "FAILED",
            StateType::Cancelled => "CANCELLED",
            StateType::Crashed => "CRASHED",
        }
    }

    /// The type spelt `s` (`COMPLETED`), if any.
    pub fn parse(s: &str) -> Option<StateType> {
        StateType::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Whether a run in this state is finished and will not change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StateType::Completed | StateType::Failed | StateType::Cancelled | StateType::Crashed
        )
    }

    /// The name a state of this type has when nothing more specific is said.
    pub fn default_name(self) -> &'static str {
        match self {
            StateType::Scheduled => "Scheduled",
            StateType::Pending => "Pending",
            StateType::Running => "Running",
            StateType::Completed => "Completed",
            StateType::Failed => "Failed",
            StateType::Cancelled => "Cancelled",
            StateType::Crashed => "Crashed",
        }
    }
}

impl fmt::Display for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.default_name())
    }
}

/// The state names flowcore gives, each refining one [`StateType`]. A [`State`]'s `name` is one of
/// these (or the type's default name); compare with [`State::has_name`], never with string literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateName {
    /// `Scheduled`: waiting for its start time.
    Scheduled,
    /// `Late` (a `Scheduled` state): not started some time after its expected start.
    Late,
    /// `AwaitingRetry` (a `Scheduled` state): a failed attempt that will be tried again.
    AwaitingRetry,
    /// `Pending`.
    Pending,
    /// `AwaitingConcurrencySlot` (a `Pending` state): waiting for a slot of a tag concurrency limit.
    AwaitingConcurrencySlot,
    /// `Running`.
    Running,
    /// `Retrying` (a `Running` state): a later attempt.
    Retrying,
    /// `Cancelling` (a `Running` state): asked to stop; its process has not yet.
    Cancelling,
    /// `Completed`.
    Completed,
    /// `Cached` (a `Completed` state): a task run that reused a persisted result instead of
    /// running.
    Cached,
    /// `Failed`.
    Failed,
    /// `TimedOut` (a `Failed` state): the run exceeded its `timeout`.
    TimedOut,
    /// `Cancelled`.
    Cancelled,
    /// `UpstreamFailed` (a `Cancelled` state): an input did not complete, so the run never ran.
    UpstreamFailed,
    /// `Crashed`.
    Crashed,
}

impl StateName {
    /// Every name, in lifecycle order.
    pub const ALL: &'static [StateName] = &[
        StateName::Scheduled,
        StateName::Late,
        StateName::AwaitingRetry,
        StateName::Pending,
        StateName::AwaitingConcurrencySlot,
        StateName::Running,
        StateName::Retrying,
        StateName::Cancelling,
        StateName::Completed,
        StateName::Cached,
        StateName::Failed,
        StateName::TimedOut,
        StateName::Cancelled,
        StateName::UpstreamFailed,
        StateName::Crashed,
    ];

    /// The name as states carry it: `AwaitingRetry`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Scheduled => "Scheduled",
            StateName::Late => "Late",
            StateName::AwaitingRetry => "AwaitingRetry",
            StateName::Pending => "Pending",
            StateName::AwaitingConcurrencySlot => "AwaitingConcurrencySlot",
            StateName::Running => "Running",
            StateName::Retrying => "Retrying",
            StateName::Cancelling => "Cancelling",
            StateName::Completed => "Completed",
            StateName::Cached => "Cached",
            StateName::Failed => "Failed",
            StateName::TimedOut => "TimedOut",
            StateName::Cancelled => "Cancelled",
            StateName::UpstreamFailed => "UpstreamFailed",
            StateName::Crashed => "Crashed",
        }
    }

    /// The type a state of this name has.
    pub fn kind(self) -> StateType {
        match self {
            StateName::Scheduled | StateName::Late | StateName::AwaitingRetry => {
                StateType::Scheduled
            }
            StateName::Pending | StateName::AwaitingConcurrencySlot => StateType::Pending,
            StateName::Running | StateName::Retrying | StateName::Cancelling => StateType::Running,
            StateName::Completed | StateName::Cached => StateType::Completed,
            StateName::Failed | StateName::TimedOut => StateType::Failed,
            StateName::Cancelled | StateName::UpstreamFailed => StateType::Cancelled,
            StateName::Crashed => StateType::Crashed,
        }
    }

    /// The name spelt `s`, if flowcore gives it.
    pub fn parse(s: &str) -> Option<StateName> {
        StateName::ALL.iter().copied().find(|n| n.as_str() == s)
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state of a flow run or task run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct State {
    /// The coarse kind.
    #[serde(rename = "type")]
    pub kind: StateType,
    /// The refined name, e.g. `"AwaitingRetry"` or `"Completed"`.
    #[cfg_attr(feature = "server", schema(value_type = String))]
    pub name: Cow<'static, str>,
    /// What happened, for people: the error of a failed run, the reason of a retry.
    pub message: Option<String>,
    /// When the run entered this state.
    pub timestamp: DateTime<Utc>,
}

impl State {
    /// A state of `kind` with its default name, no message, stamped now.
    pub fn new(kind: StateType) -> State {
        State {
            kind,
            name: Cow::Borrowed(kind.default_name()),
            message: None,
            timestamp: Utc::now(),
        }
    }

    /// A state of `kind` with a specific name, stamped now.
    pub fn named(kind: StateType, name: impl Into<Cow<'static, str>>) -> State {
        State {
            name: name.into(),
            ..State::new(kind)
        }
    }

    /// This state with a message.
    pub fn with_message(mut self, message: impl Into<String>) -> State {
        self.message = Some(message.into());
        self
    }

    /// A state of the given name (and the type it refines), stamped now.
    pub fn of(name: StateName) -> State {
        State::named(name.kind(), name.as_str())
    }

    /// Whether this state has the name `name`.
    pub fn has_name(&self, name: StateName) -> bool {
        self.name == name.as_str()
    }

    /// `Pending`.
    pub fn pending() -> State {
        State::new(StateType::Pending)
    }

    /// `Running`.
    pub fn running() -> State {
        State::new(StateType::Running)
    }

    /// `Running`, named `Retrying`: a later attempt of a run that failed before.
    pub fn retrying() -> State {
        State::of(StateName::Retrying)
    }

    /// `Completed`.
    pub fn completed() -> State {
        State::new(StateType::Completed)
    }

    /// `Completed`, named `Cached`: a task run that reused a persisted result (the message names
    /// the cache key and the run that produced it).
    pub fn cached(message: impl Into<String>) -> State {
        State::of(StateName::Cached).with_message(message)
    }

    /// `Failed` with a message.
    pub fn failed(message: impl Into<String>) -> State {
        State::new(StateType::Failed).with_message(message)
    }

    /// `Failed`, named `TimedOut`: the run exceeded its `timeout`.
    pub fn timed_out(message: impl Into<String>) -> State {
        State::of(StateName::TimedOut).with_message(message)
    }

    /// `Scheduled`, named `AwaitingRetry`: a failed attempt that will be tried again.
    pub fn awaiting_retry(message: impl Into<String>) -> State {
        State::of(StateName::AwaitingRetry).with_message(message)
    }

    /// `Cancelled`, named `UpstreamFailed`: a task run that never ran because an input did not complete.
    pub fn upstream_failed(message: impl Into<String>) -> State {
        State::of(StateName::UpstreamFailed).with_message(message)
    }

    /// `Scheduled`, named `Late`: a scheduled run not started some time after its expected start.
    pub fn late(message: impl Into<String>) -> State {
        State::of(StateName::Late).with_message(message)
    }

    /// `Cancelled` with a message.
    pub fn cancelled(message: impl Into<String>) -> State {
        State::new(StateType::Cancelled).with_message(message)
    }

    /// `Crashed` with a message.
    pub fn crashed(message: impl Into<String>) -> State {
        State::new(StateType::Crashed).with_message(message)
    }

    /// Whether this state is terminal.
    pub fn is_final(&self) -> bool {
        self.kind.is_final()
    }

    /// Whether this is a `Completed` state.
    pub fn is_completed(&self) -> bool {
        self.kind == StateType::Completed
    }

    /// Whether this is a `Failed` state.
    pub fn is_failed(&self) -> bool {
        self.kind == StateType::Failed
    }

    /// Whether this is a `Cancelled` state.
    pub fn is_cancelled(&self) -> bool {
        self.kind == StateType::Cancelled
    }

    /// Whether this is a `Crashed` state.
    pub fn is_crashed(&self) -> bool {
        self.kind == StateType::Crashed
    }

    /// Whether this is a `Running` state.
    pub fn is_running(&self) -> bool {
        self.kind == StateType::Running
    }

    /// Whether this is a `Pending` state.
    pub fn is_pending(&self) -> bool {
        self.kind == StateType::Pending
    }

    /// Whether this is a `Scheduled` state.
    pub fn is_scheduled(&self) -> bool {
        self.kind == StateType::Scheduled
    }
}

/// Prefect's notation: `Completed()`, `Failed('message')`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.message {
            None => f.write_str("()"),
            Some(m) => {
                f.write_str("('")?;
                f.write_str(m)?;
                f.write_str("')")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_follows_prefect() {
        assert_eq!(State::completed().to_string(), "Completed()");
        assert_eq!(State::failed("boom").to_string(), "Failed('boom')");
        let s = State::awaiting_retry("again");
        assert_eq!(s.kind, StateType::Scheduled);
        assert_eq!(s.to_string(), "AwaitingRetry('again')");
    }

    #[test]
    fn finality() {
        assert!(State::completed().is_final());
        assert!(State::upstream_failed("x").is_final());
        assert!(!State::retrying().is_final());
        assert!(!State::awaiting_retry("x").is_final());
        assert!(State::crashed("x").is_crashed());
    }

    #[test]
    fn serde_uses_prefect_type_names() {
        let json = serde_json::to_value(State::completed()).unwrap();
        assert_eq!(json["type"], "COMPLETED");
        assert_eq!(json["name"], "Completed");
        let back: State = serde_json::from_value(json).unwrap();
        assert!(back.is_completed());
    }
}
