//! How runs' rows are spelt: a state as a line of a run's `history` column, and the row of a task
//! run created in a batch, which both ways of writing it bind (sqlx's statements and the SQLite
//! fast path).

use std::borrow::{Borrow, Cow};

use super::codec::{push_id, push_ts, state_type_str};
use crate::runtime::state::State;
use crate::schemas::events::{Event, RunRef};
use crate::schemas::records::StoredInput;
use crate::schemas::runs::InputKind;

/// A run and what the batch says of it: its creation event (if created in this batch) and its states
/// (once orchestrated: the accepted ones, as the policy may have replaced them).
pub(crate) type RunEntry<'a> = (&'a RunRef, Option<&'a Event>, Vec<Cow<'a, State>>);

/// One line of a run's `history` column: a state, compactly (time in microseconds since the epoch).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct HistoryEntry<'a> {
    #[serde(rename = "t")]
    pub(crate) kind: crate::runtime::state::StateType,
    #[serde(rename = "n", borrow)]
    pub(crate) name: std::borrow::Cow<'a, str>,
    #[serde(rename = "m", borrow, default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<std::borrow::Cow<'a, str>>,
    pub(crate) at: i64,
}

/// Appends a state to `out` as one line of a run's `history` column (newline included): the JSON
/// of a [`HistoryEntry`], written directly (serde's map machinery was a sixth of the writer's
/// instructions; the bytes are the same, as a test checks).
fn write_history_line(out: &mut String, state: &State) {
    out.push_str("{\"t\":\"");
    out.push_str(state.kind.as_str());
    out.push_str("\",\"n\":");
    write_json_str(out, &state.name);
    if let Some(message) = &state.message {
        out.push_str(",\"m\":");
        write_json_str(out, message);
    }
    out.push_str(",\"at\":");
    out.push_str(itoa::Buffer::new().format(state.timestamp.timestamp_micros()));
    out.push_str("}\n");
}

/// `text` as a JSON string: as it is when nothing in it needs escaping (state names), through
/// serde_json otherwise.
fn write_json_str(out: &mut String, text: &str) {
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).expect("strings serialize"));
    }
}

/// A state as one line of a run's `history` column (newline included).
pub(crate) fn history_line(state: &State) -> String {
    let mut line = String::with_capacity(64);
    write_history_line(&mut line, state);
    line
}

/// Appends the history lines of a run's `states` to `history`, and says which of them started the
/// run (the first `Running` one) and how many attempts they made (one per `Running` state).
pub(crate) fn fold_states<'s, S: Borrow<State>>(
    states: &'s [S],
    history: &mut String,
) -> (Option<&'s State>, i64) {
    let mut start = None;
    let mut attempts = 0;
    for state in states {
        let state: &State = state.borrow();
        if state.is_running() {
            attempts += 1;
            start.get_or_insert(state);
        }
        write_history_line(history, state);
    }
    (start, attempts)
}

/// A new task run's row: what both ways of inserting it (a multi-row statement through sqlx, the
/// SQLite fast path) write, in [`TASK_RUN_COLUMNS`](super::write::TASK_RUN_COLUMNS) order. What
/// it spells (ids, times, history) is in one buffer: the fast path binds it in place, one
/// allocation per row where a string per column was six (with their frees, a tenth of the store
/// writer's instructions); sqlx's statements copy each value into a string of its own.
pub(crate) struct TaskRunRow<'a> {
    text: String,
    id: Span,
    flow_run_id: Option<Span>,
    created: Span,
    history: Span,
    start: Option<Span>,
    time: Option<Span>,
    /// Whether the state is final: the end time is then the state's time.
    ended: bool,
    pub(crate) task_name: &'a str,
    pub(crate) name: &'a str,
    pub(crate) tags: Cow<'static, str>,
    pub(crate) inputs: Cow<'static, str>,
    pub(crate) state_type: Option<&'static str>,
    pub(crate) state_name: Option<&'a str>,
    pub(crate) state_message: Option<&'a str>,
    pub(crate) attempts: i64,
}

