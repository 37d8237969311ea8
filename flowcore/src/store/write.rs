//! The statements that write reported events: one row per run created in the batch, one multi-row
//! `UPDATE` per table for earlier runs that changed state, one row per log line, and how a run's
//! states fold into its row (`Summary`). `ingest` decides what a batch writes.

use std::borrow::{Borrow, Cow};

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::codec::{kind_str, state_type_str, ts};
use super::connect::Store;
use super::rows::{fold_states, RunEntry, TaskRunRow};
use crate::runtime::state::State;
use crate::schemas::artifacts::Artifact;
use crate::schemas::events::{Event, LogRecord};
use crate::schemas::results::ResultRef;

/// What writing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// The batch was written.
    Written,
    /// A batch with this id was written before; nothing was written again.
    Duplicate,
}

/// The `SET` list that records a run's new states: bound by [`Summary::bind`].
pub(crate) const SET_STATE: &str = "state_type = ?, state_name = ?, state_message = ?, \
     state_time = ?, start_time = COALESCE(start_time, ?), end_time = ?, attempts = attempts + ?, \
     history = history || ?";

/// For a run created ahead of time (a deployment's scheduled run) and then reported by the process
/// that runs it: the reported states are appended to the existing row.
fn set_from_excluded(table: &str) -> String {
    format!(
        "state_type = excluded.state_type, state_name = excluded.state_name, \
         state_message = excluded.state_message, state_time = excluded.state_time, \
         start_time = COALESCE({table}.start_time, excluded.start_time), \
         end_time = excluded.end_time, attempts = {table}.attempts + excluded.attempts, \
         history = {table}.history || excluded.history"
    )
}

/// [`SET_STATE`] for `UPDATE … FROM (VALUES (id, …, name))`: the values follow the id, in the same
/// order, and the run's name (as its latest event carries it) comes last.
const SET_FROM_VALUES: &str = "state_type = v.column2, state_name = v.column3, \
     state_message = v.column4, state_time = v.column5, \
     start_time = COALESCE(start_time, v.column6), end_time = v.column7, \
     attempts = attempts + v.column8, history = history || v.column9, name = v.column10";

/// A run's states within one batch, folded into the run row's columns.
pub(crate) struct Summary<'a> {
    last: Option<&'a State>,
    start: Option<String>,
    attempts: i64,
    history: String,
}

impl<'a> Summary<'a> {
    pub(crate) fn of<S: Borrow<State>>(states: &'a [S]) -> Summary<'a> {
        // One buffer for every line (a run's few states: ~60 bytes each).
        let mut history = String::with_capacity(64 * states.len());
        let (start, attempts) = fold_states(states, &mut history);
        Summary {
            last: states.last().map(Borrow::borrow),
            start: start.map(|state| ts(&state.timestamp)),
            attempts,
            history,
        }
    }

    /// The values of the state columns, in [`SET_STATE`]'s order.
    pub(crate) fn columns(self) -> StateColumns<'a> {
        let last = self.last;
        let time = last.map(|s| ts(&s.timestamp));
        StateColumns {
            state_type: last.map(|s| state_type_str(s.kind)),
            state_name: last.map(|s| &*s.name),
            state_message: last.and_then(|s| s.message.as_deref()),
            time,
            start: self.start,
            ended: last.is_some_and(State::is_final),
            attempts: self.attempts,
            history: self.history,
        }
    }

    /// Binds the values of [`SET_STATE`] (or of the state columns of an insert), in that order.
    pub(crate) fn bind<'q, B: Bind<'q>>(self, query: B) -> B {
        self.columns().bind(query)
    }
}

/// A run row's state columns, as [`Summary::columns`] spells them.
pub(crate) struct StateColumns<'a> {
    pub(crate) state_type: Option<&'static str>,
    pub(crate) state_name: Option<&'a str>,
    pub(crate) state_message: Option<&'a str>,
    pub(crate) time: Option<String>,
    pub(crate) start: Option<String>,
    /// Whether the state is final: the end time is then [`time`](Self::time).
    pub(crate) ended: bool,
    pub(crate) attempts: i64,
    pub(crate) history: String,
}

