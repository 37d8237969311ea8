//! Ingesting reported events (the runtime's batches, `POST /api/events`): one transaction per batch
//! (for the store writer's large SQLite batches, two: see `fast_sqlite`).
//!
//! Every reported transition goes through the [orchestration policy](crate::runtime::orchestration)
//! against the run's stored state (or, for a run created in the batch, the states before it in the
//! batch): a contradictory one — `Running` after `Completed`, a `Crashed` after a final state — is
//! refused and not written, and the answer lists it.

use std::borrow::Cow;
use std::collections::HashMap;

use sqlx::any::AnyArguments;
use sqlx::Row;
use uuid::Uuid;

use super::automations::{active_automations, ACTIVE_AUTOMATIONS};
use super::codec::ts;
use super::connect::{Backend, Store, StoreError};
use super::fast_sqlite::{FastTaskRuns, FAST_FROM};
use super::rows::RunEntry;
use super::transitions::{stored_from_row, Stored};
use super::write::{Caller, Piece, WriteOutcome, COMBINE_UP_TO, ROWS_PER_STATEMENT};
use crate::reporting::reporter::is_task_finished_line;
use crate::runtime::orchestration::{decide, Decision};
use crate::runtime::state::{State, StateName, StateType};
use crate::schemas::artifacts::{Artifact, ARTIFACT_TARGET};
use crate::schemas::automations::AutomationSpec;
use crate::schemas::events::{Event, LogRecord, RunKind, RunRef};
use crate::schemas::records::RefusedTransition;
use crate::schemas::results::{ResultRef, RESULT_TARGET};

/// What ingesting a batch did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Ingested {
    /// Whether the batch was written (or had been before).
    pub outcome: WriteOutcome,
    /// The reported transitions the orchestration policy refused (not written).
    pub refused: Vec<RefusedTransition>,
}

impl Ingested {
    fn written(refused: Vec<RefusedTransition>) -> Ingested {
        Ingested {
            outcome: WriteOutcome::Written,
            refused,
        }
    }
}

/// The runs a batch mentions, in first-mention order.
struct Runs<'a> {
    order: Vec<RunEntry<'a>>,
    /// foldhash, seeded per process: SipHash was ~4 % of the writer's instructions.
    index: HashMap<Uuid, usize, foldhash::fast::RandomState>,
    /// The entry of the run the previous event was about.
    last: usize,
}

