//! Failures: body errors with their chain, panics, upstream failures, and unobserved failed futures.

use flowcore::prelude::*;
use flowcore::TaskRunFailure;

#[derive(Debug, thiserror::Error)]
#[error("column `{0}` is missing")]
struct MissingColumn(&'static str);

#[derive(Debug, thiserror::Error)]
#[error("cannot load trips")]
struct LoadError(#[source] MissingColumn);

#[task]
fn load_trips() -> Result<u32, LoadError> {
    Err(LoadError(MissingColumn("PULocationID")))
}

#[task]
fn double(x: u32) -> u32 {
    x * 2
}

#[task]
fn fine() -> u32 {
    1
}

#[flow]
async fn propagates() -> Result<u32, FlowError> {
    let n = load_trips().await?;
    Ok(double(n).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_error_fails_task_and_flow_with_its_whole_chain() {
    let _harness = flowcore::testing::harness();
    let state = propagates.run().await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert!(message.contains("cannot load trips"), "{message}");
    assert!(
        message.contains("column `PULocationID` is missing"),
        "{message}"
    );
    let task = state.task_run("load_trips-0").unwrap();
    assert!(task.state().is_failed());
    assert!(task
        .state()
        .message
        .as_deref()
        .unwrap()
        .contains("column `PULocationID` is missing"));
    // From code alone: which task failed, and why, down to the original error type.
    let err = state.result().unwrap_err();
    let task_err = err.task_run_error().expect("a task run error in the chain");
    assert_eq!(task_err.task_run_name(), "load_trips-0");
    let cause = task_err
        .error()
        .unwrap()
        .downcast_ref::<LoadError>()
        .unwrap();
    assert_eq!(cause.0 .0, "PULocationID");
    let chain: Vec<String> =
        std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect();
    assert!(
        chain
            .iter()
            .any(|e| e == "column `PULocationID` is missing"),
        "{chain:?}"
    );
}

#[flow]
async fn leaves_failures_behind() -> Result<u32, FlowError> {
    let bad = load_trips().submit();
    let _downstream = double(&bad).submit();
    let ok = fine().submit();
    Ok(ok.await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unobserved_failures_fail_the_flow_and_downstream_tasks_do_not_run() {
    let _harness = flowcore::testing::harness();
    let state = leaves_failures_behind.run().await;
    assert!(state.is_failed());
    assert_eq!(state.message(), Some("2/3 task runs failed"));
    let down = state.task_run("double-0").unwrap();
    assert_eq!(down.state().name, "UpstreamFailed");
    assert!(down.state().is_final());
    assert!(down
        .state()
        .message
        .as_deref()
        .unwrap()
        .contains("load_trips-0"));
    assert_eq!(down.attempts, 0, "the downstream task never ran");
    assert_eq!(state.failed_task_runs().count(), 2);
}

#[flow]
async fn handles_failure() -> Result<u32, FlowError> {
    let bad = load_trips().submit();
    let down = double(&bad).submit();
    match down.await {
        Err(e) => {
            assert!(e.is_upstream_failure());
            assert!(
                matches!(e.failure(), TaskRunFailure::UpstreamFailed { upstream_name, .. } if upstream_name == "load_trips-0")
            );
        }
        Ok(_) => unreachable!(),
    }
    let _ = bad.wait().await;
    Ok(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observed_and_handled_failure_lets_the_flow_complete() {
    let _harness = flowcore::testing::harness();
    let state = handles_failure.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.failed_task_runs().count(), 2);
}

#[task]
fn explodes(x: u32) -> u32 {
    if x > 0 {
        panic!("exploded on {x}");
    }
    x
}

#[flow]
async fn panicky() -> Result<String, FlowError> {
    match explodes(3).await {
        Err(e) => Ok(e.to_string()),
        Ok(_) => Ok("no panic".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_task_becomes_its_failed_state() {
    let _harness = flowcore::testing::harness();
    let state = panicky.run().await;
    assert!(state.is_completed());
    let task = &state.task_runs()[0];
    assert!(task.state().is_failed());
    assert_eq!(
        task.state().message.as_deref(),
        Some("Task run panicked: exploded on 3")
    );
    assert_eq!(
        state.result().unwrap(),
        "task run 'explodes-0' panicked: exploded on 3"
    );
}

#[flow(task_runner = Concurrent)]
async fn panics_submitted() -> u32 {
    let _ = explodes(1).submit();
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_submitted_task_fails_the_flow_not_the_process() {
    let _harness = flowcore::testing::harness();
    let state = panics_submitted.run().await;
    assert!(state.is_failed());
    assert_eq!(state.message(), Some("1/1 task runs failed"));
}

#[flow]
async fn body_panics(x: u32) -> u32 {
    if x == 1 {
        panic!("the flow body gave up");
    }
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_flow_body_fails_the_flow() {
    let _harness = flowcore::testing::harness();
    let state = body_panics.run(1).await;
    assert!(state.is_failed());
    assert_eq!(
        state.message(),
        Some("Flow run panicked: the flow body gave up")
    );
}

#[task]
async fn slow_forever() -> u32 {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    0
}

#[flow]
async fn gives_up_waiting() -> u32 {
    let timed_out =
        tokio::time::timeout(std::time::Duration::from_millis(20), slow_forever()).await;
    assert!(timed_out.is_err());
    7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_call_the_caller_stops_awaiting_is_cancelled_not_failed() {
    let _harness = flowcore::testing::harness();
    let state = gives_up_waiting.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    let run = &state.task_runs()[0];
    assert!(run.state().is_cancelled());
    assert_eq!(
        run.state().message.as_deref(),
        Some("the caller stopped waiting for this task run")
    );
}

#[flow]
async fn chained() -> Result<u32, FlowError> {
    let n = load_trips().submit();
    let a = double(n).submit();
    let b = double(a).submit();
    Ok(double(b).await?)
}

#[flow]
async fn outer_of_chained() -> Result<u32, FlowError> {
    Ok(chained.call().await?)
}

/// A failure three task runs upstream: the flow's message names the root failure first (the run
/// that failed and its error), not the chain of runs that never ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_message_names_the_root_failure_first() {
    let _harness = flowcore::testing::harness();
    let state = chained.run().await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert_eq!(
        message,
        "Flow run encountered an error: task run 'load_trips-0' failed: cannot load trips: column \
         `PULocationID` is missing (3 task runs did not run: an upstream task run failed)"
    );
    let error = state.result().unwrap_err();
    let task = error.task_run_error().unwrap();
    assert!(task.is_upstream_failure());
    assert_eq!(
        task.root_cause(),
        "task run 'load_trips-0' failed: cannot load trips: column `PULocationID` is missing"
    );

    // Through a subflow, once.
    let state = outer_of_chained.run().await;
    let message = state.message().unwrap();
    assert_eq!(
        message,
        "Flow run encountered an error: task run 'load_trips-0' failed: cannot load trips: column \
         `PULocationID` is missing"
    );
}