impl StateColumns<'_> {
    /// The end time: the state's time if it is final.
    pub(crate) fn end(&self) -> Option<&str> {
        self.time.as_deref().filter(|_| self.ended)
    }

    /// Binds them in order.
    fn bind<'q, B: Bind<'q>>(self, query: B) -> B {
        let end = self.end().map(str::to_string);
        query
            .value(self.state_type)
            .value(Text::from(self.state_name.map(str::to_string)))
            .value(Text::from(self.state_message.map(str::to_string)))
            .value(Text::from(self.time))
            .value(Text::from(self.start))
            .value(Text::from(end))
            .value(self.attempts)
            .value(Text::from(self.history))
    }
}

/// Something values are bound to in order: a query, or the arguments of one being built.
pub(crate) trait Bind<'q>: Sized {
    /// Binds the next value.
    fn value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>;
}

impl<'q> Bind<'q> for Query<'q, sqlx::Any, AnyArguments<'q>> {
    fn value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.bind(value)
    }
}

impl<'q> Bind<'q> for AnyArguments<'q> {
    fn value<T>(mut self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        // Only strings, integers and their options are bound here, and those always encode.
        sqlx::Arguments::add(&mut self, value).expect("strings and integers encode");
        self
    }
}

/// Text bound without a copy. sqlx's `Any` driver encodes a bound `String` by reference, so each
/// one is copied once more before it reaches the database's driver: a dozen allocations and copies
/// per task run, a fifth of the writer's instructions with their frees on sqlx's worker thread.
/// This hands the string itself over (`None` is SQL `NULL`).
pub(crate) struct Text(pub(crate) Option<String>);

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(Some(text))
    }
}

impl From<Option<String>> for Text {
    fn from(text: Option<String>) -> Text {
        Text(text)
    }
}

impl sqlx::Type<sqlx::Any> for Text {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <str as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for Text {
    fn encode(
        self,
        buf: &mut sqlx_core::any::AnyArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(push_text(buf, self.0))
    }

    fn encode_by_ref(
        &self,
        buf: &mut sqlx_core::any::AnyArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(push_text(buf, self.0.clone()))
    }
}

fn push_text(
    buf: &mut sqlx_core::any::AnyArgumentBuffer<'_>,
    text: Option<String>,
) -> sqlx::encode::IsNull {
    use sqlx_core::any::AnyValueKind;
    match text {
        Some(text) => {
            buf.0.push(AnyValueKind::Text(Cow::Owned(text)));
            sqlx::encode::IsNull::No
        }
        None => {
            buf.0
                .push(AnyValueKind::Null(sqlx::any::AnyTypeInfoKind::Text));
            sqlx::encode::IsNull::Yes
        }
    }
}

/// Who waits for a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Anyone: the future may be dropped before it finishes (a request whose client went away).
    MayCancel,
    /// A thread that always drives the write to its end (the store writer's `block_on`).
    NeverCancels,
}

/// Up to this many rows in all, a batch is written to SQLite as one query of several statements.
pub(crate) const COMBINE_UP_TO: usize = 1000;

/// One statement's worth of a batch.
pub(crate) enum Piece<'a> {
    Flows(&'a [(&'a str, String)]),
    FlowRuns(&'a [&'a RunEntry<'a>]),
    TaskRuns(&'a [&'a RunEntry<'a>]),
    /// Runs created by earlier batches, in the named table, that changed state.
    Updated(&'static str, &'a [&'a RunEntry<'a>]),
    Logs(&'a [&'a LogRecord]),
    Artifacts(&'a [&'a Artifact]),
    /// Task runs' persisted-result references.
    Results(&'a [&'a ResultRef]),
}

