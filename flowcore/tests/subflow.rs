//! Subflows: a flow called inside a flow runs as a child flow run linked to its parent.

use flowcore::prelude::*;

#[task]
fn square(x: i64) -> i64 {
    x * x
}

#[flow(name = "child")]
async fn child(x: i64) -> Result<i64, FlowError> {
    Ok(square(x).await?)
}

#[flow(name = "parent")]
async fn parent(x: i64) -> Result<(i64, uuid::Uuid), FlowError> {
    let state = child.run(x).await;
    let id = state.flow_run().id;
    let parent_id = state.flow_run().parent_flow_run_id;
    let value = state.result()?;
    let again = child.call(value).await?;
    Ok((again, parent_id.map(|_| id).unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subflow_runs_are_linked_to_their_parent() {
    let state = parent.run(3).await;
    assert!(state.is_completed(), "{:?}", state.message());
    let (value, child_id) = *state.output().unwrap();
    assert_eq!(value, 81);
    // The subflow appears in the parent's graph as a task run pointing at the child flow run.
    let placeholders: Vec<_> = state
        .task_runs()
        .iter()
        .filter(|t| t.subflow_run_id.is_some())
        .collect();
    assert_eq!(placeholders.len(), 2);
    assert_eq!(placeholders[0].name, "child-0");
    assert_eq!(placeholders[0].subflow_run_id, Some(child_id));
    assert!(placeholders[0].state().is_completed());
    // The child's own task runs belong to the child, not the parent...
    assert!(state.task_runs().iter().all(|t| t.task_name != "square"));
    // ...and the parent's state still lists them among all task runs under it.
    let squares: Vec<_> = state
        .all_task_runs()
        .filter(|t| t.task_name == "square")
        .collect();
    assert_eq!(squares.len(), 2);
    assert_eq!(squares[0].flow_run_id, Some(child_id));
}
