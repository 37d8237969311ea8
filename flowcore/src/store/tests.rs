//! The store's own tests: schema migrations, the writer's paths, refused batches.

use chrono::Utc;
use sqlx::any::AnyPoolOptions;
use sqlx::Row;
use uuid::Uuid;

use super::connect::{sqlite_url, Backend, Store, StoreError};
use super::filter::FlowRunFilter;
use super::{rows, schema, write};
use crate::schemas::events::RunKind;

/// A flow run's creation and start (and a log line of it with `log`).
pub(super) fn flow_run_events(name: &str, log: bool) -> (Uuid, Vec<crate::schemas::events::Event>) {
    use crate::schemas::events::{Event, LogLevel, LogRecord, RunRef};
    let id = Uuid::now_v7();
    let run = RunRef {
        kind: RunKind::Flow,
        id,
        name: name.into(),
        flow_run_id: Some(id),
    };
    let mut events = vec![
        Event::FlowRunCreated {
            run: run.clone(),
            flow_name: "f".into(),
            version: None,
            parameters: serde_json::json!({}),
            tags: Vec::new(),
            parent_flow_run_id: None,
            parent_task_run_id: None,
            created: Utc::now(),
        },
        Event::StateChanged {
            run: run.clone(),
            state: crate::State::running(),
        },
    ];
    if log {
        events.push(Event::Log(LogRecord {
            run,
            flow_run_id: Some(id),
            level: LogLevel::Info,
            target: "t".into(),
            message: "hello".into(),
            timestamp: Utc::now(),
        }));
    }
    (id, events)
}

/// A small batch goes to SQLite as one query of several statements (inside `BEGIN … COMMIT`
/// for the store writer's thread, inside a transaction otherwise): when one statement fails,
/// nothing of the batch stays and the connection is usable afterwards.
#[tokio::test]
async fn a_failed_small_batch_leaves_nothing_behind() {
    use write::Caller;
    for caller in [Caller::NeverCancels, Caller::MayCancel] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&sqlite_url(&dir.path().join("x.db")))
            .await
            .unwrap();
        sqlx::query("DROP TABLE logs")
            .execute(&store.pool)
            .await
            .unwrap();
        let (failed, events) = flow_run_events("doomed", true);
        let refs: Vec<_> = events.iter().collect();
        let err = store
            .write_events(None, &refs, caller, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("logs"), "{caller:?}: {err}");
        assert!(store.flow_run(&failed.to_string()).await.unwrap().is_none());

        let (ok, events) = flow_run_events("fine", false);
        let refs: Vec<_> = events.iter().collect();
        store.write_events(None, &refs, caller, None).await.unwrap();
        let run = store.flow_run(&ok.to_string()).await.unwrap().unwrap();
        assert_eq!(run.name, "fine");
        assert!(run.state.unwrap().is_running());
    }
}

/// A batch whose creation events contradict the runs' kinds is refused, naming the run.
#[tokio::test]
async fn contradictory_kinds_are_refused() {
    use crate::schemas::events::{Event, RunRef};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&sqlite_url(&dir.path().join("x.db")))
        .await
        .unwrap();
    let (id, mut events) = flow_run_events("twice", false);
    let Event::FlowRunCreated { run, .. } = &mut events[0] else {
        unreachable!()
    };
    run.kind = RunKind::Task;
    let err = store.write(&events).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains(&id.to_string())),
        "{err}"
    );

    let (id, mut events) = flow_run_events("twice", false);
    events.push(Event::TaskRunCreated {
        run: RunRef {
            kind: RunKind::Task,
            id,
            name: "t-0".into(),
            flow_run_id: Some(id),
        },
        task_name: "t".into(),
        flow_run_id: Some(id),
        tags: Vec::new(),
        inputs: Vec::new(),
        created: Utc::now(),
    });
    let err = store.write(&events).await.unwrap_err();
    assert!(
        err.to_string().contains("both a flow run and a task run"),
        "{err}"
    );
    assert!(store.flow_run(&id.to_string()).await.unwrap().is_none());
}

