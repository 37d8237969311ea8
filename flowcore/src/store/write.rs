//! Writing reported events: one transaction per batch, one row per run created in the batch, one
//! `UPDATE` per earlier run that changed state, one row per log line.

use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use uuid::Uuid;

use super::{kind_str, state_type_str, ts, Store, StoreError};
use crate::event::{Event, LogRecord, RunKind, RunRef};
use crate::record::InputKind;
use crate::state::State;

/// What writing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// [`SET_STATE`] for `UPDATE … FROM (VALUES (id, …))`: the values follow the id, in the same order.
const SET_FROM_VALUES: &str = "state_type = v.column2, state_name = v.column3, \
     state_message = v.column4, state_time = v.column5, \
     start_time = COALESCE(start_time, v.column6), end_time = v.column7, \
     attempts = attempts + v.column8, history = history || v.column9";

/// One line of a run's `history` column: a state, compactly (time in microseconds since the epoch).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct HistoryEntry<'a> {
    #[serde(rename = "t")]
    pub(crate) kind: crate::state::StateType,
    #[serde(rename = "n", borrow)]
    pub(crate) name: std::borrow::Cow<'a, str>,
    #[serde(rename = "m", borrow, default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<std::borrow::Cow<'a, str>>,
    pub(crate) at: i64,
}

/// A state as one line of a run's `history` column (newline included).
pub(crate) fn history_line(state: &State) -> String {
    let entry = HistoryEntry {
        kind: state.kind,
        name: std::borrow::Cow::Borrowed(&state.name),
        message: state.message.as_deref().map(std::borrow::Cow::Borrowed),
        at: state.timestamp.timestamp_micros(),
    };
    let mut line = serde_json::to_string(&entry).expect("states serialize");
    line.push('\n');
    line
}

/// A run's states within one batch, folded into the run row's columns.
pub(crate) struct Summary<'a> {
    last: Option<&'a State>,
    start: Option<String>,
    attempts: i64,
    history: String,
}

impl<'a> Summary<'a> {
    pub(crate) fn of(states: &[&'a State]) -> Summary<'a> {
        let mut history = String::new();
        let mut start = None;
        let mut attempts = 0;
        for state in states {
            if state.is_running() {
                attempts += 1;
                start.get_or_insert_with(|| ts(&state.timestamp));
            }
            history.push_str(&history_line(state));
        }
        Summary {
            last: states.last().copied(),
            start,
            attempts,
            history,
        }
    }

    /// Binds the values of [`SET_STATE`] (or of the state columns of an insert), in that order.
    pub(crate) fn bind<'q>(
        &self,
        query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    ) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
        let last = self.last;
        query
            .bind(last.map(|s| state_type_str(s.kind)))
            .bind(last.map(|s| s.name.to_string()))
            .bind(last.and_then(|s| s.message.clone()))
            .bind(last.map(|s| ts(&s.timestamp)))
            .bind(self.start.clone())
            .bind(last.filter(|s| s.is_final()).map(|s| ts(&s.timestamp)))
            .bind(self.attempts)
            .bind(self.history.clone())
    }
}

/// The runs a batch mentions, in first-mention order.
struct Runs<'a> {
    order: Vec<(&'a RunRef, Option<&'a Event>, Vec<&'a State>)>,
    index: HashMap<Uuid, usize>,
}

impl<'a> Runs<'a> {
    fn slot(&mut self, run: &'a RunRef) -> &mut (&'a RunRef, Option<&'a Event>, Vec<&'a State>) {
        let next = self.order.len();
        let i = *self.index.entry(run.id).or_insert(next);
        if i == next {
            self.order.push((run, None, Vec::new()));
        }
        &mut self.order[i]
    }
}

/// Rows per multi-row `INSERT`: well under every backend's limit on bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

const FLOW_RUN_COLUMNS: &str = "id, flow_name, name, version, parameters, tags, \
     parent_flow_run_id, parent_task_run_id, created, state_type, state_name, state_message, \
     state_time, start_time, end_time, attempts, history";
const TASK_RUN_COLUMNS: &str = "id, flow_run_id, task_name, name, tags, inputs, created, \
     state_type, state_name, state_message, state_time, start_time, end_time, attempts, history";
const LOG_COLUMNS: &str = "run_id, run_kind, flow_run_id, level, target, message, timestamp";

fn placeholders(width: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row.as_str(); rows].join(", ")
}

impl Store {
    /// Records a batch of events in one transaction.
    pub async fn write(&self, batch: &[Event]) -> Result<(), StoreError> {
        self.write_batch(None, batch).await.map(|_| ())
    }

    /// Records a batch of events in one transaction, at most once per `batch_id`: a client that
    /// resends a batch whose answer it never got writes nothing twice.
    pub async fn write_batch(
        &self,
        batch_id: Option<Uuid>,
        batch: &[Event],
    ) -> Result<WriteOutcome, StoreError> {
        let events: Vec<&Event> = batch.iter().collect();
        self.write_events(batch_id, &events).await
    }

