//! Dashboard sessions: a random token in the browser's cookie, its SHA-256 digest here, with the
//! account it signs in and the CSRF token its forms carry. Expired sessions are removed when new ones
//! are made.

use countersign_domain::account::Account;
use countersign_domain::ids::{AccountId, random_hex};
use countersign_domain::oauth::OAuthSecret;
use countersign_domain::time::unix_now;

use crate::accounts::{ACCOUNT_COLUMNS, AccountRow};
use crate::db::{with_pool, with_writer};
use crate::tx::on_tx;
use crate::{Store, StoreError, StoreResult};

/// A signed-in session as a page sees it.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub account: Account,
    /// What every form of this session must carry.
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Store {
    /// Signs `account` in for `lifetime_secs`: the token for the cookie (shown once) and the session.
    pub async fn create_web_session(
        &self,
        account: &Account,
        lifetime_secs: i64,
    ) -> StoreResult<(OAuthSecret, WebSession)> {
        let token = OAuthSecret::generate();
        let now = unix_now();
        let session =
            WebSession { account: account.clone(), csrf_token: random_hex(16), expires_at: now + lifetime_secs };
        self.write(async |tx| {
            on_tx!(tx, c => sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now).execute(c).await.map(|r| r.rows_affected()))?;
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO web_sessions (token_digest, account_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(token.digest())
                .bind(account.id.as_str())
                .bind(&session.csrf_token)
                .bind(now)
                .bind(session.expires_at)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok((token, session))
    }

    /// The live session of a cookie's token: not expired, its account neither deleted nor unconfirmed.
    pub async fn web_session(&self, token: &OAuthSecret) -> StoreResult<Option<WebSession>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            csrf_token: String,
            expires_at: i64,
        }
        let sql = format!(
            "SELECT a.{}, s.csrf_token, s.expires_at FROM web_sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_digest = $1 AND s.expires_at > $2 AND a.deleted_at IS NULL AND a.confirmed",
            ACCOUNT_COLUMNS.replace(", ", ", a.")
        );
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token.digest()).bind(unix_now()).fetch_optional(pool).await)?;
        Ok(row.map(|r| WebSession {
            account: Account::from(r.account),
            csrf_token: r.csrf_token,
            expires_at: r.expires_at,
        }))
    }

    /// Signs a session out; false if it was not there.
    pub async fn delete_web_session(&self, token: &OAuthSecret) -> StoreResult<bool> {
        let done = with_writer!(self, pool => sqlx::query("DELETE FROM web_sessions WHERE token_digest = $1")
            .bind(token.digest())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Signs every session of an account out (after its password changes, say).
    pub async fn delete_web_sessions_of(&self, account_id: &AccountId) -> StoreResult<u64> {
        Ok(with_writer!(self, pool => sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
            .bind(account_id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
