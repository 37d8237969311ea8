//! Artifacts (Prefect's `create_markdown_artifact`, `create_table_artifact`,
//! `create_link_artifact`): something a run publishes for people — a report, a table, a link —
//! kept under a key whose history the UI shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::{LogLevel, LogRecord, RunKind, RunRef};

/// The logger name of the log records artifacts travel as.
pub const ARTIFACT_TARGET: &str = "flowcore.artifact";

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// Markdown text (`data` is a string).
    Markdown,
    /// A table (`data` is an array of row objects, or an object of equal-length columns).
    Table,
    /// A link (`data` is `{"url": …, "text": …}`).
    Link,
}

impl ArtifactKind {
    /// The kind's name: `markdown`, `table`, `link`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Markdown => "markdown",
            ArtifactKind::Table => "table",
            ArtifactKind::Link => "link",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<ArtifactKind> {
        [
            ArtifactKind::Markdown,
            ArtifactKind::Table,
            ArtifactKind::Link,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One artifact, as reported and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Artifact {
    /// Its id.
    pub id: Uuid,
    /// Its key (lowercase letters, digits and dashes): artifacts with one key form a history.
    pub key: String,
    /// What it holds.
    pub kind: ArtifactKind,
    /// The content (see [`ArtifactKind`]).
    pub data: serde_json::Value,
    /// A description for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The flow run it was created in, if any.
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
    /// The task run it was created in, if any.
    #[serde(default)]
    pub task_run_id: Option<Uuid>,
    /// When.
    pub created: DateTime<Utc>,
}

impl Artifact {
    /// The artifact as the log record it travels as between the runtime and the store: the
    /// reported event kinds stay the four every consumer knows, and the store files the record
    /// under artifacts, not logs. `run` is the run that published it (a task run or a flow run);
    /// an artifact published outside any run names no run (a nil id).
    pub fn to_log(&self, run: Option<RunRef>) -> LogRecord {
        let run = run.unwrap_or(RunRef {
            kind: RunKind::Flow,
            id: Uuid::nil(),
            name: "".into(),
            flow_run_id: None,
        });
        LogRecord {
            run,
            flow_run_id: self.flow_run_id,
            level: LogLevel::Info,
            target: ARTIFACT_TARGET.to_string(),
            message: serde_json::to_string(self).expect("artifacts serialize"),
            timestamp: self.created,
        }
    }

    /// The artifact a log record carries, if it is one.
    pub fn from_log(log: &LogRecord) -> Option<Artifact> {
        if log.target != ARTIFACT_TARGET {
            return None;
        }
        serde_json::from_str(&log.message).ok()
    }
}

/// An artifact as the API serves it: for markdown, also its HTML (rendered on the server, raw
/// HTML and script links removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredArtifact {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: Artifact,
    /// Safe HTML of a markdown artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}
