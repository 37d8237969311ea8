//! Reading the record back: listings, single runs, state histories, logs and task graphs.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts};
use super::connect::{Store, StoreError};
use super::filter::{FlowRunFilter, Sort};
use super::transitions::state_from_row;
use crate::runtime::state::State;
use crate::schemas::records::{
    FilterValues, FlowGraph, StoredFlow, StoredFlowRun, StoredInput, StoredLog, StoredTaskRun,
};

/// Whose logs to read.
#[derive(Clone, Copy)]
enum LogsOf {
    /// A flow run's and its task runs'.
    FlowRun,
    /// One task run's.
    TaskRun,
}

/// The states of a run's `history` column, oldest first.
fn parse_history(history: &str) -> Result<Vec<State>, StoreError> {
    history
        .lines()
        .map(|line| {
            let corrupt = |message: String| StoreError::Corrupt {
                table: "history",
                message: format!("{line:?}: {message}"),
            };
            let entry: super::rows::HistoryEntry<'_> =
                serde_json::from_str(line).map_err(|e| corrupt(e.to_string()))?;
            Ok(State {
                kind: entry.kind,
                name: Cow::Owned(entry.name.into_owned()),
                message: entry.message.map(Cow::into_owned),
                timestamp: DateTime::from_timestamp_micros(entry.at)
                    .ok_or_else(|| corrupt("time out of range".into()))?,
            })
        })
        .collect()
}

/// A run's current state and timing, read from its row.
struct Current {
    state: Option<State>,
    attempts: i64,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    duration_s: Option<f64>,
}

fn opt_ts(
    table: &'static str,
    row: &AnyRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| parse_ts(table, &t)).transpose()
}

fn current(table: &'static str, row: &AnyRow) -> Result<Current, StoreError> {
    let state = state_from_row(table, row)?;
    let start_time = opt_ts(table, row, "start_time")?;
    let end_time = opt_ts(table, row, "end_time")?;
    let duration_s = start_time.map(|s| {
        let end = end_time.unwrap_or_else(Utc::now);
        (end - s).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
    });
    Ok(Current {
        state,
        attempts: row.try_get("attempts")?,
        start_time,
        end_time,
        duration_s,
    })
}

fn json_list<T: serde::de::DeserializeOwned>(
    table: &'static str,
    row: &AnyRow,
    column: &str,
) -> Result<Vec<T>, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        table,
        message: format!("{column} {text:?}: {e}"),
    })
}

