//! Result persistence and caching, as the engine applies them to a task run.
//!
//! A task run persists its value when its task says `persist_result = true`, when it caches
//! (`cache_policy = inputs`, `cache_key = …`), or when its flow says `persist_result = true` and
//! the value is a serde type. Before it runs, a run whose policy gives a key looks the key up in the
//! [result storage](crate::results): a stored, unexpired result makes the run `Completed` named
//! `Cached` without running its body. Runs that may share a key with other flow runs take the
//! key's lock first, so of two concurrent runs one executes and the other reuses its result.

use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::context::FlowRunContext;
use super::run_record::TaskRunMeta;
use super::state::State;
use super::task_spec::TaskSpec;
use crate::reporting::logging::{self, RunScope, TARGET};
use crate::reporting::reporter;
use crate::results::cache::{inputs_key, run_key, storage_key_of};
use crate::results::record::{self, ResultMetadata, ResultRecord, SERIALIZER};
use crate::results::{CachePolicy, KeyLock, ResultStorage};
use crate::schemas::events::Event;
use crate::schemas::results::ResultRef;

static STORAGE: RwLock<Option<Arc<dyn ResultStorage>>> = RwLock::new(None);

/// Installs the result storage of this process (`None`: back to the default, the `results-dir`
/// directory).
pub fn set_storage(storage: Option<Arc<dyn ResultStorage>>) {
    *STORAGE.write().unwrap_or_else(|e| e.into_inner()) = storage;
}

/// The result storage runs of this process use.
pub fn storage() -> Arc<dyn ResultStorage> {
    match &*STORAGE.read().unwrap_or_else(|e| e.into_inner()) {
        Some(s) => Arc::clone(s),
        None => crate::results::default_storage(),
    }
}

/// Reads the value of type `T` stored under `storage_key` in this process's result storage.
pub fn load<T: DeserializeOwned>(storage_key: &str) -> anyhow::Result<Option<ResultRecord<T>>> {
    let storage = storage();
    match storage.read(storage_key)? {
        None => Ok(None),
        Some(bytes) => {
            Ok(Some(record::decode(&bytes).map_err(|e| {
                anyhow::anyhow!("result '{storage_key}': {e}")
            })?))
        }
    }
}

/// How a task's value is written to and read from the result storage. Generated code makes one
/// for every task whose value is a serde type.
pub struct Codec<T> {
    encode: fn(&ResultMetadata, &T, &mut dyn std::io::Write) -> std::io::Result<()>,
    decode: fn(&[u8]) -> Result<ResultRecord<T>, String>,
    type_name: &'static str,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T: Serialize + DeserializeOwned> Codec<T> {
    /// The codec of a serde type.
    pub fn serde() -> Codec<T> {
        Codec {
            encode: record::encode_into::<T>,
            decode: record::decode::<T>,
            type_name: std::any::type_name::<T>(),
        }
    }
}

impl<T> Codec<T> {
    /// Reads a stored record's value.
    pub(crate) fn decode_value(&self, bytes: &[u8]) -> Result<T, String> {
        (self.decode)(bytes).map(|record| record.result)
    }
}

/// Finds the codec of `T` if it is a serde type (`Serialize + DeserializeOwned`), `None` otherwise:
/// generated code calls `(&CodecProbe::<T>::new()).codec()` with both traits in scope.
#[doc(hidden)]
pub struct CodecProbe<T>(PhantomData<T>);

