//! A live run's state history, kept compact.
//!
//! Most states a run goes through are plain — `Pending`, `Running`, `Completed` under their default
//! names and without a message — yet a [`State`] has room for a name and a message (64 bytes). A
//! flow holds the record of every task run it has (and its `FlowState` keeps them after it ends),
//! so a million of them would keep ~200 bytes of history each; kept here as a timestamp and a kind (24 bytes), with the name and
//! message boxed only when a state has them, the same history takes 72 — inline in the record for
//! the three states most runs have (`Pending`, `Running`, a final state), without an allocation of
//! its own; a run that goes through more (a retry) moves its history to the heap.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use smallvec::SmallVec;

use super::state::{State, StateType};

/// One state of a history: its kind and time, and — only when it has them — its own name and
/// message.
#[derive(Debug, Clone)]
struct Kept {
    timestamp: DateTime<Utc>,
    kind: StateType,
    named: Option<Box<(Cow<'static, str>, Option<String>)>>,
}

impl Kept {
    fn new(state: State) -> Kept {
        let State {
            kind,
            name,
            message,
            timestamp,
        } = state;
        let named =
            (name != kind.default_name() || message.is_some()).then(|| Box::new((name, message)));
        Kept {
            timestamp,
            kind,
            named,
        }
    }

    fn to_state(&self) -> State {
        self.clone().into_state()
    }

    fn into_state(self) -> State {
        let (name, message) = match self.named {
            None => (Cow::Borrowed(self.kind.default_name()), None),
            Some(named) => *named,
        };
        State {
            kind: self.kind,
            name,
            message,
            timestamp: self.timestamp,
        }
    }
}

/// The states a live run went through, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    states: SmallVec<[Kept; 3]>,
}

impl History {
    /// Appends a state.
    pub(crate) fn push(&mut self, state: State) {
        self.states.push(Kept::new(state));
    }

    /// The latest state.
    pub(crate) fn last(&self) -> Option<State> {
        self.states.last().map(Kept::to_state)
    }

    /// The latest state's kind.
    pub(crate) fn last_kind(&self) -> Option<StateType> {
        self.states.last().map(|kept| kept.kind)
    }

    /// When the run first entered `Running`.
    pub(crate) fn start_time(&self) -> Option<DateTime<Utc>> {
        self.states
            .iter()
            .find(|kept| kept.kind == StateType::Running)
            .map(|kept| kept.timestamp)
    }

    /// When the run last entered a final state.
    pub(crate) fn end_time(&self) -> Option<DateTime<Utc>> {
        self.states
            .iter()
            .rev()
            .find(|kept| kept.kind.is_final())
            .map(|kept| kept.timestamp)
    }

    /// The full states, oldest first.
    pub(crate) fn to_states(&self) -> Vec<State> {
        self.states.iter().map(Kept::to_state).collect()
    }

    /// The full states, oldest first, taking the history's own names and messages.
    pub(crate) fn into_states(self) -> Vec<State> {
        self.states.into_iter().map(Kept::into_state).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_come_back_as_they_went_in() {
        let states = vec![
            State::new(StateType::Pending),
            State::new(StateType::Running),
            State::named(StateType::Scheduled, "AwaitingRetry").with_message("retry 1 of 2"),
            State::new(StateType::Running),
            State::new(StateType::Failed).with_message("boom"),
            State::named(StateType::Completed, "Cached"),
        ];
        let mut history = History::default();
        for state in states.clone() {
            history.push(state);
        }
        assert_eq!(history.to_states(), states);
        assert_eq!(history.last(), states.last().cloned());
        assert_eq!(history.last_kind(), Some(StateType::Completed));
        assert_eq!(history.start_time(), Some(states[1].timestamp));
        assert_eq!(history.end_time(), Some(states[5].timestamp));
        assert_eq!(history.clone().into_states(), states);
        assert_eq!(std::mem::size_of::<Kept>(), 24);
        // Three states inline, and the length: no larger than a `Vec` and its 72-byte buffer.
        assert_eq!(std::mem::size_of::<History>(), 80);
    }

    #[test]
    fn an_empty_history_has_no_times() {
        let history = History::default();
        assert_eq!(history.last(), None);
        assert_eq!(history.start_time(), None);
        assert_eq!(history.end_time(), None);
        assert!(history.to_states().is_empty());
    }
}
