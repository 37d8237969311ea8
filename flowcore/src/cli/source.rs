//! Where the record commands read runs: through the API when an API URL is set (the server's
//! database, whichever it is), else straight from the embedded (or configured) database.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::api_client::{ApiClient, ApiClientError, FlowRunsQuery};
use crate::runtime::state::State;
use crate::schemas::concurrency::ConcurrencyLimit;
use crate::schemas::records::{StoredFlowRun, StoredLog, StoredTaskRun};
use crate::store::{FlowRunFilter, Store};

/// The record the commands read.
pub(crate) enum Source {
    /// A server, through its API (`api-url`).
    Api(ApiClient),
    /// The database itself.
    Db(Store),
}

/// The run database of the settings (created on SQLite).
pub(crate) async fn open_db() -> anyhow::Result<Store> {
    let url = crate::config::database_url()?;
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(crate::config::home())?;
    }
    Store::connect(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the run database {}: {e}",
            crate::config::redacted(&url)
        )
    })
}

/// `--since`: an RFC 3339 time, a date (midnight UTC), or a duration ago (`2h`, `7d`).
pub(crate) fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(Utc::now() - chrono::Duration::from_std(ago).map_err(|e| e.to_string())?),
        Err(_) => Err(format!(
            "{text:?} is not a time: give an RFC 3339 time (2026-11-30T08:00:00Z), a date \
             (2026-11-30) or a duration ago (2h, 7d)"
        )),
    }
}

impl Source {
    /// The API when an API URL is set, else the database.
    pub(crate) async fn open() -> anyhow::Result<Source> {
        match crate::config::get("api-url")?.filter(|u| !u.is_empty()) {
            Some(_) => Ok(Source::Api(ApiClient::from_settings())),
            None => Ok(Source::Db(open_db().await?)),
        }
    }

    /// Flow runs matching `query`, newest first.
    pub(crate) async fn flow_runs(
        &self,
        query: &FlowRunsQuery,
    ) -> anyhow::Result<Vec<StoredFlowRun>> {
        Ok(match self {
            Source::Api(client) => client.flow_runs(query).await?.results,
            Source::Db(store) => {
                store
                    .flow_runs(&FlowRunFilter {
                        states: query.states.clone(),
                        flows: query.flows.clone(),
                        deployments: query.deployments.clone(),
                        tags: query.tags.clone(),
                        since: query.since,
                        name_contains: query.name.clone(),
                        limit: query.limit,
                        ..FlowRunFilter::default()
                    })
                    .await?
            }
        })
    }

    /// The flow run `key` names: its id, an id prefix (database) or its name.
    pub(crate) async fn find(&self, key: &str) -> anyhow::Result<StoredFlowRun> {
        let not_found =
            || anyhow::anyhow!("no flow run with id or name {key:?} (or the prefix is ambiguous)");
        match self {
            Source::Db(store) => store.flow_run(key).await?.ok_or_else(not_found),
            Source::Api(client) => {
                if let Ok(id) = Uuid::parse_str(key) {
                    return match client.flow_run(id).await {
                        Ok(run) => Ok(run),
                        Err(ApiClientError::Status { status: 404, .. }) => Err(not_found()),
                        Err(e) => Err(e.into()),
                    };
                }
                let named = FlowRunsQuery {
                    name: Some(key.to_string()),
                    limit: Some(1000),
                    ..FlowRunsQuery::default()
                };
                let mut exact: Vec<StoredFlowRun> = client
                    .flow_runs(&named)
                    .await?
                    .results
                    .into_iter()
                    .filter(|r| r.name == key)
                    .collect();
                match exact.len() {
                    1 => Ok(exact.remove(0)),
                    _ => Err(not_found()),
                }
            }
        }
    }

    /// Cancels flow run `id`; the run as it is now.
    pub(crate) async fn cancel(&self, id: Uuid) -> anyhow::Result<StoredFlowRun> {
        match self {
            Source::Api(client) => Ok(client.cancel_flow_run(id).await?),
            Source::Db(store) => {
                let transition = store.cancel_flow_run(id).await?;
                self.after(id, transition, |current| {
                    format!("flow run {id} is already {current}: there is nothing to cancel")
                })
                .await
            }
        }
    }

