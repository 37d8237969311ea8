//! Tag concurrency limits and their slots, with leases: a slot is held by a task run until its
//! final state, or until its process's lease runs out (a process that died loses its slots).

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::codec::{parse_id, parse_ts, ts};
use super::connect::{Store, StoreError};
use crate::schemas::concurrency::{ConcurrencyLimit, Slot, SlotAnswer};

impl Store {
    /// Creates the limit of `tag`, or changes it.
    pub async fn set_concurrency_limit(&self, tag: &str, limit: i64) -> Result<(), StoreError> {
        if limit < 0 {
            return Err(StoreError::Invalid(format!(
                "the limit of tag {tag:?} must be 0 or more, not {limit}"
            )));
        }
        sqlx::query(&self.sql(
            "INSERT INTO concurrency_limits (tag, slot_limit, created) VALUES (?, ?, ?) \
             ON CONFLICT (tag) DO UPDATE SET slot_limit = excluded.slot_limit",
        ))
        .bind(tag.to_string())
        .bind(limit)
        .bind(ts(&Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every limit, by tag, with the slots held now (expired leases left out).
    pub async fn concurrency_limits(&self) -> Result<Vec<ConcurrencyLimit>, StoreError> {
        let now = ts(&Utc::now());
        let limits =
            sqlx::query("SELECT tag, slot_limit, created FROM concurrency_limits ORDER BY tag")
                .fetch_all(&self.pool)
                .await?;
        let slots = sqlx::query(&self.sql(
            "SELECT s.tag, s.task_run_id, s.holder, s.acquired, s.lease_until, t.name \
             FROM concurrency_slots s LEFT JOIN task_runs t ON t.id = s.task_run_id \
             WHERE s.lease_until >= ? ORDER BY s.acquired",
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let t = "concurrency_slots";
        let mut out = Vec::with_capacity(limits.len());
        for row in &limits {
            let tag: String = row.try_get("tag")?;
            let mut active = Vec::new();
            for s in slots.iter() {
                if s.try_get::<String, _>("tag")? != tag {
                    continue;
                }
                active.push(Slot {
                    task_run_id: parse_id(t, &s.try_get::<String, _>("task_run_id")?)?,
                    task_run_name: s.try_get("name")?,
                    holder: s.try_get("holder")?,
                    acquired: parse_ts(t, &s.try_get::<String, _>("acquired")?)?,
                    lease_until: parse_ts(t, &s.try_get::<String, _>("lease_until")?)?,
                });
            }
            out.push(ConcurrencyLimit {
                limit: row.try_get("slot_limit")?,
                created: parse_ts("concurrency_limits", &row.try_get::<String, _>("created")?)?,
                tag,
                active_slots: active,
            });
        }
        Ok(out)
    }

    /// The limit of `tag`, if any.
    pub async fn concurrency_limit(
        &self,
        tag: &str,
    ) -> Result<Option<ConcurrencyLimit>, StoreError> {
        Ok(self
            .concurrency_limits()
            .await?
            .into_iter()
            .find(|l| l.tag == tag))
    }

    /// Frees every slot of `tag` (its limit stays); whether the tag has a limit.
    pub async fn reset_concurrency_limit(&self, tag: &str) -> Result<bool, StoreError> {
        sqlx::query(&self.sql("DELETE FROM concurrency_slots WHERE tag = ?"))
            .bind(tag.to_string())
            .execute(&self.pool)
            .await?;
        Ok(self.concurrency_limit(tag).await?.is_some())
    }

    /// Deletes the limit of `tag` and its slots; whether it existed.
    pub async fn delete_concurrency_limit(&self, tag: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&self.sql("DELETE FROM concurrency_slots WHERE tag = ?"))
            .bind(tag.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(&self.sql("DELETE FROM concurrency_limits WHERE tag = ?"))
            .bind(tag.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes, for task run `task_run`, a slot of every limited tag among `tags` — all of them or
    /// none. Slots whose lease ran out are freed first. Tags without a limit need no slot.
    pub async fn acquire_slots(
        &self,
        task_run: Uuid,
        tags: &[String],
        holder: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<SlotAnswer, StoreError> {
        if tags.is_empty() {
            return Ok(SlotAnswer {
                acquired: true,
                full: Vec::new(),
            });
        }
        let mut tx = self.begin_write().await?;
        let marks = vec!["?"; tags.len()].join(", ");
        // Writing the limits' rows first takes SQLite's write lock, and PostgreSQL's locks on them:
        // concurrent acquisitions of one tag go one after the other from here.
        let sql = self
            .sql(&format!(
                "UPDATE concurrency_limits SET slot_limit = slot_limit WHERE tag IN ({marks})"
            ))
            .into_owned();
        let mut lock = sqlx::query(&sql);
        for tag in tags {
            lock = lock.bind(tag.clone());
        }
        if lock.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(SlotAnswer {
                acquired: true,
                full: Vec::new(),
            });
        }
        let now = ts(&Utc::now());
        sqlx::query(&self.sql("DELETE FROM concurrency_slots WHERE lease_until < ?"))
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
        let sql = self
            .sql(&format!(
                "SELECT l.tag, l.slot_limit, (SELECT COUNT(*) FROM concurrency_slots s \
                 WHERE s.tag = l.tag AND s.task_run_id <> ?) AS used \
                 FROM concurrency_limits l WHERE l.tag IN ({marks})"
            ))
            .into_owned();
        let mut query = sqlx::query(&sql).bind(task_run.to_string());
        for tag in tags {
            query = query.bind(tag.clone());
        }
        let mut limited = Vec::new();
        let mut full = Vec::new();
        for row in query.fetch_all(&mut *tx).await? {
            let tag: String = row.try_get("tag")?;
            if row.try_get::<i64, _>("used")? >= row.try_get::<i64, _>("slot_limit")? {
                full.push(tag.clone());
            }
            limited.push(tag);
        }
        if !full.is_empty() {
            tx.commit().await?;
            return Ok(SlotAnswer {
                acquired: false,
                full,
            });
        }
        let insert = self.sql(
            "INSERT INTO concurrency_slots (tag, task_run_id, holder, acquired, lease_until) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (tag, task_run_id) DO UPDATE SET \
             holder = excluded.holder, lease_until = excluded.lease_until",
        );
        for tag in &limited {
            sqlx::query(&insert)
                .bind(tag.clone())
                .bind(task_run.to_string())
                .bind(holder.to_string())
                .bind(now.clone())
                .bind(ts(&lease_until))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(SlotAnswer {
            acquired: true,
            full: Vec::new(),
        })
    }

    /// Frees the slots of task run `task_run` (at its final state).
    pub async fn release_slots(&self, task_run: Uuid) -> Result<(), StoreError> {
        sqlx::query(&self.sql("DELETE FROM concurrency_slots WHERE task_run_id = ?"))
            .bind(task_run.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Extends the lease of every slot `holder` holds.
    pub async fn renew_slots(
        &self,
        holder: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql("UPDATE concurrency_slots SET lease_until = ? WHERE holder = ?"))
            .bind(ts(&lease_until))
            .bind(holder.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
