//! The orchestration policy at the store's doors: reported batches (the runtime's, `POST /api/events`)
//! and proposed states (`POST /api/flow_runs/{id}/state`) that contradict a run's stored state are
//! refused and leave it unchanged — on SQLite and PostgreSQL.
#![cfg(feature = "server")]

mod common;

use flowcore::api_client::ApiClient;
use flowcore::event::{Event, RunKind, RunRef};
use flowcore::server::{Server, ServerConfig};
use flowcore::store::{sqlite_url, Store};
use flowcore::State;
use serde_json::{json, Value};
use uuid::Uuid;

fn flow_run(id: Uuid) -> RunRef {
    RunRef {
        kind: RunKind::Flow,
        id,
        name: "steady-otter".into(),
        flow_run_id: Some(id),
    }
}

fn task_run(id: Uuid, flow: Uuid) -> RunRef {
    RunRef {
        kind: RunKind::Task,
        id,
        name: "step-0".into(),
        flow_run_id: Some(flow),
    }
}

fn created(run: &RunRef) -> Event {
    match run.kind {
        RunKind::Flow => Event::FlowRunCreated {
            run: run.clone(),
            flow_name: "orchestrated".into(),
            version: None,
            parameters: json!({}),
            tags: Vec::new(),
            parent_flow_run_id: None,
            parent_task_run_id: None,
            created: chrono::Utc::now(),
        },
        _ => Event::TaskRunCreated {
            run: run.clone(),
            task_name: "step".into(),
            flow_run_id: run.flow_run_id,
            tags: Vec::new(),
            inputs: Vec::new(),
            created: chrono::Utc::now(),
        },
    }
}

fn changed(run: &RunRef, state: State) -> Event {
    Event::StateChanged {
        run: run.clone(),
        state,
    }
}

async fn history(store: &Store, id: Uuid) -> Vec<String> {
    store
        .states(id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect()
}

/// Contradictory transitions in later batches (and within one batch) are refused by the store.
async fn store_refuses_contradictions(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let (flow_id, task_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (flow, task) = (flow_run(flow_id), task_run(task_id, flow_id));
    store
        .write(&[
            created(&flow),
            changed(&flow, State::pending()),
            changed(&flow, State::running()),
            created(&task),
            changed(&task, State::pending()),
            changed(&task, State::running()),
            changed(&task, State::completed()),
            // Within one batch too: a Crashed after the Completed is refused.
            changed(&task, State::crashed("a late reaper")),
            changed(&flow, State::completed()),
        ])
        .await
        .unwrap();
    // A later batch that contradicts both runs' final states.
    let ingested = store
        .ingest(
            None,
            &[
                changed(&flow, State::running()),
                changed(&flow, State::crashed("heartbeat lost")),
                changed(&task, State::running()),
                changed(&task, State::failed("too late")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ingested.refused.len(), 4, "{:?}", ingested.refused);
    assert!(ingested.refused.iter().all(|r| r.reason.contains("final")));
    let stored = store.flow_run_by_id(flow_id).await.unwrap().unwrap();
    assert_eq!(stored.state.unwrap().name, "Completed");
    assert_eq!(
        history(&store, flow_id).await,
        ["Pending", "Running", "Completed"]
    );
    assert_eq!(
        history(&store, task_id).await,
        ["Pending", "Running", "Completed"]
    );
    let task = store.task_run(task_id).await.unwrap().unwrap();
    assert_eq!(task.attempts, 1, "a refused Running is not an attempt");

    // The store's own transitions go through the policy too.
    assert!(!store
        .set_flow_run_state(flow_id, &State::crashed("reaped"))
        .await
        .unwrap());
    assert_eq!(
        history(&store, flow_id).await,
        ["Pending", "Running", "Completed"]
    );
}

#[tokio::test]
async fn store_refuses_contradictions_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    store_refuses_contradictions(&sqlite_url(&dir.path().join("o.db"))).await;
}

#[tokio::test]
async fn store_refuses_contradictions_postgres() {
    let db = common::FreshPostgres::create("orchestration").await;
    store_refuses_contradictions(&db.url).await;
    db.drop().await;
}

/// Through the API: the events endpoint names what it refused, the state endpoint answers 409.
#[tokio::test]
async fn api_refuses_contradictions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: sqlite_url(&dir.path().join("api.db")),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    let http = reqwest::Client::new();
    let id = Uuid::now_v7();
    let flow = flow_run(id);
    let post = |events: Vec<Event>| {
        let http = http.clone();
        let url = format!("{api}/events");
        async move {
            let answer = http
                .post(url)
                .json(&json!({"batch_id": Uuid::now_v7(), "events": events}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.json::<Value>().await.unwrap()
        }
    };
    let first = post(vec![
        created(&flow),
        changed(&flow, State::pending()),
        changed(&flow, State::running()),
        changed(&flow, State::completed()),
    ])
    .await;
    assert!(first.get("refused").is_none(), "{first}");
    let second = post(vec![changed(&flow, State::running())]).await;
    assert_eq!(
        second["refused"][0]["proposed"]["name"], "Running",
        "{second}"
    );
    assert_eq!(second["refused"][0]["current"]["name"], "Completed");

    let client = ApiClient::new(&api, None);
    let err = client
        .set_flow_run_state(id, &State::failed("rewritten"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    assert!(err.to_string().contains("Completed"), "{err}");
    let run = client.flow_run(id).await.unwrap();
    assert_eq!(run.state.unwrap().name, "Completed");
    let states: Vec<Value> = client
        .get(&format!("/flow_runs/{id}/states"))
        .await
        .unwrap();
    let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Pending", "Running", "Completed"]);
    server.stop().await;
}
