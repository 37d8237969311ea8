//! Retries: attempts, the state history of each attempt, delays, and flow-level retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flowcore::prelude::*;

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails on its first two calls, then succeeds.
#[task(retries = 3, retry_delay = Duration::from_millis(50))]
fn fails_twice(x: u32) -> Result<u32, std::io::Error> {
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(std::io::Error::other("not yet"));
    }
    Ok(x + 1)
}

#[flow]
async fn retrying_flow(x: u32) -> Result<u32, FlowError> {
    Ok(fails_twice(x).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_retried_until_it_succeeds_and_every_attempt_is_recorded() {
    let _harness = flowcore::testing::harness();
    let start = Instant::now();
    let state = retrying_flow.run(41).await;
    let elapsed = start.elapsed();
    assert!(state.is_completed(), "{:?}", state.message());
    let run = &state.task_runs()[0];
    assert_eq!(run.name, "fails_twice-0");
    assert_eq!(run.attempts, 3);
    let names: Vec<&str> = run.history.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );
    let retry = &run.history[2];
    assert_eq!(retry.kind, StateType::Scheduled);
    assert!(retry.message.as_deref().unwrap().contains("not yet"));
    assert!(retry.message.as_deref().unwrap().contains("Retry 1/3"));
    // Two delays of 50 ms were honoured (a lower bound only: the machine may be slow, never fast).
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    let gap = run.history[3].timestamp - run.history[2].timestamp;
    assert!(gap >= chrono::Duration::milliseconds(50), "{gap}");
    assert_eq!(state.result().unwrap(), 42);
}

static ALWAYS_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 2, retry_delay = 0.001)]
fn always_fails() -> Result<(), std::io::Error> {
    ALWAYS_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(std::io::Error::other("disk on fire"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_and_the_last_error_fails_the_run() {
    let _harness = flowcore::testing::harness();
    let err = always_fails().await.unwrap_err();
    assert_eq!(ALWAYS_CALLS.load(Ordering::SeqCst), 3);
    // Outside a flow, task runs are numbered process-wide.
    let display = err.to_string();
    assert!(
        display.starts_with("task run 'always_fails-") && display.ends_with("' failed"),
        "{display}"
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "disk on fire"
    );
    assert!(err
        .error()
        .unwrap()
        .downcast_ref::<std::io::Error>()
        .is_some());
}

static FLOW_CALLS: AtomicU32 = AtomicU32::new(0);

#[flow(retries = 1, retry_delay = 0.01)]
async fn flaky_flow(label: String) -> Result<String, FlowError> {
    if FLOW_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        anyhow::bail!("first attempt of {label} fails");
    }
    Ok(label)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_retry_too() {
    let _harness = flowcore::testing::harness();
    let state = flaky_flow.run("x".to_string()).await;
    assert!(state.is_completed());
    let run = state.flow_run();
    assert_eq!(run.attempts, 2);
    let names: Vec<&str> = run.history.iter().map(|s| s.name.as_ref()).collect();
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
    assert!(run.history[2]
        .message
        .as_deref()
        .unwrap()
        .contains("first attempt of x fails"));
}

static OUTSIDE_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 1)]
fn outside(x: i32) -> Result<i32, std::io::Error> {
    if OUTSIDE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(std::io::Error::other("once"));
    }
    Ok(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_flow_a_task_still_runs_with_its_retries() {
    let _harness = flowcore::testing::harness();
    assert_eq!(outside(7).await.unwrap(), 7);
    assert_eq!(OUTSIDE_CALLS.load(Ordering::SeqCst), 2);
    // The untracked body is still there, like Prefect's `task.fn`.
    assert_eq!(outside::func(8).unwrap(), 8);
}