    /// [`write_batch`](Self::write_batch) over borrowed events.
    pub(crate) async fn write_events(
        &self,
        batch_id: Option<Uuid>,
        batch: &[&Event],
    ) -> Result<WriteOutcome, StoreError> {
        let mut runs = Runs {
            order: Vec::new(),
            index: HashMap::new(),
        };
        let mut flows: Vec<(&str, String)> = Vec::new();
        let mut logs: Vec<&LogRecord> = Vec::new();
        for &event in batch {
            match event {
                Event::FlowRunCreated {
                    run,
                    flow_name,
                    created,
                    ..
                } => {
                    if !flows.iter().any(|(f, _)| f == flow_name) {
                        flows.push((flow_name, ts(created)));
                    }
                    runs.slot(run).1 = Some(event);
                }
                Event::TaskRunCreated { run, .. } => runs.slot(run).1 = Some(event),
                Event::StateChanged { run, state } => runs.slot(run).2.push(state),
                Event::Log(log) => logs.push(log),
            }
        }

        let mut tx = self.pool.begin().await?;
        if let Some(id) = batch_id {
            let sql = self.sql(
                "INSERT INTO batches (id, received) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            );
            let done = sqlx::query(&sql)
                .bind(id.to_string())
                .bind(ts(&chrono::Utc::now()))
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(WriteOutcome::Duplicate);
            }
        }
        for chunk in flows.chunks(ROWS_PER_STATEMENT) {
            let sql = self
                .sql(&format!(
                    "INSERT INTO flows (name, created) VALUES {} ON CONFLICT (name) DO NOTHING",
                    placeholders(2, chunk.len())
                ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for (name, created) in chunk {
                query = query.bind(name.to_string()).bind(created.clone());
            }
            query.execute(&mut *tx).await?;
        }

        let (created, updated): (Vec<_>, Vec<_>) = runs
            .order
            .iter()
            .partition(|(_, created, _)| created.is_some());
        let (flow_runs, task_runs): (Vec<_>, Vec<_>) = created
            .into_iter()
            .partition(|(run, _, _)| run.kind == RunKind::Flow);
        for chunk in flow_runs.chunks(ROWS_PER_STATEMENT) {
            let sql = self
                .sql(&format!(
                "INSERT INTO flow_runs ({FLOW_RUN_COLUMNS}) VALUES {} ON CONFLICT (id) DO UPDATE \
                 SET {} WHERE excluded.state_type IS NOT NULL",
                placeholders(17, chunk.len()),
                set_from_excluded("flow_runs")
            ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for (run, created, states) in chunk {
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
                query = query
                    .bind(run.id.to_string())
                    .bind(flow_name.clone())
                    .bind(run.name.to_string())
                    .bind(version.clone())
                    .bind(parameters.to_string())
                    .bind(serde_json::to_string(tags).expect("tags serialize"))
                    .bind(parent_flow_run_id.map(|i| i.to_string()))
                    .bind(parent_task_run_id.map(|i| i.to_string()))
                    .bind(ts(created));
                query = Summary::of(states).bind(query);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in task_runs.chunks(ROWS_PER_STATEMENT) {
            let sql = self
                .sql(&format!(
                "INSERT INTO task_runs ({TASK_RUN_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                placeholders(15, chunk.len())
            ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for (run, created, states) in chunk {
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
                let inputs: Vec<super::StoredInput> = inputs
                    .iter()
                    .map(|i| super::StoredInput {
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
                query = query
                    .bind(run.id.to_string())
                    .bind(flow_run_id.map(|i| i.to_string()))
                    .bind(task_name.clone())
                    .bind(run.name.to_string())
                    .bind(serde_json::to_string(tags).expect("tags serialize"))
                    .bind(serde_json::to_string(&inputs).expect("inputs serialize"))
                    .bind(ts(created));
                query = Summary::of(states).bind(query);
            }
            query.execute(&mut *tx).await?;
        }
        // Runs created by earlier batches: one multi-row `UPDATE … FROM (VALUES …)` per table and
        // chunk (VALUES columns are `column1`, `column2`, … in SQLite and PostgreSQL alike).
        for kind in [RunKind::Flow, RunKind::Task] {
            let table = match kind {
                RunKind::Flow => "flow_runs",
                RunKind::Task => "task_runs",
            };
            let rows: Vec<_> = updated
                .iter()
                .filter(|(run, _, states)| run.kind == kind && !states.is_empty())
                .collect();
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = self
                    .sql(&format!(
                        "UPDATE {table} SET {SET_FROM_VALUES} FROM (VALUES {}) AS v \
                         WHERE {table}.id = v.column1",
                        placeholders(9, chunk.len())
                    ))
                    .into_owned();
                let mut query = sqlx::query(&sql);
                for (run, _, states) in chunk {
                    query = Summary::of(states).bind(query.bind(run.id.to_string()));
                }
                query.execute(&mut *tx).await?;
            }
        }
        for chunk in logs.chunks(ROWS_PER_STATEMENT) {
            let sql = self
                .sql(&format!(
                    "INSERT INTO logs ({LOG_COLUMNS}) VALUES {}",
                    placeholders(7, chunk.len())
                ))
                .into_owned();
            let mut query = sqlx::query(&sql);
            for log in chunk {
                query = query
                    .bind(log.run.id.to_string())
                    .bind(kind_str(log.run.kind))
                    .bind(
                        log.flow_run_id
                            .or(log.run.flow_run_id)
                            .map(|i| i.to_string()),
                    )
                    .bind(log.level.as_str())
                    .bind(log.target.clone())
                    .bind(log.message.clone())
                    .bind(ts(&log.timestamp));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(WriteOutcome::Written)
    }
}
