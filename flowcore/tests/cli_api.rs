//! The record commands over the API: with an API URL set, `flowcore flow-run ls | inspect | logs`
//! and `task-run ls` read the server's database (here PostgreSQL), not the local one.
#![cfg(all(feature = "server", feature = "cli"))]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use flowcore::event::{Event, LogLevel, LogRecord, RunKind, RunRef};
use flowcore::server::{Server, ServerConfig};
use flowcore::store::Store;
use flowcore::State;
use serde_json::json;
use uuid::Uuid;

struct Run {
    flow: RunRef,
    task: RunRef,
}

fn new_run(name: &str, tags: &[&str]) -> (Run, Vec<Event>) {
    let id = Uuid::now_v7();
    let flow = RunRef {
        kind: RunKind::Flow,
        id,
        name: name.into(),
        flow_run_id: Some(id),
    };
    let task = RunRef {
        kind: RunKind::Task,
        id: Uuid::now_v7(),
        name: "fit-0".into(),
        flow_run_id: Some(id),
    };
    let events = vec![
        Event::FlowRunCreated {
            run: flow.clone(),
            flow_name: "remote".into(),
            version: None,
            parameters: json!({"month": 3}),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            parent_flow_run_id: None,
            parent_task_run_id: None,
            created: Utc::now(),
        },
        Event::TaskRunCreated {
            run: task.clone(),
            task_name: "fit".into(),
            flow_run_id: Some(id),
            tags: Vec::new(),
            inputs: Vec::new(),
            created: Utc::now(),
        },
        Event::StateChanged {
            run: flow.clone(),
            state: State::pending(),
        },
        Event::StateChanged {
            run: flow.clone(),
            state: State::running(),
        },
    ];
    (Run { flow, task }, events)
}

fn log(run: &RunRef, flow_run: Uuid, message: &str) -> Event {
    Event::Log(LogRecord {
        run: run.clone(),
        flow_run_id: Some(flow_run),
        level: LogLevel::Info,
        target: "test".into(),
        message: message.into(),
        timestamp: Utc::now(),
    })
}

