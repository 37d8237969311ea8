//! Automations: every matching flow-run transition is POSTed to the webhook at least once — with
//! retries while the receiver fails, and across a server restart while it is down — and nothing is
//! sent for transitions that do not match.
#![cfg(all(feature = "server", feature = "client"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use flowcore::api_client::ApiClient;
use flowcore::event::{Event, RunKind, RunRef};
use flowcore::schemas::automations::AutomationSpec;
use flowcore::server::{Server, ServerConfig};
use flowcore::store::{sqlite_url, Store};
use flowcore::State;
use serde_json::{json, Value};
use uuid::Uuid;

/// A webhook receiver that answers 500 to its first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<usize>>,
    fail_first: usize,
}

impl Receiver {
    async fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(
                move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                    let me = me.clone();
                    async move {
                        let n = {
                            let mut requests = me.requests.lock().unwrap();
                            *requests += 1;
                            *requests
                        };
                        if n <= me.fail_first {
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        assert_eq!(headers["x-team"], "data");
                        me.seen.lock().unwrap().push(body.0);
                        StatusCode::OK
                    }
                },
            ),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        })
    }

    fn states_of(&self, run: Uuid) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["flow_run"]["id"] == run.to_string())
            .map(|b| b["state"]["name"].as_str().unwrap().to_string())
            .collect()
    }
}

fn run_events(name: &str, tags: &[&str], last: State) -> (Uuid, Vec<Event>) {
    let id = Uuid::now_v7();
    let run = RunRef {
        kind: RunKind::Flow,
        id,
        name: name.into(),
        flow_run_id: Some(id),
    };
    let mut events = vec![Event::FlowRunCreated {
        run: run.clone(),
        flow_name: "nightly".into(),
        version: None,
        parameters: json!({}),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        parent_flow_run_id: None,
        parent_task_run_id: None,
        created: Utc::now(),
    }];
    for state in [State::pending(), State::running(), last] {
        events.push(Event::StateChanged {
            run: run.clone(),
            state,
        });
    }
    (id, events)
}

async fn eventually(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_transitions_are_delivered_at_least_once_and_others_never() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("hooks.db"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let receiver = Receiver {
        fail_first: 2,
        ..Receiver::default()
    };
    let receiving = receiver.serve(listener).await;
    let config = || ServerConfig {
        port: 0,
        database_url: url.clone(),
        ..ServerConfig::default()
    };
    let server = Server::start(config()).await.unwrap();
    let client = ApiClient::new(&server.api_url(), None);

    let spec = |name: &str, on: &[&str], tags: &[&str]| AutomationSpec {
        name: name.into(),
        on: on.iter().map(|s| s.to_string()).collect(),
        flows: vec!["nightly".into()],
        deployments: Vec::new(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        webhook: format!("http://{hook_addr}/hook"),
        headers: [("X-Team".to_string(), "data".to_string())].into(),
    };
    client
        .create_automation(&spec("failures", &["Failed", "Crashed", "TimedOut"], &[]))
        .await
        .unwrap();
    client
        .create_automation(&spec("tagged-success", &["Completed"], &["prod"]))
        .await
        .unwrap();
    // A name taken, a state nobody knows: refused, naming the field.
    let taken = client
        .create_automation(&spec("failures", &["Failed"], &[]))
        .await
        .unwrap_err();
    assert!(taken.to_string().contains("exists already"), "{taken}");
    let unknown = client
        .create_automation(&spec("typo", &["Faled"], &[]))
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("invalid `on`"), "{unknown}");

    let store = Store::connect(&url).await.unwrap();
    let (failed, events) = run_events("failed-run", &[], State::failed("boom"));
    store.write(&events).await.unwrap();
    let (completed, events) = run_events("plain-success", &[], State::completed());
    store.write(&events).await.unwrap();
    let (crashed, mut events) = run_events("crashed-run", &[], State::running());
    events.pop();
    store.write(&events).await.unwrap();
    // A transition the server makes itself (as the heartbeat reaper does).
    client
        .set_flow_run_state(crashed, &State::crashed("agent lost"))
        .await
        .unwrap();

    // The receiver fails twice; the notifier retries.
    eventually("two deliveries", 20, || {
        receiver.states_of(failed).len() == 1 && receiver.states_of(crashed).len() == 1
    })
    .await;
    assert_eq!(receiver.states_of(failed), ["Failed"]);
    assert_eq!(receiver.states_of(crashed), ["Crashed"]);
    assert!(receiver.states_of(completed).is_empty());
    let body = receiver.seen.lock().unwrap()[0].clone();
    assert_eq!(body["flow"], "nightly");
    assert!(
        body["url"].as_str().unwrap().contains("/#/flow-runs/"),
        "{body}"
    );
    assert!(body["text"].as_str().unwrap().contains("entered"), "{body}");
    assert!(*receiver.requests.lock().unwrap() >= 4);
    let detail = client.automation("failures").await.unwrap();
    assert_eq!(detail.automation.delivered, 2);
    assert!(detail.deliveries.iter().any(|d| d.attempts >= 2));

    // The receiver goes down; a failure happens; the server restarts; the receiver comes back.
    receiving.abort();
    let _ = receiving.await;
    let (during, events) = run_events("during-outage", &["prod"], State::failed("again"));
    store.write(&events).await.unwrap();
    let (tagged, events) = run_events("tagged-success", &["prod"], State::completed());
    store.write(&events).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.stop().await;
    let server = Server::start(config()).await.unwrap();
    let listener = tokio::net::TcpListener::bind(hook_addr).await.unwrap();
    let back = Receiver {
        fail_first: 0,
        ..receiver.clone()
    };
    let receiving = back.serve(listener).await;
    eventually("deliveries after the restart", 30, || {
        receiver.states_of(during).len() == 1 && receiver.states_of(tagged).len() == 1
    })
    .await;
    assert_eq!(receiver.states_of(during), ["Failed"]);
    assert_eq!(receiver.states_of(tagged), ["Completed"]);

    // Paused: nothing queued.
    let client = ApiClient::new(&server.api_url(), None);
    client
        .set_automation_paused("failures", true)
        .await
        .unwrap();
    let (quiet, events) = run_events("while-paused", &[], State::failed("x"));
    store.write(&events).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.states_of(quiet).is_empty());
    assert_eq!(receiver.seen.lock().unwrap().len(), 4);
    client.delete_automation("failures").await.unwrap();
    assert_eq!(client.automations().await.unwrap().len(), 1);

    receiving.abort();
    server.stop().await;
}
