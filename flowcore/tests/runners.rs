//! Task runners: Sequential runs submitted tasks one at a time in order; Concurrent overlaps them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowcore::prelude::*;

#[task]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[flow(task_runner = Sequential)]
async fn naps_in_sequence() -> Result<u64, FlowError> {
    let a = nap(200).submit();
    let b = nap(200).submit();
    Ok(a.await? + b.await?)
}

#[flow(task_runner = Concurrent)]
async fn naps_at_once() -> Result<u64, FlowError> {
    let a = nap(200).submit();
    let b = nap(200).submit();
    Ok(a.await? + b.await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overlaps_two_sleeps_and_sequential_does_not() {
    let start = Instant::now();
    let seq = naps_in_sequence.run().await;
    let seq_time = start.elapsed();
    let start = Instant::now();
    let conc = naps_at_once.run().await;
    let conc_time = start.elapsed();
    assert!(seq.is_completed() && conc.is_completed());
    // Sequential cannot be faster than the sum of the sleeps.
    assert!(
        seq_time >= Duration::from_millis(400),
        "sequential took {seq_time:?}"
    );
    // Concurrent overlaps them: well under the sum, whatever the machine's speed.
    assert!(
        conc_time < Duration::from_millis(390),
        "concurrent took {conc_time:?}"
    );
    // Sequential runs never overlap; concurrent ones do.
    let (a, b) = (&seq.task_runs()[0], &seq.task_runs()[1]);
    assert!(a.end_time.unwrap() <= b.start_time.unwrap());
    let (a, b) = (&conc.task_runs()[0], &conc.task_runs()[1]);
    assert!(b.start_time.unwrap() < a.end_time.unwrap());
}

static ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[task]
async fn record(i: u32) {
    tokio::time::sleep(Duration::from_millis(u64::from(5 - i))).await;
    ORDER.lock().unwrap().push(i);
}

#[flow(task_runner = Sequential)]
async fn ordered() {
    for i in 0..5 {
        let _ = record(i).submit();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_runs_in_submission_order_and_the_flow_waits_for_all() {
    let state = ordered.run().await;
    assert!(state.is_completed());
    assert_eq!(*ORDER.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert!(state.task_runs().iter().all(|t| t.state().is_completed()));
}

#[task]
fn spin(ms: u64) -> u64 {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut n = 0u64;
    while Instant::now() < until {
        n = n.wrapping_add(1);
    }
    n
}

#[task]
async fn tick() -> Instant {
    Instant::now()
}

#[flow(task_runner = Concurrent)]
async fn busy_and_async() -> Result<bool, FlowError> {
    let started = Instant::now();
    let busy = spin(300).submit();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The async task gets a worker while the CPU-bound sync task runs on the blocking pool.
    let ticked = tick().await?;
    busy.await?;
    Ok(ticked.duration_since(started) < Duration::from_millis(250))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn cpu_bound_sync_tasks_do_not_stall_the_async_workers() {
    let state = busy_and_async.run().await;
    assert!(
        state.result().unwrap(),
        "the async task waited for the CPU-bound one"
    );
}

#[task]
async fn inner_step(x: u32) -> u32 {
    x + 1
}

#[task]
async fn outer_step(x: u32) -> Result<u32, TaskRunError> {
    // A task that submits and awaits another task: under Sequential it must not queue behind itself.
    inner_step(x).submit().await
}

#[flow(task_runner = Sequential)]
async fn nested_sequential() -> Result<u32, FlowError> {
    Ok(outer_step(1).submit().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_submitting_a_task_under_sequential_does_not_hang() {
    let state = tokio::time::timeout(Duration::from_secs(10), nested_sequential.run())
        .await
        .expect("the flow hung");
    assert_eq!(state.result().unwrap(), 2);
}

#[flow(task_runner = Concurrent)]
async fn reports_runner() -> Option<TaskRunner> {
    flowcore::runner::current()
}

#[flow(task_runner = Concurrent)]
async fn parent_of_reporter() -> Option<TaskRunner> {
    reports_runner.call().await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_override_reaches_subflows() {
    let state = flowcore::runner::with_task_runner(Sequential, parent_of_reporter.run()).await;
    assert_eq!(state.result().unwrap(), Some(Sequential));
    assert_eq!(
        parent_of_reporter.run().await.result().unwrap(),
        Some(Concurrent)
    );
}
