//! The scheduler: apply is idempotent, it follows schedule changes, runs not started in time
//! become Late and a Late backlog survives a schedule change.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_is_idempotent_and_the_scheduler_follows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let db = flowcore::store::sqlite_url(&dir.path().join("sched.db"));
    let server = start(&db, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let build = || {
        Deployment::build_from_flow(&quick)
            .name("every-minute")
            .version("1.0")
            .tags(["ml"])
            .parameters(json!({"n": 4}))
            .entrypoint(worker())
    };
    let first = build()
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .apply_to(&client)
        .await
        .unwrap();
    let again = build()
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .apply_to(&client)
        .await
        .unwrap();
    assert_eq!(first.id, again.id, "apply upserts by flow + name");
    assert_eq!(again.schedule_description.as_deref(), Some("every minute"));
    assert_eq!(
        again.spec.parameter_schema["properties"]["n"]["type"],
        "integer"
    );

    // The scheduler creates the next runs (at most 100), tagged auto-scheduled, on the minute.
    let runs = eventually("100 scheduled runs", 10, async || {
        let runs = runs_of(&client, &first, "state=Scheduled").await;
        (runs.len() == 100).then_some(runs)
    })
    .await;
    for run in &runs {
        assert!(run.tags.contains(&"auto-scheduled".to_string()));
        assert_eq!(run.tags[0], "ml");
        let t = run.expected_start_time.unwrap();
        assert_eq!(t.timestamp() % 60, 0, "{t}");
        assert!(t > Utc::now() - chrono::Duration::seconds(5));
        assert_eq!(run.deployment_name.as_deref(), Some("every-minute"));
        assert_eq!(run.parameters, json!({"n": 4}));
    }
    // A restart schedules nothing twice.
    server.stop().await;
    let server = start(&db, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after_restart = runs_of(&client, &first, "state=Scheduled").await;
    let times: HashSet<_> = after_restart
        .iter()
        .map(|r| r.expected_start_time)
        .collect();
    assert_eq!(times.len(), after_restart.len(), "no expected time twice");
    assert!(after_restart.len() <= 101, "{}", after_restart.len());

    // A new schedule replaces the future runs.
    let cron = build()
        .schedule(
            CronSchedule::new("0 0 * * 0")
                .unwrap()
                .timezone("Europe/Paris")
                .unwrap(),
        )
        .apply_to(&client)
        .await
        .unwrap();
    assert_eq!(
        cron.schedule_description.as_deref(),
        Some("cron \"0 0 * * 0\" (Europe/Paris)")
    );
    let weekly = eventually("weekly runs", 10, async || {
        let runs = runs_of(&client, &first, "state=Scheduled").await;
        (!runs.is_empty()
            && runs
                .iter()
                .all(|r| r.expected_start_time.unwrap().timestamp() % 3600 == 0))
        .then_some(runs)
    })
    .await;
    // 100 days ahead: 14 or 15 Sundays, each at midnight in Paris.
    assert!((14..=15).contains(&weekly.len()), "{}", weekly.len());
    for run in &weekly {
        let local = run
            .expected_start_time
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(local.format("%a %H:%M").to_string(), "Sun 00:00");
    }

    // Pausing removes the future runs; resuming brings them back.
    let paused: StoredDeployment = client
        .post(&format!("/deployments/{}/pause", first.id), &json!({}))
        .await
        .unwrap();
    assert!(paused.spec.paused);
    assert!(runs_of(&client, &first, "state=Scheduled").await.is_empty());
    let _: StoredDeployment = client
        .post(&format!("/deployments/{}/resume", first.id), &json!({}))
        .await
        .unwrap();
    eventually("runs after resume", 10, async || {
        (!runs_of(&client, &first, "state=Scheduled").await.is_empty()).then_some(())
    })
    .await;

    // Bad input is named.
    let err = build()
        .parameters(json!({"n": 1, "m": 2}))
        .apply_to(&client)
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::UnknownParameter { .. }));
    assert!(err.to_string().contains("no parameter `m`"), "{err}");
    let mut spec = build().spec().clone();
    spec.entrypoint.exe = "/bin/true".into();
    let mut raw = serde_json::to_value(&spec).unwrap();
    raw["schedule"] = json!({"type": "cron", "cron": "0 0 * *", "timezone": "UTC"});
    let err = client
        .post::<_, Value>("/deployments", &raw)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(err.to_string().contains("invalid `schedule`"), "{err}");
    raw["schedule"] = json!({"type": "cron", "cron": "0 0 * * 0", "timezone": "Mars/Olympus"});
    let err = client
        .post::<_, Value>("/deployments", &raw)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_not_started_in_time_become_late() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        flowcore::store::Store::connect(&flowcore::store::sqlite_url(&dir.path().join("late.db")))
            .await
            .unwrap();
    let mut spec = Deployment::build_from_flow(&quick)
        .entrypoint(worker())
        .spec()
        .clone();
    spec.name = "late".into();
    let d = store.apply_deployment(&spec).await.unwrap();
    let run = store.run_deployment(d.id, None).await.unwrap().unwrap();
    assert_eq!(run.state.as_ref().unwrap().name, "Scheduled");
    assert_eq!(
        store
            .mark_late(Utc::now(), chrono::Duration::seconds(15))
            .await
            .unwrap(),
        0
    );
    let later = Utc::now() + chrono::Duration::seconds(20);
    assert_eq!(
        store
            .mark_late(later, chrono::Duration::seconds(15))
            .await
            .unwrap(),
        1
    );
    let run = store.flow_run_by_id(run.id).await.unwrap().unwrap();
    assert_eq!(run.state.as_ref().unwrap().name, "Late");
    let history: Vec<String> = store
        .states(run.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(history, ["Scheduled", "Late"]);

    // A Crashed that arrives after a final state does not replace it.
    assert!(store
        .set_flow_run_state(run.id, &State::completed())
        .await
        .unwrap());
    assert!(!store
        .set_flow_run_state(run.id, &State::crashed("reaped late"))
        .await
        .unwrap());
    let run = store.flow_run_by_id(run.id).await.unwrap().unwrap();
    assert_eq!(run.state.unwrap().name, "Completed");
}

