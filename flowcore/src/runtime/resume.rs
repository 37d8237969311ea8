//! Resuming a finished flow run from its program: Prefect's "retry" of a flow run that has no
//! deployment (a deployment's run is retried through the API, the CLI or the UI, and its agent
//! starts it again).
//!
//! The run goes back to `Scheduled` (`AwaitingRetry`) in the record — through the orchestration
//! policy's retry rule, so only a `Failed`, `Crashed` or `Cancelled` run can — then runs again in
//! this process under the same id, with the parameters it had. Its task runs that completed with a
//! persisted result (`persist_result`) are not run again: they end `Cached`, with the earlier
//! attempt's values.

use uuid::Uuid;

use super::flow::{FlowRunIdentity, FlowState};
use crate::reporting::{destination, reporter};

/// Why a flow run could not be resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The record (the database, or the server) could not be read or written.
    #[error("cannot resume flow run {id}: {message}")]
    Record {
        /// The run.
        id: Uuid,
        /// What failed.
        message: String,
    },
    /// The policy refused: the run is not `Failed`, `Crashed` or `Cancelled`.
    #[error("cannot resume flow run {id}: {message}")]
    NotRetryable {
        /// The run.
        id: Uuid,
        /// Its state, and why.
        message: String,
    },
    /// This program has no flow of the run's flow name.
    #[error("cannot resume flow run {id}: this program has no flow named {flow_name:?}")]
    UnknownFlow {
        /// The run.
        id: Uuid,
        /// The flow it is a run of.
        flow_name: String,
    },
    /// Runs are not recorded (`record = off`): there is nothing to resume from.
    #[error("cannot resume flow run {0}: runs are not recorded in this process (record is off)")]
    NotRecorded(Uuid),
}

/// What the record says of the run being resumed.
struct Earlier {
    name: String,
    flow_name: String,
    parameters: serde_json::Value,
}

/// Resumes flow run `id` in this program (its flow must be a `#[flow]` of this program, with its
/// parameters as JSON): see the [module documentation](self). Returns the new attempt's final
/// state.
///
/// ```no_run
/// # async fn demo(failed_run: uuid::Uuid) {
/// let state = flowcore::runtime::resume(failed_run).await.unwrap();
/// assert!(state.is_completed());
/// # }
/// ```
pub async fn resume(id: Uuid) -> Result<FlowState<()>, ResumeError> {
    super::lifecycle::init_reporting();
    if destination::disabled() {
        return Err(ResumeError::NotRecorded(id));
    }
    // What earlier runs reported is in the record before the record is asked.
    reporter::flush().await;
    let earlier = retry_in_record(id).await?;
    let flow = crate::deploy::registry::find(&earlier.flow_name).ok_or_else(|| {
        ResumeError::UnknownFlow {
            id,
            flow_name: earlier.flow_name.clone(),
        }
    })?;
    Ok(flow
        .run_as(FlowRunIdentity::new(id, earlier.name), earlier.parameters)
        .await)
}

async fn retry_in_record(id: Uuid) -> Result<Earlier, ResumeError> {
    let record = |message: String| ResumeError::Record { id, message };
    #[cfg(feature = "client")]
    if destination::reports_to_server() {
        let client = crate::api_client::ApiClient::from_settings();
        return match client.retry_flow_run(id).await {
            Ok(run) => Ok(Earlier {
                name: run.name,
                flow_name: run.flow_name,
                parameters: run.parameters,
            }),
            Err(e) if e.status() == Some(409) => Err(ResumeError::NotRetryable {
                id,
                message: e.to_string(),
            }),
            Err(e) => Err(record(e.to_string())),
        };
    }
    #[cfg(feature = "store")]
    {
        use crate::store::{Store, Transition};
        let url = crate::config::database_url().map_err(|e| record(e.to_string()))?;
        let store = Store::connect(&url)
            .await
            .map_err(|e| record(e.to_string()))?;
        match store
            .retry_flow_run(id)
            .await
            .map_err(|e| record(e.to_string()))?
        {
            Transition::Accepted(_) => {}
            Transition::NotFound => return Err(record("no flow run with this id".into())),
            Transition::Rejected(r) => {
                return Err(ResumeError::NotRetryable {
                    id,
                    message: r.reason,
                })
            }
        }
        let run = store
            .flow_run_by_id(id)
            .await
            .map_err(|e| record(e.to_string()))?
            .ok_or_else(|| record("no flow run with this id".into()))?;
        Ok(Earlier {
            name: run.name,
            flow_name: run.flow_name,
            parameters: run.parameters,
        })
    }
    #[cfg(not(feature = "store"))]
    Err(record(
        "this build records runs nowhere (features `store` and `client` off)".into(),
    ))
}
