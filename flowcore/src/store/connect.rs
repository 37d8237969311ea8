//! Connecting to the store's database: the pool, the backend, the SQLite settings and the errors.

use std::borrow::Cow;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend this build supports.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database was written by a newer flowcore.
    #[error("the database has schema version {0}, newer than this build's (upgrade flowcore)")]
    NewerSchema(i64),
    /// A batch of events contradicts itself (it names the run and what is wrong).
    #[error("invalid events: {0}")]
    Invalid(String),
    /// A stored value could not be read back.
    #[error("corrupt record in table `{table}`: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }
}

/// A connection pool to the store's database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// The database's URL (the lease opens a connection of its own to it).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) url: std::sync::Arc<str>,
    /// Where waiting claims learn that runs changed (see `wakeups`).
    pub(crate) wakeups: std::sync::Arc<super::changes::Wakeups>,
}

/// SQLite settings of every connection: WAL (with NORMAL sync, durable against application
/// crashes; only a power loss can cost the last transactions), a 10 s busy timeout, a page cache that
/// holds a batch of thousands of rows (no spills to the WAL mid-transaction), fewer and larger
/// checkpoints.
pub(crate) const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-32768",
    "PRAGMA wal_autocheckpoint=8192",
];

/// The SQLite URL of a database file (created if missing).
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

impl Store {
    /// Connects to the run record the settings name (`database-url`, else the SQLite file in
    /// the flowcore home, whose folder is created), with a message naming it on failure.
    pub(crate) async fn connect_configured() -> Result<Store, String> {
        let url = crate::config::database_url().map_err(|e| e.to_string())?;
        if url.starts_with("sqlite:") {
            let _ = std::fs::create_dir_all(crate::config::home());
        }
        Store::connect(&url).await.map_err(|e| {
            format!(
                "cannot open the run database {}: {e}",
                crate::config::redacted(&url)
            )
        })
    }

    /// Connects and creates the schema if needed. SQLite files use WAL journaling.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without creating or migrating the schema (for a helper beside a store that did).
    pub(crate) async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => 4,
            })
            // A SQLite connection is a file handle on sqlx's thread: it cannot go stale the way a
            // network connection can, and pinging it before each use is one more round trip to
            // that thread per write (a flow run's final flush waits for every one of them).
            .test_before_acquire(backend == Backend::Postgres)
            // Every connection the pool opens (also after idle timeouts) gets the settings.
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::Executor::execute(&mut *conn, *pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
            wakeups: std::sync::Arc::new(super::changes::Wakeups::new(
                (backend == Backend::Postgres).then(|| url.to_string()),
            )),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies what SQLite's write-ahead log holds back into the database file, as far as readers
    /// allow, without waiting for writers or blocking them (a passive checkpoint). Nothing to do on
    /// PostgreSQL.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_optional(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`, waiting out other writers for the busy timeout): a deferred transaction that
    /// reads and then writes fails with "database is locked" — without waiting — when another
    /// connection wrote in between.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// SQL written with `?` placeholders, in this backend's syntax.
    pub(crate) fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Sqlite => Cow::Borrowed(sql),
            Backend::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}