impl Piece<'_> {
    /// How many rows the statement writes.
    pub(crate) fn rows(&self) -> usize {
        match self {
            Piece::Flows(rows) => rows.len(),
            Piece::FlowRuns(rows) | Piece::TaskRuns(rows) | Piece::Updated(_, rows) => rows.len(),
            Piece::Logs(rows) => rows.len(),
            Piece::Artifacts(rows) => rows.len(),
            Piece::Results(rows) => rows.len(),
        }
    }
}

/// Rows per multi-row `INSERT`: well under every backend's limit on bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

const FLOW_RUN_COLUMNS: &str = "id, flow_name, name, version, parameters, tags, \
     parent_flow_run_id, parent_task_run_id, created, state_type, state_name, state_message, \
     state_time, start_time, end_time, attempts, history";
pub(crate) const TASK_RUN_COLUMNS: &str =
    "id, flow_run_id, task_name, name, tags, inputs, created, \
     state_type, state_name, state_message, state_time, start_time, end_time, attempts, history";
const LOG_COLUMNS: &str = "run_id, run_kind, flow_run_id, level, target, message, timestamp";

/// `rows` rows of `width` placeholders: `(?, ?), (?, ?)`.
pub(crate) fn placeholders(width: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row.as_str(); rows].join(", ")
}

