//! Results through the server: a task run's persisted result as JSON, and retrying a failed flow
//! run (`POST /api/flow_runs/{id}/retry`, through the orchestration policy's retry rule).
#![cfg(all(feature = "server", feature = "client"))]

use std::sync::Arc;

use flowcore::client::ApiSink;
use flowcore::event::{self, EventSink};
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig};
use serde_json::{json, Value};

#[derive(serde::Serialize, serde::Deserialize)]
struct Summary {
    month: String,
    rows: u64,
    mean: f64,
}

#[task(persist_result = true)]
fn summarize(month: String) -> Summary {
    Summary {
        month,
        rows: 3,
        mean: 12.5,
    }
}

#[task]
fn not_persisted() -> u32 {
    7
}

#[flow(name = "results-api")]
async fn summarized(month: String) -> anyhow::Result<u32> {
    let _ = summarize(month).await?;
    let n = not_persisted().await?;
    anyhow::ensure!(n == 0, "the warehouse is closed");
    Ok(n)
}

async fn call(method: reqwest::Method, url: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, url)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_retries_through_the_api() {
    let harness = flowcore::testing::harness();
    let db = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&db.path().join("server.db")),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    let sink: Arc<dyn EventSink> = Arc::new(ApiSink::new(&api, None, None).unwrap());
    event::add_sink(Arc::clone(&sink));
    let state = summarized.run("2021-01".into()).await;
    event::flush().await;
    event::remove_sink(&sink);
    assert!(state.is_failed());
    let persisted = state.task_run("summarize-0").unwrap();
    let plain = state.task_run("not_persisted-0").unwrap();
    assert!(harness.home().join("storage").exists());

    let (status, result) = call(
        reqwest::Method::GET,
        &format!("{api}/task_runs/{}/result", persisted.id),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["value"],
        json!({"month": "2021-01", "rows": 3, "mean": 12.5})
    );
    assert_eq!(result["produced_by"], persisted.id.to_string());
    assert!(result["type_name"].as_str().unwrap().ends_with("Summary"));

    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{api}/task_runs/{}/result", plain.id),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no persisted result"));

    // A stored result that cannot be read is a 500 whose body names an error id, not the file.
    let key = result["storage_key"].as_str().unwrap();
    std::fs::write(harness.home().join("storage").join(key), b"not cbor").unwrap();
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{api}/task_runs/{}/result", persisted.id),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert!(!body["error"].as_str().unwrap().contains("cbor"), "{body}");

    let id = state.flow_run().id;
    let (status, run) = call(
        reqwest::Method::POST,
        &format!("{api}/flow_runs/{id}/retry"),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["state"]["name"], "AwaitingRetry");
    assert_eq!(run["state"]["type"], "SCHEDULED");
    // Not finished any more: a second retry is refused, naming the state.
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{api}/flow_runs/{id}/retry"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("AwaitingRetry"),
        "{body}"
    );
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{api}/flow_runs/{}/retry", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(status, 404);
}
