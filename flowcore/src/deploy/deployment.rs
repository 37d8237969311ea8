//! Deployments, as Prefect's Rust-side API: a flow, its parameters, a schedule and a work queue,
//! applied to the server, which creates its runs; an agent on the queue starts this same program
//! for each run (see [`entrypoint`](crate::entrypoint)).
//!
//! ```no_run
//! use flowcore::deployment::Deployment;
//! use flowcore::prelude::*;
//! use flowcore::schedule::CronSchedule;
//!
//! #[flow(name = "Model training")]
//! async fn train_flow(train_path: String, test_path: String) -> anyhow::Result<()> {
//!     Ok(())
//! }
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let deployment = Deployment::build_from_flow(&train_flow)
//!     .name("weekly-retrain")
//!     .version("1.0")
//!     .tags(["ml"])
//!     .schedule(CronSchedule::new("0 0 * * 0")?.timezone("Europe/Paris")?)
//!     .parameters(serde_json::json!({"train_path": "jan.parquet", "test_path": "feb.parquet"}))
//!     .work_queue("default")
//!     .apply()
//!     .await?;
//! println!("applied {} ({})", deployment.spec.name, deployment.id);
//! # Ok(()) }
//! ```

use crate::api_client::{ApiClient, ApiClientError};
use crate::deploy::schedule::Schedule;
use crate::runtime::flow::Flow;
use crate::schemas::deployments::{DeploymentSpec, Entrypoint, StoredDeployment};

/// Why a deployment could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A parameter the flow does not take.
    #[error("deployment {deployment:?}: flow {flow:?} has no parameter `{name}` (its parameters: {expected})")]
    UnknownParameter {
        /// The deployment.
        deployment: String,
        /// The flow.
        flow: String,
        /// The parameter.
        name: String,
        /// What the flow takes.
        expected: String,
    },
    /// Parameters must be a JSON object.
    #[error("deployment {0:?}: parameters must be a JSON object")]
    NotAnObject(String),
    /// The program's path could not be found.
    #[error("cannot tell which program this is: {0}")]
    Executable(std::io::Error),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiClientError),
}

/// A deployment being built; [`apply`](Deployment::apply) sends it.
#[derive(Debug, Clone)]
pub struct Deployment {
    spec: DeploymentSpec,
    parameter_names: &'static [&'static str],
}

impl Deployment {
    /// A deployment of `flow`, named after it, ad hoc (no schedule), on the `default` queue, started
    /// as this program with its arguments.
    pub fn build_from_flow<F: Flow>(flow: &F) -> Deployment {
        let spec = flow.spec();
        let schema = crate::deploy::registry::find(spec.name)
            .map(|f| f.parameters_schema())
            .unwrap_or_else(|| serde_json::json!({}));
        Deployment {
            spec: DeploymentSpec {
                flow_name: spec.name.to_string(),
                name: spec.name.to_string(),
                version: spec.version.map(str::to_string),
                description: spec.description.map(str::to_string),
                tags: spec.tags.iter().map(|t| t.to_string()).collect(),
                parameters: serde_json::json!({}),
                parameter_schema: schema,
                work_queue_name: "default".into(),
                schedule: None,
                paused: false,
                entrypoint: Entrypoint {
                    exe: String::new(),
                    args: std::env::args().skip(1).collect(),
                    cwd: std::env::current_dir()
                        .ok()
                        .map(|d| d.display().to_string()),
                },
            },
            parameter_names: spec.parameters,
        }
    }

    /// Its name (unique per flow).
    pub fn name(mut self, name: impl Into<String>) -> Deployment {
        self.spec.name = name.into();
        self
    }

    /// Its version.
    pub fn version(mut self, version: impl Into<String>) -> Deployment {
        self.spec.version = Some(version.into());
        self
    }

    /// Its description.
    pub fn description(mut self, description: impl Into<String>) -> Deployment {
        self.spec.description = Some(description.into());
        self
    }

    /// Tags given to its runs.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Deployment {
        self.spec.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// When it runs by itself.
    pub fn schedule(mut self, schedule: impl Into<Schedule>) -> Deployment {
        self.spec.schedule = Some(schedule.into());
        self
    }

    /// The parameters of its runs (a JSON object, checked against the flow's parameters).
    pub fn parameters(mut self, parameters: serde_json::Value) -> Deployment {
        self.spec.parameters = parameters;
        self
    }

    /// The work queue its runs go to.
    pub fn work_queue(mut self, name: impl Into<String>) -> Deployment {
        self.spec.work_queue_name = name.into();
        self
    }

    /// Applies it with its schedule paused.
    pub fn paused(mut self, paused: bool) -> Deployment {
        self.spec.paused = paused;
        self
    }

    /// Starts runs with this program and arguments instead of the current ones.
    pub fn entrypoint(mut self, entrypoint: Entrypoint) -> Deployment {
        self.spec.entrypoint = entrypoint;
        self
    }

    /// What would be sent.
    pub fn spec(&self) -> &DeploymentSpec {
        &self.spec
    }

    /// Creates or updates it on the server in force (`api-url`), idempotently by flow + name.
    pub async fn apply(self) -> Result<StoredDeployment, DeployError> {
        self.apply_to(&ApiClient::from_settings()).await
    }

    /// Creates or updates it on the server `client` talks to.
    pub async fn apply_to(mut self, client: &ApiClient) -> Result<StoredDeployment, DeployError> {
        let Some(parameters) = self.spec.parameters.as_object() else {
            return Err(DeployError::NotAnObject(self.spec.name));
        };
        if let Some(unknown) = parameters
            .keys()
            .find(|k| !self.parameter_names.contains(&k.as_str()))
        {
            return Err(DeployError::UnknownParameter {
                deployment: self.spec.name.clone(),
                flow: self.spec.flow_name.clone(),
                name: unknown.clone(),
                expected: self.parameter_names.join(", "),
            });
        }
        if self.spec.entrypoint.exe.is_empty() {
            self.spec.entrypoint.exe = std::env::current_exe()
                .map_err(DeployError::Executable)?
                .display()
                .to_string();
        }
        Ok(client.apply_deployment(&self.spec).await?)
    }
}