impl Store {
    /// A small batch (the flush at the end of a flow run, say) as one query of several statements,
    /// their values bound in order across them: each statement sent on its own would cost a round
    /// trip to sqlx's SQLite worker thread, most of a small write's time.
    pub(crate) fn combined<'q>(
        &self,
        pieces: Vec<Piece<'_>>,
        before: &str,
        after: &str,
    ) -> (String, AnyArguments<'q>) {
        let mut sql = String::from(before);
        let mut args = AnyArguments::default();
        for piece in pieces {
            let (statement, with) = self.statement(piece, args);
            sql.push_str(&statement);
            sql.push_str(";\n");
            args = with;
        }
        sql.push_str(after);
        (sql, args)
    }

    /// The SQL of one statement, and `args` with its values appended.
    pub(crate) fn statement<'q>(
        &self,
        piece: Piece<'_>,
        args: AnyArguments<'q>,
    ) -> (String, AnyArguments<'q>) {
        match piece {
            Piece::Flows(chunk) => {
                let sql = format!(
                    "INSERT INTO flows (name, created) VALUES {} ON CONFLICT (name) DO NOTHING",
                    placeholders(2, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, (name, created)| {
                    args.value(Text::from(name.to_string()))
                        .value(Text::from(created.clone()))
                });
                (self.sql(&sql).into_owned(), args)
            }
            Piece::FlowRuns(chunk) => {
                let sql = format!(
                    "INSERT INTO flow_runs ({FLOW_RUN_COLUMNS}) VALUES {} ON CONFLICT (id) DO UPDATE \
                     SET {} WHERE excluded.state_type IS NOT NULL",
                    placeholders(17, chunk.len()),
                    set_from_excluded("flow_runs")
                );
                let args = chunk.iter().fold(args, |args, (run, created, states)| {
                    let Some(Event::FlowRunCreated {
                        flow_name,
                        version,
                        parameters,
                        tags,
                        parent_flow_run_id,
                        parent_task_run_id,
                        created,
                        ..
                    }) = created
                    else {
                        unreachable!("partitioned on creation events")
                    };
                    let args = args
                        .value(Text::from(run.id.to_string()))
                        .value(Text::from(flow_name.clone()))
                        .value(Text::from(run.name.to_string()))
                        .value(Text::from(version.clone()))
                        .value(Text::from(parameters.to_string()))
                        .value(Text::from(
                            serde_json::to_string(tags).expect("tags serialize"),
                        ))
                        .value(Text::from(parent_flow_run_id.map(|i| i.to_string())))
                        .value(Text::from(parent_task_run_id.map(|i| i.to_string())))
                        .value(Text::from(ts(created)));
                    Summary::of(states).bind(args)
                });
                (self.sql(&sql).into_owned(), args)
            }
            Piece::TaskRuns(chunk) => {
                let sql = format!(
                    "INSERT INTO task_runs ({TASK_RUN_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                    placeholders(15, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, entry| {
                    let row = TaskRunRow::of(entry);
                    let text = |value: Option<&str>| Text::from(value.map(str::to_string));
                    args.value(text(Some(row.id())))
                        .value(text(row.flow_run_id()))
                        .value(text(Some(row.task_name)))
                        .value(text(Some(row.name)))
                        .value(text(Some(&row.tags)))
                        .value(text(Some(&row.inputs)))
                        .value(text(Some(row.created())))
                        .value(row.state_type)
                        .value(text(row.state_name))
                        .value(text(row.state_message))
                        .value(text(row.time()))
                        .value(text(row.start()))
                        .value(text(row.end()))
                        .value(row.attempts)
                        .value(text(Some(row.history())))
                });
                (self.sql(&sql).into_owned(), args)
            }
            // Runs created by earlier batches: one multi-row `UPDATE … FROM (VALUES …)` per table
            // and chunk (VALUES columns are `column1`, `column2`, … in SQLite and PostgreSQL alike).
            Piece::Updated(table, chunk) => {
                let sql = format!(
                    "UPDATE {table} SET {SET_FROM_VALUES} FROM (VALUES {}) AS v \
                     WHERE {table}.id = v.column1",
                    placeholders(10, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, (run, _, states)| {
                    Summary::of(states)
                        .bind(args.value(Text::from(run.id.to_string())))
                        .value(Text::from(run.name.to_string()))
                });
                (self.sql(&sql).into_owned(), args)
            }
            Piece::Artifacts(chunk) => {
                let sql = format!(
                    "INSERT INTO artifacts (id, key, kind, data, description, flow_run_id, \
                     task_run_id, created) VALUES {} ON CONFLICT (id) DO NOTHING",
                    placeholders(8, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, a| {
                    args.value(Text::from(a.id.to_string()))
                        .value(Text::from(a.key.clone()))
                        .value(a.kind.as_str())
                        .value(Text::from(a.data.to_string()))
                        .value(Text::from(a.description.clone()))
                        .value(Text::from(a.flow_run_id.map(|i| i.to_string())))
                        .value(Text::from(a.task_run_id.map(|i| i.to_string())))
                        .value(Text::from(ts(&a.created)))
                });
                (self.sql(&sql).into_owned(), args)
            }
            Piece::Results(chunk) => {
                let sql = format!(
                    "INSERT INTO task_run_results (task_run_id, storage_key, cache_key, \
                     produced_by, storage, created) VALUES {} ON CONFLICT (task_run_id) DO UPDATE \
                     SET storage_key = excluded.storage_key, cache_key = excluded.cache_key, \
                     produced_by = excluded.produced_by, storage = excluded.storage, \
                     created = excluded.created",
                    placeholders(6, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, r| {
                    args.value(Text::from(r.task_run_id.to_string()))
                        .value(Text::from(r.storage_key.clone()))
                        .value(Text::from(r.cache_key.clone()))
                        .value(Text::from(r.produced_by.to_string()))
                        .value(Text::from(r.storage.clone()))
                        .value(Text::from(ts(&r.created)))
                });
                (self.sql(&sql).into_owned(), args)
            }
            Piece::Logs(chunk) => {
                let sql = format!(
                    "INSERT INTO logs ({LOG_COLUMNS}) VALUES {}",
                    placeholders(7, chunk.len())
                );
                let args = chunk.iter().fold(args, |args, log| {
                    args.value(Text::from(log.run.id.to_string()))
                        .value(kind_str(log.run.kind))
                        .value(Text::from(
                            log.flow_run_id
                                .or(log.run.flow_run_id)
                                .map(|i| i.to_string()),
                        ))
                        .value(log.level.as_str())
                        .value(Text::from(log.target.clone()))
                        .value(Text::from(log.message.clone()))
                        .value(Text::from(ts(&log.timestamp)))
                });
                (self.sql(&sql).into_owned(), args)
            }
        }
    }
}
