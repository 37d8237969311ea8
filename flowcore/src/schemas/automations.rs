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
    /// A unique name (not blank).
    #[cfg_attr(feature = "server", schema(min_length = 1, pattern = r"\S"))]
    pub name: String,
    /// The states that trigger it: names (`Failed`, `TimedOut`, `Crashed`; any case) or types
    /// (`FAILED`, in capitals: every state of the type).
    #[cfg_attr(feature = "server", schema(schema_with = state_list_schema))]
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
    /// Where the notification is POSTed, an http(s) URL (a Slack incoming webhook shows its
    /// `text`).
    #[cfg_attr(feature = "server", schema(schema_with = webhook_schema))]
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

/// What a webhook URL must look like (the server checks it, the API's schema says it): `http` or
/// `https`; a host name whose last label starts with a letter, an IPv4 address or `[::1]`; an
/// optional port (to 65535), path and query.
pub const WEBHOOK_PATTERN: &str = r"^https?://(([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|\[::1\])(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~/%-]*)?(\?[A-Za-z0-9._~/%&=+-]*)?$";

/// The schema of [`AutomationSpec::webhook`].
#[cfg(feature = "server")]
fn webhook_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(WEBHOOK_PATTERN))
        .description(Some(
            "Where the notification is POSTed, an http(s) URL (a Slack incoming webhook shows \
             its `text`).",
        ))
        .build()
}

/// The schema of [`AutomationSpec::on`]: at least one state name or type.
#[cfg(feature = "server")]
fn state_list_schema() -> utoipa::openapi::schema::Array {
    use crate::runtime::state::{StateName, StateType};
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let names = StateName::ALL
        .iter()
        .map(|n| n.as_str())
        .chain(StateType::ALL.iter().map(|t| t.as_str()));
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .min_items(Some(1))
        .description(Some(
            "The states that trigger it: names (`Failed`, `TimedOut`, `Crashed`; any case) or \
             types (`FAILED`, in capitals: every state of the type).",
        ))
        .build()
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
