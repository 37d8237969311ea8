//! The SQLite fast path for the record's most frequent rows: the task runs a batch creates.
//!
//! Through sqlx's `Any` driver each such row cost the writer thread its arguments (a dozen strings
//! encoded twice) and sqlx's SQLite thread a hop and the binding, stepping and resetting of a
//! 7,500-parameter statement: three quarters of what recording added to a task run. Here the store
//! writer keeps a second connection of its own to the same database file (rusqlite over the
//! libsqlite3 sqlx links) and inserts those rows with statements it prepared once, their text bound
//! without a copy (`SQLITE_STATIC`: the values outlive the statement's execution, which
//! [`Insert::execute`] guarantees), in a transaction of their own after the rest of the batch
//! committed. The rows are the same ([`TaskRunRow`] spells them for both paths).
//!
//! What the second transaction changes: such a batch is no longer all or nothing. For the few
//! milliseconds between the two commits a reader can see the batch's flow-run states, logs,
//! results and artifacts without the task runs they belong to; a process that dies in between
//! loses those task runs' rows (as it loses every event not yet written); and a flow run finished
//! from outside in between (cancelled, or marked crashed) does not finish them — they are written
//! as reported. Should the fast insert fail, it writes nothing, says so once on stderr, and the
//! same rows go through sqlx in a transaction of their own.

use std::os::raw::c_int;
use std::ptr::NonNull;

use rusqlite::{ffi, Connection, OpenFlags, TransactionBehavior};

use super::connect::SQLITE_PRAGMAS;
use super::rows::{RunEntry, TaskRunRow};
use super::write::{placeholders, TASK_RUN_COLUMNS};

/// Fewer new task runs than this in a batch go through sqlx with the rest of it (one transaction
/// is cheaper than two for a few rows). Only batches written as several statements (over
/// `write::COMBINE_UP_TO` rows) come here: a smaller one is one round trip to sqlx's thread.
pub(crate) const FAST_FROM: usize = 256;

/// The store writer's own SQLite connection for new task runs.
pub(crate) struct FastTaskRuns {
    // The statements go before the connection they were prepared on (fields drop in order).
    /// The insert of [`ROWS`] rows and the insert of one.
    many: Insert,
    one: Insert,
    conn: Connection,
    /// Whether a failure was reported.
    warned: bool,
}

impl std::fmt::Debug for FastTaskRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastTaskRuns").finish_non_exhaustive()
    }
}

/// Rows per execution of the many-row statement (the rest go one by one): a statement's
/// start and end (opening the table and its indexes) cost about what a row does.
const ROWS: usize = 64;
/// Columns of a task run's row.
const WIDTH: usize = 15;

/// The insert of `rows` task runs.
fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO task_runs ({TASK_RUN_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
        placeholders(WIDTH, rows)
    )
}