/// Changing a deployment's schedule or parameters removes only its future, not-yet-due
/// auto-scheduled runs: a backlog of Late runs stays (unlike PrefectHQ/prefect#17764).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_runs_survive_a_schedule_change() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        flowcore::store::Store::connect(&flowcore::store::sqlite_url(&dir.path().join("keep.db")))
            .await
            .unwrap();
    let mut spec = Deployment::build_from_flow(&quick)
        .entrypoint(worker())
        .schedule(IntervalSchedule::every(Duration::from_secs(60)).unwrap())
        .spec()
        .clone();
    spec.name = "backlog".into();
    let d = store.apply_deployment(&spec).await.unwrap();
    // Scheduled from ten minutes ago: the past ones are missed and become Late.
    let then = Utc::now() - chrono::Duration::minutes(10);
    let horizon = flowcore::store::Horizon {
        max_runs: 20,
        min_runs: 20,
        horizon: chrono::Duration::minutes(20),
    };
    assert!(store.schedule_runs(then, horizon).await.unwrap() >= 20);
    let late = store
        .mark_late(Utc::now(), chrono::Duration::seconds(15))
        .await
        .unwrap();
    assert!(late >= 9, "{late}");
    let count = |name: &'static str| {
        let store = &store;
        async move {
            store
                .flow_runs(&flowcore::store::FlowRunFilter {
                    deployments: vec![d.id.to_string()],
                    states: vec![name.to_string()],
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    let (late_before, scheduled_before) = (count("Late").await, count("Scheduled").await);
    // A "Scheduled" filter matches the state type: the Late runs, and the future ones.
    assert!(
        scheduled_before > late_before,
        "{scheduled_before} {late_before}"
    );

    spec.parameters = json!({"n": 5});
    store.apply_deployment(&spec).await.unwrap();
    assert_eq!(count("Late").await, late_before, "the Late backlog stays");
    let left = store
        .flow_runs(&flowcore::store::FlowRunFilter {
            deployments: vec![d.id.to_string()],
            states: vec!["Scheduled".to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
    let now = Utc::now();
    assert!(
        left.iter().all(|r| r.expected_start_time.unwrap() <= now),
        "only due runs stay: {:?}",
        left.iter()
            .map(|r| (
                r.expected_start_time,
                &r.tags,
                r.state.as_ref().map(|s| s.name.clone())
            ))
            .collect::<Vec<_>>()
    );
}