/// Schema 3 stored task runs' "Finished in state …" lines as rows; schema 4 reads them from the
/// runs' histories, so migrating drops the rows and each line still shows exactly once.
#[tokio::test]
async fn schema_3_finished_lines_show_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("v3.db"));
    let store = Store::connect(&url).await.unwrap();
    let flow = "01a21ba6-ec75-7208-8085-a59b11b12882";
    let task = "01a21ba6-ec75-7208-8085-a59b11b12883";
    let history = format!(
        "{}{}",
        rows::history_line(&crate::State::running()),
        rows::history_line(&crate::State::completed())
    );
    for statement in [
        format!(
            "INSERT INTO flow_runs (id, flow_name, name, parameters, tags, created) VALUES \
             ('{flow}', 'f', 'old-run', '{{}}', '[]', '2026-11-27T06:00:00.000000Z')"
        ),
        format!(
            "INSERT INTO task_runs (id, flow_run_id, task_name, name, tags, created, \
             state_type, state_name, end_time, history) VALUES ('{task}', '{flow}', 't', \
             't-0', '[]', '2026-11-27T06:00:01.000000Z', 'COMPLETED', 'Completed', \
             '2026-11-27T06:00:02.000000Z', '{history}')"
        ),
        format!(
            "INSERT INTO logs (run_id, run_kind, flow_run_id, level, target, message, \
             timestamp) VALUES ('{task}', 'task', '{flow}', 'INFO', 'flowcore', \
             'Finished in state Completed()', '2026-11-27T06:00:02.000000Z')"
        ),
        "UPDATE schema_version SET version = 3".to_string(),
    ] {
        sqlx::query(&statement).execute(&store.pool).await.unwrap();
    }
    let before = store.logs(flow.parse().unwrap()).await.unwrap();
    assert_eq!(before.len(), 2, "schema 3's row and the history's line");
    drop(store);

    let store = Store::connect(&url).await.unwrap();
    let logs = store.logs(flow.parse().unwrap()).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["Finished in state Completed()"]);
    assert_eq!(logs[0].run_id.to_string(), task);
    assert_eq!(logs[0].run_name.as_deref(), Some("t-0"));
    let version: i64 = sqlx::query("SELECT version FROM schema_version")
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get("version")
        .unwrap();
    assert_eq!(version, schema::VERSION);
}

