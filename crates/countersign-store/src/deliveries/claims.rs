//! Claiming due deliveries under a lease, and giving leases back.

use countersign_domain::time::now_ms;

use super::{ClaimedDelivery, Placeholders};
use crate::db::{Pool, with_pool, with_writer};
use crate::{Store, StoreResult};

const CLAIM_COLUMNS: &str = "id, event_id, account_id, endpoint_id, url, attempts, round_attempts, event_sequence";

impl Store {
    /// SQLite has one process: leases left by a process that died are released at start.
    pub async fn release_stale_leases_at_start(&self) -> StoreResult<u64> {
        if let (Pool::Sqlite(_), Some(pool)) = (&self.pool, &self.sqlite_writer) {
            let done = sqlx::query(
                "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE locked_by IS NOT NULL",
            )
            .execute(pool)
            .await?;
            return Ok(done.rows_affected());
        }
        Ok(0)
    }
    /// Claims up to `limit` due deliveries for `node` until `now + lease_ms`, oldest first, skipping
    /// the endpoints in `exclude` (those this node already has enough of in hand). On PostgreSQL rows
    /// locked by another node's claim are skipped (`FOR UPDATE SKIP LOCKED`); an expired lease is
    /// claimable again, which is how a dead node's work is taken over.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        lease_ms: i64,
        limit: i64,
        exclude: &[String],
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let now = now_ms();
        let lock = match self.pool {
            Pool::Sqlite(_) => "",
            Pool::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let mut p = Placeholders::new(self.is_sqlite());
        let (node_p, until_p, now_p, now2_p) = (p.one(), p.one(), p.one(), p.one());
        let exclusion = if exclude.is_empty() {
            String::new()
        } else {
            format!("AND endpoint_id NOT IN ({})", p.list(exclude.len()))
        };
        let limit_p = p.one();
        let sql = format!(
            "UPDATE deliveries SET locked_by = {node_p}, locked_until_ms = {until_p} WHERE id IN (\
               SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_ms <= {now_p} \
               AND (locked_until_ms IS NULL OR locked_until_ms < {now2_p}) {exclusion} \
               ORDER BY next_attempt_ms LIMIT {limit_p} {lock}) RETURNING {CLAIM_COLUMNS}"
        );
        macro_rules! claim_query {
            () => {{
                let mut query =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(node).bind(now + lease_ms).bind(now).bind(now);
                for endpoint in exclude {
                    query = query.bind(endpoint);
                }
                query.bind(limit)
            }};
        }
        let mut rows: Vec<ClaimedDelivery> = match &self.pool {
            Pool::Sqlite(_) => claim_query!().fetch_all(self.writer()).await?,
            Pool::Postgres(pool) => {
                // A claim is soft state: if the database lost it in a crash, the rows would simply be
                // claimable again (a possible duplicate send, never a loss). So it need not wait for its
                // WAL flush, which would otherwise bound claims by fsync latency.
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
                let rows = claim_query!().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT delivery_id, payload, content_md5, content_sha256 FROM delivery_bodies WHERE delivery_id IN ({})",
            Placeholders::new(self.is_sqlite()).list(rows.len())
        );
        #[derive(sqlx::FromRow)]
        struct Body {
            delivery_id: String,
            payload: String,
            content_md5: String,
            content_sha256: String,
        }
        let bodies: Vec<Body> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for row in &rows {
                query = query.bind(&row.id);
            }
            query.fetch_all(pool).await
        })?;
        let mut bodies: std::collections::HashMap<String, Body> =
            bodies.into_iter().map(|body| (body.delivery_id.clone(), body)).collect();
        // A delivery always has its body (both are inserted in one transaction).
        rows.retain_mut(|row| match bodies.remove(&row.id) {
            Some(body) => {
                (row.payload, row.content_md5, row.content_sha256) =
                    (body.payload, body.content_md5, body.content_sha256);
                true
            }
            None => false,
        });
        Ok(rows)
    }
    /// Releases the leases on these deliveries, so they are claimable at once.
    pub async fn release_leases(&self, ids: &[String]) -> StoreResult<()> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE state = 'pending' AND id IN ({})",
                Placeholders::new(self.is_sqlite()).list(chunk.len())
            );
            with_writer!(self, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }
    /// Releases the leases `node` still holds (at shutdown), so the work is claimable at once.
    pub async fn release_leases_of(&self, node: &str) -> StoreResult<u64> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE locked_by = $1 AND state = 'pending'")
            .bind(node)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(Into::into)
    }
    /// When the next pending delivery not under a live lease falls due (ms). Leases that expire are
    /// noticed by the engine's poll: they last minutes, the poll seconds.
    pub async fn next_claimable_ms(&self) -> StoreResult<Option<i64>> {
        let (due,): (Option<i64>,) = with_pool!(self, pool => sqlx::query_as(
            "SELECT MIN(next_attempt_ms) FROM deliveries WHERE state = 'pending' AND (locked_until_ms IS NULL OR locked_until_ms < $1)")
            .bind(now_ms())
            .fetch_one(pool)
            .await)?;
        Ok(due)
    }
}
