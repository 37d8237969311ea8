//! The task graph: futures passed as arguments and `wait_for` become recorded edges.

use flowcore::prelude::*;
use flowcore::InputKind;

#[task]
fn load(n: u32) -> Vec<u32> {
    (0..n).collect()
}

#[task]
fn total(values: Vec<u32>, offset: u32) -> u32 {
    values.iter().sum::<u32>() + offset
}

#[task]
async fn announce() -> &'static str {
    "ready"
}

#[flow(name = "Graph")]
async fn graph_flow() -> Result<u32, FlowError> {
    let first = load(4).submit();
    let second = load(3).submit();
    let gate = announce().submit();
    let a = total(&first, 1).wait_for(&gate).submit();
    let b = total(second.clone(), 0).await?;
    Ok(a.await? + b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_and_wait_for_are_edges_of_the_graph() {
    let state = graph_flow.run().await;
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.output(), Some(&(7 + 3)));
    let runs = state.task_runs();
    let names: Vec<&str> = runs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["load-0", "load-1", "announce-0", "total-0", "total-1"]
    );
    let id = |name: &str| state.task_run(name).unwrap().id;

    let a = state.task_run("total-0").unwrap();
    assert_eq!(a.inputs.len(), 2);
    assert_eq!(a.inputs[0].parameter, "values");
    assert_eq!(a.inputs[0].upstream_id, id("load-0"));
    assert_eq!(a.inputs[0].upstream_name, "load-0");
    assert_eq!(a.inputs[0].kind, InputKind::Parameter);
    assert_eq!(a.inputs[1].parameter, "wait_for");
    assert_eq!(a.inputs[1].upstream_id, id("announce-0"));
    assert_eq!(a.inputs[1].kind, InputKind::WaitFor);

    let b = state.task_run("total-1").unwrap();
    assert_eq!(b.inputs.len(), 1);
    assert_eq!(b.inputs[0].upstream_id, id("load-1"));
    // Plain values are not edges.
    assert!(state.task_run("load-0").unwrap().inputs.is_empty());
    // Downstream runs start after their upstream runs end.
    assert!(a.start_time.unwrap() >= state.task_run("load-0").unwrap().end_time.unwrap());
    assert!(a.start_time.unwrap() >= state.task_run("announce-0").unwrap().end_time.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_have_uuid_v7_ids_and_readable_names() {
    let state = graph_flow.run().await;
    let run = state.flow_run();
    assert_eq!(run.id.get_version_num(), 7);
    assert!(state
        .task_runs()
        .iter()
        .all(|t| t.id.get_version_num() == 7));
    assert!(state
        .task_runs()
        .iter()
        .all(|t| t.flow_run_id == Some(run.id)));
    let (adjective, animal) = run.name.split_once('-').unwrap();
    assert!(!adjective.is_empty() && !animal.is_empty());
    assert_eq!(run.flow_name, "Graph");
    assert!(run.duration().is_some());
}

static CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A large value that counts its clones.
#[derive(Debug)]
struct Big(Vec<u8>);

impl Clone for Big {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Big(self.0.clone())
    }
}

#[task]
fn make_big() -> Big {
    Big(vec![7; 1 << 20])
}

#[task]
fn size_of_big(big: Big) -> usize {
    big.0.len()
}

#[flow]
async fn hands_over() -> Result<usize, FlowError> {
    let big = make_big().submit();
    let size = size_of_big(big).submit(); // the only consumer: the value moves
    Ok(size.await?)
}

#[flow]
async fn shares() -> Result<usize, FlowError> {
    let big = make_big().submit();
    let a = size_of_big(&big).submit(); // `big` is still held: a clone
    let b = size_of_big(big).submit();
    Ok(a.await? + b.await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_passed_to_its_only_consumer_moves_its_value() {
    let state = hands_over.run().await;
    assert_eq!(state.result().unwrap(), 1 << 20);
    assert_eq!(CLONES.load(std::sync::atomic::Ordering::SeqCst), 0);
    let state = shares.run().await;
    assert_eq!(state.result().unwrap(), 2 << 20);
    let clones = CLONES.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&clones), "{clones} clones");
}
