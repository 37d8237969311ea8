//! Tag concurrency limits: slots taken all-or-none, given back at the final state, lost with a
//! dead process's lease; enforced across processes through the embedded database and through a
//! server.
#![cfg(all(feature = "server", feature = "client"))]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use flowcore::prelude::*;
use flowcore::server::{Server, ServerConfig};
use flowcore::store::{sqlite_url, FlowRunFilter, Store};
use uuid::Uuid;

const CHILD: &str = "FLOWCORE_SLOTS_CHILD";

async fn slots_on(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let soon = Utc::now() + chrono::Duration::seconds(30);
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    // No limit on the tag: no slot needed.
    assert!(
        store
            .acquire_slots(a, &tags(&["db"]), "p1", soon)
            .await
            .unwrap()
            .acquired
    );
    store.set_concurrency_limit("db", 2).await.unwrap();
    store.set_concurrency_limit("gpu", 1).await.unwrap();
    assert!(
        store
            .acquire_slots(a, &tags(&["db"]), "p1", soon)
            .await
            .unwrap()
            .acquired
    );
    assert!(
        store
            .acquire_slots(b, &tags(&["db", "other"]), "p2", soon)
            .await
            .unwrap()
            .acquired
    );
    let full = store
        .acquire_slots(c, &tags(&["db", "gpu"]), "p2", soon)
        .await
        .unwrap();
    assert!(!full.acquired);
    assert_eq!(full.full, ["db"]);
    // All or none: c took no gpu slot while db was full.
    assert!(store
        .concurrency_limit("gpu")
        .await
        .unwrap()
        .unwrap()
        .active_slots
        .is_empty());
    store.release_slots(a).await.unwrap();
    assert!(
        store
            .acquire_slots(c, &tags(&["db", "gpu"]), "p2", soon)
            .await
            .unwrap()
            .acquired
    );
    let db = store.concurrency_limit("db").await.unwrap().unwrap();
    assert_eq!(db.active_slots.len(), 2);
    // A holder whose lease ran out loses its slots.
    store
        .renew_slots("p2", Utc::now() - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert!(
        store
            .acquire_slots(a, &tags(&["gpu"]), "p1", soon)
            .await
            .unwrap()
            .acquired
    );
    // 0 blocks the tag; reset frees; delete removes.
    store.set_concurrency_limit("gpu", 0).await.unwrap();
    store.reset_concurrency_limit("gpu").await.unwrap();
    assert!(
        !store
            .acquire_slots(b, &tags(&["gpu"]), "p1", soon)
            .await
            .unwrap()
            .acquired
    );
    assert!(store.delete_concurrency_limit("gpu").await.unwrap());
    assert!(
        store
            .acquire_slots(b, &tags(&["gpu"]), "p1", soon)
            .await
            .unwrap()
            .acquired
    );
    assert!(store.set_concurrency_limit("x", -1).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    slots_on(&sqlite_url(&dir.path().join("slots.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_on_postgres() {
    let db = common::FreshPostgres::create("slots").await;
    slots_on(&db.url).await;
    db.drop().await;
}

#[task(tags = ["db"])]
async fn query(i: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    i
}

#[task(tags = ["solo"])]
async fn hold_forever() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[flow]
async fn four_queries() -> u32 {
    let runs: Vec<_> = (0..4).map(|i| query(i).submit()).collect();
    let mut sum = 0;
    for run in runs {
        sum += run.await.unwrap();
    }
    sum
}

#[flow]
async fn holding() {
    hold_forever().await.unwrap();
}

/// The child processes' side: run what the parent asks for, recording where the environment says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_child_process() {
    match std::env::var(CHILD).as_deref() {
        Ok("queries") => assert_eq!(four_queries.call().await.unwrap(), 6),
        Ok("hold") => holding.call().await.unwrap(),
        _ => {}
    }
}

fn child(what: &str, home: &std::path::Path, api: Option<&str>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "slots_child_process",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(CHILD, what)
    .env("FLOWCORE_HOME", home)
    .env("FLOWCORE_CONCURRENCY_LEASE", "2")
    .env("FLOWCORE_LOGGING_LEVEL", "warning")
    .env_remove("FLOWCORE_DATABASE_URL")
    .env_remove("FLOWCORE_RECORD")
    .stdout(Stdio::null());
    match api {
        Some(api) => cmd.env("FLOWCORE_API_URL", api),
        None => cmd.env_remove("FLOWCORE_API_URL"),
    };
    cmd.spawn().unwrap()
}

/// Two processes, 8 tasks on tag `db` limited to 2: never more than 2 run at once.
async fn two_processes_share_the_limit(store: &Store, home: &std::path::Path, api: Option<&str>) {
    store.set_concurrency_limit("db", 2).await.unwrap();
    let children = [child("queries", home, api), child("queries", home, api)];
    for mut c in children {
        let status = tokio::task::spawn_blocking(move || c.wait().unwrap())
            .await
            .unwrap();
        assert!(status.success());
    }
    let runs = store.flow_runs(&FlowRunFilter::default()).await.unwrap();
    let mut spans = Vec::new();
    let mut waited = 0;
    for run in runs.iter().filter(|r| r.flow_name == "four_queries") {
        for t in store.task_runs(run.id).await.unwrap() {
            assert!(t.state.as_ref().unwrap().is_completed(), "{t:?}");
            spans.push((t.start_time.unwrap(), t.end_time.unwrap()));
            let history = store.states(t.id).await.unwrap();
            waited += history
                .iter()
                .filter(|s| s.name == "AwaitingConcurrencySlot")
                .count();
        }
    }
    assert_eq!(spans.len(), 8);
    assert!(waited >= 1, "some task run waited for a slot");
    let most = spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap();
    assert!(most <= 2, "{most} task runs ran at once");
    assert!(store
        .concurrency_limit("db")
        .await
        .unwrap()
        .unwrap()
        .active_slots
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_across_processes_through_the_embedded_database() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let store = Store::connect(&sqlite_url(&home.path().join("flowcore.db")))
        .await
        .unwrap();
    two_processes_share_the_limit(&store, home.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_across_processes_through_a_server_and_a_dead_process_loses_its_slots() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("server.db"));
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: url.clone(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let store = Store::connect(&url).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    two_processes_share_the_limit(&store, home.path(), Some(&server.api_url())).await;

    // kill -9 of a process holding a slot: its 2 s lease runs out and the slot is free again.
    store.set_concurrency_limit("solo", 1).await.unwrap();
    let mut holder = child("hold", home.path(), Some(&server.api_url()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while store
        .concurrency_limit("solo")
        .await
        .unwrap()
        .unwrap()
        .active_slots
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the child never took its slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    holder.kill().unwrap();
    let _ = holder.wait();
    let killed = Instant::now();
    let mine = Uuid::now_v7();
    let soon = || Utc::now() + chrono::Duration::seconds(30);
    while !store
        .acquire_slots(mine, &["solo".to_string()], "parent", soon())
        .await
        .unwrap()
        .acquired
    {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the dead process kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed.elapsed()
    );
    server.stop().await;
}
