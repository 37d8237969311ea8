//! Which flow runs a listing shows, and in what order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Order of a flow-run listing (by creation time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Newest first (the default).
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
}

/// Filters for [`Store::flow_runs`](super::Store::flow_runs). Empty lists match everything; a list
/// matches a run when any of its values does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRunFilter {
    /// Current state names (`Failed`) or types (`FAILED`), case-insensitive.
    pub states: Vec<String>,
    /// Flow names.
    pub flows: Vec<String>,
    /// Deployment ids or names.
    pub deployments: Vec<String>,
    /// Work queue names.
    pub work_queues: Vec<String>,
    /// Tags (a run matches when it has any of them).
    pub tags: Vec<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Run name contains this.
    pub name_contains: Option<String>,
    /// Order.
    pub sort: Sort,
    /// At most this many (default 100).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// `LIKE` pattern text with `%`, `_` and `\` escaped (used with `ESCAPE '\'`).
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl FlowRunFilter {
    /// The `WHERE` clause (on alias `r`) and its bound values.
    pub(crate) fn clause(&self) -> (String, Vec<String>) {
        let mut sql = String::from("1 = 1");
        let mut binds = Vec::new();
        if !self.states.is_empty() {
            let mut each = Vec::new();
            for state in &self.states {
                each.push("(LOWER(r.state_name) = ? OR LOWER(r.state_type) = ?)");
                binds.push(state.to_lowercase());
                binds.push(state.to_lowercase());
            }
            sql.push_str(&format!(" AND ({})", each.join(" OR ")));
        }
        any_of(&mut sql, &mut binds, "r.flow_name", &self.flows);
        any_of(&mut sql, &mut binds, "r.work_queue_name", &self.work_queues);
        any_of(&mut sql, &mut binds, "r.deployment_id", &self.deployments);
        if !self.tags.is_empty() {
            let each: Vec<&str> = self
                .tags
                .iter()
                .map(|t| {
                    let quoted = serde_json::to_string(t).expect("strings serialize");
                    binds.push(format!("%{}%", like_escape(&quoted)));
                    "r.tags LIKE ? ESCAPE '\\'"
                })
                .collect();
            sql.push_str(&format!(" AND ({})", each.join(" OR ")));
        }
        if let Some(since) = &self.since {
            sql.push_str(" AND r.created >= ?");
            binds.push(super::codec::ts(since));
        }
        if let Some(until) = &self.until {
            sql.push_str(" AND r.created < ?");
            binds.push(super::codec::ts(until));
        }
        if let Some(part) = &self.name_contains {
            sql.push_str(" AND r.name LIKE ? ESCAPE '\\'");
            binds.push(format!("%{}%", like_escape(part)));
        }
        (sql, binds)
    }
}

/// `AND (column = ? OR …)` for a list of values (nothing for an empty list).
fn any_of(sql: &mut String, binds: &mut Vec<String>, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let each: Vec<String> = values
        .iter()
        .map(|v| {
            binds.push(v.clone());
            format!("{column} = ?")
        })
        .collect();
    sql.push_str(&format!(" AND ({})", each.join(" OR ")));
}
