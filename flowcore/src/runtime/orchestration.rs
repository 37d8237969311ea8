//! The orchestration policy: the one place that decides what a run may do next.
//!
//! Every proposed transition — from the runtime (a task or flow run moving on), from a reported batch
//! of events the store ingests, from the server's services (Late, Pending on claim, Crashed on a lost
//! heartbeat) and from an agent — goes through [`decide`], which looks at the run's current state and
//! the proposed one and answers [`Decision::Accept`] (possibly with the proposed state *replaced*, e.g.
//! a second attempt's `Running` becomes `Retrying`) or [`Decision::Reject`] with the reason. A rejected
//! transition is not recorded; the run keeps its state. Prefect's orchestration rules
//! (`prefect/server/orchestration/core_policy.py`) are the model.
//!
//! The rules, in order:
//!
//! 1. A run without a state may enter any state.
//! 2. A final state (`Completed`, `Failed`, `Cancelled`, `Crashed`) is final: nothing replaces it —
//!    not a late `Crashed` from a reaper, not a `Running` from a process that outlived its agent.
//! 3. A run does not enter the state it is in: `Running`→`Running`, `Pending`→`Pending` and the like
//!    are rejected (`Scheduled`→`Late` is a change of name, and accepted).
//! 4. Nothing goes back to `Pending` or `Scheduled` once it ran, except a failed attempt to
//!    `AwaitingRetry`.
//! 5. `AwaitingRetry` follows only a running attempt; the next attempt's `Running` becomes `Retrying`
//!    (replaced), and `Retrying` follows only `AwaitingRetry`.
//! 6. `Cancelling` (asked to stop) refines only a running state, once; `Late` refines only a
//!    `Scheduled` state; `AwaitingConcurrencySlot` only a `Pending` one (a
//!    task run waiting for a slot of a tag concurrency limit).
//!
//! ```
//! use flowcore::runtime::orchestration::{decide, Decision};
//! use flowcore::State;
//!
//! let completed = State::completed();
//! assert!(matches!(decide(Some(&completed), State::crashed("reaper")), Decision::Reject(_)));
//! let waiting = State::awaiting_retry("boom");
//! let next = decide(Some(&waiting), State::running()).into_result().unwrap();
//! assert_eq!(next.name, "Retrying");
//! ```

use std::fmt;

use super::state::{State, StateName, StateType};

/// What the policy says of a proposed transition.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// The run enters this state: the proposed one, or the state the policy put in its place.
    Accept(State),
    /// The run keeps its state.
    Reject(Rejection),
}

impl Decision {
    /// The accepted state, or the rejection.
    // A rejection is the rare path and carries both states for its message.
    #[allow(clippy::result_large_err)]
    pub fn into_result(self) -> Result<State, Rejection> {
        match self {
            Decision::Accept(state) => Ok(state),
            Decision::Reject(rejection) => Err(rejection),
        }
    }

    /// Whether the transition was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Decision::Accept(_))
    }
}

/// Why a proposed transition was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Rejection {
    /// The run's state, which it keeps.
    pub current: Option<State>,
    /// The state that was proposed.
    pub proposed: State,
    /// Why, for people.
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.proposed, self.reason)
    }
}

impl std::error::Error for Rejection {}

fn reject(current: &State, proposed: State, reason: String) -> Decision {
    Decision::Reject(Rejection {
        current: Some(current.clone()),
        proposed,
        reason,
    })
}

/// Decides the transition of a run in `current` (`None`: the run has no state yet) to `proposed`.
// One arm per proposed kind, its rules inside, reads as the rule list above.
#[allow(clippy::collapsible_match)]
pub fn decide(current: Option<&State>, proposed: State) -> Decision {
    let Some(current) = current else {
        return Decision::Accept(proposed);
    };
    if current.is_final() {
        let reason = format!(
            "the run is already in the final state {}, which nothing replaces",
            current.name
        );
        return reject(current, proposed, reason);
    }
    let retrying = current.has_name(StateName::AwaitingRetry);
    match proposed.kind {
        StateType::Scheduled if proposed.has_name(StateName::AwaitingRetry) => {
            if current.kind != StateType::Running {
                let reason = format!(
                    "only a running attempt can await a retry, and the run is {}",
                    current.name
                );
                return reject(current, proposed, reason);
            }
        }
        StateType::Scheduled => {
            if current.kind != StateType::Scheduled {
                let reason = format!("a run that is {} cannot be scheduled again", current.name);
                return reject(current, proposed, reason);
            }
            if proposed.name == current.name {
                let reason = format!("the run is already {}", current.name);
                return reject(current, proposed, reason);
            }
            if proposed.has_name(StateName::Late) && !current.has_name(StateName::Scheduled) {
                let reason = format!(
                    "only a Scheduled run can be Late, not a {} one",
                    current.name
                );
                return reject(current, proposed, reason);
            }
        }
        StateType::Pending => {
            // A pending task run that must wait for a concurrency slot says so (a change of name).
            let waits_for_slot = current.has_name(StateName::Pending)
                && proposed.has_name(StateName::AwaitingConcurrencySlot);
            if current.kind != StateType::Scheduled && !waits_for_slot {
                let reason = if current.kind == StateType::Pending {
                    "the run is already Pending".to_string()
                } else {
                    format!("a run that is {} cannot go back to Pending", current.name)
                };
                return reject(current, proposed, reason);
            }
        }
        StateType::Running if proposed.has_name(StateName::Cancelling) => {
            // A run is asked to stop once; it must be running (a run not started is cancelled
            // outright).
            if current.kind != StateType::Running || current.has_name(StateName::Cancelling) {
                let reason = format!(
                    "only a running run can be cancelling, and the run is {}",
                    current.name
                );
                return reject(current, proposed, reason);
            }
        }
        StateType::Running => {
            if current.kind == StateType::Running {
                let reason = format!("the run is already {}", current.name);
                return reject(current, proposed, reason);
            }
            if retrying && proposed.has_name(StateName::Running) {
                // The next attempt of a run that failed before.
                let replaced = State {
                    name: State::retrying().name,
                    ..proposed
                };
                return Decision::Accept(replaced);
            }
            if proposed.has_name(StateName::Retrying) && !retrying {
                let reason = format!(
                    "only a run awaiting a retry can retry, and the run is {}",
                    current.name
                );
                return reject(current, proposed, reason);
            }
        }
        // Any non-final run may finish, be cancelled or crash.
        _ => {}
    }
    Decision::Accept(proposed)
}

