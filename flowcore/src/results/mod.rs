//! Results: what a task run returned, persisted so another run — a later attempt of the flow run, or
//! another process sharing the result storage — can reuse it instead of running the task again
//! (Prefect 3's result persistence and caching).
//!
//! - [`storage`]: where results live. [`ResultStorage`] is the trait (a local directory,
//!   [`LocalDir`], is the one built in; an object store would be another implementation).
//! - [`record`]: the stored form, one self-describing CBOR record per result: its
//!   [`ResultMetadata`] (which task run produced it, when it expires) and the value.
//! - [`cache`]: cache policies and the keys they compute.
//! - [`json`]: a stored value as JSON, for the API and the UI.
//! - [`typed_array`]: CBOR typed arrays (RFC 8746) read back as numbers.

pub mod cache;
pub mod json;
pub mod record;
pub mod storage;
pub mod typed_array;

pub use cache::{CacheKeyFn, CachePolicy};
pub use record::{ResultMetadata, ResultRecord};
pub use storage::{default_storage, KeyLock, LocalDir, Produce, ResultStorage, StorageError};