/// The database file of a SQLite URL as sqlx reads it (`sqlite://path?mode=rwc`, `sqlite:path`,
/// percent-decoded); `None` for an in-memory database, which a second connection would not share.
fn database_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty()
        || path == ":memory:"
        || query.split('&').any(|option| option == "mode=memory");
    if in_memory {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

impl FastTaskRuns {
    /// A connection to the database of `url`, which the store writer has opened and migrated;
    /// `None` where there is no such file to share (the writer then writes every row through sqlx).
    pub(crate) fn open(url: &str) -> Option<FastTaskRuns> {
        let path = database_file(url)?;
        if !path.is_file() {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).ok()?;
        // The settings of the store's own connections (some answer with a row, read and dropped).
        for pragma in SQLITE_PRAGMAS {
            let mut statement = conn.prepare(pragma).ok()?;
            let mut rows = statement.query([]).ok()?;
            while rows.next().ok()?.is_some() {}
        }
        // Preparing checks that the schema is there (the writer migrated it) with these columns.
        let many = Insert::prepare(&conn, &insert_sql(ROWS)).ok()?;
        let one = Insert::prepare(&conn, &insert_sql(1)).ok()?;
        Some(FastTaskRuns {
            many,
            one,
            conn,
            warned: false,
        })
    }

    /// Says once on stderr that the fast path failed (its rows then go through sqlx).
    pub(crate) fn warn_once(&mut self, error: &rusqlite::Error) {
        if !std::mem::replace(&mut self.warned, true) {
            eprintln!(
                "flowcore: the record's SQLite fast path failed ({error}); task runs are written \
                 the ordinary way"
            );
        }
    }

    /// Inserts the task runs `chunks` hold (each entry a run created in the batch) in one
    /// transaction: all of them or, on an error, none.
    pub(crate) fn insert(&mut self, chunks: &[&[&RunEntry<'_>]]) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let entries: Vec<&RunEntry<'_>> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut groups = entries.chunks_exact(ROWS);
        let mut rows: Vec<TaskRunRow<'_>> = Vec::with_capacity(ROWS);
        for group in &mut groups {
            rows.clear();
            rows.extend(group.iter().map(|entry| TaskRunRow::of(entry)));
            self.many.execute(&tx, &rows)?;
        }
        for entry in groups.remainder() {
            self.one.execute(&tx, &[TaskRunRow::of(entry)])?;
        }
        tx.commit()
    }
}

/// An insert prepared once on the fast connection.
struct Insert {
    statement: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: a statement is used only with its connection, which `FastTaskRuns` owns with it and
// uses from one thread at a time (`&mut self`); SQLite allows that from any thread (the
// connection is opened without SQLite's own mutex, in its multi-thread mode).
unsafe impl Send for Insert {}

impl Insert {
    fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Insert> {
        let mut statement = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| failure(ffi::SQLITE_TOOBIG))?;
        // SAFETY: the handle is the open connection's, `sql` is valid for `len` bytes, and the
        // statement pointer is written by SQLite (null on failure).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut statement,
                std::ptr::null_mut(),
            )
        };
        check(rc)?;
        NonNull::new(statement)
            .map(|statement| Insert { statement })
            .ok_or_else(|| failure(ffi::SQLITE_MISUSE))
    }

    /// Binds `rows` (as many as the statement has rows) and executes the statement once. The
    /// text is bound without a copy: `rows` outlives the execution, and the bindings are cleared
    /// before this returns, so the statement never holds a pointer into freed memory.
    fn execute(
        &mut self,
        _tx: &rusqlite::Transaction<'_>,
        rows: &[TaskRunRow<'_>],
    ) -> rusqlite::Result<()> {
        let statement = self.statement.as_ptr();
        // SAFETY: a live statement.
        let parameters = unsafe { ffi::sqlite3_bind_parameter_count(statement) };
        debug_assert_eq!(
            parameters as usize,
            rows.len() * WIDTH,
            "every parameter bound"
        );
        let bound = self.bind(rows);
        // SAFETY: the statement is live (finalized only on drop); stepping runs it on its
        // connection, inside the caller's transaction; reset and clear leave it reusable, with no
        // binding left pointing at `rows`.
        let rc = unsafe {
            let rc = if bound.is_ok() {
                ffi::sqlite3_step(statement)
            } else {
                ffi::SQLITE_DONE
            };
            ffi::sqlite3_reset(statement);
            ffi::sqlite3_clear_bindings(statement);
            rc
        };
        bound?;
        if rc == ffi::SQLITE_DONE {
            Ok(())
        } else {
            // SAFETY: a live statement's connection; SQLite's message is copied at once.
            let message = unsafe {
                let text = ffi::sqlite3_errmsg(ffi::sqlite3_db_handle(statement));
                (!text.is_null()).then(|| {
                    std::ffi::CStr::from_ptr(text)
                        .to_string_lossy()
                        .into_owned()
                })
            };
            Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), message))
        }
    }

    fn bind(&mut self, rows: &[TaskRunRow<'_>]) -> rusqlite::Result<()> {
        for (r, row) in rows.iter().enumerate() {
            let at = (r * WIDTH) as c_int;
            self.text(at + 1, Some(row.id()))?;
            self.text(at + 2, row.flow_run_id())?;
            self.text(at + 3, Some(row.task_name))?;
            self.text(at + 4, Some(row.name))?;
            self.text(at + 5, Some(&row.tags))?;
            self.text(at + 6, Some(&row.inputs))?;
            self.text(at + 7, Some(row.created()))?;
            self.text(at + 8, row.state_type)?;
            self.text(at + 9, row.state_name)?;
            self.text(at + 10, row.state_message)?;
            self.text(at + 11, row.time())?;
            self.text(at + 12, row.start())?;
            self.text(at + 13, row.end())?;
            // SAFETY: a live statement; the index is one of its parameters.
            check(unsafe {
                ffi::sqlite3_bind_int64(self.statement.as_ptr(), at + 14, row.attempts)
            })?;
            self.text(at + 15, Some(row.history()))?;
        }
        Ok(())
    }

    /// Binds `text` (`None`: NULL) to parameter `i` without copying it: only for [`execute`]
    /// (through [`bind`](Self::bind)), whose values outlive the statement's execution.
    fn text(&mut self, i: c_int, text: Option<&str>) -> rusqlite::Result<()> {
        let statement = self.statement.as_ptr();
        // SAFETY: a live statement; `text` is valid UTF-8 for its length until the bindings are
        // cleared at the end of `execute` (SQLITE_STATIC: SQLite neither copies nor frees it).
        let rc = unsafe {
            match text {
                // An empty string's pointer is dangling: a static one instead (as rusqlite does).
                Some(text) => ffi::sqlite3_bind_text64(
                    statement,
                    i,
                    if text.is_empty() {
                        "".as_ptr()
                    } else {
                        text.as_ptr()
                    }
                    .cast(),
                    text.len() as ffi::sqlite3_uint64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                None => ffi::sqlite3_bind_null(statement, i),
            }
        };
        check(rc)
    }
}

impl Drop for Insert {
    fn drop(&mut self) {
        // SAFETY: the statement is live and dropped once, before its connection.
        unsafe {
            ffi::sqlite3_finalize(self.statement.as_ptr());
        }
    }
}

fn failure(rc: c_int) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None)
}

