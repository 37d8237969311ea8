//! Cache policies (Prefect 3's): what makes two task runs "the same", so the second reuses the
//! first's persisted result instead of running.
//!
//! A key is a SHA-256 (hex) of what the policy includes; the task's name and a hash of its source
//! tokens (computed by `#[task]`: editing the body invalidates the cache) are always part of it.

use sha2::{Digest, Sha256};

/// A custom cache key: the task run's parameters (a JSON object by parameter name) → the key.
pub type CacheKeyFn = fn(&serde_json::Value) -> String;

/// What makes two runs of a task share a result (`cache_policy = …` / `cache_key = …`).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub enum CachePolicy {
    /// `cache_policy = default`, the policy of a task that persists its result: the task's source,
    /// the flow run and the run's place in it (its name). Runs do not share results, but a retried
    /// (resumed) flow run finds the results of the task runs its earlier attempt completed.
    #[default]
    Default,
    /// `cache_policy = inputs`: the task's source and its inputs (serialized). Runs with equal
    /// inputs share one result, across flow runs and processes.
    Inputs,
    /// `cache_key = path`: the key the function gives for the parameters.
    Key(CacheKeyFn),
    /// `cache_policy = none`: results persist (if asked) but are never reused.
    None,
}

impl CachePolicy {
    /// Whether the policy reads the run's inputs.
    pub fn needs_inputs(self) -> bool {
        matches!(self, CachePolicy::Inputs | CachePolicy::Key(_))
    }

    /// Whether runs of different flow runs can share a key (so concurrent runs must take the
    /// key's lock: one executes, the others wait and reuse its result).
    pub fn is_shared(self) -> bool {
        self.needs_inputs()
    }
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    use std::fmt::Write;
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(h.finalize())
}

/// The key of [`CachePolicy::Inputs`]: task name, source hash and the inputs (a JSON object).
pub fn inputs_key(task_name: &str, source_hash: u64, inputs: &serde_json::Value) -> String {
    hash(&[
        b"inputs",
        task_name.as_bytes(),
        &source_hash.to_le_bytes(),
        inputs.to_string().as_bytes(),
    ])
}

/// The key of [`CachePolicy::Default`]: task name, source hash, where the flow run sits (the
/// top-level flow run's id, then each subflow's place in its parent) and the run's name in it.
pub fn run_key(task_name: &str, source_hash: u64, scope: &str, task_run_name: &str) -> String {
    hash(&[
        b"run",
        task_name.as_bytes(),
        &source_hash.to_le_bytes(),
        scope.as_bytes(),
        task_run_name.as_bytes(),
    ])
}

/// The storage key of a custom cache key (any text) — the result storage names files by it.
pub fn storage_key_of(custom: &str) -> String {
    hash(&[b"key", custom.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn keys_depend_on_what_the_policy_includes() {
        let a = inputs_key("t", 1, &json!({"x": 1}));
        assert_eq!(a.len(), 64);
        assert_eq!(a, inputs_key("t", 1, &json!({"x": 1})));
        assert_ne!(a, inputs_key("t", 2, &json!({"x": 1})), "source");
        assert_ne!(a, inputs_key("u", 1, &json!({"x": 1})), "name");
        assert_ne!(a, inputs_key("t", 1, &json!({"x": 2})), "inputs");
        let run = Uuid::now_v7().to_string();
        assert_eq!(run_key("t", 1, &run, "t-0"), run_key("t", 1, &run, "t-0"));
        assert_ne!(run_key("t", 1, &run, "t-0"), run_key("t", 1, &run, "t-1"));
        assert_ne!(
            run_key("t", 1, &run, "t-0"),
            run_key("t", 1, &Uuid::now_v7().to_string(), "t-0")
        );
        assert_ne!(storage_key_of("a"), storage_key_of("b"));
        crate::results::storage::check_key(&storage_key_of("../../etc")).unwrap();
    }
}
