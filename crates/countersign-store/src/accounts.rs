//! Accounts and their API keys.

use countersign_domain::account::{Account, AccountUpdate};
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::AccountId;
use countersign_domain::secrets::ApiKey;
use countersign_domain::time::unix_now;

use crate::db::{with_pool, with_writer};
use crate::{Store, StoreError, StoreResult};

/// What creating an account needs.
pub struct NewAccount {
    pub email: EmailAddress,
    pub locale: String,
}

type AccountRow = (String, String, Option<String>, String, i64);
/// An account row followed by the stored digest of the key that found it.
type KeyedAccountRow = (String, String, Option<String>, String, i64, Vec<u8>);
const ACCOUNT_COLUMNS: &str = "id, email, callback_url, locale, created_at";

fn account_from_row((id, email, callback_url, locale, created_at): AccountRow) -> Account {
    Account {
        id: AccountId::from_trusted(id),
        email: EmailAddress::from_trusted(email),
        callback_url,
        locale,
        created_at,
    }
}

/// How long an API key's account is kept in memory after a look-up.
pub const KEY_CACHE_MS: i64 = 2000;

impl Store {
    /// Creates an account and its first API key in one transaction. The plain key is returned once and
    /// never stored: the table keeps its digest and a sealed copy.
    pub async fn create_account(&self, new: NewAccount) -> StoreResult<(Account, ApiKey)> {
        let account = Account {
            id: AccountId::generate(),
            email: new.email,
            callback_url: None,
            locale: new.locale,
            created_at: unix_now(),
        };
        let key = ApiKey::generate();
        let sealed = self.master_key.seal(key.expose().as_bytes());
        let email_lower = account.email.as_str().to_lowercase();
        with_writer!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO accounts (id, email, email_lower, callback_url, locale, created_at) VALUES ($1, $2, $3, NULL, $4, $5)")
                .bind(account.id.as_str())
                .bind(account.email.as_str())
                .bind(&email_lower)
                .bind(&account.locale)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_unique(e, "An account with this email address already exists"))?;
            sqlx::query("INSERT INTO api_keys (account_id, key_digest, key_sealed, created_at) VALUES ($1, $2, $3, $4)")
                .bind(account.id.as_str())
                .bind(key.digest())
                .bind(sealed)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok((account, key))
    }

    /// The account an API key belongs to, if the key is known and not revoked. The look-up is by digest
    /// (an index), and the stored digest is compared again in constant time.
    ///
    /// Found accounts are kept for [`KEY_CACHE_MS`] so a burst of requests costs one query; this node's
    /// account updates clear the cache at once, another node's show within that time.
    pub async fn account_by_api_key(&self, key: &ApiKey) -> StoreResult<Option<Account>> {
        let digest = key.digest();
        let now = countersign_domain::time::now_ms();
        if let Some((account, until)) = self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).get(&digest)
            && *until > now
        {
            return Ok(Some(account.clone()));
        }
        let sql = format!(
            "SELECT a.{}, k.key_digest FROM api_keys k JOIN accounts a ON a.id = k.account_id \
             WHERE k.key_digest = $1 AND k.revoked_at IS NULL",
            ACCOUNT_COLUMNS.replace(", ", ", a.")
        );
        let row: Option<KeyedAccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&digest).fetch_optional(pool).await)?;
        let account = row.and_then(|(id, email, callback_url, locale, created_at, stored)| {
            key.matches_digest(&stored).then(|| account_from_row((id, email, callback_url, locale, created_at)))
        });
        if let Some(account) = &account {
            let mut cache = self.key_cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(digest, (account.clone(), now + KEY_CACHE_MS));
        }
        Ok(account)
    }

    pub async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row: Option<AccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(pool).await)?;
        Ok(row.map(account_from_row))
    }

    /// Case-insensitive look-up by e-mail address.
    pub async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_lower = $1");
        let row: Option<AccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email.trim().to_lowercase()).fetch_optional(pool).await)?;
        Ok(row.map(account_from_row))
    }

    pub async fn count_accounts(&self) -> StoreResult<i64> {
        let (n,): (i64,) =
            with_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM accounts").fetch_one(pool).await)?;
        Ok(n)
    }

    /// Applies `update` and returns the account as it now is, in one statement.
    pub async fn update_account(&self, id: &AccountId, update: &AccountUpdate) -> StoreResult<Option<Account>> {
        let set_callback = update.callback_url.is_some();
        let callback = update.callback_url.clone().flatten();
        let sql = format!(
            "UPDATE accounts SET \
               callback_url = CASE WHEN $2 THEN $3 ELSE callback_url END, \
               locale = COALESCE($4, locale) \
             WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
        );
        self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let row: Option<AccountRow> = with_writer!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(set_callback)
            .bind(&callback)
            .bind(&update.locale)
            .fetch_optional(pool)
            .await)?;
        // Cleared again after the write: a look-up that ran meanwhile may have cached the old row.
        self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(row.map(account_from_row))
    }

    /// The plain API keys of an account (opened from their sealed copies), newest first: what the
    /// callback `event_hash` is keyed by.
    pub async fn api_keys_of(&self, id: &AccountId) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<(Vec<u8>,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT key_sealed FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id DESC")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(sealed,)| {
                self.master_key
                    .open_string(&sealed)
                    .map(|k| ApiKey::presented(&k))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}

impl Store {
    /// Checks that this instance's master key opens the secrets already stored. Nodes sharing one
    /// database must share one key: a node with another key could not sign callbacks and would hold
    /// deliveries it can never send, so it must not start.
    pub async fn verify_master_key(&self) -> StoreResult<()> {
        let sample: Option<(Vec<u8>,)> = with_pool!(self, pool => sqlx::query_as("SELECT key_sealed FROM api_keys ORDER BY id LIMIT 1").fetch_optional(pool).await)?;
        match sample {
            Some((sealed,)) if self.master_key.open(&sealed).is_err() => Err(StoreError::Corrupt(
                "the master key does not open the secrets in this database: every node sharing a database needs the same \
                 COUNTERSIGN_MASTER_KEY (or the same master.key file)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}
