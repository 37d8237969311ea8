//! State changes the store makes itself (the server's services, agents, `POST …/state`): each is
//! decided by the [orchestration policy](crate::runtime::orchestration) against the run's stored
//! state, and written only if that state is still the one decided on (a compare-and-set), so two
//! writers racing on one run cannot both win.

use std::borrow::Cow;
use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_state_type, parse_ts};
use super::connect::{Backend, Store, StoreError};
use super::write::{Summary, SET_STATE};
use crate::runtime::orchestration::{decide, Decision, Rejection};
use crate::runtime::state::State;

/// What became of a proposed transition.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Transition {
    /// The run entered this state (as the policy may have replaced the proposed one).
    Accepted(State),
    /// The policy refused it; the run keeps its state.
    Rejected(Rejection),
    /// There is no such run.
    NotFound,
}

/// The columns a run's current state is read from, and its version: the length of its history,
/// which every transition appends to.
pub(crate) const STATE_COLUMNS: &str = "state_type, state_name, state_message, state_time, \
     COALESCE(LENGTH(history), 0) AS version";

/// A run's stored state and the version it was read at.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) state: Option<State>,
    pub(crate) version: i64,
}

/// A row of a [`Store::states_sql`] query: the run's id and stored state.
pub(crate) fn stored_from_row(
    table: &'static str,
    row: &AnyRow,
) -> Result<(Uuid, Stored), StoreError> {
    let id = parse_id(table, &row.try_get::<String, _>("id")?)?;
    let stored = Stored {
        state: state_from_row(table, row)?,
        version: row.try_get("version")?,
    };
    Ok((id, stored))
}

/// A run's current state, read from its row's state columns.
pub(crate) fn state_from_row(
    table: &'static str,
    row: &AnyRow,
) -> Result<Option<State>, StoreError> {
    let Some(kind) = row.try_get::<Option<String>, _>("state_type")? else {
        return Ok(None);
    };
    let time: Option<String> = row.try_get("state_time")?;
    Ok(Some(State {
        kind: parse_state_type(table, &kind)?,
        name: Cow::Owned(row.try_get::<String, _>("state_name")?),
        message: row.try_get("state_message")?,
        timestamp: time
            .map(|t| parse_ts(table, &t))
            .transpose()?
            .unwrap_or_default(),
    }))
}