pub(crate) fn flow_run_from_row(row: &AnyRow) -> Result<StoredFlowRun, StoreError> {
    const T: &str = "flow_runs";
    let Current {
        state,
        attempts,
        start_time,
        end_time,
        duration_s,
    } = current(T, row)?;
    let parameters: String = row.try_get("parameters")?;
    let parent: Option<String> = row.try_get("parent_flow_run_id")?;
    let parent_task: Option<String> = row.try_get("parent_task_run_id")?;
    Ok(StoredFlowRun {
        id: parse_id(T, &row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        flow_name: row.try_get("flow_name")?,
        version: row.try_get("version")?,
        parameters: serde_json::from_str(&parameters).map_err(|e| StoreError::Corrupt {
            table: T,
            message: format!("parameters: {e}"),
        })?,
        tags: json_list(T, row, "tags")?,
        parent_flow_run_id: parent.map(|p| parse_id(T, &p)).transpose()?,
        parent_task_run_id: parent_task.map(|p| parse_id(T, &p)).transpose()?,
        deployment_id: row.try_get("deployment_id")?,
        deployment_name: row.try_get("deployment_name")?,
        expected_start_time: opt_ts(T, row, "expected_start_time")?,
        work_queue_name: row.try_get("work_queue_name")?,
        state,
        attempts,
        start_time,
        end_time,
        duration_s,
        created: parse_ts(T, &row.try_get::<String, _>("created")?)?,
        task_run_count: row.try_get("task_run_count")?,
    })
}

fn task_run_from_row(row: &AnyRow) -> Result<StoredTaskRun, StoreError> {
    const T: &str = "task_runs";
    let Current {
        state,
        attempts,
        start_time,
        end_time,
        duration_s,
    } = current(T, row)?;
    let flow_run: Option<String> = row.try_get("flow_run_id")?;
    let subflow: Option<String> = row.try_get("subflow_run_id")?;
    let inputs: Vec<StoredInput> = json_list(T, row, "inputs")?;
    Ok(StoredTaskRun {
        id: parse_id(T, &row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        task_name: row.try_get("task_name")?,
        flow_run_id: flow_run.map(|f| parse_id(T, &f)).transpose()?,
        flow_run_name: row.try_get("flow_run_name")?,
        flow_name: row.try_get("flow_name")?,
        tags: json_list(T, row, "tags")?,
        state,
        attempts,
        start_time,
        end_time,
        duration_s,
        created: parse_ts(T, &row.try_get::<String, _>("created")?)?,
        inputs,
        subflow_run_id: subflow.map(|f| parse_id(T, &f)).transpose()?,
    })
}

pub(crate) const FLOW_RUN_SELECT: &str = "SELECT r.*, d.name AS deployment_name, \
     (SELECT COUNT(*) FROM task_runs t WHERE t.flow_run_id = r.id) AS task_run_count \
     FROM flow_runs r LEFT JOIN deployments d ON d.id = r.deployment_id";

const TASK_RUN_SELECT: &str = "SELECT r.*, f.name AS flow_run_name, f.flow_name AS flow_name, \
     (SELECT s.id FROM flow_runs s WHERE s.parent_task_run_id = r.id LIMIT 1) AS subflow_run_id \
     FROM task_runs r LEFT JOIN flow_runs f ON f.id = r.flow_run_id";

const LOG_SELECT: &str = "SELECT l.run_id, l.run_kind, l.level, l.target, l.message, l.timestamp, \
     COALESCE(t.name, f.name) AS run_name FROM logs l \
     LEFT JOIN task_runs t ON t.id = l.run_id LEFT JOIN flow_runs f ON f.id = l.run_id";

fn log_from_row(row: &AnyRow) -> Result<StoredLog, StoreError> {
    const T: &str = "logs";
    Ok(StoredLog {
        run_id: parse_id(T, &row.try_get::<String, _>("run_id")?)?,
        run_kind: row.try_get("run_kind")?,
        run_name: row.try_get("run_name")?,
        level: row.try_get("level")?,
        target: row.try_get("target")?,
        message: row.try_get("message")?,
        timestamp: parse_ts(T, &row.try_get::<String, _>("timestamp")?)?,
    })
}

impl Store {
    pub(crate) async fn fetch(
        &self,
        sql: &str,
        binds: Vec<String>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let sql = self.sql(sql);
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Flow runs matching `filter`, in its order, one page of them.
    pub async fn flow_runs(
        &self,
        filter: &FlowRunFilter,
    ) -> Result<Vec<StoredFlowRun>, StoreError> {
        let (clause, binds) = filter.clause();
        let order = match filter.sort {
            Sort::Newest => "DESC",
            Sort::Oldest => "ASC",
        };
        let sql = format!(
            "{FLOW_RUN_SELECT} WHERE {clause} ORDER BY r.created {order}, r.id {order} LIMIT {} OFFSET {}",
            filter.limit.unwrap_or(100).max(0),
            filter.offset.unwrap_or(0).max(0)
        );
        self.fetch(&sql, binds)
            .await?
            .iter()
            .map(flow_run_from_row)
            .collect()
    }

    /// How many flow runs match `filter` (ignoring its limit and offset).
    pub async fn count_flow_runs(&self, filter: &FlowRunFilter) -> Result<i64, StoreError> {
        let (clause, binds) = filter.clause();
        let rows = self
            .fetch(
                &format!("SELECT COUNT(*) AS n FROM flow_runs r WHERE {clause}"),
                binds,
            )
            .await?;
        Ok(rows[0].try_get("n")?)
    }

    /// One flow run by id (or by a unique prefix of it, or by its readable name).
    pub async fn flow_run(&self, key: &str) -> Result<Option<StoredFlowRun>, StoreError> {
        let rows = self
            .fetch(
                &format!(
                    "{FLOW_RUN_SELECT} WHERE r.id LIKE ? ESCAPE '\\' OR r.name = ? \
                     ORDER BY r.created DESC LIMIT 2"
                ),
                vec![
                    format!("{}%", super::filter::like_escape(key)),
                    key.to_string(),
                ],
            )
            .await?;
        match rows.as_slice() {
            [row] => Ok(Some(flow_run_from_row(row)?)),
            _ => Ok(None),
        }
    }

    /// One flow run by id.
    pub async fn flow_run_by_id(&self, id: Uuid) -> Result<Option<StoredFlowRun>, StoreError> {
        let rows = self
            .fetch(
                &format!("{FLOW_RUN_SELECT} WHERE r.id = ?"),
                vec![id.to_string()],
            )
            .await?;
        rows.first().map(flow_run_from_row).transpose()
    }

    /// The task runs of a flow run, in creation order, with their inputs.
    pub async fn task_runs(&self, flow_run_id: Uuid) -> Result<Vec<StoredTaskRun>, StoreError> {
        self.fetch(
            &format!("{TASK_RUN_SELECT} WHERE r.flow_run_id = ? ORDER BY r.created, r.name"),
            vec![flow_run_id.to_string()],
        )
        .await?
        .iter()
        .map(task_run_from_row)
        .collect()
    }

    /// One task run by id.
    pub async fn task_run(&self, id: Uuid) -> Result<Option<StoredTaskRun>, StoreError> {
        let rows = self
            .fetch(
                &format!("{TASK_RUN_SELECT} WHERE r.id = ?"),
                vec![id.to_string()],
            )
            .await?;
        rows.first().map(task_run_from_row).transpose()
    }

    /// The task graph of a flow run.
    pub async fn graph(&self, flow_run_id: Uuid) -> Result<FlowGraph, StoreError> {
        Ok(FlowGraph::of(&self.task_runs(flow_run_id).await?))
    }

    /// Every state of a run (flow run or task run), oldest first; empty for an unknown run.
    pub async fn states(&self, run_id: Uuid) -> Result<Vec<State>, StoreError> {
        let rows = self
            .fetch(
                "SELECT history FROM flow_runs WHERE id = ? UNION ALL \
                 SELECT history FROM task_runs WHERE id = ?",
                vec![run_id.to_string(), run_id.to_string()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(Vec::new());
        };
        let history: String = row.try_get("history")?;
        parse_history(&history)
    }

    /// The logs of a flow run and of its task runs, in order.
    pub async fn logs(&self, flow_run_id: Uuid) -> Result<Vec<StoredLog>, StoreError> {
        self.logs_where(LogsOf::FlowRun, flow_run_id).await
    }

    /// The logs of one task run, in order.
    pub async fn task_run_logs(&self, task_run_id: Uuid) -> Result<Vec<StoredLog>, StoreError> {
        self.logs_where(LogsOf::TaskRun, task_run_id).await
    }

    /// The stored log rows, and each task run's "Finished in state …" line made from its history
    /// (where the writer keeps it), ordered by time.
    async fn logs_where(&self, of: LogsOf, id: Uuid) -> Result<Vec<StoredLog>, StoreError> {
        let (log_column, task_column) = match of {
            LogsOf::FlowRun => ("l.flow_run_id", "flow_run_id"),
            LogsOf::TaskRun => ("l.run_id", "id"),
        };
        // The task runs first: a batch committed between the two reads then at worst leaves out a
        // "Finished" line for now, never shows one without the lines written with it.
        let task_runs = self
            .fetch(
                &format!("SELECT id, name, history FROM task_runs WHERE {task_column} = ?"),
                vec![id.to_string()],
            )
            .await?;
        let mut logs: Vec<StoredLog> = self
            .fetch(
                &format!("{LOG_SELECT} WHERE {log_column} = ? ORDER BY l.timestamp, l.seq"),
                vec![id.to_string()],
            )
            .await?
            .iter()
            .map(log_from_row)
            .collect::<Result<_, _>>()?;
        let stored = logs.len();
        for row in &task_runs {
            let run_id = parse_id("task_runs", &row.try_get::<String, _>("id")?)?;
            let run_name: String = row.try_get("name")?;
            for state in parse_history(&row.try_get::<String, _>("history")?)? {
                if state.is_final() {
                    logs.push(StoredLog {
                        run_id,
                        run_kind: "task".into(),
                        run_name: Some(run_name.clone()),
                        level: crate::reporting::reporter::state_level(&state)
                            .as_str()
                            .into(),
                        target: "flowcore".into(),
                        message: crate::reporting::reporter::finished_line(&state),
                        timestamp: state.timestamp,
                    });
                }
            }
        }
        if logs.len() > stored {
            // A stable sort on (time, made): the stored lines keep their written order, and a made
            // line comes after the stored ones of the same microsecond.
            let mut keyed: Vec<(usize, StoredLog)> = logs.into_iter().enumerate().collect();
            keyed.sort_by_key(|(i, log)| (log.timestamp, *i >= stored));
            logs = keyed.into_iter().map(|(_, log)| log).collect();
        }
        Ok(logs)
    }

    /// Every flow with its run count and newest run.
    pub async fn flows(&self) -> Result<Vec<StoredFlow>, StoreError> {
        let rows = self
            .fetch(
                "SELECT f.name, f.created, \
                 (SELECT COUNT(*) FROM flow_runs r WHERE r.flow_name = f.name) AS run_count, \
                 (SELECT r.id FROM flow_runs r WHERE r.flow_name = f.name \
                  ORDER BY r.created DESC LIMIT 1) AS last_run_id \
                 FROM flows f ORDER BY f.name",
                Vec::new(),
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let last: Option<String> = row.try_get("last_run_id")?;
            let last_run = match last {
                Some(id) => self.flow_run_by_id(parse_id("flows", &id)?).await?,
                None => None,
            };
            out.push(StoredFlow {
                name: row.try_get("name")?,
                created: parse_ts("flows", &row.try_get::<String, _>("created")?)?,
                run_count: row.try_get("run_count")?,
                last_run,
            });
        }
        Ok(out)
    }

    /// The flows, tags, deployments, work queues and states present among flow runs.
    pub async fn filter_values(&self) -> Result<FilterValues, StoreError> {
        let distinct = |column: &'static str| async move {
            let rows = self
                .fetch(
                    &format!(
                        "SELECT DISTINCT {column} AS v FROM flow_runs \
                         WHERE {column} IS NOT NULL ORDER BY v"
                    ),
                    Vec::new(),
                )
                .await?;
            rows.iter()
                .map(|r| Ok(r.try_get::<String, _>("v")?))
                .collect::<Result<Vec<String>, StoreError>>()
        };
        let mut tags: Vec<String> = Vec::new();
        for list in distinct("tags").await? {
            let list: Vec<String> = serde_json::from_str(&list).unwrap_or_default();
            tags.extend(list);
        }
        tags.sort();
        tags.dedup();
        Ok(FilterValues {
            flows: distinct("flow_name").await?,
            tags,
            deployments: distinct("deployment_id").await?,
            work_queues: distinct("work_queue_name").await?,
            states: distinct("state_name").await?,
        })
    }
}
