//! Wire types: the values the runtime, the store, the server, the API client, the agent and the CLI
//! exchange (Prefect's `schemas`). Plain serde types, free of any database or HTTP crate.

pub mod artifacts;
pub mod automations;
pub mod concurrency;
pub mod deployments;
pub mod events;
pub(crate) mod integers;
pub mod records;
pub mod requests;
pub mod results;
pub mod runs;
pub mod task_queue;