impl Store {
    /// The stored states of these runs of `table` (`flow_runs` or `task_runs`), by id; an unknown
    /// run is absent, and so is one `and` (a further SQL condition) leaves out. Without `full`,
    /// only each state's type and name (what the policy decides on) are read, and the version is
    /// 0. On PostgreSQL the rows stay locked until the caller's transaction ends.
    pub(crate) async fn current_states<'e, E>(
        &self,
        executor: E,
        table: &'static str,
        ids: &[Uuid],
        and: &str,
        full: bool,
    ) -> Result<HashMap<Uuid, Stored>, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let mut out = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = self.states_sql(table, ids.len(), and, full);
        let query = self.bind_ids(sqlx::query(&sql), ids);
        for row in query.fetch_all(executor).await? {
            let (id, stored) = stored_from_row(table, &row)?;
            out.insert(id, stored);
        }
        Ok(out)
    }

    /// The query of [`current_states`](Self::current_states) for `n` ids, bound by
    /// [`bind_ids`](Self::bind_ids).
    pub(crate) fn states_sql(&self, table: &str, n: usize, and: &str, full: bool) -> String {
        // SQLite takes the ids as one JSON array (one value to bind, not one per id).
        let (ids_in, lock) = match self.backend {
            Backend::Sqlite => ("SELECT value FROM json_each(?)".to_string(), ""),
            Backend::Postgres => (vec!["?"; n].join(", "), " FOR UPDATE"),
        };
        // What the policy decides on is the type and name; the rest only describes a refusal.
        let columns = if full {
            STATE_COLUMNS
        } else {
            "state_type, state_name, NULL AS state_message, NULL AS state_time, CAST(0 AS BIGINT) AS version"
        };
        self.sql(&format!(
            "SELECT id, {columns} FROM {table} WHERE id IN ({ids_in}){and}{lock}"
        ))
        .into_owned()
    }

    /// Binds the ids a [`states_sql`](Self::states_sql) query reads.
    pub(crate) fn bind_ids<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        ids: &[Uuid],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self.backend {
            Backend::Sqlite => {
                let mut list = String::with_capacity(2 + 39 * ids.len());
                for (i, id) in ids.iter().enumerate() {
                    list.push_str(if i == 0 { "[\"" } else { ",\"" });
                    list.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
                    list.push('"');
                }
                list.push(']');
                query.bind(list)
            }
            Backend::Postgres => ids
                .iter()
                .fold(query, |query, id| query.bind(id.to_string())),
        }
    }

    /// Proposes that flow run `id` move to `state`: the policy decides against its stored state.
    /// `also` adds `column = value` assignments written with an accepted state (a claim's agent).
    pub(crate) async fn propose_flow_run_state_with(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: Uuid,
        state: &State,
        also: &[(&str, String)],
    ) -> Result<Transition, StoreError> {
        self.transition_with(conn, id, state, also, None, decide)
            .await
    }

    /// Proposes `state` for flow run `id` on behalf of `agent`: applied only while the run is
    /// claimed by that agent. A run a user retried since (unclaimed, or claimed again) is another
    /// attempt's, and the proposal is refused — an agent whose process for the earlier attempt
    /// exits does not mark the new one Crashed.
    pub async fn propose_flow_run_state_as(
        &self,
        id: Uuid,
        state: &State,
        agent: &str,
    ) -> Result<Transition, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let transition = self
            .transition_with(&mut conn, id, state, &[], Some(agent), decide)
            .await?;
        self.wake();
        Ok(transition)
    }

    /// [`propose_flow_run_state_with`](Self::propose_flow_run_state_with) under the policy's rule
    /// `rule` (the general [`decide`], or a specific one such as
    /// [`decide_retry`](crate::runtime::orchestration::decide_retry)).
    async fn transition_with(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: Uuid,
        state: &State,
        also: &[(&str, String)],
        claimed_by: Option<&str>,
        rule: impl Fn(Option<&State>, State) -> Decision,
    ) -> Result<Transition, StoreError> {
        // A compare-and-set: should another writer change the run between the read and the write,
        // decide again against what it wrote.
        for _ in 0..16 {
            let mut current = self
                .current_states(&mut *conn, "flow_runs", &[id], "", true)
                .await?;
            let Some(Stored {
                state: current,
                version,
            }) = current.remove(&id)
            else {
                return Ok(Transition::NotFound);
            };
            let accepted = match rule(current.as_ref(), state.clone()) {
                Decision::Accept(accepted) => accepted,
                Decision::Reject(rejection) => return Ok(Transition::Rejected(rejection)),
            };
            let refs = [&accepted];
            let extra: String = also.iter().map(|(c, _)| format!(", {c} = ?")).collect();
            let guard = if claimed_by.is_some() {
                " AND claimed_by = ?"
            } else {
                ""
            };
            let sql = self
                .sql(&format!(
                    "UPDATE flow_runs SET {SET_STATE}{extra} WHERE id = ? \
                     AND COALESCE(LENGTH(history), 0) = ?{guard}"
                ))
                .into_owned();
            let mut query = Summary::of(&refs).bind(sqlx::query(&sql));
            for (_, value) in also {
                query = query.bind(value.clone());
            }
            let mut query = query.bind(id.to_string()).bind(version);
            if let Some(agent) = claimed_by {
                query = query.bind(agent.to_string());
            }
            let done = query.execute(&mut *conn).await?;
            if done.rows_affected() == 0 {
                if let Some(agent) = claimed_by {
                    let holder: Option<String> =
                        sqlx::query(&self.sql("SELECT claimed_by FROM flow_runs WHERE id = ?"))
                            .bind(id.to_string())
                            .fetch_optional(&mut *conn)
                            .await?
                            .map(|row| row.try_get("claimed_by"))
                            .transpose()?
                            .flatten();
                    if holder.as_deref() != Some(agent) {
                        return Ok(Transition::Rejected(Rejection {
                            current,
                            proposed: state.clone(),
                            reason: format!("the run is no longer claimed by agent {agent}"),
                        }));
                    }
                }
            }
            if done.rows_affected() > 0 {
                self.queue_notifications(conn, &[(id, vec![&accepted])])
                    .await?;
                if accepted.is_cancelled()
                    || accepted.kind == crate::runtime::state::StateType::Crashed
                {
                    self.finish_unfinished_task_runs(conn, id, &accepted)
                        .await?;
                }
                return Ok(Transition::Accepted(accepted));
            }
        }
        Err(StoreError::Invalid(format!(
            "flow run {id} kept changing while its state was being set"
        )))
    }

    /// Proposes that flow run `id` move to `state` (the server's and agents' transitions: Pending on
    /// claim, Late, Crashed when its process died, a state posted to the API). The orchestration
    /// policy decides: e.g. a Crashed that arrives after a final state is refused.
    pub async fn propose_flow_run_state(
        &self,
        id: Uuid,
        state: &State,
    ) -> Result<Transition, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let transition = self
            .propose_flow_run_state_with(&mut conn, id, state, &[])
            .await?;
        // Written (outside a transaction): a run that ended may free its queue's slot.
        self.wake();
        Ok(transition)
    }

    /// Cancels flow run `id` (a user's request): a run not started yet — Scheduled, Late, Pending —
    /// becomes `Cancelled` at once; a running one `Cancelling` (its process, or its agent, stops
    /// it); a final one is refused by the policy.
    pub async fn cancel_flow_run(&self, id: Uuid) -> Result<Transition, StoreError> {
        let Some(run) = self.flow_run_by_id(id).await? else {
            return Ok(Transition::NotFound);
        };
        let message = "cancelled by user";
        let proposed = match &run.state {
            Some(s) if s.kind == crate::runtime::state::StateType::Running => {
                State::of(crate::runtime::state::StateName::Cancelling).with_message(message)
            }
            _ => State::cancelled(message),
        };
        self.propose_flow_run_state(id, &proposed).await
    }

    /// Retries (resumes) flow run `id`, a user's request: a `Failed`, `Crashed` or `Cancelled` run
    /// goes back to `Scheduled` named `AwaitingRetry`, due now, unclaimed — an agent starts a
    /// deployment's run again under the same id; a run of no deployment is resumed by its program
    /// ([`runtime::resume`](crate::runtime::resume())). The policy refuses any other run.
    pub async fn retry_flow_run(&self, id: Uuid) -> Result<Transition, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = super::codec::ts(&chrono::Utc::now());
        let proposed = State::awaiting_retry("retried by user");
        let also = [("expected_start_time", now)];
        let transition = self
            .transition_with(&mut tx, id, &proposed, &also, None, |current, _| {
                crate::runtime::orchestration::decide_retry(current, "retried by user")
            })
            .await?;
        if matches!(transition, Transition::Accepted(_)) {
            sqlx::query(
                &self.sql("UPDATE flow_runs SET claimed_by = NULL, heartbeat = NULL WHERE id = ?"),
            )
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.wake();
        Ok(transition)
    }

    /// When flow run `id` ended `Cancelled` or `Crashed` from outside its process (an agent, the
    /// heartbeat reaper), its task runs still unfinished end the same way, each through the policy.
    async fn finish_unfinished_task_runs(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: Uuid,
        flow_state: &State,
    ) -> Result<(), StoreError> {
        let sql = self
            .sql(&format!(
                "SELECT id, {STATE_COLUMNS} FROM task_runs WHERE flow_run_id = ? \
                 AND (state_type IS NULL OR state_type NOT IN {})",
                super::codec::final_types()
            ))
            .into_owned();
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *conn)
            .await?;
        let proposed = State {
            kind: flow_state.kind,
            name: flow_state.name.clone(),
            message: Some(format!(
                "its flow run ended {}: {}",
                flow_state.name,
                flow_state.message.as_deref().unwrap_or("")
            )),
            timestamp: flow_state.timestamp,
        };
        let update = self
            .sql(&format!("UPDATE task_runs SET {SET_STATE} WHERE id = ?"))
            .into_owned();
        for row in rows {
            let task = parse_id("task_runs", &row.try_get::<String, _>("id")?)?;
            let current = state_from_row("task_runs", &row)?;
            if let Decision::Accept(accepted) = decide(current.as_ref(), proposed.clone()) {
                let refs = [&accepted];
                Summary::of(&refs)
                    .bind(sqlx::query(&update))
                    .bind(task.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// [`propose_flow_run_state`](Self::propose_flow_run_state), answering whether the run changed.
    pub async fn set_flow_run_state(&self, id: Uuid, state: &State) -> Result<bool, StoreError> {
        Ok(matches!(
            self.propose_flow_run_state(id, state).await?,
            Transition::Accepted(_)
        ))
    }
}
