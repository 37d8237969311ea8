//! Deployments: flows runnable by name ([`registry`]), [`schedule`]s, deployments applied to a
//! server (`deployment`), the `entrypoint` a program calls first so an agent can run its flows, and
//! the `agent` that claims scheduled runs and starts them, and the [`task_worker`] that runs task
//! runs sent to it.

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(all(feature = "client", feature = "store"))]
pub mod deployment;
#[cfg(all(feature = "client", feature = "store"))]
pub mod entrypoint;
pub mod registry;
pub mod schedule;
pub mod task_worker;