fn check(rc: c_int) -> rusqlite::Result<()> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(failure(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::events::{Event, RunKind, RunRef};
    use crate::schemas::runs::{InputKind, TaskInput};
    use crate::store::connect::{sqlite_url, Store};
    use crate::store::write::{Caller, COMBINE_UP_TO};
    use crate::State;

    /// A flow run and `n` task runs of every shape a row can have: tags or none, inputs or
    /// none, messages that need escaping, retried, failed, still running, renamed.
    fn batch(n: usize) -> Vec<Event> {
        let (flow, mut events) = crate::store::tests::flow_run_events("f-0", false);
        let mut previous: Option<RunRef> = None;
        for i in 0..n {
            let run = RunRef {
                kind: RunKind::Task,
                id: uuid::Uuid::now_v7(),
                name: format!("t-{i}").into(),
                flow_run_id: Some(flow),
            };
            let inputs = match (&previous, i % 3) {
                (Some(up), 0) => vec![TaskInput {
                    parameter: "x".into(),
                    upstream_id: up.id,
                    upstream_name: up.name.to_string(),
                    kind: InputKind::Parameter,
                }],
                _ => Vec::new(),
            };
            events.push(Event::TaskRunCreated {
                run: run.clone(),
                task_name: "t".into(),
                flow_run_id: (i % 11 != 0).then_some(flow),
                tags: if i % 4 == 0 {
                    vec!["io".into(), "db \"x\"".into()]
                } else {
                    Vec::new()
                },
                inputs,
                created: chrono::Utc::now(),
            });
            let mut states = vec![State::pending(), State::running()];
            match i % 5 {
                0 => states.push(State::completed()),
                1 => states.extend([
                    State::awaiting_retry("boom: \"quoted\"\nnext line — ünïcode"),
                    State::retrying(),
                    State::completed(),
                ]),
                2 => states.push(State::failed("it failed\ttab")),
                3 => {} // still running
                _ => states.push(State::cached("Cached: reused 'x'")),
            }
            for state in states {
                events.push(Event::StateChanged {
                    run: run.clone(),
                    state,
                });
            }
            if i % 7 == 0 {
                // Renamed after its creation: the latest name is written.
                let renamed = RunRef {
                    name: format!("renamed-{i}").into(),
                    ..run.clone()
                };
                events.push(Event::StateChanged {
                    run: renamed,
                    state: State::running(),
                });
            }
            previous = Some(run);
        }
        events
    }

    async fn task_rows(store: &Store) -> Vec<String> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT id, flow_run_id, task_name, name, tags, inputs, created, state_type, \
             state_name, state_message, state_time, start_time, end_time, attempts, history \
             FROM task_runs ORDER BY id",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        rows.iter()
            .map(|row| {
                (0..15)
                    .map(|i| {
                        if i == 13 {
                            row.get::<i64, _>(i).to_string()
                        } else {
                            row.get::<Option<String>, _>(i)
                                .unwrap_or_else(|| "NULL".into())
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    }

    /// The fast path writes exactly the rows the ordinary one does.
    #[tokio::test]
    async fn the_fast_path_writes_the_same_rows() {
        // A batch written as several statements (over COMBINE_UP_TO rows): full groups of ROWS
        // rows, and single rows after them.
        let n = COMBINE_UP_TO + 3 * ROWS + 7;
        let events = batch(n);
        let refs: Vec<&Event> = events.iter().collect();
        let dir = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for (name, fast) in [("ordinary.db", false), ("fast.db", true)] {
            let url = sqlite_url(&dir.path().join(name));
            let store = Store::connect(&url).await.unwrap();
            let mut fast = fast.then(|| FastTaskRuns::open(&url).expect("a file database"));
            store
                .write_events(None, &refs, Caller::NeverCancels, fast.as_mut())
                .await
                .unwrap();
            // A second delivery of the same batch changes nothing (`ON CONFLICT DO NOTHING`).
            let once = task_rows(&store).await;
            if let Some(fast) = fast.as_mut() {
                // Refused transitions or not, the task runs' rows stay as they were.
                let _ = store
                    .write_events(None, &refs, Caller::NeverCancels, Some(fast))
                    .await;
                assert_eq!(task_rows(&store).await, once);
            }
            written.push(once);
        }
        assert_eq!(written[0].len(), n);
        assert_eq!(written[0], written[1]);
    }

    /// Should the fast connection fail, the rows go the ordinary way: none is lost.
    #[tokio::test]
    async fn a_failing_fast_path_falls_back() {
        let events = batch(COMBINE_UP_TO + 5);
        let refs: Vec<&Event> = events.iter().collect();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&sqlite_url(&dir.path().join("runs.db")))
            .await
            .unwrap();
        // A fast connection whose inserts fail: its database lost the table after it opened.
        let other = sqlite_url(&dir.path().join("other.db"));
        let broken = Store::connect(&other).await.unwrap();
        let mut fast = FastTaskRuns::open(&other).unwrap();
        sqlx::query("DROP TABLE task_runs")
            .execute(&broken.pool)
            .await
            .unwrap();
        store
            .write_events(None, &refs, Caller::NeverCancels, Some(&mut fast))
            .await
            .unwrap();
        assert_eq!(task_rows(&store).await.len(), COMBINE_UP_TO + 5);
    }

    #[test]
    fn an_in_memory_database_has_no_fast_path() {
        assert!(FastTaskRuns::open("sqlite::memory:").is_none());
        let dir = tempfile::tempdir().unwrap();
        // No file there (nothing migrated it): the writer keeps to sqlx.
        let url = sqlite_url(&dir.path().join("missing.db"));
        assert!(FastTaskRuns::open(&url).is_none());
    }

    #[test]
    fn only_a_file_is_shared() {
        let path = |p: &str| Some(std::path::PathBuf::from(p));
        assert_eq!(
            database_file("sqlite:///tmp/x/flowcore.db?mode=rwc"),
            path("/tmp/x/flowcore.db")
        );
        assert_eq!(database_file("sqlite:runs.db"), path("runs.db"));
        // Read as sqlx reads it: percent-decoded.
        assert_eq!(
            database_file("sqlite:///tmp/a%20b/x%25.db?mode=rwc"),
            path("/tmp/a b/x%.db")
        );
        assert_eq!(database_file("sqlite::memory:"), None);
        assert_eq!(database_file("sqlite://file.db?mode=memory"), None);
        assert_eq!(database_file("postgres://localhost/test"), None);
    }
}
