//! Whom the server answers (issue 18, item 4): allowed host names, JSON-only writes, CORS only for
//! listed origins, a case-insensitive `Bearer`.
#![cfg(all(feature = "server", feature = "client"))]

use flowcore::server::{Server, ServerConfig};

async fn start(dir: &std::path::Path, config: ServerConfig) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: flowcore::store::sqlite_url(&dir.join("access.db")),
        ..config
    })
    .await
    .unwrap()
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn only_allowed_host_names_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        ServerConfig {
            allowed_hosts: vec!["flowcore.internal".into()],
            ..ServerConfig::default()
        },
    )
    .await;
    let api = server.api_url();
    let client = reqwest::Client::new();
    let with_host = |host: &str| client.get(format!("{api}/flow_runs")).header("host", host);
    assert_eq!(status(with_host("flowcore.internal:4200")).await, 200);
    assert_eq!(status(with_host("FLOWCORE.internal")).await, 200);
    assert_eq!(status(with_host("localhost:4200")).await, 200);
    assert_eq!(status(with_host("evil.example")).await, 403);
    server.stop().await;

    // With an API key and allowed names, other names are still refused; with a key and no list,
    // the key guards every name.
    let keyed = |allowed_hosts: Vec<String>| ServerConfig {
        api_key: Some("k".into()),
        allowed_hosts,
        ..ServerConfig::default()
    };
    let server = start(dir.path(), keyed(vec!["flowcore.internal".into()])).await;
    let api = server.api_url();
    let request = client
        .get(format!("{api}/flow_runs"))
        .header("host", "evil.example")
        .bearer_auth("k");
    assert_eq!(status(request).await, 403);
    server.stop().await;
    let server = start(dir.path(), keyed(Vec::new())).await;
    let api = server.api_url();
    let request = client
        .get(format!("{api}/flow_runs"))
        .header("host", "any.example")
        .bearer_auth("k");
    assert_eq!(status(request).await, 200);
    // `Bearer` in any case.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let request = client
            .get(format!("{api}/flow_runs"))
            .header("authorization", format!("{scheme} k"));
        assert_eq!(status(request).await, 200, "{scheme}");
    }
    let wrong = client
        .get(format!("{api}/flow_runs"))
        .header("authorization", "Basic k");
    assert_eq!(status(wrong).await, 401);
    server.stop().await;
}

#[tokio::test]
async fn writes_with_a_body_must_be_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ServerConfig::default()).await;
    let api = server.api_url();
    let client = reqwest::Client::new();
    let deployment: serde_json::Value = client
        .post(format!("{api}/deployments"))
        .json(
            &serde_json::json!({"flow_name": "f", "name": "d", "entrypoint": {"exe": "/bin/true"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let runs = format!(
        "{api}/deployments/{}/runs",
        deployment["id"].as_str().unwrap()
    );
    // A form or text/plain body — what a page may send anywhere without asking — is refused.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = client
            .post(&runs)
            .header("content-type", content_type)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 415, "{content_type}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("application/json"));
    }
    let json = client
        .post(&runs)
        .header("content-type", "application/json; charset=utf-8")
        .body("{}");
    assert_eq!(status(json).await, 200);
    // No body at all (a button's POST): no content type needed.
    assert_eq!(status(client.post(&runs)).await, 200);
    server.stop().await;
}

#[tokio::test]
async fn cors_headers_and_writes_only_for_listed_origins() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        ServerConfig {
            cors_origins: vec!["https://dash.example.com".into()],
            ..ServerConfig::default()
        },
    )
    .await;
    let api = server.api_url();
    let client = reqwest::Client::new();
    let read = |origin: &str| {
        client
            .get(format!("{api}/flow_runs"))
            .header("origin", origin)
            .send()
    };
    let listed = read("https://dash.example.com").await.unwrap();
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let other = read("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // A preflight for the listed origin is answered.
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{api}/work_queues"))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    // Writes: the listed origin may, another may not.
    let create = |origin: &str| {
        client
            .post(format!("{api}/work_queues"))
            .header("origin", origin)
            .json(&serde_json::json!({"name": "from-the-dashboard"}))
    };
    assert_eq!(status(create("https://dash.example.com")).await, 200);
    assert_eq!(status(create("https://evil.example")).await, 403);
    server.stop().await;
}
