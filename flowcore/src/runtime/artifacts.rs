//! Publishing artifacts from a run (Prefect's `create_markdown_artifact`,
//! `create_table_artifact`, `create_link_artifact`).
//!
//! Called inside a task or flow run, an artifact is linked to that run and its flow run; outside
//! any run it is unlinked. It is reported like a state change — into the embedded database, or to
//! the server when an API URL is set — and the UI shows it on the flow run's page and under
//! Artifacts, each key with its history.
//!
//! ```
//! use flowcore::artifacts;
//!
//! #[derive(serde::Serialize)]
//! struct Row { month: &'static str, rmse: f64 }
//!
//! # std::env::set_var("FLOWCORE_RECORD", "off");
//! artifacts::create_markdown("model-summary", "# Model\nRMSE **7.76**").unwrap();
//! artifacts::create_table("model-report", &[Row { month: "2021-01", rmse: 7.76 }]).unwrap();
//! artifacts::create_link("model-file", "https://example.com/model.bin", "the model").unwrap();
//! assert!(artifacts::create_markdown("Model Summary", "x").is_err()); // keys: lowercase-with-dashes
//! ```

use uuid::Uuid;

use super::context::FlowRunContext;
use super::lifecycle::init_reporting;
use super::run_record::TaskRunMeta;
use crate::reporting::{logging, reporter};
use crate::schemas::artifacts::{Artifact, ArtifactKind};
use crate::schemas::events::Event;

/// Why an artifact was not created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The key is not lowercase letters, digits and dashes.
    #[error(
        "invalid artifact key {0:?}: use lowercase letters, digits and dashes, e.g. `model-report`"
    )]
    InvalidKey(String),
    /// The table's rows did not serialize to JSON objects.
    #[error("artifact {key:?}: {message}")]
    InvalidTable {
        /// The key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// The link is not an http(s) URL.
    #[error("artifact {key:?}: {url:?} is not an http(s) URL")]
    InvalidLink {
        /// The key.
        key: String,
        /// The URL.
        url: String,
    },
}

fn check_key(key: &str) -> Result<(), ArtifactError> {
    let ok = !key.is_empty()
        && key.len() <= 100
        && !key.starts_with('-')
        && !key.ends_with('-')
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ArtifactError::InvalidKey(key.to_string()))
    }
}

/// Reports an artifact, linked to the caller's run.
fn publish(key: &str, kind: ArtifactKind, data: serde_json::Value) -> Result<Uuid, ArtifactError> {
    check_key(key)?;
    init_reporting();
    let task = logging::current_meta().and_then(|m| m.downcast::<TaskRunMeta>().ok());
    let flow = FlowRunContext::current();
    let flow_run_id = match &task {
        Some(task) => task.flow_run_id(),
        None => flow.as_ref().map(|ctx| ctx.meta.record.id()),
    };
    let run = match (&task, &flow) {
        (Some(task), _) => Some(task.record.run_ref()),
        (None, Some(ctx)) => Some(ctx.meta.record.run_ref()),
        (None, None) => None,
    };
    let artifact = Artifact {
        id: Uuid::now_v7(),
        key: key.to_string(),
        kind,
        data,
        description: None,
        flow_run_id,
        task_run_id: task.map(|t| t.record.id()),
        created: chrono::Utc::now(),
    };
    let id = artifact.id;
    reporter::emit(Event::Log(artifact.to_log(run)));
    Ok(id)
}

/// Publishes markdown under `key`; its id.
pub fn create_markdown(key: &str, markdown: impl Into<String>) -> Result<Uuid, ArtifactError> {
    publish(
        key,
        ArtifactKind::Markdown,
        serde_json::Value::String(markdown.into()),
    )
}

/// Publishes a table under `key`: `rows` are records (structs or maps) that serialize to JSON
/// objects, one per row; its id.
pub fn create_table<R: serde::Serialize>(key: &str, rows: &[R]) -> Result<Uuid, ArtifactError> {
    let invalid = |message: String| ArtifactError::InvalidTable {
        key: key.to_string(),
        message,
    };
    let rows = serde_json::to_value(rows).map_err(|e| invalid(e.to_string()))?;
    if let Some(i) = rows
        .as_array()
        .and_then(|rows| rows.iter().position(|r| !r.is_object()))
    {
        return Err(invalid(format!(
            "row {i} is not a record (a struct or a map of column to value)"
        )));
    }
    publish(key, ArtifactKind::Table, rows)
}

/// Publishes a table given as columns (`name → values`, all of one length) under `key`; its id.
pub fn create_table_columns<V: serde::Serialize>(
    key: &str,
    columns: &[(&str, Vec<V>)],
) -> Result<Uuid, ArtifactError> {
    let lengths: Vec<usize> = columns.iter().map(|(_, v)| v.len()).collect();
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err(ArtifactError::InvalidTable {
            key: key.to_string(),
            message: format!("the columns differ in length: {lengths:?}"),
        });
    }
    let mut object = serde_json::Map::new();
    for (name, values) in columns {
        let values = serde_json::to_value(values).map_err(|e| ArtifactError::InvalidTable {
            key: key.to_string(),
            message: format!("column {name:?}: {e}"),
        })?;
        object.insert(name.to_string(), values);
    }
    publish(key, ArtifactKind::Table, serde_json::Value::Object(object))
}

/// Publishes a link under `key`; its id.
pub fn create_link(key: &str, url: &str, text: &str) -> Result<Uuid, ArtifactError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ArtifactError::InvalidLink {
            key: key.to_string(),
            url: url.to_string(),
        });
    }
    publish(
        key,
        ArtifactKind::Link,
        serde_json::json!({ "url": url, "text": text }),
    )
}
