//! Leadership among servers sharing one database: the background services (scheduler, Late
//! marking, crashed-run detection, notifications, retention) run on the server holding the lease.
//!
//! On PostgreSQL the lease is a session advisory lock held on a connection of its own: when its
//! server dies (or loses the connection) PostgreSQL releases it, and the next server that asks
//! takes it. On SQLite — one server per database file — the lease is always granted.

use super::connect::{Backend, Store, StoreError};
use sqlx::Row;

/// The advisory lock's key (any constant shared by every flowcore server).
const LEADER_LOCK: i64 = 4_200_420_043;

/// The leadership, held as long as this value lives and its connection works.
pub(crate) struct Lease {
    /// PostgreSQL: the connection holding the lock (out of the pool: dropping it releases the lock).
    conn: Option<sqlx::AnyConnection>,
}

impl Store {
    /// Takes the lease if no other server holds it.
    pub(crate) async fn try_lead(&self) -> Result<Option<Lease>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Lease { conn: None }));
        }
        let mut conn = self.pool.acquire().await?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS held")
            .bind(LEADER_LOCK)
            .fetch_one(&mut conn)
            .await?;
        Ok(row
            .try_get::<bool, _>("held")?
            .then_some(Lease { conn: Some(conn) }))
    }
}

impl Lease {
    /// Whether the lease still holds: its connection still answers.
    pub(crate) async fn held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => sqlx::query("SELECT 1").execute(conn).await.is_ok(),
        }
    }
}
