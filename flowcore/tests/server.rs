//! The server's API over both stores: runs reported through the API client, listed with filters,
//! their graphs, states and logs; bad input answered 4xx naming the field; the API key; a server
//! restart in the middle of a flow losing nothing.
#![cfg(all(feature = "server", feature = "client"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use flowcore::client::ApiSink;
use flowcore::event::{self, EventSink};
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig, ServerError};
use serde_json::{json, Value};

#[task(retries = 1, retry_delay = 0.001)]
fn fetch(x: u32) -> Result<u32, std::io::Error> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // Every first attempt fails (tests that run this flow hold ONE_AT_A_TIME).
    if CALLS
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .is_multiple_of(2)
    {
        return Err(std::io::Error::other("first fetch fails"));
    }
    Ok(x)
}

#[task]
fn double(x: u32) -> u32 {
    tracing::info!("doubling {x}");
    x * 2
}

#[task]
fn explode(x: u32) -> Result<u32, std::io::Error> {
    Err(std::io::Error::other(format!(
        "the reactor overheated at {x}"
    )))
}

#[task]
fn pause(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[flow(name = "api-good", tags = ["etl", "nightly"])]
async fn good_flow(x: u32) -> Result<u32, FlowError> {
    let a = fetch(x).submit();
    let b = double(&a).await?;
    Ok(b)
}

#[flow(name = "api-bad")]
async fn bad_flow(x: u32) -> Result<u32, FlowError> {
    let a = double(x).await?;
    Ok(explode(a).await?)
}

#[flow(name = "api-slow")]
async fn slow_flow(ms: u64) -> Result<u64, FlowError> {
    let a = pause(ms).await?;
    let b = double(1).await?;
    Ok(a + b as u64)
}

/// Attaches an API sink for the duration of `f` (other tests' events reach it too; assertions
/// look at their own runs only).
async fn reported<T>(api_url: &str, f: impl std::future::Future<Output = T>) -> T {
    let sink: Arc<dyn EventSink> = Arc::new(ApiSink::new(api_url, None, None).unwrap());
    event::add_sink(Arc::clone(&sink));
    let out = f.await;
    event::flush().await;
    event::remove_sink(&sink);
    out
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start(database_url: &str) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: database_url.to_string(),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn exercise(database_url: &str) {
    let server = start(database_url).await;
    let api = server.api_url();
    let (good, bad) = reported(&api, async {
        (good_flow.run(21).await, bad_flow.run(5).await)
    })
    .await;
    assert!(good.is_completed());
    assert!(bad.is_failed());
    let good_id = good.flow_run().id;
    let bad_id = bad.flow_run().id;

    let (status, health) = get(&format!("{api}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");

    let (_, all) = get(&format!("{api}/flow_runs")).await;
    assert_eq!(all["count"], 2);
    assert_eq!(all["results"][0]["id"], bad_id.to_string(), "newest first");
    let (_, oldest) = get(&format!("{api}/flow_runs?sort=oldest&limit=1")).await;
    assert_eq!(oldest["count"], 2);
    assert_eq!(oldest["results"].as_array().unwrap().len(), 1);
    assert_eq!(oldest["results"][0]["id"], good_id.to_string());
    let (_, page2) = get(&format!("{api}/flow_runs?sort=oldest&limit=1&offset=1")).await;
    assert_eq!(page2["results"][0]["id"], bad_id.to_string());

    for (query, expect) in [
        ("state=Failed", Some(bad_id)),
        ("state=completed,crashed", Some(good_id)),
        ("flow=api-good", Some(good_id)),
        ("tag=nightly", Some(good_id)),
        ("tag=weekly", None),
    ] {
        let (status, page) = get(&format!("{api}/flow_runs?{query}")).await;
        assert_eq!(status, 200, "{query}");
        match expect {
            Some(id) => {
                assert_eq!(page["count"], 1, "{query}: {page}");
                assert_eq!(page["results"][0]["id"], id.to_string(), "{query}");
            }
            None => assert_eq!(page["count"], 0, "{query}"),
        }
    }
    // Name search: a part of the failed run's name finds it, and only runs whose names hold it
    // (the other run's random name may share the part).
    let part = &bad.flow_run().name[..bad.flow_run().name.len() - 1];
    let (_, page) = get(&format!("{api}/flow_runs?name={part}")).await;
    let results = page["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["id"] == bad_id.to_string()),
        "{page}"
    );
    assert!(
        results
            .iter()
            .all(|r| r["name"].as_str().unwrap().contains(part)),
        "{page}"
    );
    let (_, page) = get(&format!("{api}/flow_runs?name=no-run-is-named-this")).await;
    assert_eq!(page["count"], 0);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, none) = get(&format!("{api}/flow_runs?since={}", urlencode(&future))).await;
    assert_eq!(none["count"], 0);
    let (_, both) = get(&format!("{api}/flow_runs?until={}", urlencode(&future))).await;
    assert_eq!(both["count"], 2);

    let (_, run) = get(&format!("{api}/flow_runs/{good_id}")).await;
    assert_eq!(run["flow_name"], "api-good");
    assert_eq!(run["parameters"], json!({"x": 21}));
    assert_eq!(run["state"]["type"], "COMPLETED");
    assert_eq!(run["task_run_count"], 2);
    assert!(run["duration_s"].as_f64().unwrap() >= 0.0);

    let (_, graph) = get(&format!("{api}/flow_runs/{good_id}/graph")).await;
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 2);
    let fetch_id = good.task_run("fetch-0").unwrap().id.to_string();
    let double_id = good.task_run("double-0").unwrap().id.to_string();
    assert_eq!(
        graph["edges"],
        json!([{"source": fetch_id, "target": double_id, "parameter": "x", "kind": "parameter"}])
    );
    let (_, tasks) = get(&format!("{api}/flow_runs/{good_id}/task_runs")).await;
    assert_eq!(tasks["results"][1]["inputs"][0]["upstream_name"], "fetch-0");

    let (_, states) = get(&format!("{api}/task_runs/{fetch_id}/states")).await;
    let names: Vec<&str> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );
    let (_, task) = get(&format!("{api}/task_runs/{fetch_id}")).await;
    assert_eq!(task["attempts"], 2);
    assert_eq!(task["flow_run_name"], good.flow_run().name);
    let (_, flow_states) = get(&format!("{api}/flow_runs/{good_id}/states")).await;
    assert_eq!(flow_states.as_array().unwrap().len(), 3);

    let (_, logs) = get(&format!("{api}/flow_runs/{good_id}/logs")).await;
    assert!(logs["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["message"] == "doubling 21" && l["run_name"] == "double-0"));
    let (_, logs) = get(&format!("{api}/flow_runs/{bad_id}/logs")).await;
    assert!(logs["results"].as_array().unwrap().iter().any(|l| {
        l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .unwrap()
                .contains("reactor overheated at 10")
    }));
    let explode_id = bad.task_run("explode-0").unwrap().id;
    let (_, logs) = get(&format!("{api}/task_runs/{explode_id}/logs")).await;
    assert!(logs["count"].as_i64().unwrap() >= 1);

    let (_, flows) = get(&format!("{api}/flows")).await;
    assert_eq!(flows["count"], 2);
    let (_, filters) = get(&format!("{api}/filters")).await;
    assert_eq!(filters["flows"], json!(["api-bad", "api-good"]));
    assert_eq!(filters["tags"], json!(["etl", "nightly"]));

    // Bad input: 4xx naming what was wrong, never 5xx.
    for (path, status, needle) in [
        ("flow_runs?limit=0", 400, "`limit`"),
        ("flow_runs?limit=abc", 400, "limit"),
        ("flow_runs?sort=sideways", 400, "`sort`"),
        ("flow_runs?since=yesterday", 400, "`since`"),
        ("flow_runs?state=Exploded", 400, "`state`"),
        ("flow_runs/not-a-uuid", 400, "not a UUID"),
        (
            "flow_runs/01a21ba6-ec75-7208-8085-a59b11b12882",
            404,
            "no flow run",
        ),
        (
            "task_runs/01a21ba6-ec75-7208-8085-a59b11b12882/states",
            404,
            "no task run",
        ),
        ("no/such/endpoint", 404, "no such API endpoint"),
    ] {
        let (got, body) = get(&format!("{api}/{path}")).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{path}: {body}"
        );
    }
    let client = reqwest::Client::new();
    for (body, status, needle) in [
        ("{not json", 400, "JSON"),
        (
            r#"{"events": [{"event": "state_changed"}]}"#,
            422,
            "events[0]",
        ),
        (r#"{"events": 3}"#, 422, "events"),
        (
            r#"{"events": [{"event": "flow_run_created",
                "run": {"kind": "task", "id": "01a21ba6-ec75-7208-8085-a59b11b12882", "name": "x"},
                "flow_name": "f", "version": null, "parameters": {}, "tags": [],
                "parent_flow_run_id": null, "parent_task_run_id": null,
                "created": "2026-11-27T06:00:00Z"}]}"#,
            422,
            "01a21ba6-ec75-7208-8085-a59b11b12882",
        ),
    ] {
        let response = client
            .post(format!("{api}/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{body}: {text}");
    }
    for content_type in [None, Some("text/plain")] {
        let mut request = client
            .post(format!("{api}/events"))
            .body(r#"{"events": []}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let text = response.text().await.unwrap();
        assert!(text.contains("Content-Type: application/json"), "{text}");
    }

    // Deployments: a parameter schema or parameters that are not objects are refused, and a bad
    // optional body of a run request is answered in JSON, like every error.
    for (path, body, status, needle) in [
        (
            "deployments",
            r#"{"flow_name": "f", "name": "d", "parameter_schema": [null, null],
                "entrypoint": {"exe": "x", "args": []}}"#,
            422,
            "`parameter_schema`",
        ),
        (
            "deployments",
            r#"{"flow_name": "f", "name": "d", "parameters": 3,
                "entrypoint": {"exe": "x", "args": []}}"#,
            422,
            "`parameters`",
        ),
        (
            "deployments/01a21ba6-ec75-7208-8085-a59b11b12882/runs",
            "[null, null]",
            400,
            "invalid request body",
        ),
        (
            "deployments/01a21ba6-ec75-7208-8085-a59b11b12882/runs",
            "{not json",
            400,
            "invalid request body",
        ),
    ] {
        let response = client
            .post(format!("{api}/{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body}");
        let json: Value = response.json().await.unwrap();
        assert!(
            json["error"].as_str().unwrap().contains(needle),
            "{path} {body}: {json}"
        );
    }

    // A batch sent twice is written once.
    let batch = json!({"batch_id": uuid::Uuid::now_v7(), "events": [{
        "event": "flow_run_created",
        "run": {"kind": "flow", "id": uuid::Uuid::now_v7(), "name": "posted-run"},
        "flow_name": "posted", "version": null, "parameters": {}, "tags": [],
        "parent_flow_run_id": null, "parent_task_run_id": null,
        "created": chrono::Utc::now()
    }]});
    for duplicate in [false, true] {
        let answer: Value = client
            .post(format!("{api}/events"))
            .json(&batch)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer, json!({"accepted": 1, "duplicate": duplicate}));
    }
    let (_, all) = get(&format!("{api}/flow_runs")).await;
    assert_eq!(all["count"], 3);

    let (_, doc) = get(&format!("{api}/openapi.json")).await;
    for path in [
        "/api/flow_runs",
        "/api/flow_runs/{id}/graph",
        "/api/task_runs/{id}/states",
        "/api/events",
        "/api/health",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    server.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// One test at a time drives the global sinks (they see each other's runs otherwise).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    exercise(&flowcore::store::sqlite_url(&dir.path().join("api.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let db = common::FreshPostgres::create("flowcore_api").await;
    exercise(&db.url).await;
    db.drop().await;
}

