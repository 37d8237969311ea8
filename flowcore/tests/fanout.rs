//! Futures in collections, `task::map`, and zero-copy fan-out through `Arc<T>` parameters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flowcore::prelude::*;

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn scale(x: u64, factor: u64) -> u64 {
    x * factor
}

#[task]
fn total(values: Vec<u64>) -> u64 {
    values.iter().sum()
}

#[task]
fn fails_on(x: u64) -> Result<u64, std::io::Error> {
    if x == 3 {
        return Err(std::io::Error::other("three"));
    }
    Ok(x)
}

#[flow]
async fn mapped(n: u64) -> Result<(u64, u64), FlowError> {
    let squares = square::map(1..=n);
    let scaled = scale::map((1..=n).map(|x| (x, 10)));
    let sum_of_squares = total(squares).await?;
    let sum_scaled = total(scaled).await?;
    Ok((sum_of_squares, sum_scaled))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_submits_one_run_per_item_and_a_vec_of_futures_feeds_a_vec_parameter() {
    let _harness = flowcore::testing::harness();
    let state = mapped.run(4).await;
    assert_eq!(state.output(), Some(&(30, 100)));
    let runs = state.task_runs();
    assert_eq!(runs.iter().filter(|t| t.task_name == "square").count(), 4);
    assert_eq!(runs.iter().filter(|t| t.task_name == "scale").count(), 4);
    // Each element is an edge of the graph.
    let first_total = state.task_run("total-0").unwrap();
    assert_eq!(first_total.inputs.len(), 4);
    assert_eq!(first_total.inputs[2].parameter, "values[2]");
    assert_eq!(first_total.inputs[2].upstream_name, "square-2");
}

#[flow]
async fn one_fails() -> bool {
    let parts = fails_on::map(1..=4);
    let summed = total(parts.clone()).await;
    for part in parts {
        let _ = part.await;
    }
    summed.is_err_and(|e| e.is_upstream_failure())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_failed_element_makes_the_consumer_upstream_failed() {
    let _harness = flowcore::testing::harness();
    let state = one_fails.run().await;
    assert_eq!(state.output(), Some(&true));
    assert_eq!(
        state.task_run("total-0").unwrap().state().name,
        "UpstreamFailed"
    );
}

static CLONES: AtomicUsize = AtomicUsize::new(0);

/// A value that counts its clones.
#[derive(Debug)]
struct Big(Vec<u8>);

impl Clone for Big {
    fn clone(&self) -> Big {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Big(self.0.clone())
    }
}

#[task]
fn produce() -> Big {
    Big(vec![7; 1024])
}

#[task]
fn read_shared(data: Arc<Big>) -> usize {
    data.0.len()
}

#[flow]
async fn fan_out() -> Result<usize, FlowError> {
    let big = produce().submit();
    let readers: Vec<_> = (0..3).map(|_| read_shared(&big).submit()).collect();
    let mut total = 0;
    for reader in readers {
        total += reader.await?;
    }
    Ok(total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arc_parameters_share_the_producers_value_without_a_clone() {
    let _harness = flowcore::testing::harness();
    let state = fan_out.run().await;
    assert_eq!(state.output(), Some(&3072));
    assert_eq!(
        CLONES.load(Ordering::SeqCst),
        0,
        "no consumer cloned the value"
    );
    let reader = state.task_run("read_shared-0").unwrap();
    assert_eq!(reader.inputs[0].upstream_name, "produce-0");
}
