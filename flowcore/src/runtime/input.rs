//! Task arguments: a value, or the future result of another task.
//!
//! Every parameter of a `#[task]` function accepts `impl IntoTaskInput<T>`: a `T`, a
//! [`TaskFuture<T>`], or a `&TaskFuture<T>`. A future argument is a data edge of the task graph; the
//! runtime waits for it before the task starts, and does not start the task at all if it failed.

use std::sync::Arc;

use crate::runtime::future::{Completion, TaskFuture};
use crate::runtime::upstream::Upstream;
use crate::schemas::runs::{InputKind, TaskInput as TaskInputEdge};

/// A value that can feed a task parameter of type `T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot feed a task parameter of type `{T}`",
    label = "expected `{T}`, a `TaskFuture<{T}>` or a `&TaskFuture<{T}>`",
    note = "task parameters accept a value of the parameter's type or the future of a task returning it"
)]
pub trait IntoTaskInput<T> {
    /// Converts into the runtime's representation of an argument.
    fn into_task_input(self) -> TaskInput<T>;
}

impl<T: Send + 'static> IntoTaskInput<T> for T {
    fn into_task_input(self) -> TaskInput<T> {
        TaskInput(Repr::Value(Some(self)))
    }
}

impl<T: Clone + Send + Sync + 'static> IntoTaskInput<T> for TaskFuture<T> {
    fn into_task_input(self) -> TaskInput<T> {
        TaskInput(Repr::Future(self.completion, T::clone))
    }
}

impl<T: Clone + Send + Sync + 'static> IntoTaskInput<T> for &TaskFuture<T> {
    fn into_task_input(self) -> TaskInput<T> {
        TaskInput(Repr::Future(Arc::clone(&self.completion), T::clone))
    }
}

/// A parameter of type `Vec<T>` fed by futures (each one an edge); one of type `Arc<T>` fed by a
/// future (the producer's value shared, never cloned).
impl<T: Clone + Send + Sync + 'static> IntoTaskInput<Vec<T>> for Vec<TaskFuture<T>> {
    fn into_task_input(self) -> TaskInput<Vec<T>> {
        let all = self.into_iter().map(|f| f.completion).collect();
        TaskInput(Repr::Dynamic(Box::new(Many(all, T::clone))))
    }
}

impl<T: Clone + Send + Sync + 'static> IntoTaskInput<Vec<T>> for &[TaskFuture<T>] {
    fn into_task_input(self) -> TaskInput<Vec<T>> {
        let all = self.iter().map(|f| Arc::clone(&f.completion)).collect();
        TaskInput(Repr::Dynamic(Box::new(Many(all, T::clone))))
    }
}

impl<T: Send + Sync + 'static> IntoTaskInput<Arc<T>> for TaskFuture<T> {
    fn into_task_input(self) -> TaskInput<Arc<T>> {
        TaskInput(Repr::Dynamic(Box::new(Shared(self.completion))))
    }
}

impl<T: Send + Sync + 'static> IntoTaskInput<Arc<T>> for &TaskFuture<T> {
    fn into_task_input(self) -> TaskInput<Arc<T>> {
        TaskInput(Repr::Dynamic(Box::new(Shared(Arc::clone(
            &self.completion,
        )))))
    }
}

enum Repr<T> {
    Value(Option<T>),
    Future(Arc<Completion<T>>, fn(&T) -> T),
    /// Upstream runs feeding the argument in another shape.
    Dynamic(Box<dyn Source<T>>),
}

/// Upstream runs that feed an argument of type `T` in another shape than one future of `T`.
trait Source<T>: Send {
    /// Registers the upstream edges.
    fn register(&self, parameter: &'static str, edges: &mut crate::runtime::body::Edges);
    /// The argument for the only (or the last) attempt.
    fn take(&mut self) -> T;
    /// The argument for one attempt of several.
    fn copy(&self) -> T;
    /// A way to build the argument later without taking it (for a cache key: called once the
    /// upstream runs completed, and dropped before the body takes the argument).
    fn deferred(&self) -> Box<dyn FnOnce() -> Option<T> + Send>;
}

fn edge_of(
    completion: &Arc<dyn Upstream>,
    parameter: String,
    edges: &mut crate::runtime::body::Edges,
) {
    let record = completion.record();
    edges.inputs.push(TaskInputEdge {
        parameter,
        upstream_id: record.id(),
        upstream_name: record.name().to_string(),
        kind: InputKind::Parameter,
    });
    edges.upstream.push(Arc::clone(completion));
}

/// `Vec<TaskFuture<T>>` → `Vec<T>`: each element an edge; each value moved when this is its last
/// holder, cloned otherwise.
struct Many<T>(Vec<Arc<Completion<T>>>, fn(&T) -> T);

impl<T: Send + Sync + 'static> Source<Vec<T>> for Many<T> {
    fn register(&self, parameter: &'static str, edges: &mut crate::runtime::body::Edges) {
        for (i, completion) in self.0.iter().enumerate() {
            let upstream: Arc<dyn Upstream> = completion.clone();
            edge_of(&upstream, format!("{parameter}[{i}]"), edges);
        }
    }

    fn take(&mut self) -> Vec<T> {
        self.0
            .iter()
            .map(|c| {
                Completion::take_or_clone(c, self.1)
                    .expect("flowcore: a task body started before its upstream run completed")
            })
            .collect()
    }