/// Decides a user's request to retry (resume) a finished flow run: a `Failed`, `Crashed` or
/// `Cancelled` run goes back to `Scheduled`, named `AwaitingRetry`, to run again under the same id
/// (its task runs that completed with a persisted result are then reused, not run). The one way
/// back from a final state; a `Completed` run, or one not finished, is refused.
///
/// ```
/// use flowcore::runtime::orchestration::decide_retry;
/// use flowcore::State;
///
/// let again = decide_retry(Some(&State::failed("boom")), "retried by user").into_result().unwrap();
/// assert_eq!(again.name, "AwaitingRetry");
/// assert!(decide_retry(Some(&State::completed()), "retried by user").into_result().is_err());
/// ```
pub fn decide_retry(current: Option<&State>, message: &str) -> Decision {
    let proposed = State::awaiting_retry(message);
    match current {
        Some(current)
            if matches!(
                current.kind,
                StateType::Failed | StateType::Crashed | StateType::Cancelled
            ) =>
        {
            Decision::Accept(proposed)
        }
        Some(current) => {
            let reason = format!(
                "only a Failed, Crashed or Cancelled run can be retried, and the run is {}",
                current.name
            );
            reject(current, proposed, reason)
        }
        None => Decision::Reject(Rejection {
            current: None,
            proposed,
            reason: "the run has no state yet: there is nothing to retry".into(),
        }),
    }
}