/// Where a value is in a [`TaskRunRow`]'s buffer.
#[derive(Clone, Copy)]
struct Span(usize, usize);

/// Appends what `spell` writes to `text`, and says where it is.
fn spell(text: &mut String, spell: impl FnOnce(&mut String)) -> Span {
    let start = text.len();
    spell(text);
    Span(start, text.len())
}

impl<'a> TaskRunRow<'a> {
    /// The row of a task run created in the batch (`entry` carries its creation event).
    pub(crate) fn of(entry: &'a RunEntry<'a>) -> TaskRunRow<'a> {
        let (run, created, states) = entry;
        let Some(Event::TaskRunCreated {
            task_name,
            flow_run_id,
            tags,
            inputs,
            created,
            ..
        }) = created
        else {
            unreachable!("partitioned on creation events")
        };
        let inputs: Vec<StoredInput> = inputs
            .iter()
            .map(|i| StoredInput {
                parameter: i.parameter.clone(),
                upstream_id: i.upstream_id,
                upstream_name: Some(i.upstream_name.clone()),
                kind: match i.kind {
                    InputKind::Parameter => "parameter",
                    InputKind::WaitFor => "wait_for",
                }
                .to_string(),
            })
            .collect();
        // Two ids, three times and ~70 bytes of history per state.
        let mut text = String::with_capacity(2 * 36 + 3 * 27 + 80 * states.len());
        let id = spell(&mut text, |t| push_id(t, run.id));
        let flow_run_id = flow_run_id.map(|f| spell(&mut text, |t| push_id(t, f)));
        let created = spell(&mut text, |t| push_ts(t, created));
        let mut start = None;
        let mut attempts = 0;
        let history = spell(&mut text, |t| (start, attempts) = fold_states(states, t));
        let start = start.map(|s| spell(&mut text, |t| push_ts(t, &s.timestamp)));
        let last: Option<&State> = states.last().map(Borrow::borrow);
        let time = last.map(|s| spell(&mut text, |t| push_ts(t, &s.timestamp)));
        TaskRunRow {
            text,
            id,
            flow_run_id,
            created,
            history,
            start,
            time,
            ended: last.is_some_and(State::is_final),
            task_name,
            name: &run.name,
            tags: json_list(tags),
            inputs: json_list(&inputs),
            state_type: last.map(|s| state_type_str(s.kind)),
            state_name: last.map(|s| &*s.name),
            state_message: last.and_then(|s| s.message.as_deref()),
            attempts,
        }
    }

    fn at(&self, span: Span) -> &str {
        &self.text[span.0..span.1]
    }

    pub(crate) fn id(&self) -> &str {
        self.at(self.id)
    }

    pub(crate) fn flow_run_id(&self) -> Option<&str> {
        self.flow_run_id.map(|s| self.at(s))
    }

    pub(crate) fn created(&self) -> &str {
        self.at(self.created)
    }

    pub(crate) fn history(&self) -> &str {
        self.at(self.history)
    }

    pub(crate) fn start(&self) -> Option<&str> {
        self.start.map(|s| self.at(s))
    }

    /// The state's time (`state_time`).
    pub(crate) fn time(&self) -> Option<&str> {
        self.time.map(|s| self.at(s))
    }

    /// The end time: the state's time if it is final.
    pub(crate) fn end(&self) -> Option<&str> {
        self.time().filter(|_| self.ended)
    }
}

/// A list as its JSON text (most task runs have no tags and no inputs: `[]` without serde).
fn json_list<T: serde::Serialize>(items: &[T]) -> Cow<'static, str> {
    if items.is_empty() {
        Cow::Borrowed("[]")
    } else {
        Cow::Owned(serde_json::to_string(items).expect("lists of strings and inputs serialize"))
    }
}