impl<'a> Runs<'a> {
    /// The entry of `run`, which must keep the kind it was first mentioned with.
    fn slot(&mut self, run: &'a RunRef) -> Result<&mut RunEntry<'a>, StoreError> {
        let next = self.order.len();
        // A run's events mostly come one after another (created, `Pending`, `Running`, final):
        // the run the previous event was about needs no lookup.
        let i = match self.order.get(self.last) {
            Some(last) if last.0.id == run.id => self.last,
            _ => *self.index.entry(run.id).or_insert(next),
        };
        self.last = i;
        if i == next {
            self.order.push((run, None, Vec::new()));
        }
        let entry = &mut self.order[i];
        if entry.0.kind != run.kind {
            return Err(StoreError::Invalid(format!(
                "run {} is reported as both a flow run and a task run",
                run.id
            )));
        }
        // A run renamed after its creation (a `task_run_name` waiting for an upstream's value):
        // the latest name the batch carries is written.
        if entry.0.name != run.name {
            entry.0 = run;
        }
        Ok(entry)
    }

    /// The runs whose stored state the policy needs, by table: runs created earlier that changed
    /// state, and flow runs created in the batch (a deployment's run exists before its process
    /// reports it).
    fn stored_needed(&self) -> (Vec<Uuid>, Vec<Uuid>) {
        let mut flows = Vec::new();
        let mut tasks = Vec::new();
        for (run, created, states) in &self.order {
            if states.is_empty() {
                continue;
            }
            match (run.kind, created) {
                (RunKind::Flow, _) => flows.push(run.id),
                (RunKind::Task, None) => tasks.push(run.id),
                (RunKind::Task, Some(_)) => {}
            }
        }
        (flows, tasks)
    }

    /// A condition on the stored rows that leaves out those whose state cannot change the policy's
    /// answer: in a state in which every run's first reported state is accepted as it is — as it
    /// would be for a run without a state. A batch of ordinary updates (`Pending` runs reported
    /// `Running`, `Running` ones `Completed`) then reads back no rows at all.
    fn unless_harmless(&self) -> String {
        let mut firsts: Vec<(StateType, &str)> = Vec::new();
        for (_, _, states) in &self.order {
            if let Some(first) = states.first() {
                let key = (first.kind, &*first.name);
                if !firsts.contains(&key) {
                    firsts.push(key);
                }
            }
        }
        let harmless = StateName::ALL.iter().filter(|name| {
            let current = State::of(**name);
            firsts.iter().all(|&(kind, name)| {
                let proposed = State {
                    kind,
                    name: Cow::Owned(name.to_string()),
                    message: None,
                    timestamp: Default::default(),
                };
                matches!(decide(Some(&current), proposed),
                    Decision::Accept(d) if d.kind == kind && d.name == name)
            })
        });
        // The spellings are the policy's own constants, never reported text.
        let mut sql = String::from(" AND state_type IS NOT NULL");
        for name in harmless {
            sql.push_str(&format!(
                " AND NOT (state_type = '{}' AND state_name = '{}')",
                name.kind().as_str(),
                name.as_str()
            ));
        }
        sql
    }

    /// Whether the batch reports states of flow runs (which automations may be notified of).
    fn has_flow_states(&self) -> bool {
        self.order
            .iter()
            .any(|(run, _, states)| run.kind == RunKind::Flow && !states.is_empty())
    }

    /// The flow runs' accepted transitions (what automations are matched against).
    fn flow_changes(&self) -> Vec<(Uuid, Vec<&State>)> {
        self.order
            .iter()
            .filter(|(run, _, states)| run.kind == RunKind::Flow && !states.is_empty())
            .map(|(run, _, states)| (run.id, states.iter().map(|s| &**s).collect()))
            .collect()
    }

    /// Keeps, of every run's reported states, those the policy accepts (as it may have replaced
    /// them), deciding each against the state before it; returns the refused ones.
    fn orchestrate(&mut self, stored: &HashMap<Uuid, Stored>) -> Vec<RefusedTransition> {
        let mut refused = Vec::new();
        for (run, _, states) in &mut self.order {
            if states.is_empty() {
                continue;
            }
            let current = stored.get(&run.id).and_then(|s| s.state.as_ref());
            // In place: the accepted states move to the front, in order; the refused are dropped.
            let mut kept = 0;
            for i in 0..states.len() {
                let before = match kept {
                    0 => current,
                    k => Some(&*states[k - 1]),
                };
                match decide(before, states[i].as_ref().clone()) {
                    Decision::Accept(decided) => {
                        if decided != *states[i] {
                            states[i] = Cow::Owned(decided);
                        }
                        states.swap(kept, i);
                        kept += 1;
                    }
                    Decision::Reject(r) => refused.push(RefusedTransition {
                        run_id: run.id,
                        current: r.current,
                        proposed: r.proposed,
                        reason: r.reason,
                    }),
                }
            }
            states.truncate(kept);
        }
        refused
    }
}

/// A creation event must create a run of its own kind.
fn check_kind(run: &RunRef, kind: RunKind, event: &str) -> Result<(), StoreError> {
    if run.kind == kind {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{event} for run {} whose kind is {:?}",
            run.id, run.kind
        )))
    }
}

/// A batch's runs split by what is written for them.
struct Parts<'b, 'a> {
    flow_runs: Vec<&'b RunEntry<'a>>,
    task_runs: Vec<&'b RunEntry<'a>>,
    updated_flows: Vec<&'b RunEntry<'a>>,
    updated_tasks: Vec<&'b RunEntry<'a>>,
}

