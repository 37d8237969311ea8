//! Scale-out on one database: long-poll claims that wake when a run is created (also through
//! another server on PostgreSQL), claims in parallel that respect a queue's concurrency limit, and
//! one server at a time running the background services, another taking over when it stops.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use flowcore::deployment::Deployment;
use flowcore::prelude::*;
use flowcore::schedule::IntervalSchedule;
use flowcore::server::{Server, ServerConfig, Services};
use flowcore::store::{DeploymentSpec, Entrypoint, Store};
use uuid::Uuid;

#[flow]
async fn noop() {}

fn spec(name: &str, queue: &str) -> DeploymentSpec {
    let mut spec = Deployment::build_from_flow(&noop)
        .entrypoint(Entrypoint {
            exe: "/bin/true".into(),
            args: Vec::new(),
            cwd: None,
        })
        .spec()
        .clone();
    spec.name = name.into();
    spec.work_queue_name = queue.into();
    spec
}

async fn server(url: &str, services: Services) -> Server {
    Server::start(ServerConfig {
        port: 0,
        database_url: url.to_string(),
        services,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

/// A claim waiting on `waiter` returns the run created through `creator` at once: well before the
/// waiting claim's own one-second re-check (the run is created 0.1 s after one).
async fn long_poll_wakes(waiter: Store, creator: Store) {
    let d = creator.apply_deployment(&spec("poll", "q")).await.unwrap();
    let claim = tokio::spawn(async move {
        let claimed = waiter
            .claim_wait("q", "agent-1", 5, Duration::from_secs(10))
            .await
            .unwrap();
        (claimed, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let created_at = Instant::now();
    let run = creator.run_deployment(d.id, None).await.unwrap().unwrap();
    let (claimed, answered) = claim.await.unwrap();
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.flow_run.id).collect();
    assert_eq!(ids, [run.id]);
    let latency = answered - created_at;
    assert!(
        latency < Duration::from_millis(400),
        "woke after {latency:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_claim_wakes_when_a_run_is_created_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&flowcore::store::sqlite_url(&dir.path().join("p.db")))
        .await
        .unwrap();
    long_poll_wakes(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_claim_wakes_when_another_server_creates_a_run_postgres() {
    let db = common::FreshPostgres::create("flowcore_poll").await;
    let (a, b) = (
        Store::connect(&db.url).await.unwrap(),
        Store::connect(&db.url).await.unwrap(),
    );
    long_poll_wakes(a, b).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_an_unknown_queue_answers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&flowcore::store::sqlite_url(&dir.path().join("u.db")))
        .await
        .unwrap();
    let start = Instant::now();
    let claimed = store
        .claim_wait("nope", "a", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(claimed.is_empty() && start.elapsed() < Duration::from_secs(2));
}

/// Eight claimers hammer one queue; returns every run each claimed.
async fn hammer(store: &Store, queue: &str) -> Vec<Uuid> {
    let mut claimers = Vec::new();
    for i in 0..8 {
        let (store, queue) = (store.clone(), queue.to_string());
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let claimed = store
                    .claim(&queue, &format!("agent-{i}"), chrono::Utc::now(), 2)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    empty += 1;
                }
                mine.extend(claimed.into_iter().map(|c| c.flow_run.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_claims_take_each_run_once_and_keep_the_queue_limit_postgres() {
    let db = common::FreshPostgres::create("flowcore_claims").await;
    let store = Store::connect(&db.url).await.unwrap();
    let open = store.apply_deployment(&spec("open", "wide")).await.unwrap();
    let capped = store
        .apply_deployment(&spec("capped", "narrow"))
        .await
        .unwrap();
    store
        .set_work_queue_concurrency("narrow", Some(3))
        .await
        .unwrap();
    let mut created = HashSet::new();
    for _ in 0..120 {
        created.insert(
            store
                .run_deployment(open.id, None)
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    for _ in 0..30 {
        store
            .run_deployment(capped.id, None)
            .await
            .unwrap()
            .unwrap();
    }
    // No limit: claims run in parallel (SKIP LOCKED); every run claimed exactly once.
    let claimed = hammer(&store, "wide").await;
    let distinct: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 120, "no run claimed twice");
    assert_eq!(distinct, created);
    // Limit 3: never more than 3 runs claimed and unfinished.
    let claimed = hammer(&store, "narrow").await;
    assert_eq!(claimed.len(), 3, "{claimed:?}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_runs_the_services_and_another_takes_over_postgres() {
    let db = common::FreshPostgres::create("flowcore_lease").await;
    let services = Services {
        interval: Duration::from_millis(200),
        ..Services::default()
    };
    let first = server(&db.url, services).await;
    let second = server(&db.url, services).await;
    let store = Store::connect(&db.url).await.unwrap();
    let mut every = spec("every-minute", "default");
    every.schedule = Some(
        IntervalSchedule::every(Duration::from_secs(60))
            .unwrap()
            .into(),
    );
    store.apply_deployment(&every).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !(first.runs_services() ^ second.runs_services()) {
        assert!(Instant::now() < deadline, "no single leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, follower) = if first.runs_services() {
        (first, second)
    } else {
        (second, first)
    };
    leader.stop().await;
    let stopped = Instant::now();
    while !follower.runs_services() {
        assert!(stopped.elapsed() < Duration::from_secs(10), "no takeover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new leader's scheduler works, and no run was scheduled twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let row: (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT expected_start_time) FROM flow_runs")
            .fetch_one(
                &mut <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
    assert!(row.0 > 0, "the scheduler created runs");
    assert_eq!(row.0, row.1, "a run scheduled twice");
    follower.stop().await;
    db.drop().await;
}

#[task]
fn one() -> u32 {
    1
}

#[flow]
async fn reported() -> u32 {
    one().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_and_the_api_sink_fail_over_to_the_next_api_url() {
    let _harness = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let live = server(
        &flowcore::store::sqlite_url(&dir.path().join("f.db")),
        Services::default(),
    )
    .await;
    // A port nobody listens on.
    let dead = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/api", socket.local_addr().unwrap())
    };
    let urls = format!("{dead}, {}", live.api_url());
    let client = flowcore::api_client::ApiClient::new(&urls, None);
    assert_eq!(client.base(), dead);
    let queues: serde_json::Value = client.get("/work_queues").await.unwrap();
    assert_eq!(queues["results"][0]["name"], "default", "{queues}");
    assert_eq!(client.base(), live.api_url(), "the one that answered");
    assert_eq!(
        client.urls().setting(),
        format!("{dead},{}", live.api_url())
    );

    let sink: std::sync::Arc<dyn flowcore::event::EventSink> =
        std::sync::Arc::new(flowcore::client::ApiSink::new(&urls, None, None).unwrap());
    flowcore::event::add_sink(std::sync::Arc::clone(&sink));
    let state = reported.run().await;
    flowcore::event::flush().await;
    flowcore::event::remove_sink(&sink);
    assert!(state.is_completed());
    let run: serde_json::Value = client
        .get(&format!("/flow_runs/{}", state.flow_run().id))
        .await
        .unwrap();
    assert_eq!(run["state"]["name"], "Completed", "{run}");
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claims_wait_out_of_bounds_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = server(
        &flowcore::store::sqlite_url(&dir.path().join("w.db")),
        Services::default(),
    )
    .await;
    let client = reqwest::Client::new();
    for wait in ["-1", "61", "abc", "NaN"] {
        let response = client
            .post(format!(
                "{}/work_queues/default/claim?wait={wait}",
                live.api_url()
            ))
            .json(&serde_json::json!({"agent": "a", "limit": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "wait={wait}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("wait"), "{body}");
    }
    let started = Instant::now();
    let response = client
        .post(format!(
            "{}/work_queues/default/claim?wait=0.3",
            live.api_url()
        ))
        .json(&serde_json::json!({"agent": "a", "limit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited");
    live.stop().await;
}