    /// Retries (resumes) flow run `id`; the run as it is now.
    pub(crate) async fn retry(&self, id: Uuid) -> anyhow::Result<StoredFlowRun> {
        match self {
            Source::Api(client) => Ok(client.retry_flow_run(id).await?),
            Source::Db(store) => {
                let transition = store.retry_flow_run(id).await?;
                self.after(id, transition, |current| {
                    format!(
                        "flow run {id} is {current}: only a Failed, Crashed or Cancelled run can be retried"
                    )
                })
                .await
            }
        }
    }

    /// The run after a transition the store decided, or the refusal `refused` words from the
    /// run's state name.
    async fn after(
        &self,
        id: Uuid,
        transition: crate::store::Transition,
        refused: impl FnOnce(&str) -> String,
    ) -> anyhow::Result<StoredFlowRun> {
        match transition {
            crate::store::Transition::Accepted(_) => self.find(&id.to_string()).await,
            crate::store::Transition::NotFound => anyhow::bail!("no flow run with id {id}"),
            crate::store::Transition::Rejected(r) => anyhow::bail!(
                "{}",
                refused(&r.current.map_or("none".into(), |s| s.name.to_string()))
            ),
        }
    }

    /// A flow run's states, oldest first.
    pub(crate) async fn states(&self, id: Uuid) -> anyhow::Result<Vec<State>> {
        Ok(match self {
            Source::Api(client) => client.flow_run_states(id).await?,
            Source::Db(store) => store.states(id).await?,
        })
    }

    /// A flow run's task runs, in creation order.
    pub(crate) async fn task_runs(&self, id: Uuid) -> anyhow::Result<Vec<StoredTaskRun>> {
        Ok(match self {
            Source::Api(client) => client.flow_run_task_runs(id).await?,
            Source::Db(store) => store.task_runs(id).await?,
        })
    }

    /// A flow run's logs and its task runs', in order.
    pub(crate) async fn logs(&self, id: Uuid) -> anyhow::Result<Vec<StoredLog>> {
        Ok(match self {
            Source::Api(client) => client.flow_run_logs(id).await?,
            Source::Db(store) => store.logs(id).await?,
        })
    }

    /// Every tag concurrency limit with its active slots.
    pub(crate) async fn concurrency_limits(&self) -> anyhow::Result<Vec<ConcurrencyLimit>> {
        Ok(match self {
            Source::Api(client) => client.concurrency_limits().await?,
            Source::Db(store) => store.concurrency_limits().await?,
        })
    }

    /// The limit of `tag`, or an error naming the tag.
    pub(crate) async fn concurrency_limit(&self, tag: &str) -> anyhow::Result<ConcurrencyLimit> {
        let missing = || anyhow::anyhow!("no concurrency limit on tag {tag:?}");
        match self {
            Source::Api(client) => match client.concurrency_limit(tag).await {
                Ok(limit) => Ok(limit),
                Err(ApiClientError::Status { status: 404, .. }) => Err(missing()),
                Err(e) => Err(e.into()),
            },
            Source::Db(store) => store.concurrency_limit(tag).await?.ok_or_else(missing),
        }
    }

    /// Creates or changes the limit of `tag`.
    pub(crate) async fn set_concurrency_limit(&self, tag: &str, limit: i64) -> anyhow::Result<()> {
        match self {
            Source::Api(client) => {
                client.set_concurrency_limit(tag, limit).await?;
            }
            Source::Db(store) => store.set_concurrency_limit(tag, limit).await?,
        }
        Ok(())
    }

    /// Frees every slot of `tag`.
    pub(crate) async fn reset_concurrency_limit(&self, tag: &str) -> anyhow::Result<()> {
        self.concurrency_limit(tag).await?;
        match self {
            Source::Api(client) => {
                client.reset_concurrency_limit(tag).await?;
            }
            Source::Db(store) => {
                store.reset_concurrency_limit(tag).await?;
            }
        }
        Ok(())
    }

    /// Deletes the limit of `tag`.
    pub(crate) async fn delete_concurrency_limit(&self, tag: &str) -> anyhow::Result<()> {
        self.concurrency_limit(tag).await?;
        match self {
            Source::Api(client) => {
                client.delete_concurrency_limit(tag).await?;
            }
            Source::Db(store) => {
                store.delete_concurrency_limit(tag).await?;
            }
        }
        Ok(())
    }
}
