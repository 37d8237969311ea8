//! Task and flow controls: timeouts, retry delays (lists, exponential backoff, jitter), retry
//! conditions, state hooks, templated run names and the runtime context.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowcore::prelude::*;
use flowcore::{FlowRun, TaskRun};

// ---------------------------------------------------------------------------------------------
// Timeouts

#[task(timeout = 0.2)]
fn sleeps_sync() {
    std::thread::sleep(Duration::from_secs(2));
}

#[task(timeout = 0.2)]
async fn sleeps_async() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[task]
fn quick() -> u32 {
    7
}

#[flow]
async fn timeouts_awaited() -> (bool, bool) {
    let a = sleeps_sync().await;
    let b = sleeps_async().await;
    (
        a.is_err_and(|e| e.is_timeout()),
        b.is_err_and(|e| e.is_timeout()),
    )
}

#[flow]
async fn timeouts_submitted() -> u32 {
    let a = sleeps_sync().submit();
    let b = sleeps_async().submit();
    let c = quick().submit();
    let _ = a.wait().await;
    let _ = b.wait().await;
    c.await.unwrap()
}

fn assert_timed_out(run: &TaskRun) {
    let last = run.history.last().unwrap();
    assert_eq!(last.kind, StateType::Failed, "{run:?}");
    assert_eq!(last.name, "TimedOut");
    assert_eq!(
        last.message.as_deref(),
        Some("Task run exceeded timeout of 0.2 second(s)")
    );
    let took = run.end_time.unwrap() - run.start_time.unwrap();
    assert!(took < chrono::Duration::milliseconds(500), "{took}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_timeout_ends_timed_out_awaited() {
    let _harness = flowcore::testing::harness();
    let start = Instant::now();
    let state = timeouts_awaited.run().await;
    // Two timed-out tasks one after the other: far less than one 2 s sleep.
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.output(), Some(&(true, true)));
    for run in state.task_runs() {
        assert_timed_out(run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_timeout_ends_timed_out_submitted() {
    let _harness = flowcore::testing::harness();
    let start = Instant::now();
    let state = timeouts_submitted.run().await;
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.output(), Some(&7));
    assert_timed_out(state.task_run("sleeps_sync-0").unwrap());
    assert_timed_out(state.task_run("sleeps_async-0").unwrap());
    // The stuck sync body holds no worker: other tasks keep running.
    assert!(state
        .task_run("quick-0")
        .unwrap()
        .history
        .last()
        .unwrap()
        .is_completed());
}

static TIMEOUT_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[task(timeout = Duration::from_millis(100), retries = 1)]
async fn slow_then_fast() -> u32 {
    if TIMEOUT_ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    1
}

#[flow]
async fn retried_timeout() -> u32 {
    slow_then_fast().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_apply_to_a_timeout() {
    let _harness = flowcore::testing::harness();
    let state = retried_timeout.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    let run = &state.task_runs()[0];
    assert_eq!(run.attempts, 2);
    let retry = &run.history[2];
    assert_eq!(retry.name, "AwaitingRetry");
    assert!(retry
        .message
        .as_deref()
        .unwrap()
        .starts_with("Task run exceeded timeout of 0.1 second(s) - Retry 1/1"));
}

#[task]
async fn sleeps_long() {
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[flow(timeout = 0.3)]
async fn slow_subflow() {
    let _running = sleeps_long().submit();
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[flow]
async fn parent_of_slow_subflow() -> bool {
    slow_subflow
        .run()
        .await
        .state()
        .has_name(flowcore::state::StateName::TimedOut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_subflow_stops_its_own_tasks() {
    let _harness = flowcore::testing::harness();
    let start = Instant::now();
    let state = parent_of_slow_subflow.run().await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(state.output(), Some(&true));
    let task = state
        .all_task_runs()
        .find(|t| t.task_name == "sleeps_long")
        .unwrap();
    let last = task.history.last().unwrap();
    assert_eq!(last.kind, StateType::Cancelled, "{task:?}");
    assert!(last
        .message
        .as_deref()
        .unwrap()
        .contains("Flow run exceeded timeout of 0.3 second(s)"));
}

// ---------------------------------------------------------------------------------------------
// Retry delays and conditions

static LIST_STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[task(retries = 3, retry_delay = [0.1, 0.2])]
fn fails_listed() -> Result<(), std::io::Error> {
    LIST_STARTS.lock().unwrap().push(Instant::now());
    Err(std::io::Error::other("down"))
}

#[flow]
async fn listed_delays() {
    let _ = fails_listed().await;
}

fn gaps(starts: &[Instant]) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_list_gives_one_delay_per_retry_and_repeats_the_last() {
    let _harness = flowcore::testing::harness();
    let state = listed_delays.run().await;
    assert!(state.is_completed());
    let gaps = gaps(&LIST_STARTS.lock().unwrap());
    assert_eq!(gaps.len(), 3);
    for (gap, at_least) in gaps.iter().zip([100, 200, 200]) {
        assert!(*gap >= Duration::from_millis(at_least), "{gaps:?}");
    }
    let run = &state.task_runs()[0];
    assert_eq!(run.attempts, 4);
    assert!(run.history[2]
        .message
        .as_deref()
        .unwrap()
        .contains("0.1 second(s)"));
    assert_eq!(run.history.last().unwrap().name, "Failed");
}

static BACKOFF_STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[task(retries = 2, retry_delay = exponential_backoff(0.1), retry_jitter = 0.5)]
fn fails_backoff() -> Result<(), std::io::Error> {
    BACKOFF_STARTS.lock().unwrap().push(Instant::now());
    Err(std::io::Error::other("down"))
}

#[flow]
async fn backoff_delays() {
    let _ = fails_backoff().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_backoff_doubles_and_jitter_never_shortens() {
    let _harness = flowcore::testing::harness();
    backoff_delays.run().await;
    let gaps = gaps(&BACKOFF_STARTS.lock().unwrap());
    assert_eq!(gaps.len(), 2);
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
}

#[derive(Debug, thiserror::Error)]
#[error("permanent: {0}")]
struct Permanent(&'static str);

fn transient_only(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Permanent>().is_none()
}

static CONDITION_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 3, retry_delay = 0.01, retry_if = transient_only)]
fn fails_permanently() -> Result<(), Permanent> {
    CONDITION_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Permanent("bad input"))
}

#[flow]
async fn declined_retry() {
    let _ = fails_permanently().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_retry_condition_stops_after_one_attempt() {
    let _harness = flowcore::testing::harness();
    let state = declined_retry.run().await;
    assert_eq!(CONDITION_CALLS.load(Ordering::SeqCst), 1);
    let run = &state.task_runs()[0];
    assert_eq!(run.attempts, 1);
    let last = run.history.last().unwrap();
    assert_eq!(last.name, "Failed");
    let message = last.message.as_deref().unwrap();
    assert!(message.contains("permanent: bad input"), "{message}");
    assert!(message.contains("Retry condition declined"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Hooks

static TASK_HOOKS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static FLOW_HOOKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn task_done(run: &TaskRun, state: &State) {
    let inside = flowcore::runtime::task_run().map(|t| t.name);
    TASK_HOOKS
        .lock()
        .unwrap()
        .push(format!("done {} {} {inside:?}", run.name, state.name));
}

fn task_failed(run: &TaskRun, state: &State) {
    TASK_HOOKS
        .lock()
        .unwrap()
        .push(format!("failed {} {}", run.name, state.name));
}

fn task_hook_panics(_: &TaskRun, _: &State) {
    panic!("hook bug");
}

fn flow_done(run: &FlowRun, state: &State) {
    FLOW_HOOKS
        .lock()
        .unwrap()
        .push(format!("done {} {}", run.flow_name, state.name));
}

fn flow_failed(run: &FlowRun, state: &State) {
    FLOW_HOOKS
        .lock()
        .unwrap()
        .push(format!("failed {} {}", run.flow_name, state.name));
}

#[task(on_completion = [task_done, task_hook_panics], on_failure = [task_failed])]
fn hooked(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        return Err(std::io::Error::other("asked to"));
    }
    Ok(())
}

#[flow(on_completion = [flow_done], on_failure = [flow_failed])]
async fn hooked_flow(fail: bool) -> Result<(), FlowError> {
    hooked(false).await?;
    let _ = hooked(true).await;
    if fail {
        anyhow::bail!("flow asked to fail");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hook_runs_once_with_the_final_state_and_a_panicking_hook_changes_nothing() {
    let _harness = flowcore::testing::harness();
    let ok = hooked_flow.run(false).await;
    assert!(ok.is_completed(), "{:?}", ok.message());
    let failed = hooked_flow.run(true).await;
    assert!(failed.is_failed());
    let tasks = TASK_HOOKS.lock().unwrap().clone();
    let name = |state: &FlowState<()>, i: usize| state.task_runs()[i].name.clone();
    assert_eq!(
        tasks,
        [
            format!("done {} Completed Some({:?})", name(&ok, 0), name(&ok, 0)),
            format!("failed {} Failed", name(&ok, 1)),
            format!(
                "done {} Completed Some({:?})",
                name(&failed, 0),
                name(&failed, 0)
            ),
            format!("failed {} Failed", name(&failed, 1)),
        ]
    );
    // The panicking hook left the run Completed.
    assert!(ok.task_runs()[0].history.last().unwrap().is_completed());
    let flows = FLOW_HOOKS.lock().unwrap().clone();
    assert_eq!(
        flows,
        ["done hooked_flow Completed", "failed hooked_flow Failed"]
    );
}

// ---------------------------------------------------------------------------------------------
// Run names and the runtime context

#[task(task_run_name = "load-{path:?}-{month}")]
fn load(path: String, month: u32) -> String {
    let _ = (path, month);
    let run = flowcore::runtime::task_run().expect("inside a task run");
    format!("{} {} {}", run.name, run.task_name, run.attempt)
}

#[task(task_run_name = "scale-{x}")]
async fn scale(x: u32) -> u32 {
    let run = flowcore::runtime::task_run().expect("inside a task run");
    assert_eq!(run.name, format!("scale-{x}"));
    x * 2
}

#[flow(flow_run_name = "train-{month}")]
async fn named_flow(month: u32) -> (String, String, u32) {
    let flow = flowcore::runtime::flow_run().expect("inside a flow run");
    assert_eq!(flow.parameters["month"], month);
    assert_eq!(flow.attempt, 1);
    let loaded = load("a.parquet".to_string(), month).await.unwrap();
    let submitted = load("b.parquet".to_string(), month).submit();
    let scaled = scale(month).submit();
    let from_worker = submitted.await.unwrap();
    let _ = scaled.await.unwrap();
    let _ = from_worker;
    (flow.name, loaded, month)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_names_are_the_runs_names_and_the_context_answers_inside_runs() {
    let _harness = flowcore::testing::harness();
    assert!(flowcore::runtime::flow_run().is_none());
    assert!(flowcore::runtime::task_run().is_none());
    let state = named_flow.run(3).await;
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.flow_run().name, "train-3");
    let (flow_name, loaded, _) = state.output().unwrap().clone();
    assert_eq!(flow_name, "train-3");
    assert_eq!(loaded, "load-\"a.parquet\"-3 load 1");
    let names: Vec<&str> = state.task_runs().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["load-\"a.parquet\"-3", "load-\"b.parquet\"-3", "scale-3"]
    );
}