    fn copy(&self) -> Vec<T> {
        self.0
            .iter()
            .map(|c| {
                c.shared()
                    .map(|v| (self.1)(&v))
                    .expect("flowcore: a task body started before its upstream run completed")
            })
            .collect()
    }

    fn deferred(&self) -> Box<dyn FnOnce() -> Option<Vec<T>> + Send> {
        let (all, clone) = (self.0.clone(), self.1);
        Box::new(move || all.iter().map(|c| c.shared().map(|v| clone(&v))).collect())
    }
}

/// `TaskFuture<T>` → `Arc<T>`: the producer's value, shared.
struct Shared<T>(Arc<Completion<T>>);

impl<T: Send + Sync + 'static> Source<Arc<T>> for Shared<T> {
    fn register(&self, parameter: &'static str, edges: &mut crate::runtime::body::Edges) {
        let upstream: Arc<dyn Upstream> = self.0.clone();
        edge_of(&upstream, parameter.to_string(), edges);
    }

    fn take(&mut self) -> Arc<T> {
        self.copy()
    }

    fn copy(&self) -> Arc<T> {
        self.0
            .shared()
            .expect("flowcore: a task body started before its upstream run completed")
    }

    fn deferred(&self) -> Box<dyn FnOnce() -> Option<Arc<T>> + Send> {
        let completion = Arc::clone(&self.0);
        Box::new(move || completion.shared())
    }
}

/// One argument of a task call, as the runtime holds it. Only generated code uses its methods.
pub struct TaskInput<T>(Repr<T>);

impl<T: Send + Sync + 'static> TaskInput<T> {
    /// Registers the upstream edge of a future argument.
    #[doc(hidden)]
    pub fn __register(&self, parameter: &'static str, edges: &mut crate::runtime::body::Edges) {
        if let Repr::Dynamic(source) = &self.0 {
            source.register(parameter, edges);
        }
        if let Repr::Future(completion, _) = &self.0 {
            let upstream: Arc<dyn Upstream> = completion.clone();
            let record = upstream.record();
            edges.inputs.push(TaskInputEdge {
                parameter: parameter.to_string(),
                upstream_id: record.id(),
                upstream_name: record.name().to_string(),
                kind: InputKind::Parameter,
            });
            edges.upstream.push(upstream);
        }
    }
}

impl<T> TaskInput<T> {
    /// Takes the argument for the only attempt of a task without retries.
    #[doc(hidden)]
    pub fn __take(&mut self) -> T {
        match &mut self.0 {
            Repr::Value(v) => v
                .take()
                .expect("flowcore: a task without retries ran its body twice"),
            Repr::Future(completion, clone) => Self::resolved(completion, *clone),
            Repr::Dynamic(source) => source.take(),
        }
    }

    /// The upstream value: moved when this argument holds the last handle on it, cloned otherwise.
    fn resolved(completion: &Arc<Completion<T>>, clone: fn(&T) -> T) -> T {
        Completion::take_or_clone(completion, clone)
            .expect("flowcore: a task body started before its upstream run completed")
    }
}

impl<T: Clone> TaskInput<T> {
    /// Clones the argument for one attempt of a task with retries.
    #[doc(hidden)]
    pub fn __clone(&mut self) -> T {
        match &self.0 {
            Repr::Value(v) => v
                .clone()
                .expect("flowcore: a task argument was taken before a retry"),
            // Kept for the next attempt: never moved out.
            Repr::Future(completion, clone) => completion
                .shared()
                .map(|v| clone(&v))
                .expect("flowcore: a task body started before its upstream run completed"),
            Repr::Dynamic(source) => source.copy(),
        }
    }
}

/// An argument's value, borrowed for rendering a `task_run_name`.
#[doc(hidden)]
pub enum Peek<'a, T> {
    /// A plain value.
    Value(&'a T),
    /// A completed upstream run's value.
    Upstream(Arc<T>),
}

impl<T> std::ops::Deref for Peek<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Peek::Value(v) => v,
            Peek::Upstream(v) => v,
        }
    }
}

impl<T> TaskInput<T> {
    /// The argument's value if it is known now: a plain value, or a completed upstream run's
    /// (`None` while the upstream runs).
    #[doc(hidden)]
    pub fn __peek(&self) -> Option<Peek<'_, T>> {
        match &self.0 {
            Repr::Value(v) => v.as_ref().map(Peek::Value),
            Repr::Future(completion, _) => completion.shared().map(Peek::Upstream),
            Repr::Dynamic(_) => None,
        }
    }
}

impl<T: serde::Serialize + Send + Sync + 'static> TaskInput<T> {
    /// The argument as JSON, for a cache key: a plain value is serialized now, an upstream run's
    /// value when the task run is about to start.
    #[doc(hidden)]
    pub fn __json_source(&self) -> crate::runtime::results::JsonSource {
        fn json<T: serde::Serialize>(value: Option<&T>) -> Result<serde_json::Value, String> {
            match value {
                Some(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
                None => Err("its upstream run has no value".to_string()),
            }
        }
        match &self.0 {
            Repr::Value(v) => {
                let now = json(v.as_ref());
                Box::new(move || now)
            }
            Repr::Future(completion, _) => {
                let completion = Arc::clone(completion);
                Box::new(move || json(completion.shared().as_deref()))
            }
            Repr::Dynamic(source) => {
                let later = source.deferred();
                Box::new(move || json(later().as_ref()))
            }
        }
    }
}
