//! A finished flow run's task runs: kept as their compact records, made into [`TaskRun`] snapshots
//! the first time someone reads them.
//!
//! A live record keeps its history as a timestamp and a kind per state and shares its name; its
//! snapshot spells every state out (64 bytes each) and owns its strings. A flow of a million task
//! runs whose caller never looks at them (or looks at a few through the record, the API or the UI)
//! keeps the compact form only: ~0.4 KB per run instead of ~0.9 KB with both.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use super::run_record::TaskRunMeta;
use crate::schemas::runs::TaskRun;

/// The task runs of a finished flow run, in creation order.
pub(crate) struct TaskRuns {
    /// Their records, until the snapshots are made (then empty).
    records: Mutex<Vec<Arc<TaskRunMeta>>>,
    snapshots: OnceLock<Vec<TaskRun>>,
}

impl TaskRuns {
    /// The task runs of a flow run that has finished: all in final states (a stopped flow run
    /// cancelled those that were not), save one that a stopped flow's uninterruptible sync body
    /// created at the very end, which is cancelled when it tries to start — the snapshot shows
    /// what the record says when it is first read.
    pub(crate) fn new(records: Vec<Arc<TaskRunMeta>>) -> TaskRuns {
        TaskRuns {
            records: Mutex::new(records),
            snapshots: OnceLock::new(),
        }
    }

    /// Their snapshots, made on the first call. A record nothing else holds any more (no future
    /// of it is left) is moved into its snapshot rather than copied, and freed as it goes.
    pub(crate) fn get(&self) -> &[TaskRun] {
        self.snapshots.get_or_init(|| {
            let records =
                std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()));
            records
                .into_iter()
                .map(TaskRunMeta::into_snapshot)
                .collect()
        })
    }
}

impl fmt::Debug for TaskRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::run_record::RunRecord;
    use crate::runtime::state::State;
    use crate::schemas::events::RunKind;

    #[test]
    fn snapshots_are_made_once_from_the_records_in_order() {
        let metas: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let meta = Arc::new(TaskRunMeta {
                    record: RunRecord::new(RunKind::Task, name.to_string(), None),
                    task_name: "t",
                    links: None,
                    parameters: Mutex::new(None),
                    name_pending: false,
                });
                // Recorded without being reported: `adopt` decides and records, nothing more.
                meta.record.adopt(State::pending()).unwrap();
                meta.record.adopt(State::running()).unwrap();
                meta.record.adopt(State::completed()).unwrap();
                meta
            })
            .collect();
        // One record still held elsewhere (a future of it): copied, not moved.
        let held = Arc::clone(&metas[1]);
        let runs = TaskRuns::new(metas);
        let first = runs.get();
        assert_eq!(
            first.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(first
            .iter()
            .all(|r| r.history.len() == 3 && r.state().is_completed()));
        assert_eq!(first[1].id, held.record.id());
        assert!(std::ptr::eq(first, runs.get()), "made once");
        assert!(format!("{runs:?}").contains("\"b\""));
    }
}