impl<'b, 'a> Parts<'b, 'a> {
    fn of(runs: &'b Runs<'a>) -> Parts<'b, 'a> {
        let mut parts = Parts {
            flow_runs: Vec::new(),
            task_runs: Vec::new(),
            updated_flows: Vec::new(),
            updated_tasks: Vec::new(),
        };
        for entry in &runs.order {
            let (run, created, states) = entry;
            match (created.is_some(), run.kind) {
                (true, RunKind::Flow) => parts.flow_runs.push(entry),
                (true, RunKind::Task) => parts.task_runs.push(entry),
                (false, _) if states.is_empty() => {}
                (false, RunKind::Flow) => parts.updated_flows.push(entry),
                (false, RunKind::Task) => parts.updated_tasks.push(entry),
            }
        }
        parts
    }

    /// The statements, in order: flows, new flow runs, new task runs, updates, logs, artifacts,
    /// result references.
    fn pieces<'p>(
        &'p self,
        flows: &'p [(&'p str, String)],
        logs: &'p [&'p LogRecord],
        artifacts: &'p [&'p Artifact],
        results: &'p [&'p ResultRef],
    ) -> Vec<Piece<'p>> {
        let mut pieces: Vec<Piece<'p>> = Vec::new();
        pieces.extend(flows.chunks(ROWS_PER_STATEMENT).map(Piece::Flows));
        pieces.extend(
            self.flow_runs
                .chunks(ROWS_PER_STATEMENT)
                .map(Piece::FlowRuns),
        );
        pieces.extend(
            self.task_runs
                .chunks(ROWS_PER_STATEMENT)
                .map(Piece::TaskRuns),
        );
        pieces.extend(
            self.updated_flows
                .chunks(ROWS_PER_STATEMENT)
                .map(|rows| Piece::Updated("flow_runs", rows)),
        );
        pieces.extend(
            self.updated_tasks
                .chunks(ROWS_PER_STATEMENT)
                .map(|rows| Piece::Updated("task_runs", rows)),
        );
        pieces.extend(logs.chunks(ROWS_PER_STATEMENT).map(Piece::Logs));
        pieces.extend(artifacts.chunks(ROWS_PER_STATEMENT).map(Piece::Artifacts));
        pieces.extend(results.chunks(ROWS_PER_STATEMENT).map(Piece::Results));
        pieces
    }
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
        Ok(self.ingest(batch_id, batch).await?.outcome)
    }

    /// [`write_batch`](Self::write_batch), also telling which reported transitions the
    /// orchestration policy refused (they were not written).
    pub async fn ingest(
        &self,
        batch_id: Option<Uuid>,
        batch: &[Event],
    ) -> Result<Ingested, StoreError> {
        let events: Vec<&Event> = batch.iter().collect();
        self.write_events(batch_id, &events, Caller::MayCancel, None)
            .await
    }

    /// The stored states of the runs the policy needs (type and name: a refusal's `current` says
    /// which state the run keeps, not when it entered it). A run left out — unknown, without a
    /// state, or in a [harmless](Runs::unless_harmless) one — is decided as a run without a state,
    /// which gives the same answers.
    async fn stored_states(
        &self,
        conn: &mut sqlx::AnyConnection,
        runs: &Runs<'_>,
    ) -> Result<HashMap<Uuid, Stored>, StoreError> {
        let (flows, tasks) = runs.stored_needed();
        let mut stored = HashMap::new();
        if flows.is_empty() && tasks.is_empty() {
            return Ok(stored);
        }
        // On PostgreSQL every row read is locked until the batch commits (a service's transition
        // cannot slip in between); on SQLite the write transaction holds the database.
        let unless_harmless = match self.backend {
            Backend::Sqlite => runs.unless_harmless(),
            Backend::Postgres => String::new(),
        };
        for (table, ids) in [("flow_runs", flows), ("task_runs", tasks)] {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let read = self.current_states(&mut *conn, table, chunk, &unless_harmless, false);
                stored.extend(read.await?);
            }
        }
        Ok(stored)
    }

    /// Opens a small batch's transaction on SQLite in one round trip to sqlx's SQLite thread (each
    /// is a hop there and back, most of a small write's time; the flush at the end of every flow
    /// run is such a batch): takes the write lock, reads the automations that may fire when flow
    /// runs changed state, and the stored states the policy needs (as
    /// [`stored_states`](Self::stored_states)).
    async fn begin_small(
        &self,
        conn: &mut sqlx::AnyConnection,
        runs: &Runs<'_>,
    ) -> Result<(HashMap<Uuid, Stored>, Vec<(String, AutomationSpec)>), StoreError> {
        let (flows, tasks) = runs.stored_needed();
        let mut sql = String::from("BEGIN IMMEDIATE;\n");
        if runs.has_flow_states() {
            sql.push_str(ACTIVE_AUTOMATIONS);
            sql.push_str(";\n");
        }
        let unless_harmless = if flows.is_empty() && tasks.is_empty() {
            String::new()
        } else {
            runs.unless_harmless()
        };
        let mut chunks: Vec<&[Uuid]> = Vec::new();
        for (table, ids) in [("flow_runs", &flows), ("task_runs", &tasks)] {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                sql.push_str(&self.states_sql(table, chunk.len(), &unless_harmless, false));
                sql.push_str(";\n");
                chunks.push(chunk);
            }
        }
        let query = chunks.iter().fold(sqlx::query(&sql), |query, chunk| {
            self.bind_ids(query, chunk)
        });
        let mut stored = HashMap::new();
        let mut automations = Vec::new();
        for row in query.fetch_all(&mut *conn).await? {
            // The automations' rows are the ones with a spec; the others are runs' states.
            if row.try_column("spec").is_ok() {
                automations.push(row);
            } else {
                let (id, state) = stored_from_row("runs", &row)?;
                stored.insert(id, state);
            }
        }
        Ok((stored, active_automations(&automations)?))
    }

    /// [`ingest`](Self::ingest) over borrowed events.
    ///
    /// The batch becomes a list of statements (one per table and chunk of rows); each statement's
    /// values are encoded while the database executes the one before, so the encoding on this
    /// thread and the database's work overlap.
    pub(crate) async fn write_events(
        &self,
        batch_id: Option<Uuid>,
        batch: &[&Event],
        caller: Caller,
        fast: Option<&mut FastTaskRuns>,
    ) -> Result<Ingested, StoreError> {
        // Most runs a batch mentions have a few events each (the store writer's batches: four).
        let mut runs = Runs {
            order: Vec::with_capacity(batch.len() / 3 + 1),
            index: HashMap::with_capacity_and_hasher(batch.len() / 3 + 1, Default::default()),
            last: usize::MAX,
        };
        let mut flows: Vec<(&str, String)> = Vec::new();
        let mut logs: Vec<&LogRecord> = Vec::new();
        let mut artifacts: Vec<Artifact> = Vec::new();
        let mut results: Vec<ResultRef> = Vec::new();
        for &event in batch {
            match event {
                Event::FlowRunCreated {
                    run,
                    flow_name,
                    created,
                    ..
                } => {
                    check_kind(run, RunKind::Flow, "flow_run_created")?;
                    if !flows.iter().any(|(f, _)| f == flow_name) {
                        flows.push((flow_name, ts(created)));
                    }
                    runs.slot(run)?.1 = Some(event);
                }
                Event::TaskRunCreated { run, .. } => {
                    check_kind(run, RunKind::Task, "task_run_created")?;
                    runs.slot(run)?.1 = Some(event);
                }
                Event::StateChanged { run, state } => runs.slot(run)?.2.push(Cow::Borrowed(state)),
                // A task run's "Finished in state …" line is its history's final state: read back
                // from there (see `Store::logs`), never stored twice.
                Event::Log(log) if is_task_finished_line(log) => {}
                Event::Log(log) if log.target == ARTIFACT_TARGET => match Artifact::from_log(log) {
                    Some(artifact) => artifacts.push(artifact),
                    None => logs.push(log),
                },
                Event::Log(log) if log.target == RESULT_TARGET => match ResultRef::from_log(log) {
                    Some(result) => results.push(result),
                    None => logs.push(log),
                },
                Event::Log(log) => logs.push(log),
            }
        }
        let artifacts: Vec<&Artifact> = artifacts.iter().collect();
        let results: Vec<&ResultRef> = results.iter().collect();
        let rows = flows.len() + runs.order.len() + logs.len() + artifacts.len() + results.len();
        let small = self.backend == Backend::Sqlite && rows <= COMBINE_UP_TO && rows > 0;

        if small && batch_id.is_none() && caller == Caller::NeverCancels {
            // One round trip for the whole transaction (after the read the policy needs). Should a
            // statement fail, what ran is rolled back and the connection goes back to the pool
            // outside any transaction. (A caller that dropped this future half-way could leave the
            // transaction open on the pooled connection: hence only for the store writer's thread,
            // which never does.)
            let mut conn = self.pool.acquire().await?;
            let written = async {
                let (stored, automations) = self.begin_small(&mut conn, &runs).await?;
                let refused = runs.orchestrate(&stored);
                let parts = Parts::of(&runs);
                let pieces = parts.pieces(&flows, &logs, &artifacts, &results);
                let changes = runs.flow_changes();
                // Unless an automation is to be notified, the commit goes in the same round trip.
                let notify = !changes.is_empty() && !automations.is_empty();
                let commit = if notify { "" } else { "COMMIT;" };
                let (sql, args) = self.combined(pieces, "", commit);
                sqlx::query_with(&sql, args).execute(&mut *conn).await?;
                if notify {
                    self.queue_notifications_for(&mut conn, &changes, &automations)
                        .await?;
                    sqlx::query("COMMIT").execute(&mut *conn).await?;
                }
                if !changes.is_empty() {
                    // A deployment's run that ended may free its queue's slot.
                    self.wake();
                }
                Ok::<_, StoreError>(refused)
            }
            .await;
            return match written {
                Ok(refused) => Ok(Ingested::written(refused)),
                Err(e) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    Err(e)
                }
            };
        }

        let mut tx = self.begin_write().await?;
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
                return Ok(Ingested {
                    outcome: WriteOutcome::Duplicate,
                    refused: Vec::new(),
                });
            }
        }
        let stored = self.stored_states(&mut tx, &runs).await?;
        let refused = runs.orchestrate(&stored);
        let parts = Parts::of(&runs);
        let mut pieces = parts.pieces(&flows, &logs, &artifacts, &results);
        // Many new task runs go through the store writer's own SQLite connection once the rest
        // committed (see `fast_sqlite`).
        let fast = fast.filter(|_| self.backend == Backend::Sqlite);
        let mut later: Vec<&[&RunEntry<'_>]> = Vec::new();
        let new_task_runs: usize = pieces
            .iter()
            .map(|piece| match piece {
                Piece::TaskRuns(rows) => rows.len(),
                _ => 0,
            })
            .sum();
        if fast.is_some() && new_task_runs >= FAST_FROM {
            pieces.retain(|piece| match piece {
                Piece::TaskRuns(rows) => {
                    later.push(rows);
                    false
                }
                _ => true,
            });
        }
        let rows: usize = pieces.iter().map(Piece::rows).sum();
        if self.backend == Backend::Sqlite && rows <= COMBINE_UP_TO && !pieces.is_empty() {
            let (sql, args) = self.combined(pieces, "", "");
            sqlx::query_with(&sql, args).execute(&mut *tx).await?;
        } else {
            let mut pieces = pieces.into_iter();
            let build = |piece| self.statement(piece, AnyArguments::default());
            let mut next = pieces.next().map(build);
            while let Some((sql, args)) = next.take() {
                let execute = sqlx::query_with(&sql, args).execute(&mut *tx);
                // `join!` polls the execution first (which hands the statement to the database),
                // then encodes the next statement while the database works.
                let (done, built) = tokio::join!(execute, async { pieces.next().map(build) });
                done?;
                next = built;
            }
        }
        let changes = runs.flow_changes();
        self.queue_notifications(&mut tx, &changes).await?;
        tx.commit().await?;
        if let Some(fast) = fast {
            if let Some(error) = (!later.is_empty())
                .then(|| fast.insert(&later).err())
                .flatten()
            {
                // The fast connection failed (busy past its timeout, say): nothing of it was
                // written, and the rows go the ordinary way.
                fast.warn_once(&error);
                let mut tx = self.begin_write().await?;
                for rows in later {
                    let (sql, args) =
                        self.statement(Piece::TaskRuns(rows), AnyArguments::default());
                    sqlx::query_with(&sql, args).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        if !changes.is_empty() {
            self.wake();
        }
        Ok(Ingested::written(refused))
    }
}
