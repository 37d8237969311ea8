//! The API does what its OpenAPI document says, at the edges schemathesis found (issue 18, item 7):
//! what the document allows is accepted, what it forbids is refused with a JSON error naming the
//! field. (`tests/api/run.sh` runs schemathesis itself over every operation.)
#![cfg(all(feature = "server", feature = "client"))]

use flowcore::server::{Server, ServerConfig};
use serde_json::{json, Value};

async fn start(dir: &std::path::Path) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.join("contract.db")),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn send(method: reqwest::Method, url: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn document(api: &str) -> Value {
    send(reqwest::Method::GET, &format!("{api}/openapi.json"), None)
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_accepts_what_its_document_allows_and_refuses_what_it_forbids() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let api = server.api_url();
    use reqwest::Method;

    // Empty filter values are not "no filter": they do not match the documented formats.
    for path in [
        "flow_runs?since=",
        "flow_runs?until=",
        "flow_runs?state=",
        "flow_runs?state=Failed,,Crashed",
        "flow_runs?sort=",
        "artifacts?flow_run=",
    ] {
        let (status, body) = send(Method::GET, &format!("{api}/{path}"), None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, _) = send(
        Method::GET,
        &format!("{api}/flow_runs?state=Failed,CRASHED,timedout&sort=oldest"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // A deployment's name is at most 100 characters, as documented.
    let deployment = |name: &str| {
        json!({"flow_name": "f", "name": name, "entrypoint": {"exe": "/bin/true"}}).to_string()
    };
    let long = "d".repeat(101);
    let (status, body) = send(
        Method::POST,
        &format!("{api}/deployments"),
        Some(&deployment(&long)),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`name`"), "{body}");
    let (status, created) = send(
        Method::POST,
        &format!("{api}/deployments"),
        Some(&deployment(&"d".repeat(100))),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap();

    // A run request's body is optional; `null` and `{"parameters": null}` mean no parameters.
    for body in [
        None,
        Some("null"),
        Some(r#"{"parameters": null}"#),
        Some("{}"),
    ] {
        let (status, run) = send(Method::POST, &format!("{api}/deployments/{id}/runs"), body).await;
        assert_eq!(status, 200, "{body:?}: {run}");
    }
    let (status, _) = send(
        Method::POST,
        &format!("{api}/deployments/{id}/runs"),
        Some(r#"{"parameters": [1]}"#),
    )
    .await;
    assert_eq!(status, 400);

    // A heartbeat names its agent.
    let run = send(Method::POST, &format!("{api}/deployments/{id}/runs"), None)
        .await
        .1;
    let run_id = run["id"].as_str().unwrap();
    let (status, body) = send(
        Method::POST,
        &format!("{api}/flow_runs/{run_id}/heartbeat"),
        Some(r#"{"agent": " "}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`agent`"));

    // A release names the task run (the document requires it); a null one is a bad body.
    let (status, body) = send(
        Method::POST,
        &format!("{api}/concurrency_limits/release"),
        Some(r#"{"holder": "h", "task_run_id": null}"#),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("task_run_id"));

    // Webhooks: what the documented pattern allows, and nothing else.
    let doc = document(&api).await;
    let pattern = doc["components"]["schemas"]["AutomationSpec"]["properties"]["webhook"]
        ["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(pattern, flowcore::schemas::automations::WEBHOOK_PATTERN);
    let automation = |webhook: &str| {
        json!({"name": format!("a {webhook}"), "on": ["Failed"], "webhook": webhook}).to_string()
    };
    for (webhook, status) in [
        ("https://hooks.slack.com/services/T0/B0/x?y=1", 200),
        ("http://localhost:9/h", 200),
        ("http://127.0.0.1:65535/hook", 200),
        ("http://[::1]:8080/", 200),
        ("http://127.0.0.1:65536/hook", 400),
        ("http://256.0.0.1/hook", 400),
        ("https://ZFXkm.0:66/", 400),
        ("https://r.Ah*", 400),
        ("ftp://example.com/", 400),
        ("", 400),
    ] {
        let (got, body) = send(
            Method::POST,
            &format!("{api}/automations"),
            Some(&automation(webhook)),
        )
        .await;
        assert_eq!(got, status, "{webhook}: {body}");
    }

    // The document: every state in `on`, every time zone of a cron schedule, an optional run body.
    let on = &doc["components"]["schemas"]["AutomationSpec"]["properties"]["on"];
    assert_eq!(on["minItems"], 1);
    assert!(on["items"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("TimedOut")));
    let run_body = &doc["paths"]["/api/deployments/{id}/runs"]["post"]["requestBody"];
    assert_ne!(run_body["required"], json!(true), "{run_body}");
    server.stop().await;
}