/// A database written by schema 1 is migrated at connection: states and inputs move into the
/// run rows, logs learn their flow run, nothing is lost.
#[tokio::test]
async fn schema_1_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("v1.db"));
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let flow = "01a21ba6-ec75-7208-8085-a59b11b12882";
    let task = "01a21ba6-ec75-7208-8085-a59b11b12883";
    let up = "01a21ba6-ec75-7208-8085-a59b11b12884";
    let mut statements = schema::v1(Backend::Sqlite);
    statements.extend([
        "INSERT INTO flows VALUES ('f', '2026-11-27T06:00:00.000000Z')".to_string(),
        format!(
            "INSERT INTO flow_runs VALUES ('{flow}', 'f', 'old-run', NULL, '{{}}', '[]', NULL, \
             NULL, NULL, NULL, '2026-11-27T06:00:00.000000Z')"
        ),
        format!(
            "INSERT INTO task_runs VALUES ('{task}', '{flow}', 't', 't-0', '[]', \
             '2026-11-27T06:00:01.000000Z')"
        ),
        format!("INSERT INTO task_inputs VALUES ('{task}', 'x', '{up}', 'parameter')"),
    ]);
    for (run, kind, ty, name, at) in [
        (flow, "flow", "RUNNING", "Running", "06:00:00"),
        (task, "task", "PENDING", "Pending", "06:00:01"),
        (task, "task", "RUNNING", "Running", "06:00:02"),
        (task, "task", "FAILED", "Failed", "06:00:03"),
        (flow, "flow", "FAILED", "Failed", "06:00:04"),
    ] {
        statements.push(format!(
            "INSERT INTO states (run_id, run_kind, type, name, message, timestamp) VALUES \
             ('{run}', '{kind}', '{ty}', '{name}', NULL, '2026-11-27T{at}.000000Z')"
        ));
    }
    statements.push(format!(
        "INSERT INTO logs (run_id, run_kind, flow_run_id, level, target, message, timestamp) \
         VALUES ('{task}', 'task', NULL, 'ERROR', 'flowcore', 'boom', '2026-11-27T06:00:03.000000Z')"
    ));
    for statement in statements {
        sqlx::query(&statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = Store::connect(&url).await.unwrap();
    let run = store.flow_run("old-run").await.unwrap().unwrap();
    assert_eq!(run.state.unwrap().name, "Failed");
    assert_eq!(run.attempts, 1);
    assert_eq!(run.task_run_count, 1);
    let tasks = store.task_runs(run.id).await.unwrap();
    assert_eq!(tasks[0].inputs[0].parameter, "x");
    assert_eq!(tasks[0].inputs[0].upstream_id.to_string(), up);
    let names: Vec<String> = store
        .states(tasks[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(names, ["Pending", "Running", "Failed"]);
    let logs = store.logs(run.id).await.unwrap();
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l.run_name.as_deref().unwrap(), l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [("t-0", "boom"), ("t-0", "Finished in state Failed()")],
        "the task's log line now belongs to its flow run, and its final state reads as a line"
    );
    // Connecting again finds the current version and changes nothing.
    drop(store);
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store
            .flow_runs(&FlowRunFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn history_lines_are_the_json_of_their_entries() {
    use crate::runtime::state::{State, StateType};
    use std::borrow::Cow;
    let mut states = vec![
        State::pending(),
        State::running(),
        State::completed(),
        State::failed("boom: \"quoted\"\nsecond line\ttab \\ back é ✓"),
        State::crashed(String::new()),
    ];
    states.push(State {
        kind: StateType::Completed,
        name: Cow::Owned("My \"custom\" name/ü".into()),
        message: Some("plain".into()),
        timestamp: Utc::now(),
    });
    states.push(State {
        kind: StateType::Scheduled,
        name: Cow::Borrowed("Late"),
        message: None,
        timestamp: chrono::DateTime::from_timestamp_micros(-1_234_567).unwrap(),
    });
    for state in &states {
        let entry = rows::HistoryEntry {
            kind: state.kind,
            name: Cow::Borrowed(&state.name),
            message: state.message.as_deref().map(Cow::Borrowed),
            at: state.timestamp.timestamp_micros(),
        };
        let expected = format!("{}\n", serde_json::to_string(&entry).unwrap());
        assert_eq!(rows::history_line(state), expected, "{state:?}");
        let parsed: rows::HistoryEntry<'_> = serde_json::from_str(expected.trim_end()).unwrap();
        assert_eq!(parsed.name, state.name);
    }
}

/// The store writer's small batches (the flush at the end of each flow run) take the write lock
/// and read the automations and stored states in one round trip: what they read must still
/// decide the batch — automations queue their notifications, and the policy refuses a
/// transition out of a final state.
#[tokio::test]
async fn small_batches_notify_automations_and_keep_the_policy() {
    use crate::schemas::automations::AutomationSpec;
    use crate::schemas::events::Event;
    use write::Caller;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&sqlite_url(&dir.path().join("x.db")))
        .await
        .unwrap();
    let write = |events: Vec<Event>| {
        let store = store.clone();
        async move {
            let refs: Vec<&Event> = events.iter().collect();
            store
                .write_events(None, &refs, Caller::NeverCancels, None)
                .await
        }
    };

    // No automation yet: nothing queued.
    let (quiet, mut events) = flow_run_events("quiet", true);
    events.push(Event::StateChanged {
        run: crate::schemas::events::RunRef {
            kind: RunKind::Flow,
            id: quiet,
            name: "quiet".into(),
            flow_run_id: Some(quiet),
        },
        state: crate::State::completed(),
    });
    write(events).await.unwrap();
    let later = Utc::now() + chrono::Duration::minutes(1);
    assert!(store.due_notifications(later, 10).await.unwrap().is_empty());

    store
        .create_automation(&AutomationSpec {
            name: "on-completion".into(),
            on: vec!["Completed".into()],
            flows: Vec::new(),
            deployments: Vec::new(),
            tags: Vec::new(),
            webhook: "http://127.0.0.1:9/hook".into(),
            headers: Default::default(),
        })
        .await
        .unwrap();
    let (id, mut events) = flow_run_events("noticed", false);
    let run = crate::schemas::events::RunRef {
        kind: RunKind::Flow,
        id,
        name: "noticed".into(),
        flow_run_id: Some(id),
    };
    events.push(Event::StateChanged {
        run: run.clone(),
        state: crate::State::completed(),
    });
    let written = write(events).await.unwrap();
    assert!(written.refused.is_empty(), "{:?}", written.refused);
    let queued = store.due_notifications(later, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].body["flow_run"]["id"], id.to_string());
    assert_eq!(queued[0].body["state"]["name"], "Completed");

    // The run is Completed in the store: a later batch's Running is refused and not written.
    let written = write(vec![Event::StateChanged {
        run,
        state: crate::State::running(),
    }])
    .await
    .unwrap();
    assert_eq!(written.refused.len(), 1, "{:?}", written.refused);
    let runs = store.flow_runs(&FlowRunFilter::default()).await.unwrap();
    let noticed = runs.iter().find(|r| r.id == id).unwrap();
    assert_eq!(noticed.state.as_ref().unwrap().name, "Completed");
    assert_eq!(store.due_notifications(later, 10).await.unwrap().len(), 1);
}
