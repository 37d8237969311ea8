//! Retention: `Store::vacuum` (and `flowcore server database vacuum`) deletes finished flow runs
//! older than the cutoff with their task runs and logs, never an unfinished run, and the task
//! queue's ended entries — on SQLite and PostgreSQL.

mod common;

use chrono::{Duration, Utc};
use flowcore::event::{Event, LogLevel, LogRecord, RunKind, RunRef};
use flowcore::schemas::task_queue::{QueuedTask, TaskOutcome};
use flowcore::store::{sqlite_url, FlowRunFilter, Store, Vacuumed};
use flowcore::State;
use serde_json::json;
use uuid::Uuid;

/// A flow run with one task run and a log line each, moved through `states` (the last one `ago`).
fn flow_run(states: &[State], ago: Duration) -> (Uuid, Vec<Event>) {
    let id = Uuid::now_v7();
    let when = Utc::now() - ago;
    let run = RunRef {
        kind: RunKind::Flow,
        id,
        name: format!("run-{id}").into(),
        flow_run_id: Some(id),
    };
    let task = RunRef {
        kind: RunKind::Task,
        id: Uuid::now_v7(),
        name: "step-0".into(),
        flow_run_id: Some(id),
    };
    let mut events = vec![
        Event::FlowRunCreated {
            run: run.clone(),
            flow_name: "kept".into(),
            version: None,
            parameters: json!({}),
            tags: Vec::new(),
            parent_flow_run_id: None,
            parent_task_run_id: None,
            created: when,
        },
        Event::TaskRunCreated {
            run: task.clone(),
            task_name: "step".into(),
            flow_run_id: Some(id),
            tags: Vec::new(),
            inputs: Vec::new(),
            created: when,
        },
    ];
    for state in states {
        let mut state = state.clone();
        state.timestamp = when;
        events.push(Event::StateChanged {
            run: run.clone(),
            state: state.clone(),
        });
        events.push(Event::StateChanged {
            run: task.clone(),
            state,
        });
    }
    let artifact = flowcore::schemas::artifacts::Artifact {
        id: Uuid::now_v7(),
        key: "report".into(),
        kind: flowcore::schemas::artifacts::ArtifactKind::Markdown,
        data: json!("# done"),
        description: None,
        flow_run_id: Some(id),
        task_run_id: None,
        created: when,
    };
    events.push(Event::Log(artifact.to_log(Some(run.clone()))));
    for who in [&run, &task] {
        events.push(Event::Log(LogRecord {
            run: who.clone(),
            flow_run_id: Some(id),
            level: LogLevel::Info,
            target: "test".into(),
            message: "hello".into(),
            timestamp: when,
        }));
    }
    (id, events)
}

async fn vacuum_keeps_what_is_unfinished_or_recent(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let month = Duration::days(31);
    let (old_done, a) = flow_run(
        &[State::pending(), State::running(), State::completed()],
        month,
    );
    let (old_failed, b) = flow_run(
        &[State::pending(), State::running(), State::failed("x")],
        month,
    );
    let (old_running, c) = flow_run(&[State::pending(), State::running()], month);
    let (old_pending, d) = flow_run(&[State::pending()], month);
    let (recent_done, e) = flow_run(
        &[State::pending(), State::running(), State::completed()],
        Duration::days(2),
    );
    for events in [a, b, c, d, e] {
        store.write(&events).await.unwrap();
    }
    let cutoff = Utc::now() - Duration::days(30);
    let expected = Vacuumed::default();
    let counted = store.vacuum(cutoff, true).await.unwrap();
    assert_eq!(
        (
            counted.flow_runs,
            counted.task_runs,
            counted.logs,
            counted.artifacts
        ),
        (2, 2, 4, 2),
        "{expected:?}"
    );
    let all = FlowRunFilter::default();
    assert_eq!(
        store.flow_runs(&all).await.unwrap().len(),
        5,
        "a dry run deletes nothing"
    );

    let deleted = store.vacuum(cutoff, false).await.unwrap();
    assert_eq!(deleted, counted);
    let left: Vec<Uuid> = store
        .flow_runs(&all)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    for id in [old_running, old_pending, recent_done] {
        assert!(left.contains(&id), "{id} must stay");
        assert_eq!(store.task_runs(id).await.unwrap().len(), 1);
        assert!(store.logs(id).await.unwrap().len() >= 2);
    }
    for id in [old_done, old_failed] {
        assert!(!left.contains(&id));
        assert!(store.task_runs(id).await.unwrap().is_empty());
        assert!(store.logs(id).await.unwrap().is_empty());
    }
    assert_eq!(
        store.vacuum(cutoff, false).await.unwrap(),
        Vacuumed::default()
    );

    // The task queue: entries that ended (done, cancelled) go; queued and running ones stay.
    let queued: Vec<QueuedTask> = (0..4).map(queued_task).collect();
    store.enqueue_tasks(&queued).await.unwrap();
    let lease = Utc::now() + Duration::minutes(5);
    let claimed = store
        .claim_tasks("w", &["noop".to_string()], 2, lease)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let outcome = TaskOutcome {
        task_run_id: claimed[0].queued.task_run_id,
        history: vec![State::completed()],
        storage_key: None,
    };
    let other = TaskOutcome {
        task_run_id: claimed[1].queued.task_run_id,
        ..outcome.clone()
    };
    assert!(
        store
            .finish_tasks("someone-else", &[outcome.clone(), other.clone()])
            .await
            .unwrap()
            .is_empty(),
        "only the lease holder finishes a run"
    );
    assert_eq!(
        store
            .finish_tasks("w", &[outcome.clone(), outcome])
            .await
            .unwrap(),
        vec![claimed[0].queued.task_run_id],
        "finished once"
    );
    let still_queued: Vec<Uuid> = queued
        .iter()
        .map(|t| t.task_run_id)
        .filter(|id| claimed.iter().all(|c| c.queued.task_run_id != *id))
        .collect();
    assert_eq!(
        store
            .cancel_queued_tasks(&still_queued[..1], "cancelled")
            .await
            .unwrap()
            .len(),
        1
    );
    let later = Utc::now() + Duration::seconds(5);
    assert_eq!(store.vacuum(later, true).await.unwrap().queued_tasks, 2);
    assert_eq!(store.vacuum(cutoff, false).await.unwrap().queued_tasks, 0);
    assert_eq!(store.vacuum(later, false).await.unwrap().queued_tasks, 2);
    let left: i64 = store
        .task_queue_counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(left, 2, "the running and the queued entry stay");
}

fn queued_task(i: usize) -> QueuedTask {
    let id = Uuid::now_v7();
    QueuedTask {
        task_run_id: id,
        task: "noop".into(),
        task_run_name: format!("noop-{i}"),
        flow_run_id: None,
        parameters: json!({ "i": i }),
        tags: Vec::new(),
        retries: 0,
        storage_key: id.simple().to_string(),
        cache_key: None,
        cache_expiration_seconds: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    vacuum_keeps_what_is_unfinished_or_recent(&sqlite_url(&dir.path().join("v.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_on_postgres() {
    let db = common::FreshPostgres::create("vacuum").await;
    vacuum_keeps_what_is_unfinished_or_recent(&db.url).await;
    db.drop().await;
}