impl<T> CodecProbe<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> CodecProbe<T> {
        CodecProbe(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaSerdeCodec<T> {
    fn codec(&self) -> Option<Codec<T>>;
}

impl<T: Serialize + DeserializeOwned> ViaSerdeCodec<T> for CodecProbe<T> {
    fn codec(&self) -> Option<Codec<T>> {
        Some(Codec::serde())
    }
}

#[doc(hidden)]
pub trait ViaNoCodec<T> {
    fn codec(&self) -> Option<Codec<T>>;
}

impl<T> ViaNoCodec<T> for &CodecProbe<T> {
    fn codec(&self) -> Option<Codec<T>> {
        None
    }
}

/// One parameter's value as JSON, computed when the task run is about to start (its upstream runs
/// have completed).
pub type JsonSource = Box<dyn FnOnce() -> Result<serde_json::Value, String> + Send>;

/// A task run's parameters as JSON, for cache keys. Built by generated code.
#[doc(hidden)]
#[derive(Default)]
pub struct CacheInputs(Vec<(&'static str, JsonSource)>);

impl CacheInputs {
    /// Adds parameter `name`.
    #[doc(hidden)]
    pub fn with(mut self, name: &'static str, source: JsonSource) -> CacheInputs {
        self.0.push((name, source));
        self
    }

    fn resolve(self) -> Result<serde_json::Value, String> {
        let mut object = serde_json::Map::new();
        for (name, source) in self.0 {
            let value = source().map_err(|e| format!("parameter '{name}': {e}"))?;
            object.insert(name.to_string(), value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// What a task call brings for persistence: its value's codec (when it is a serde type) and, when
/// its cache policy reads inputs, its parameters.
pub(crate) struct Persistence<T> {
    pub(crate) codec: Option<Codec<T>>,
    pub(crate) inputs: Option<CacheInputs>,
    /// For a run a task worker runs: where the sending side wants its value (always persisted).
    pub(crate) remote: Option<RemoteKey>,
}

/// Where a run sent to a task worker stores its value, as the sending side chose it.
pub(crate) struct RemoteKey {
    pub(crate) storage_key: String,
    pub(crate) cache_key: Option<String>,
    pub(crate) expiration: Option<Duration>,
}

/// How one task run persists and reuses its result.
pub(crate) struct Plan<T> {
    storage: Arc<dyn ResultStorage>,
    codec: Codec<T>,
    storage_key: String,
    /// The key as people see it (the custom key, or the computed one).
    cache_key: Option<String>,
    /// Whether a stored result is reused.
    lookup: bool,
    /// Whether other flow runs may compute the same key at the same time.
    shared: bool,
    expiration: Option<Duration>,
}

impl<T> Plan<T> {
    /// The plan of a run, or `None` when its result is not persisted.
    pub(crate) fn make(
        spec: &TaskSpec,
        persistence: Persistence<T>,
        meta: &TaskRunMeta,
        flow: Option<&FlowRunContext>,
        scope: &RunScope,
    ) -> Option<Plan<T>> {
        if let Some(key) = persistence.remote {
            return Some(Plan {
                storage: storage(),
                codec: persistence.codec?,
                storage_key: key.storage_key,
                cache_key: key.cache_key,
                lookup: false,
                shared: false,
                expiration: key.expiration,
            });
        }
        let policy = spec.cache_policy;
        let persist = policy.needs_inputs()
            || spec
                .persist_result
                .or_else(|| flow.and_then(|f| f.persist_results))
                .unwrap_or(false);
        if !persist {
            return None;
        }
        let Some(codec) = persistence.codec else {
            // Only a flow's default can ask this: a task's own setting is checked when it compiles.
            warn(
                scope,
                format!(
                    "The result of task run '{}' is not persisted: its type is not serde's \
                     `Serialize + DeserializeOwned`",
                    meta.record.name()
                ),
            );
            return None;
        };
        let keyed = match policy {
            CachePolicy::None => None,
            CachePolicy::Default => flow.map(|f| {
                let key = run_key(
                    spec.name,
                    spec.source_hash,
                    &f.resume_scope,
                    meta.record.name(),
                );
                (key.clone(), key)
            }),
            CachePolicy::Inputs | CachePolicy::Key(_) => {
                let inputs = persistence.inputs.unwrap_or_default().resolve();
                match (inputs, policy) {
                    (Ok(json), CachePolicy::Key(f)) => {
                        let key = f(&json);
                        Some((storage_key_of(&key), key))
                    }
                    (Ok(json), _) => {
                        let key = inputs_key(spec.name, spec.source_hash, &json);
                        Some((key.clone(), key))
                    }
                    (Err(e), _) => {
                        warn(
                            scope,
                            format!(
                                "Task run '{}': no cache key, the inputs do not serialize ({e}); \
                                 the run is not cached",
                                meta.record.name()
                            ),
                        );
                        None
                    }
                }
            }
        };
        let (storage_key, cache_key, lookup) = match keyed {
            Some((storage_key, cache_key)) => (storage_key, Some(cache_key), !spec.refresh_cache),
            None => (Uuid::now_v7().simple().to_string(), None, false),
        };
        Some(Plan {
            storage: storage(),
            codec,
            storage_key,
            cache_key,
            lookup,
            shared: policy.is_shared(),
            expiration: spec.cache_expiration,
        })
    }

    /// The plan of a subflow run whose flow persists its result (`persist_result = true` on the
    /// `#[flow]`): its value is stored under its place in its parent, so a resumed parent finds it
    /// and does not run the subflow again.
    pub(crate) fn for_subflow(
        flow_name: &'static str,
        codec: Option<Codec<T>>,
        parent: &FlowRunContext,
        placeholder_name: &str,
    ) -> Option<Plan<T>> {
        let key = run_key(flow_name, 0, &parent.resume_scope, placeholder_name);
        Some(Plan {
            storage: storage(),
            codec: codec?,
            storage_key: key.clone(),
            cache_key: Some(key),
            lookup: true,
            shared: false,
            expiration: None,
        })
    }

    /// A stored result for this run's key, if one is there and unexpired: the run ends `Cached`
    /// with it (its state proposed, its result reference reported).
    pub(crate) fn reuse(&self, meta: &TaskRunMeta, scope: &RunScope) -> Option<T> {
        let (value, produced_by) = self.reuse_in(&meta.record, scope)?;
        self.report(meta, produced_by);
        Some(value)
    }

    /// [`reuse`](Self::reuse) for any run (a subflow run): the value and the run that produced it.
    pub(crate) fn reuse_in(
        &self,
        run: &super::run_record::RunRecord,
        scope: &RunScope,
    ) -> Option<(T, Uuid)> {
        if !self.lookup {
            return None;
        }
        let bytes = match self.storage.read(&self.storage_key) {
            Ok(bytes) => bytes?,
            Err(e) => {
                warn(scope, format!("Cache lookup failed: {e}"));
                return None;
            }
        };
        let record = match (self.codec.decode)(&bytes) {
            Ok(record) => record,
            Err(e) => {
                warn(
                    scope,
                    format!(
                        "The cached result under key {} is not a `{}` ({e}); running the task",
                        self.storage_key, self.codec.type_name
                    ),
                );
                return None;
            }
        };
        if record.metadata.is_expired(chrono::Utc::now()) {
            return None;
        }
        let produced = &record.metadata;
        let key = self.cache_key.as_deref().unwrap_or(&self.storage_key);
        let state = State::cached(format!(
            "Cached: reused the result of task run '{}' ({}) under cache key '{key}'",
            produced.task_run_name, produced.task_run_id
        ));
        if run.propose(state).is_err() {
            return None;
        }
        let produced_by = produced.task_run_id;
        Some((record.result, produced_by))
    }

    /// The stored result of this run's key, if there is one (the run then ends `Cached`); else the
    /// key's lock when the key is shared, held while the run computes it — after waiting for it,
    /// the result another run stored meanwhile is the answer.
    pub(crate) async fn cached_or_lock(
        &self,
        meta: &TaskRunMeta,
        scope: &RunScope,
    ) -> Result<T, Option<KeyLock>> {
        if let Some(value) = self.reuse(meta, scope) {
            return Ok(value);
        }
        let lock = self.lock(scope).await;
        if lock.is_some() {
            if let Some(value) = self.reuse(meta, scope) {
                return Ok(value);
            }
        }
        Err(lock)
    }

    /// Takes this key's lock when runs of other flow runs may compute it too (released when the
    /// guard drops: after this run's result is stored, or it failed). Waits while another run holds
    /// it.
    async fn lock(&self, scope: &RunScope) -> Option<KeyLock> {
        if !self.shared {
            return None;
        }
        let mut pause = Duration::from_millis(2);
        let mut said = false;
        loop {
            match self.storage.try_lock(&self.storage_key) {
                Ok(Some(lock)) => return Some(lock),
                Ok(None) => {}
                Err(e) => {
                    warn(scope, format!("Cannot lock the cache key: {e}"));
                    return None;
                }
            }
            if !said {
                said = true;
                logging::in_run(scope, || {
                    tracing::info!(
                        target: TARGET,
                        "Another run is computing cache key '{}'; waiting for its result",
                        self.cache_key.as_deref().unwrap_or(&self.storage_key)
                    )
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Where a task worker running this run stores its value.
    pub(crate) fn remote_key(&self) -> RemoteKey {
        RemoteKey {
            storage_key: self.storage_key.clone(),
            cache_key: self.cache_key.clone(),
            expiration: self.expiration,
        }
    }

    /// Stores `value` as this run's result and reports the reference.
    pub(crate) fn save(&self, value: &T, meta: &TaskRunMeta) -> Result<(), String> {
        self.save_as(value, meta.task_name, &meta.record, meta.flow_run_id())?;
        self.report(meta, meta.record.id());
        Ok(())
    }

    /// Stores `value` as the result of run `run` (of the task or flow `name`).
    pub(crate) fn save_as(
        &self,
        value: &T,
        name: &str,
        run: &super::run_record::RunRecord,
        flow_run_id: Option<Uuid>,
    ) -> Result<(), String> {
        let now = chrono::Utc::now();
        let metadata = ResultMetadata {
            storage_key: self.storage_key.clone(),
            cache_key: self.cache_key.clone(),
            task_name: name.to_string(),
            task_run_id: run.id(),
            task_run_name: run.name().to_string(),
            flow_run_id,
            created: now,
            expiration: self
                .expiration
                .and_then(|e| chrono::Duration::from_std(e).ok())
                .map(|e| now + e),
            type_name: self.codec.type_name.to_string(),
            serializer: SERIALIZER.to_string(),
        };
        let encode = self.codec.encode;
        self.storage
            .write_with(&self.storage_key, &mut |out: &mut dyn std::io::Write| {
                encode(&metadata, value, out)
            })
            .map_err(|e| e.to_string())
    }

    /// An attempt's result after persisting its value: a value that cannot be stored makes the
    /// attempt fail (the run is `Completed` only with its result stored).
    pub(crate) fn kept<E>(
        &self,
        result: Result<T, E>,
        save: impl FnOnce(&Self, &T) -> Result<(), String>,
        failed: impl FnOnce(anyhow::Error) -> E,
    ) -> Result<T, E> {
        let value = result?;
        match save(self, &value) {
            Ok(()) => Ok(value),
            Err(e) => Err(failed(anyhow::anyhow!("cannot persist the result: {e}"))),
        }
    }

    fn report(&self, meta: &TaskRunMeta, produced_by: Uuid) {
        let reference = ResultRef {
            task_run_id: meta.record.id(),
            storage_key: self.storage_key.clone(),
            cache_key: self.cache_key.clone(),
            produced_by,
            storage: self.storage.describe(),
            created: chrono::Utc::now(),
        };
        reporter::emit(Event::Log(reference.to_log(meta.record.run_ref())));
    }
}

fn warn(scope: &RunScope, message: String) {
    logging::in_run(scope, || tracing::warn!(target: TARGET, "{message}"));
}