fn flowcore(home: &std::path::Path, api: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowcore"));
    cmd.env("FLOWCORE_HOME", home)
        .env("FLOWCORE_API_URL", api)
        .env_remove("FLOWCORE_DATABASE_URL");
    cmd
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_commands_read_a_postgres_server_through_its_api() {
    let db = common::FreshPostgres::create("cli_api").await;
    let server = Server::start(ServerConfig {
        port: 0,
        database_url: db.url.clone(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let api = server.api_url();
    let store = Store::connect(&db.url).await.unwrap();
    let (done, mut events) = new_run("steady-otter", &["nightly"]);
    events.push(log(&done.flow, done.flow.id, "loading March"));
    events.push(log(&done.task, done.flow.id, "fitted 3 features"));
    events.push(Event::StateChanged {
        run: done.flow.clone(),
        state: State::completed(),
    });
    store.write(&events).await.unwrap();
    let (running, events) = new_run("eager-lynx", &[]);
    store.write(&events).await.unwrap();

    // The local home is empty: everything shown comes from the server.
    let home = tempfile::tempdir().unwrap();
    let out = output(flowcore(home.path(), &api).args(["flow-run", "ls"]));
    assert!(out.contains("remote › steady-otter"), "{out}");
    assert!(out.contains("remote › eager-lynx"), "{out}");
    let out = output(flowcore(home.path(), &api).args([
        "flow-run",
        "ls",
        "--state",
        "Completed",
        "--tag",
        "nightly",
        "--since",
        "1h",
        "--json",
    ]));
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(listed[0]["name"], "steady-otter");

    let out = output(flowcore(home.path(), &api).args(["flow-run", "inspect", "steady-otter"]));
    assert!(out.contains("parameters: {\"month\":3}"), "{out}");
    assert!(out.contains("Completed"), "{out}");
    let out = output(flowcore(home.path(), &api).args(["flow-run", "logs", "steady-otter"]));
    assert!(
        out.contains("Flow run 'steady-otter' - loading March"),
        "{out}"
    );
    assert!(
        out.contains("Task run 'fit-0' - fitted 3 features"),
        "{out}"
    );
    let out = output(flowcore(home.path(), &api).args([
        "task-run",
        "ls",
        "--flow-run",
        &done.flow.id.to_string(),
    ]));
    assert!(out.contains("fit-0"), "{out}");
    let bad = flowcore(home.path(), &api)
        .args(["flow-run", "inspect", "no-such-run"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no flow run with id or name"));

    // Retrying: a Completed run is refused; a Failed one goes back to Scheduled (AwaitingRetry).
    let refused = flowcore(home.path(), &api)
        .args(["flow-run", "retry", "steady-otter"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Completed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (failed, mut events) = new_run("brave-heron", &[]);
    events.push(Event::StateChanged {
        run: failed.flow.clone(),
        state: State::failed("the warehouse is closed"),
    });
    store.write(&events).await.unwrap();
    let out = output(flowcore(home.path(), &api).args(["flow-run", "retry", "brave-heron"]));
    assert!(
        out.contains("Retrying flow run 'brave-heron'") && out.contains("it is AwaitingRetry"),
        "{out}"
    );
    assert!(out.contains("resume it from its program"), "{out}");

    // --follow prints lines as they come and stops when the run is final.
    let child = flowcore(home.path(), &api)
        .args(["flow-run", "logs", "--follow", "eager-lynx"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    store
        .write(&[log(&running.flow, running.flow.id, "still going")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    store
        .write(&[
            log(&running.task, running.flow.id, "last words"),
            Event::StateChanged {
                run: running.flow.clone(),
                state: State::completed(),
            },
        ])
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success());
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("still going"), "{out}");
    assert!(out.contains("last words"), "{out}");
    assert_eq!(out.matches("still going").count(), 1, "{out}");

    // Concurrency limits through the CLI (over the API).
    let out = output(flowcore(home.path(), &api).args(["concurrency-limit", "create", "db", "2"]));
    assert!(out.contains("\"db\" to 2"), "{out}");
    let out = output(flowcore(home.path(), &api).args(["concurrency-limit", "ls"]));
    assert!(out.contains("db") && out.contains('2'), "{out}");
    let out = output(flowcore(home.path(), &api).args(["concurrency-limit", "inspect", "db"]));
    assert!(out.contains("active slots: 0"), "{out}");
    output(flowcore(home.path(), &api).args(["concurrency-limit", "reset", "db"]));
    output(flowcore(home.path(), &api).args(["concurrency-limit", "delete", "db"]));
    let missing = flowcore(home.path(), &api)
        .args(["concurrency-limit", "inspect", "db"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no concurrency limit on tag \"db\""));

    // Automations through the CLI.
    let out = output(flowcore(home.path(), &api).args([
        "automation",
        "create",
        "on-failure",
        "--on",
        "Failed,Crashed,TimedOut",
        "--flow",
        "remote",
        "--webhook",
        "http://127.0.0.1:9/hook",
        "--header",
        "Authorization: Bearer x",
    ]));
    assert!(out.contains("Created automation \"on-failure\""), "{out}");
    let bad = flowcore(home.path(), &api)
        .args([
            "automation",
            "create",
            "x",
            "--on",
            "Failed",
            "--webhook",
            "http://h",
            "--header",
            "nocolon",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--header"));
    let out = output(flowcore(home.path(), &api).args(["automation", "ls"]));
    assert!(
        out.contains("on-failure") && out.contains("active"),
        "{out}"
    );
    let out = output(flowcore(home.path(), &api).args(["automation", "pause", "on-failure"]));
    assert!(out.contains("Paused"), "{out}");
    let out = output(flowcore(home.path(), &api).args(["automation", "inspect", "on-failure"]));
    assert!(out.contains("status:     paused"), "{out}");
    assert!(out.contains("Failed, Crashed, TimedOut"), "{out}");
    output(flowcore(home.path(), &api).args(["automation", "resume", "on-failure"]));
    output(flowcore(home.path(), &api).args(["automation", "delete", "on-failure"]));
    let out = output(flowcore(home.path(), &api).args(["automation", "ls", "--json"]));
    assert_eq!(out.trim(), "[]");

    server.stop().await;
    db.drop().await;
}
