//! Agents running a real program: every two seconds, two agents on one queue, crashes, bad
//! parameters, stopping, cancelling a running run and retrying a failed one.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_runs_a_deployment_every_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("e2e.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("every-2s")
        .schedule(IntervalSchedule::every(Duration::from_secs(2)).unwrap())
        .parameters(json!({"n": 21}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-1");
    let completed = eventually("3 completed runs", 14, async || {
        let runs = runs_of(&client, &d, "state=Completed").await;
        (runs.len() >= 3).then_some(runs)
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert!(summary.started.len() >= 3);
    for run in &completed {
        assert_eq!(run.task_run_count, 1);
        let (_, _) = run_state(&client, run.id).await;
        let tasks: Value = client
            .get(&format!("/flow_runs/{}/task_runs", run.id))
            .await
            .unwrap();
        assert_eq!(tasks["results"][0]["name"], "double-0");
        let states: Vec<Value> = client
            .get(&format!("/flow_runs/{}/states", run.id))
            .await
            .unwrap();
        let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names[0], "Scheduled");
        assert!(
            names.contains(&"Pending") && names.contains(&"Running"),
            "{names:?}"
        );
        assert_eq!(*names.last().unwrap(), "Completed");
    }
    server.stop().await;
}

/// Two real agents on one queue and 50 due runs: every run's program is started exactly once.
async fn two_agents_run_each_run_once(database_url: &str) {
    let server = start(database_url, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("fifty")
        .parameters(json!({"n": 1}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let ids: HashSet<_> = create_runs(&client, &d, 50).await.into_iter().collect();
    let (stop_a, a) = agent(&client, "agent-a");
    let (stop_b, b) = agent(&client, "agent-b");
    eventually("50 completed runs", 90, async || {
        (runs_of(&client, &d, "state=Completed").await.len() == 50).then_some(())
    })
    .await;
    let _ = (stop_a.send(()), stop_b.send(()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let started: Vec<_> = a.started.iter().chain(&b.started).copied().collect();
    assert_eq!(
        started.len(),
        50,
        "a: {}, b: {}",
        a.started.len(),
        b.started.len()
    );
    assert_eq!(started.iter().copied().collect::<HashSet<_>>(), ids);
    for id in ids {
        let states: Vec<Value> = client
            .get(&format!("/flow_runs/{id}/states"))
            .await
            .unwrap();
        let running = states.iter().filter(|s| s["name"] == "Running").count();
        assert_eq!(running, 1, "run {id} ran {running} times");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    two_agents_run_each_run_once(&flowcore::store::sqlite_url(&dir.path().join("two.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_queue_on_postgres() {
    let db = common::FreshPostgres::create("flowcore_agents").await;
    two_agents_run_each_run_once(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_bad_parameters_and_stopping_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("crash.db")),
        Services {
            heartbeat_timeout: Duration::from_secs(4),
            ..fast_services()
        },
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let sleepy_d = Deployment::build_from_flow(&sleepy)
        .name("nap")
        .parameters(json!({"seconds": 30.0, "pid_file": null}))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let quick_d = Deployment::build_from_flow(&quick)
        .name("bad-params")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-1");

    // kill -9 of the flow's process → Crashed.
    let pid_file = dir.path().join("pid");
    let run: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", sleepy_d.id),
            &json!({"parameters": {"pid_file": pid_file.display().to_string()}}),
        )
        .await
        .unwrap();
    let pid = eventually("the flow's process", 15, async || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|p| !p.is_empty())
    })
    .await;
    eventually("Running", 10, async || {
        (run_state(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let (name, message) = eventually("Crashed", 10, async || {
        let s = run_state(&client, run.id).await;
        (s.0 == "Crashed").then_some(s)
    })
    .await;
    assert_eq!(name, "Crashed");
    assert!(message.contains("signal: 9"), "{message}");

    // Parameters that do not fit the flow: Failed, naming the field.
    let bad: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", quick_d.id),
            &json!({"parameters": {"n": "many"}}),
        )
        .await
        .unwrap();
    let (name, message) = eventually("Failed", 15, async || {
        let s = run_state(&client, bad.id).await;
        (s.0 == "Failed").then_some(s)
    })
    .await;
    assert_eq!(name, "Failed");
    assert!(message.contains("`n`"), "{message}");

    // Stopping the agent stops its runs: nothing stays Running.
    let long: StoredFlowRun = client
        .post(&format!("/deployments/{}/runs", sleepy_d.id), &json!({}))
        .await
        .unwrap();
    eventually("Running", 15, async || {
        (run_state(&client, long.id).await.0 == "Running").then_some(())
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert!(summary.crashed.contains(&long.id));
    let (name, message) = run_state(&client, long.id).await;
    assert_eq!(name, "Crashed");
    assert!(message.contains("agent stopped"), "{message}");

    // A claimed run whose agent went silent becomes Crashed after the heartbeat timeout.
    let silent: StoredFlowRun = client
        .post(&format!("/deployments/{}/runs", quick_d.id), &json!({}))
        .await
        .unwrap();
    let claimed: Vec<ClaimedRun> = client
        .post(
            "/work_queues/default/claim",
            &json!({"agent": "vanished", "limit": 5}),
        )
        .await
        .unwrap();
    assert!(claimed.iter().any(|c| c.flow_run.id == silent.id));
    let (_, message) = eventually("Crashed by the heartbeat service", 15, async || {
        let s = run_state(&client, silent.id).await;
        (s.0 == "Crashed").then_some(s)
    })
    .await;
    assert!(
        message.contains("no heartbeat from agent vanished"),
        "{message}"
    );
    server.stop().await;
}

/// Cancelling a deployment's run that is running under an agent: the agent learns it from its next
/// heartbeat, SIGTERMs the process, which cancels its flow run and reports it; Cancelled within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_deployment_run_stops_it_within_five_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("cancel.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&sleepy_async)
        .name("cancel-me")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let (stop, handle) = agent(&client, "agent-cancel");
    let run: StoredFlowRun = client
        .post(
            &format!("/deployments/{}/runs", d.id),
            &json!({"parameters": {"seconds": 60.0}}),
        )
        .await
        .unwrap();
    eventually("Running", 20, async || {
        (run_state(&client, run.id).await.0 == "Running").then_some(())
    })
    .await;
    let asked = std::time::Instant::now();
    let cancelling = client.cancel_flow_run(run.id).await.unwrap();
    assert_eq!(cancelling.state.unwrap().name, "Cancelling");
    eventually("Cancelled", 10, async || {
        (run_state(&client, run.id).await.0 == "Cancelled").then_some(())
    })
    .await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let tasks: Value = client
        .get(&format!("/flow_runs/{}/task_runs", run.id))
        .await
        .unwrap();
    for task in tasks["results"].as_array().unwrap() {
        assert_eq!(task["state"]["type"], "CANCELLED", "{task}");
    }
    // Final: a second cancel is refused, naming the state.
    let again = client.cancel_flow_run(run.id).await.unwrap_err();
    assert!(again.to_string().contains("409"), "{again}");
    assert!(again.to_string().contains("already Cancelled"), "{again}");
    let _ = stop.send(());
    // The process stopped itself (it watches its run on the server) or the agent stopped it: the
    // run is not Crashed either way.
    let summary = handle.await.unwrap();
    assert!(!summary.crashed.contains(&run.id), "{summary:?}");
    server.stop().await;
}

/// A failed deployment run, retried through the API, is started again by the agent under the same
/// id; its task run that completed with a persisted result is not run again (`Cached`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_deployment_run_runs_again_without_its_completed_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &flowcore::store::sqlite_url(&dir.path().join("retry.db")),
        fast_services(),
    )
    .await;
    let client = ApiClient::new(&server.api_url(), None);
    let count_file = dir.path().join("count.txt");
    let fail_while = dir.path().join("fail");
    std::fs::write(&fail_while, b"").unwrap();
    let d = Deployment::build_from_flow(&resumable)
        .name("retry-me")
        .parameters(json!({
            "n": 4,
            "count_file": count_file.display().to_string(),
            "fail_while": fail_while.display().to_string(),
        }))
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    let id = create_runs(&client, &d, 1).await[0];
    let (stop, handle) = agent(&client, "agent-retry");
    eventually("the run to fail", 30, async || {
        let (name, _) = run_state(&client, id).await;
        (name == "Failed").then_some(())
    })
    .await;

    std::fs::remove_file(&fail_while).unwrap();
    let retried: StoredFlowRun = client
        .post(&format!("/flow_runs/{id}/retry"), &json!({}))
        .await
        .unwrap();
    assert_eq!(retried.state.unwrap().name, "AwaitingRetry");
    eventually("the retried run to complete", 30, async || {
        let (name, _) = run_state(&client, id).await;
        (name == "Completed").then_some(())
    })
    .await;
    let _ = stop.send(());
    let summary = handle.await.unwrap();
    assert_eq!(summary.started.len(), 2, "the agent started the run twice");

    let lines = std::fs::read_to_string(&count_file).unwrap();
    assert_eq!(lines.lines().count(), 1, "stage ran once: {lines}");
    let tasks: Value = client
        .get(&format!("/flow_runs/{id}/task_runs"))
        .await
        .unwrap();
    let stages: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["task_name"] == "stage")
        .map(|t| t["state"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = stages.clone();
    sorted.sort();
    assert_eq!(sorted, ["Cached", "Completed"], "{tasks}");
    server.stop().await;
}
