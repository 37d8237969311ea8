//! Claims of due runs through the API are exactly once, on SQLite and PostgreSQL.

use super::*;

/// Two claimers race for 50 due runs through the API: every run is claimed exactly once.
async fn claims_exactly_once(database_url: &str) {
    let server = start(database_url, fast_services()).await;
    let client = ApiClient::new(&server.api_url(), None);
    let d = Deployment::build_from_flow(&quick)
        .name("burst")
        .entrypoint(worker())
        .apply_to(&client)
        .await
        .unwrap();
    create_runs(&client, &d, 50).await;
    let claimer = |agent: &'static str| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut empty = 0;
            while empty < 3 {
                let claimed: Vec<ClaimedRun> = client
                    .post(
                        "/work_queues/default/claim",
                        &json!({"agent": agent, "limit": 3}),
                    )
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    empty += 1;
                }
                for c in claimed {
                    assert_eq!(c.flow_run.state.as_ref().unwrap().name, "Pending");
                    mine.push(c.flow_run.id);
                }
            }
            mine
        })
    };
    let (a, b) = (claimer("agent-a"), claimer("agent-b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: HashSet<_> = a.iter().chain(&b).collect();
    assert_eq!(a.len() + b.len(), 50, "a: {}, b: {}", a.len(), b.len());
    assert_eq!(all.len(), 50, "a run was claimed twice");

    // A concurrency limit caps what a queue hands out while its runs are not finished.
    let _: Value = client
        .send(
            reqwest::Method::PUT,
            "/work_queues/default/concurrency",
            Some(&json!({"concurrency_limit": 53})),
        )
        .await
        .unwrap();
    create_runs(&client, &d, 5).await;
    let claim_c = async || -> Vec<ClaimedRun> {
        client
            .post(
                "/work_queues/default/claim",
                &json!({"agent": "agent-c", "limit": 10}),
            )
            .await
            .unwrap()
    };
    let claimed = claim_c().await;
    assert_eq!(claimed.len(), 3, "50 running + 3 = the limit of 53");
    let _: Value = client
        .post("/work_queues/default/pause", &json!({}))
        .await
        .unwrap();
    let claimed = claim_c().await;
    assert!(claimed.is_empty(), "a paused queue hands out nothing");
    // Queue names travel in URLs: a name that cannot is refused, naming the field.
    let err = client
        .post::<_, Value>("/work_queues", &json!({"name": "gpu/large"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("invalid `name`"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_exactly_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    claims_exactly_once(&flowcore::store::sqlite_url(&dir.path().join("claims.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_exactly_once_on_postgres() {
    let db = common::FreshPostgres::create("flowcore_claims").await;
    claims_exactly_once(&db.url).await;
    db.drop().await;
}
