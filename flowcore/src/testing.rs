//! Testing flows the way Prefect users do with `prefect_test_harness`.
//!
//! [`harness()`] returns a guard. While any guard lives, runs record into a throwaway home (a
//! temporary folder with its own SQLite record, deleted when the last guard drops), never into
//! `~/.flowcore` or a server named by `api-url`; and flowcore's printed lines (every retry WARNING,
//! every `Finished in state Failed`) go through the writer `cargo test` captures, so a passing test
//! prints nothing. Settings can be set for the whole process from code with
//! [`config::set_for_process`] — home, record on/off, API URL,
//! logging level — not only by environment variables read once.
//!
//! Guards are process-wide and counted: tests that run in parallel share one throwaway home.
//!
//! ```
//! use flowcore::prelude::*;
//!
//! #[task(retries = 1)]
//! fn double(x: u32) -> u32 {
//!     x * 2
//! }
//!
//! #[flow]
//! async fn doubled(x: u32) -> u32 {
//!     double(x).await.unwrap()
//! }
//!
//! # #[tokio::main] async fn main() {
//! let harness = flowcore::testing::harness();
//! assert_eq!(doubled.call(21).await.unwrap(), 42);
//! assert!(harness.home().join("flowcore.db").exists());
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config;
use crate::reporting::{destination, reporter};

/// The settings a harness sets for the process while it lives.
const SET: &[&str] = &["home", "api-url", "api-key", "database-url", "results-dir"];

struct Shared {
    guards: usize,
    home: tempfile::TempDir,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

/// A test harness in force while it lives: see the [module documentation](self).
#[must_use = "the harness is in force only while the guard lives"]
#[derive(Debug)]
pub struct Harness {
    home: PathBuf,
}

impl Harness {
    /// The throwaway home runs record into.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The throwaway record's database URL (for [`Store::connect`](crate::store::Store::connect)).
    #[cfg(feature = "store")]
    pub fn database_url(&self) -> String {
        crate::store::sqlite_url(&self.home.join("flowcore.db"))
    }
}

/// Makes the settings set from code so far ([`config::set_for_process`]) take effect for the
/// record: what was reported so far reaches the record attached now, and the next run attaches the
/// one the settings name (a server, once `api-url` is set, say).
pub fn apply_settings() {
    destination::detach();
}

/// Starts (or joins) the test harness: see the [module documentation](self).
///
/// # Panics
///
/// When no temporary folder can be created.
pub fn harness() -> Harness {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = shared.as_mut() {
        shared.guards += 1;
        return Harness {
            home: shared.home.path().to_path_buf(),
        };
    }
    let home = tempfile::Builder::new()
        .prefix("flowcore-test-")
        .tempdir()
        .expect("flowcore::testing::harness: cannot create a temporary folder");
    let path = home.path().to_path_buf();
    // The record attached so far keeps what was reported before; runs from now on record here.
    destination::detach();
    for key in SET {
        let value = (*key == "home").then(|| path.to_string_lossy().into_owned());
        config::set_for_process(key, value.as_deref()).expect("a process setting");
    }
    reporter::TO_TEST_WRITER.store(true, std::sync::atomic::Ordering::Relaxed);
    *shared = Some(Shared { guards: 1, home });
    Harness { home: path }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = shared.as_mut() else {
            return;
        };
        state.guards -= 1;
        if state.guards > 0 {
            return;
        }
        // Everything reported reaches the throwaway record before it goes away.
        destination::detach();
        for key in SET {
            config::clear_for_process(key);
        }
        reporter::TO_TEST_WRITER.store(false, std::sync::atomic::Ordering::Relaxed);
        *shared = None;
    }
}