#[tokio::test]
async fn an_api_key_guards_the_api_and_is_required_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let url = flowcore::store::sqlite_url(&dir.path().join("key.db"));
    let err = Server::start(ServerConfig {
        host: "0.0.0.0".parse().unwrap(),
        port: 0,
        database_url: url.clone(),
        ..ServerConfig::default()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, ServerError::ApiKeyRequired(_)));
    assert!(err.to_string().contains("--api-key"), "{err}");

    let server = Server::start(ServerConfig {
        port: 0,
        database_url: url,
        api_key: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    let client = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(client.get(format!("{api}/flow_runs")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(
            client
                .get(format!("{api}/flow_runs"))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            client
                .get(format!("{api}/flow_runs"))
                .bearer_auth("s3cret")
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(client.get(format!("{api}/health")).send().await.unwrap()),
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn request_bodies_are_size_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.path().join("limit.db")),
        body_limit: 1024,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let body = format!(r#"{{"events": [], "pad": "{}"}}"#, "x".repeat(4096));
    let response = reqwest::Client::new()
        .post(format!("{}/events", server.api_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_during_a_flow_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = flowcore::store::sqlite_url(&dir.path().join("restart.db"));
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = ServerConfig {
        port,
        database_url: db.clone(),
        ..ServerConfig::default()
    };
    let server = Server::start(config.clone()).await.unwrap();
    let api = server.api_url();
    let sink: Arc<dyn EventSink> = Arc::new(ApiSink::new(&api, None, None).unwrap());
    event::add_sink(Arc::clone(&sink));
    // The server has answered once (so the client keeps retrying through a restart)...
    let first = good_flow.run(1).await;
    event::flush().await;
    // ...then goes away while a flow runs, and comes back before it ends.
    server.stop().await;
    let flow = tokio::spawn(slow_flow.run(1500));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let server = Server::start(config).await.unwrap();
    let second = flow.await.unwrap();
    event::flush().await;
    event::remove_sink(&sink);
    assert!(second.is_completed());

    let runs = [
        (first.flow_run().id, first.task_runs().len()),
        (second.flow_run().id, second.task_runs().len()),
    ];
    for (id, task_count) in runs {
        let (_, run) = get(&format!("{api}/flow_runs/{id}")).await;
        assert_eq!(run["state"]["type"], "COMPLETED", "{run}");
        let (_, tasks) = get(&format!("{api}/flow_runs/{id}/task_runs")).await;
        assert_eq!(tasks["count"].as_u64().unwrap() as usize, task_count);
        for task in tasks["results"].as_array().unwrap() {
            assert_eq!(task["state"]["type"], "COMPLETED", "{task}");
        }
    }
    server.stop().await;
}

/// A page on another origin cannot change the record (a cross-origin POST is refused), and without
/// an API key a request addressed to a non-loopback name (DNS rebinding) is refused; the same
/// requests from a program, or from the server's own UI, pass.
#[tokio::test]
async fn cross_origin_writes_and_rebound_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&flowcore::store::sqlite_url(&dir.path().join("origin.db"))).await;
    let api = server.api_url();
    let authority = api
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_string();
    let client = reqwest::Client::new();
    let pause = |origin: Option<&str>| {
        let mut request = client
            .post(format!("{api}/work_queues/default/pause"))
            .header("content-type", "text/plain")
            .body("");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let evil = pause(Some("http://evil.example")).await.unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let body: Value = evil.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("cross-origin"),
        "{body}"
    );
    let (_, queues) = get(&format!("{api}/work_queues")).await;
    let list = queues
        .get("results")
        .unwrap_or(&queues)
        .as_array()
        .unwrap()
        .clone();
    let default = list.iter().find(|q| q["name"] == "default").unwrap();
    assert_eq!(default["paused"], false, "nothing changed: {queues}");

    let own_ui = pause(Some(&format!("http://{authority}"))).await.unwrap();
    assert!(own_ui.status().is_success(), "{}", own_ui.status());
    let program = pause(None).await.unwrap();
    assert!(program.status().as_u16() < 500);

    let rebound = client
        .get(format!("{api}/flow_runs"))
        .header("host", "evil.example:4200")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    let local = client
        .get(format!("{api}/flow_runs"))
        .header("host", "localhost:4200")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status().as_u16(), 200);
    server.stop().await;
}
