//! What a task run's body was called with, for the runtime context ([`task_run()`]'s
//! `parameters`), and the late name of a run whose `task_run_name` shows an upstream's value.
//!
//! Generated code calls [`note_task_parameters`] when an attempt has taken its arguments (plain
//! values and the values of completed upstream runs alike): each argument is written as JSON into
//! one object, once per run. A serde type is serialized (up to [`PARAMETER_JSON_CAP`] bytes each: a
//! larger one — a 200 MB frame — stops at the cap and is recorded as a placeholder naming its type,
//! so no task pays for copying its data); any other type is recorded as a placeholder naming its
//! type. Nothing here reaches the record: it is the process's view, as Prefect's run context holds
//! the task's parameters in memory.
//!
//! [`task_run()`]: super::run_context::task_run

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use super::run_record::TaskRunMeta;
use crate::reporting::logging;

/// The most JSON one argument may take in [`TaskRunInfo::parameters`](super::TaskRunInfo).
pub const PARAMETER_JSON_CAP: usize = 64 * 1024;

/// Builds a task run's parameters as one JSON object. Only generated code uses it.
#[doc(hidden)]
pub struct ParamsWriter {
    buf: Vec<u8>,
}

/// Stops a serialization at the cap (the error is never shown: the caller writes a placeholder).
struct Capped<'a> {
    buf: &'a mut Vec<u8>,
    limit: usize,
}

impl Write for Capped<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + bytes.len() > self.limit {
            return Err(std::io::Error::other("over the cap"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ParamsWriter {
    fn key(&mut self, name: &str) -> usize {
        self.buf.push(if self.buf.is_empty() { b'{' } else { b',' });
        // Parameter names are Rust identifiers: nothing to escape.
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.buf.len()
    }

    fn placeholder(&mut self, at: usize, text: String) {
        self.buf.truncate(at);
        serde_json::to_writer(&mut self.buf, &text).expect("a string serializes");
    }

    /// Writes parameter `name` as serde serializes `value` (or a placeholder beyond the cap).
    pub fn serde<T: serde::Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let at = self.key(name);
        let mut capped = Capped {
            limit: at + PARAMETER_JSON_CAP,
            buf: &mut self.buf,
        };
        if let Err(e) = serde_json::to_writer(&mut capped, value) {
            let why = if e.is_io() {
                format!("more than {} KiB as JSON", PARAMETER_JSON_CAP / 1024)
            } else {
                format!("not serializable: {e}")
            };
            self.placeholder(at, format!("<{}: {why}>", std::any::type_name::<T>()));
        }
    }

    /// Writes parameter `name` of a type that is not a serde type, as a placeholder.
    pub fn opaque<T: ?Sized>(&mut self, name: &str) {
        let at = self.key(name);
        self.placeholder(at, format!("<{}>", std::any::type_name::<T>()));
    }

    /// The object's JSON text (bytes: parsed only when someone asks, see [`parameters_of`]).
    fn finish(mut self) -> Vec<u8> {
        if self.buf.is_empty() {
            self.buf.push(b'{');
        }
        self.buf.push(b'}');
        self.buf
    }
}

/// One argument, for writing it as a serde type when it is one: generated code calls
/// `(&ParamProbe(&value)).write_param(writer, "name")` with [`ViaSerdeParam`] and
/// [`ViaOpaqueParam`] in scope.
#[doc(hidden)]
pub struct ParamProbe<'a, T: ?Sized>(pub &'a T);

/// Writes a serde argument (chosen over [`ViaOpaqueParam`] when `T: Serialize`).
#[doc(hidden)]
pub trait ViaSerdeParam {
    /// Writes the argument as parameter `name`.
    fn write_param(&self, writer: &mut ParamsWriter, name: &str);
}

impl<T: serde::Serialize + ?Sized> ViaSerdeParam for ParamProbe<'_, T> {
    fn write_param(&self, writer: &mut ParamsWriter, name: &str) {
        writer.serde(name, self.0);
    }
}

/// Writes any other argument as a placeholder naming its type.
#[doc(hidden)]
pub trait ViaOpaqueParam {
    /// Writes the argument as parameter `name`.
    fn write_param(&self, writer: &mut ParamsWriter, name: &str);
}

impl<T: ?Sized> ViaOpaqueParam for &ParamProbe<'_, T> {
    fn write_param(&self, writer: &mut ParamsWriter, name: &str) {
        writer.opaque::<T>(name);
    }
}

fn current_task_run() -> Option<Arc<TaskRunMeta>> {
    logging::current_meta()?.downcast::<TaskRunMeta>().ok()
}

/// Records the current task run's parameters, once (a retry's arguments are the same).
#[doc(hidden)]
pub fn note_task_parameters(write: impl FnOnce(&mut ParamsWriter)) {
    let Some(meta) = current_task_run() else {
        return;
    };
    if lock(&meta.parameters).is_some() {
        return;
    }
    // Written without the lock held: an argument's `Serialize` may itself ask for the context.
    let mut writer = ParamsWriter {
        buf: Vec::with_capacity(32),
    };
    write(&mut writer);
    lock(&meta.parameters).get_or_insert_with(|| writer.finish());
}

fn lock(slot: &Mutex<Option<Vec<u8>>>) -> MutexGuard<'_, Option<Vec<u8>>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops the run's parameters once it finished and its hooks ran.
pub(crate) fn forget_parameters(meta: &TaskRunMeta) {
    lock(&meta.parameters).take();
}

/// Names the current task run from its `task_run_name` now that its arguments are known, when
/// that could not be done at creation (an argument came from an upstream run still running).
#[doc(hidden)]
pub fn name_task_run_late(render: impl FnOnce() -> String) {
    if let Some(meta) = current_task_run() {
        if meta.name_pending {
            meta.record.rename(render());
        }
    }
}

/// The parameters recorded for `meta`, as JSON (`null` before its body took them — a cached run —
/// and after the run finished and its hooks ran).
pub(crate) fn parameters_of(meta: &TaskRunMeta) -> serde_json::Value {
    lock(&meta.parameters)
        .as_deref()
        .and_then(|text| serde_json::from_slice(text).ok())
        .unwrap_or(serde_json::Value::Null)
}
