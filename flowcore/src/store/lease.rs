//! Leadership among servers sharing one database: the background services (scheduler, Late
//! marking, crashed-run detection, notifications, retention) run on the server holding the lease.
//!
//! On PostgreSQL the lease is a session advisory lock held on a connection of its own (not one of
//! the pool's: a server busy answering requests still keeps or takes the lease on time). When its
//! server dies, or loses that connection, PostgreSQL releases the lock and the next server that
//! asks takes it. On SQLite — one server per database file — the lease is always held.

use std::sync::Arc;

use sqlx::{Connection, Row};

use super::connect::{Backend, Store};

/// The advisory lock's key (any constant shared by every flowcore server).
const LEADER_LOCK: i64 = 4_200_420_043;

/// This server's claim on the lease.
pub(crate) struct Lease {
    /// PostgreSQL: the database; `None` on SQLite.
    url: Option<Arc<str>>,
    /// The connection that holds (or asks for) the lock.
    conn: Option<sqlx::AnyConnection>,
    held: bool,
}

impl Store {
    /// This server's claim on the lease, not held yet.
    pub(crate) fn lease(&self) -> Lease {
        Lease {
            url: (self.backend == Backend::Postgres).then(|| Arc::clone(&self.url)),
            conn: None,
            held: false,
        }
    }
}

impl Lease {
    /// Whether this server holds the lease now: it keeps it while its connection answers, and
    /// otherwise tries to take it (a connection lost is opened again at the next call).
    pub(crate) async fn hold(&mut self) -> bool {
        let Some(url) = &self.url else {
            return true;
        };
        if self.held {
            let alive = match &mut self.conn {
                Some(conn) => sqlx::query("SELECT 1").execute(conn).await.is_ok(),
                None => false,
            };
            if alive {
                return true;
            }
            self.held = false;
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = sqlx::AnyConnection::connect(url).await.ok();
        }
        let Some(conn) = &mut self.conn else {
            return false;
        };
        match sqlx::query("SELECT pg_try_advisory_lock($1) AS held")
            .bind(LEADER_LOCK)
            .fetch_one(&mut *conn)
            .await
        {
            Ok(row) => self.held = row.try_get::<bool, _>("held").unwrap_or(false),
            Err(_) => self.conn = None,
        }
        self.held
    }
}
