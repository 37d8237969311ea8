//! The test harness: a throwaway record, settings from code, captured output.

use flowcore::prelude::*;
use flowcore::store::{FlowRunFilter, Store};

#[task(retries = 1, retry_delay = 0.01)]
fn flaky() -> Result<u32, std::io::Error> {
    Err(std::io::Error::other("always"))
}

#[flow(flow_run_name = "harnessed-{n}")]
async fn harnessed(n: u32) -> u32 {
    flaky().await.unwrap_or(n)
}

// One test function: the harness is process-wide, and these steps depend on each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_record_into_a_throwaway_home_and_settings_come_from_code() {
    let before = flowcore::config::home();
    let harness = flowcore::testing::harness();
    let home = harness.home().to_path_buf();
    assert_ne!(home, before);
    assert_eq!(flowcore::config::home(), home);
    // A second guard (a test running in parallel) shares the home.
    let second = flowcore::testing::harness();
    assert_eq!(second.home(), home);
    drop(second);

    let state = harnessed.run(7).await;
    assert_eq!(state.output(), Some(&7));
    let store = Store::connect(&harness.database_url()).await.unwrap();
    let runs = store.flow_runs(&FlowRunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].name, "harnessed-7");
    let tasks = store.task_runs(runs[0].id).await.unwrap();
    assert_eq!(tasks[0].attempts, 2);

    // Recording switched off from code: the next run leaves no trace.
    flowcore::config::set_for_process("record", Some("off")).unwrap();
    drop(harness);
    let harness = flowcore::testing::harness();
    let state = harnessed.run(8).await;
    assert_eq!(state.output(), Some(&8));
    assert!(!harness.home().join("flowcore.db").exists());
    flowcore::config::clear_for_process("record");
    let gone = harness.home().to_path_buf();
    drop(harness);
    assert!(
        !gone.exists(),
        "the throwaway home is deleted with the last guard"
    );
    assert_eq!(flowcore::config::home(), before);
}
