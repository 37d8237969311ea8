//! Automations (Prefect's automations → webhook/Slack): which flow-run transitions notify whom, and
//! the record of each delivery.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What `flowcore automation create` sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AutomationSpec {
    /// A unique name.
    #[cfg_attr(feature = "server", schema(min_length = 1))]
    pub name: String,
    /// The states that trigger it: names (`Failed`, `TimedOut`, `Crashed`; any case) or types
    /// (`FAILED`, in capitals: every state of the type).
    #[cfg_attr(feature = "server", schema(min_items = 1))]
    pub on: Vec<String>,
    /// Only runs of these flows (none: any flow).
    #[serde(default)]
    pub flows: Vec<String>,
    /// Only runs of these deployments, by name or id (none: any run, deployed or not).
    #[serde(default)]
    pub deployments: Vec<String>,
    /// Only runs with any of these tags (none: any).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Where the notification is POSTed (a Slack incoming webhook shows its `text`).
    pub webhook: String,
    /// Extra request headers (`Authorization`, …).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A flow run's transition, as an automation matches it.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// The flow's name.
    pub flow: &'a str,
    /// The run's tags.
    pub tags: &'a [String],
    /// The run's deployment (id and name), if deployed.
    pub deployment: Option<(&'a str, &'a str)>,
    /// The state entered: type (`FAILED`) and name (`TimedOut`).
    pub state_type: &'a str,
    /// The state's name.
    pub state_name: &'a str,
}

impl AutomationSpec {
    /// Whether a transition triggers this automation.
    pub fn matches(&self, t: &Transition<'_>) -> bool {
        let state = self.on.iter().any(|on| {
            on.eq_ignore_ascii_case(t.state_name)
                || (on.chars().all(|c| c.is_ascii_uppercase()) && on == t.state_type)
        });
        let flow = self.flows.is_empty() || self.flows.iter().any(|f| f == t.flow);
        let deployment = self.deployments.is_empty()
            || t.deployment.is_some_and(|(id, name)| {
                self.deployments
                    .iter()
                    .any(|d| d == id || d == name || d == &format!("{}/{name}", t.flow))
            });
        let tags = self.tags.is_empty() || self.tags.iter().any(|tag| t.tags.contains(tag));
        state && flow && deployment && tags
    }
}

/// A stored automation, with its delivery counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct StoredAutomation {
    /// Its id.
    pub id: Uuid,
    /// What it does.
    #[serde(flatten)]
    pub spec: AutomationSpec,
    /// A paused automation queues nothing.
    pub paused: bool,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Notifications delivered.
    pub delivered: i64,
    /// Notifications waiting (or being retried).
    pub pending: i64,
    /// Notifications given up on after ~10 minutes of retries.
    pub failed: i64,
}

/// One notification of an automation: a transition, and how its delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The flow run.
    pub flow_run_id: Uuid,
    /// The state entered.
    pub state: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When the transition was stored.
    pub created: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body POSTed.
    pub body: serde_json::Value,
}

/// An automation and its latest deliveries (`flowcore automation inspect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AutomationDetail {
    /// The automation.
    pub automation: StoredAutomation,
    /// Its latest deliveries, newest first.
    pub deliveries: Vec<Delivery>,
}
