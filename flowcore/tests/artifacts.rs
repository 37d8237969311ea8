//! Artifacts: published from tasks, flows and plain code, recorded through the event path, served
//! by the API (markdown rendered safely), shown by the UI.
#![cfg(all(feature = "server", feature = "client"))]

use flowcore::api_client::ApiClient;
use flowcore::artifacts;
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig};
use flowcore::store::{ArtifactFilter, Store};
use serde_json::Value;

#[derive(serde::Serialize)]
struct Metric {
    name: &'static str,
    value: f64,
}

#[task]
fn evaluate() -> Result<f64, FlowError> {
    artifacts::create_table(
        "model-report",
        &[
            Metric {
                name: "rmse_train",
                value: 7.76,
            },
            Metric {
                name: "rmse_test",
                value: 8.18,
            },
        ],
    )?;
    Ok(8.18)
}

#[flow]
async fn reporting() -> Result<f64, FlowError> {
    let rmse = evaluate().await?;
    artifacts::create_markdown(
        "run-summary",
        format!("# Summary\n\nRMSE **{rmse}** <script>alert('x')</script>"),
    )?;
    artifacts::create_link("model-file", "https://example.com/model.bin", "the model")?;
    Ok(rmse)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_linked_to_their_runs_and_served_by_the_api() {
    let harness = flowcore::testing::harness();
    // Bad keys are refused, naming the key.
    let bad = artifacts::create_markdown("Model Report", "x").unwrap_err();
    assert!(bad.to_string().contains("\"Model Report\""), "{bad}");
    assert!(artifacts::create_link("x", "javascript:alert(1)", "x").is_err());
    // Outside any run: unlinked.
    artifacts::create_markdown("loose-note", "made outside a run").unwrap();

    let first = reporting.run().await;
    let second = reporting.run().await;
    assert!(first.is_completed() && second.is_completed());
    let run = first.flow_run().id;
    let task = first.task_runs()[0].id;

    let store = Store::connect(&harness.database_url()).await.unwrap();
    let mut filter = ArtifactFilter::default();
    filter.flow_run_id = Some(run);
    let of_run = store.artifacts(&filter).await.unwrap();
    let keys: Vec<&str> = of_run.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let table = of_run.iter().find(|a| a.key == "model-report").unwrap();
    assert_eq!(table.task_run_id, Some(task));
    assert_eq!(table.data[1]["name"], "rmse_test");
    let summary = of_run.iter().find(|a| a.key == "run-summary").unwrap();
    assert_eq!(summary.task_run_id, None);

    let server = Server::start(ServerConfig {
        port: 0,
        database_url: harness.database_url(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = ApiClient::new(&server.api_url(), None);
    // A key's history, newest first: the second run's table comes first.
    let history: Value = client.get("/artifacts?key=model-report").await.unwrap();
    let history = history["results"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["flow_run_id"], second.flow_run().id.to_string());
    let latest: Value = client.get("/artifacts/latest/run-summary").await.unwrap();
    let html = latest["html"].as_str().unwrap();
    assert!(
        html.contains("<h1>Summary</h1>") && html.contains("<strong>8.18</strong>"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    let one: Value = client
        .get(&format!("/artifacts/{}", table.id))
        .await
        .unwrap();
    assert_eq!(one["kind"], "table");
    let loose: Value = client.get("/artifacts/latest/loose-note").await.unwrap();
    assert!(loose["flow_run_id"].is_null());
    let missing = client
        .get::<Value>("/artifacts/latest/nothing-here")
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("404"), "{missing}");
    let bad = client
        .get::<Value>("/artifacts?flow_run=nope")
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("invalid `flow_run`"), "{bad}");
    let of_run: Value = client
        .get(&format!("/artifacts?flow_run={run}"))
        .await
        .unwrap();
    assert_eq!(of_run["results"].as_array().unwrap().len(), 3);
    server.stop().await;
}
