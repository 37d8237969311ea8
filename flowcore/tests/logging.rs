//! Logging capture and the event sink: tracing events inside a task are recorded with their run.

use std::sync::Arc;

use flowcore::event::{self, Event, LogLevel, MemorySink, RunKind};
use flowcore::prelude::*;

#[task(name = "chatty", tags = ["io"])]
fn chatty(n: u32) -> u32 {
    tracing::info!(rows = n, "loaded {n} rows");
    tracing::warn!("something odd");
    n
}

#[flow(name = "Logging")]
async fn logging_flow() -> Result<u32, FlowError> {
    tracing::info!("starting");
    Ok(chatty(5).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_states_and_edges_reach_the_sink() {
    let sink = Arc::new(MemorySink::new());
    event::add_sink(sink.clone());
    let state = logging_flow.run().await;
    assert!(state.is_completed());
    let flow_id = state.flow_run().id;
    let task_id = state.task_runs()[0].id;
    // `run` flushes before returning: everything is already in the sink.
    let events = sink.events();

    let logs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Log(l) if l.run.id == task_id || l.run.id == flow_id => Some(l),
            _ => None,
        })
        .collect();
    let task_log = logs
        .iter()
        .find(|l| l.message.starts_with("loaded 5 rows"))
        .unwrap();
    assert_eq!(task_log.run.kind, RunKind::Task);
    assert_eq!(task_log.run.name.as_ref(), "chatty-0");
    assert_eq!(task_log.flow_run_id, Some(flow_id));
    assert_eq!(task_log.level, LogLevel::Info);
    assert!(task_log.message.contains("rows=5"));
    assert!(logs
        .iter()
        .any(|l| l.level == LogLevel::Warning && l.message == "something odd"));
    assert!(logs
        .iter()
        .any(|l| l.run.id == flow_id && l.message == "starting"));
    assert!(logs
        .iter()
        .any(|l| l.run.id == task_id && l.message == "Finished in state Completed()"));

    let created = events.iter().find_map(|e| match e {
        Event::TaskRunCreated {
            run,
            tags,
            flow_run_id,
            ..
        } if run.id == task_id => Some((tags, flow_run_id)),
        _ => None,
    });
    let (tags, parent) = created.unwrap();
    assert_eq!(tags, &["io"]);
    assert_eq!(*parent, Some(flow_id));
    let transitions: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { run, state } if run.id == task_id => Some(state.name.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(transitions, ["Pending", "Running", "Completed"]);
    let sink: Arc<dyn event::EventSink> = sink;
    event::remove_sink(&sink);
}
