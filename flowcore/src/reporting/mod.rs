//! Reporting: how what the runtime does reaches people and records without slowing it down.
//!
//! Every run creation, transition and captured log line becomes an [`Event`](crate::schemas::events::Event)
//! handed to the [`reporter`] thread, which prints Prefect-style lines ([`console`]) and passes batches
//! to the attached [`sink`]s: the store's, or the [`api_sink`] that posts them to a server (keeping
//! what the server has not acknowledged in its durable [`outbox`]).
//! [`logging`] captures `tracing` events inside runs; [`destination`] picks the default sink.

#[cfg(feature = "client")]
pub mod api_sink;
pub(crate) mod backlog;
pub mod console;
pub mod destination;
pub mod logging;
#[cfg(feature = "client")]
pub mod outbox;
pub mod reporter;
pub mod sink;
#[cfg(any(feature = "store", feature = "client"))]
pub(crate) mod spool;