/// Decides a sequence of proposed transitions in order, as one reported batch brings them: returns
/// the states accepted (as replaced) and the rejections. Each decision sees the states accepted
/// before it.
pub fn decide_all<'a>(
    current: Option<&State>,
    proposed: impl IntoIterator<Item = &'a State>,
) -> (Vec<State>, Vec<Rejection>) {
    let mut accepted: Vec<State> = Vec::new();
    let mut rejected = Vec::new();
    for state in proposed {
        let now = accepted.last().or(current);
        match decide(now, state.clone()) {
            Decision::Accept(state) => accepted.push(state),
            Decision::Reject(r) => rejected.push(r),
        }
    }
    (accepted, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str) -> State {
        match StateName::parse(name) {
            Some(n) => State::of(n),
            None => panic!("unknown state name {name}"),
        }
    }

    /// Every (current, proposed) pair the policy rules on, and what it says: `Ok(name)` for the state
    /// the run enters, `Err(())` for a rejection.
    #[test]
    fn policy_table() {
        use StateName as N;
        fn accept(n: &'static str) -> Result<&'static str, ()> {
            Ok(n)
        }
        let table: &[(Option<N>, N, Result<&str, ()>)] = &[
            // A run without a state may start anywhere.
            (None, N::Pending, accept("Pending")),
            (None, N::Scheduled, accept("Scheduled")),
            (None, N::Running, accept("Running")),
            (None, N::Failed, accept("Failed")),
            // Scheduled runs.
            (Some(N::Scheduled), N::Late, accept("Late")),
            (Some(N::Scheduled), N::Scheduled, Err(())),
            (Some(N::Late), N::Late, Err(())),
            (Some(N::Late), N::Pending, accept("Pending")),
            (Some(N::Scheduled), N::Pending, accept("Pending")),
            (Some(N::Scheduled), N::Running, accept("Running")),
            (Some(N::Scheduled), N::Cancelled, accept("Cancelled")),
            (Some(N::Scheduled), N::Crashed, accept("Crashed")),
            (Some(N::Scheduled), N::AwaitingRetry, Err(())),
            // Pending.
            (Some(N::Pending), N::Pending, Err(())),
            (
                Some(N::Pending),
                N::AwaitingConcurrencySlot,
                accept("AwaitingConcurrencySlot"),
            ),
            (
                Some(N::AwaitingConcurrencySlot),
                N::AwaitingConcurrencySlot,
                Err(()),
            ),
            (
                Some(N::AwaitingConcurrencySlot),
                N::Running,
                accept("Running"),
            ),
            (Some(N::Running), N::AwaitingConcurrencySlot, Err(())),
            (Some(N::Running), N::Cancelling, accept("Cancelling")),
            (Some(N::Retrying), N::Cancelling, accept("Cancelling")),
            (Some(N::Cancelling), N::Cancelling, Err(())),
            (Some(N::Pending), N::Cancelling, Err(())),
            (Some(N::Cancelling), N::Running, Err(())),
            (Some(N::Cancelling), N::Cancelled, accept("Cancelled")),
            (Some(N::Pending), N::Running, accept("Running")),
            (
                Some(N::Pending),
                N::UpstreamFailed,
                accept("UpstreamFailed"),
            ),
            (Some(N::Pending), N::Failed, accept("Failed")),
            (Some(N::Pending), N::Late, Err(())),
            (Some(N::Pending), N::Retrying, Err(())),
            // Running.
            (Some(N::Running), N::Running, Err(())),
            (Some(N::Running), N::Retrying, Err(())),
            (Some(N::Running), N::Pending, Err(())),
            (Some(N::Running), N::Scheduled, Err(())),
            (Some(N::Running), N::Completed, accept("Completed")),
            (Some(N::Running), N::Failed, accept("Failed")),
            (Some(N::Running), N::Crashed, accept("Crashed")),
            (Some(N::Running), N::Cancelled, accept("Cancelled")),
            (Some(N::Running), N::AwaitingRetry, accept("AwaitingRetry")),
            // Retries.
            (Some(N::AwaitingRetry), N::Running, accept("Retrying")),
            (Some(N::AwaitingRetry), N::Retrying, accept("Retrying")),
            (Some(N::AwaitingRetry), N::AwaitingRetry, Err(())),
            (Some(N::AwaitingRetry), N::Failed, accept("Failed")),
            (Some(N::Retrying), N::AwaitingRetry, accept("AwaitingRetry")),
            (Some(N::Retrying), N::Completed, accept("Completed")),
            (Some(N::Retrying), N::Running, Err(())),
            // Final states are final.
            (Some(N::Completed), N::Crashed, Err(())),
            (Some(N::Completed), N::Cancelled, Err(())),
            (Some(N::Completed), N::Running, Err(())),
            (Some(N::Completed), N::Failed, Err(())),
            (Some(N::Completed), N::Completed, Err(())),
            (Some(N::Completed), N::Scheduled, Err(())),
            (Some(N::Failed), N::Completed, Err(())),
            (Some(N::Failed), N::Running, Err(())),
            (Some(N::Crashed), N::Completed, Err(())),
            (Some(N::Crashed), N::Running, Err(())),
            (Some(N::Cancelled), N::Running, Err(())),
            (Some(N::UpstreamFailed), N::Running, Err(())),
        ];
        for (current, proposed, expected) in table {
            let current = current.map(|n| state(n.as_str()));
            let decision = decide(current.as_ref(), state(proposed.as_str()));
            let got = match &decision {
                Decision::Accept(s) => Ok(s.name.to_string()),
                Decision::Reject(_) => Err(()),
            };
            assert_eq!(
                got,
                expected.map(str::to_string),
                "{current:?} -> {proposed:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn a_replaced_state_keeps_its_type_message_and_time() {
        let proposed = State::running().with_message("second go");
        let at = proposed.timestamp;
        let Decision::Accept(s) = decide(Some(&State::awaiting_retry("x")), proposed) else {
            panic!("accepted")
        };
        assert_eq!(
            (s.kind, s.name.as_ref(), s.message.as_deref()),
            (StateType::Running, "Retrying", Some("second go"))
        );
        assert_eq!(s.timestamp, at);
    }

    #[test]
    fn a_rejection_names_both_states() {
        let Decision::Reject(r) = decide(Some(&State::completed()), State::crashed("reaper"))
        else {
            panic!("rejected")
        };
        assert!(r.reason.contains("Completed"), "{}", r.reason);
        assert!(r.to_string().starts_with("Crashed('reaper')"), "{r}");
    }

    #[test]
    fn a_batch_is_decided_in_order() {
        let states = [
            State::pending(),
            State::running(),
            State::awaiting_retry("boom"),
            State::running(),
            State::completed(),
            State::crashed("late reaper"),
        ];
        let (accepted, rejected) = decide_all(None, states.iter());
        let names: Vec<&str> = accepted.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "Pending",
                "Running",
                "AwaitingRetry",
                "Retrying",
                "Completed"
            ]
        );
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].proposed.name, "Crashed");
    }
}
