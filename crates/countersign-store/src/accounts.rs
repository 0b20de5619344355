//! Accounts and their API keys.

use countersign_callback::{EventObject, EventType, NewEvent};
use countersign_domain::account::{Account, AccountUpdate};
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::AccountId;
use countersign_domain::oauth::IssuedTokens;
use countersign_domain::secrets::ApiKey;
use countersign_domain::time::unix_now;

use crate::db::{with_pool, with_writer};
use crate::tx::on_tx;
use crate::{Store, StoreError, StoreResult};

/// What creating an account needs.
pub struct NewAccount {
    pub email: EmailAddress,
    pub locale: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: String,
    email: String,
    callback_url: Option<String>,
    locale: String,
    created_at: i64,
    confirmed: bool,
}

/// An account row and the stored digest of the key that found it.
#[derive(sqlx::FromRow)]
struct KeyedAccountRow {
    #[sqlx(flatten)]
    account: AccountRow,
    key_digest: Vec<u8>,
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, email, callback_url, locale, created_at, confirmed";

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: AccountId::from_trusted(r.id),
            email: EmailAddress::from_trusted(r.email),
            callback_url: r.callback_url,
            locale: r.locale,
            created_at: r.created_at,
            confirmed: r.confirmed,
        }
    }
}

/// One API key of an account, as the operator sees it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub key_id: i64,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What `create_account` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new account.
    New,
    /// An unconfirmed account (made through the API) held the address: the operator claimed it.
    Claimed,
}

/// Stores an API key (its digest and sealed copy) for an account on a pool, connection or
/// transaction, giving its `key_id`: `insert_key!(conn, account_id, &key, &sealed)`.
macro_rules! insert_key {
    ($conn:expr, $account_id:expr, $key:expr, $sealed:expr) => {{
        let (key_id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_keys (account_id, key_digest, key_sealed, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind($account_id)
        .bind($key.digest())
        .bind($sealed)
        .bind(unix_now())
        .fetch_one($conn)
        .await?;
        key_id
    }};
}

/// How long an API key's account is kept in memory after a look-up.
pub const KEY_CACHE_MS: i64 = 2000;

impl Store {
    /// Creates a confirmed account and its first API key in one transaction (the operator's path: the
    /// CLI and the first start). An unconfirmed account made through the API that holds the address is
    /// claimed instead: confirmed, with a fresh key. The plain key is returned once and never stored:
    /// the table keeps its digest and a sealed copy.
    pub async fn create_account(&self, new: NewAccount) -> StoreResult<(Account, ApiKey)> {
        self.create_or_claim_account(new).await.map(|(account, key, _)| (account, key))
    }

    /// [`Store::create_account`], saying whether the address was claimed.
    pub async fn create_or_claim_account(&self, new: NewAccount) -> StoreResult<(Account, ApiKey, Created)> {
        let key = ApiKey::generate();
        let sealed = self.master_key.seal(key.expose().as_bytes());
        let email_lower = new.email.as_str().to_lowercase();
        let now = unix_now();
        let select = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_lower = $1");
        let outcome = self.write(async |tx| {
            let holder: Option<AccountRow> =
                on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(select)).bind(&email_lower).fetch_optional(c).await)?;
            let (account, created) = match holder {
                Some(row) if !row.confirmed => {
                    on_tx!(tx, c => sqlx::query("UPDATE accounts SET confirmed = TRUE WHERE id = $1").bind(&row.id).execute(c).await.map(|r| r.rows_affected()))?;
                    on_tx!(tx, c => sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
                        .bind(&row.id)
                        .bind(now)
                        .execute(c)
                        .await.map(|r| r.rows_affected()))?;
                    (Account { confirmed: true, ..Account::from(row) }, Created::Claimed)
                }
                Some(_) => return Err(StoreError::Conflict("An account with this email address already exists".into())),
                None => {
                    let account = Account {
                        id: AccountId::generate(),
                        email: new.email,
                        callback_url: None,
                        locale: new.locale,
                        created_at: now,
                        confirmed: true,
                    };
                    on_tx!(tx, c => sqlx::query("INSERT INTO accounts (id, email, email_lower, callback_url, locale, created_at, confirmed) VALUES ($1, $2, $3, NULL, $4, $5, TRUE)")
                        .bind(account.id.as_str())
                        .bind(account.email.as_str())
                        .bind(&email_lower)
                        .bind(&account.locale)
                        .bind(account.created_at)
                        .execute(c)
                        .await.map(|r| r.rows_affected()))
                        .map_err(|e| StoreError::from_unique(e, "An account with this email address already exists"))?;
                    (account, Created::New)
                }
            };
            on_tx!(tx, c => insert_key!(c, account.id.as_str(), &key, &sealed));
            Ok::<_, StoreError>((account, created))
        }).await?;
        self.clear_key_cache();
        Ok((outcome.0, key, outcome.1))
    }

    /// An account made through the API: unconfirmed and without a key, holding the address only until
    /// its owner confirms it (see [`Store::confirm_account`]) or the operator claims it. The e-mail
    /// asking the owner to confirm is stored in the same transaction. With `link` (the caller gave an
    /// app's client credentials) the account is authorized for that app at once: the grant and the first
    /// tokens are written in the same transaction, and the tokens work once the owner confirms.
    pub async fn create_unconfirmed_account(
        &self,
        new: NewAccount,
        created_by: &AccountId,
        link: Option<crate::oauth::AppLink<'_>>,
        message: impl FnOnce(&str) -> (String, String),
    ) -> StoreResult<(Account, Option<IssuedTokens>)> {
        let account = Account {
            id: AccountId::generate(),
            email: new.email,
            callback_url: None,
            locale: new.locale,
            created_at: unix_now(),
            confirmed: false,
        };
        let email_lower = account.email.as_str().to_lowercase();
        let (subject, body) = message(account.id.as_str());
        let tokens = self.write(async |tx| {
            on_tx!(tx, c => sqlx::query("INSERT INTO accounts (id, email, email_lower, callback_url, locale, created_at, confirmed, created_by, created_by_client_id) VALUES ($1, $2, $3, NULL, $4, $5, FALSE, $6, $7)")
                .bind(account.id.as_str())
                .bind(account.email.as_str())
                .bind(&email_lower)
                .bind(&account.locale)
                .bind(account.created_at)
                .bind(created_by.as_str())
                .bind(link.as_ref().map(|l| l.client_id.as_str()))
                .execute(c)
                .await.map(|r| r.rows_affected()))
                .map_err(|e| StoreError::from_unique(e, "An account with this email address already exists"))?;
            crate::jobs::queue_email(tx, account.id.as_str(), account.email.as_str(), &subject, &body).await?;
            let Some(link) = &link else { return Ok::<_, StoreError>(None) };
            let grant_id = crate::oauth::upsert_grant_in(tx, &account.id, link.client_id, link.scopes).await?;
            let family = countersign_domain::ids::random_hex(16);
            Ok(Some(crate::oauth::issue_tokens_in(tx, &grant_id, &family, link.access_lifetime_secs).await?))
        })
        .await?;
        Ok((account, tokens))
    }

    /// Confirms an unconfirmed account and issues its first key; `None` if it is not (or no longer)
    /// unconfirmed. An account made through an app gets `account_confirmed` to that app's callback, in
    /// the same transaction; `account_object` gives the event's `account` (the API's shape).
    pub async fn confirm_account(
        &self,
        id: &AccountId,
        account_object: impl FnOnce(&Account) -> serde_json::Value,
    ) -> StoreResult<Option<(Account, ApiKey)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            created_by_client_id: Option<String>,
        }
        let key = ApiKey::generate();
        let sealed = self.master_key.seal(key.expose().as_bytes());
        let sql = format!(
            "UPDATE accounts SET confirmed = TRUE WHERE id = $1 AND NOT confirmed AND deleted_at IS NULL RETURNING {ACCOUNT_COLUMNS}, created_by_client_id"
        );
        let confirmed = self
            .write(async |tx| {
                let row: Option<Row> =
                    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(c).await)?;
                let Some(row) = row else { return Ok::<_, StoreError>(None) };
                on_tx!(tx, c => insert_key!(c, id.as_str(), &key, &sealed));
                let account = Account::from(row.account);
                if let Some(client_id) = row.created_by_client_id {
                    let event = NewEvent {
                        event_type: EventType::AccountConfirmed,
                        signature_request_id: None,
                        template_id: None,
                        client_id: Some(client_id.clone()),
                        related_signature_id: None,
                        event_message: None,
                        object: Some(EventObject::Account(account_object(&account))),
                    };
                    let targets = crate::outbox::targets_in(tx, &self.master_key, &account.id, &[client_id.as_str()]).await?;
                    crate::outbox::insert_events(tx, &targets, &[event]).await?;
                }
                Ok(Some(account))
            })
            .await?;
        Ok(confirmed.map(|account| (account, key)))
    }

    /// A new API key for an account (the operator's `account key create`).
    pub async fn add_api_key(&self, id: &AccountId) -> StoreResult<(i64, ApiKey)> {
        let key = ApiKey::generate();
        let sealed = self.master_key.seal(key.expose().as_bytes());
        let key_id = with_writer!(self, pool => insert_key!(pool, id.as_str(), &key, &sealed));
        Ok((key_id, key))
    }

    /// The account's keys, oldest first, revoked ones included.
    pub async fn api_key_list(&self, id: &AccountId) -> StoreResult<Vec<ApiKeyInfo>> {
        #[derive(sqlx::FromRow)]
        struct KeyRow {
            id: i64,
            key_sealed: Vec<u8>,
            created_at: i64,
            revoked_at: Option<i64>,
        }
        let rows: Vec<KeyRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, key_sealed, created_at, revoked_at FROM api_keys WHERE account_id = $1 ORDER BY id")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|KeyRow { id: key_id, key_sealed, created_at, revoked_at }| {
                let key = self.master_key.open_string(&key_sealed)?;
                Ok(ApiKeyInfo { key_id, prefix: key.chars().take(6).collect(), created_at, revoked_at })
            })
            .collect()
    }

    /// Revokes one key of the account, named by its id or by the key itself; false if no such key
    /// is active. This node forgets it at once, other nodes within [`KEY_CACHE_MS`].
    pub async fn revoke_api_key(&self, id: &AccountId, key_id: Option<i64>, key: Option<&ApiKey>) -> StoreResult<bool> {
        let digest = key.map(ApiKey::digest);
        let result = with_writer!(self, pool => sqlx::query(
            "UPDATE api_keys SET revoked_at = $4 WHERE account_id = $1 AND revoked_at IS NULL \
             AND (id = $2 OR key_digest = $3)")
            .bind(id.as_str())
            .bind(key_id.unwrap_or(-1))
            .bind(digest.unwrap_or_default())
            .bind(unix_now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        self.clear_key_cache();
        Ok(result > 0)
    }

    /// Deletes an account: its keys are revoked, its callback URLs and its apps' are removed, the
    /// deliveries still due are ended, and its address is free for a new account. Its signature
    /// requests, events and attempt log stay (they are the record of what was signed and sent).
    pub async fn delete_account(&self, id: &AccountId) -> StoreResult<bool> {
        let now = unix_now();
        let now_ms = countersign_domain::time::now_ms();
        let deleted = self
            .write(async |tx| {
                let done = on_tx!(tx, c => sqlx::query(
                    "UPDATE accounts SET deleted_at = $2, email_lower = 'deleted:' || id, callback_url = NULL \
                     WHERE id = $1 AND deleted_at IS NULL")
                    .bind(id.as_str())
                    .bind(now)
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
                if done == 0 {
                    return Ok::<_, StoreError>(false);
                }
                on_tx!(tx, c => sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
                    .bind(id.as_str()).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
                on_tx!(tx, c => sqlx::query("UPDATE api_apps SET callback_url = NULL WHERE account_id = $1")
                    .bind(id.as_str()).execute(c).await.map(|r| r.rows_affected()))?;
                on_tx!(tx, c => sqlx::query("UPDATE callback_endpoints SET disabled_at_ms = $2, disabled_reason = 'the account was deleted' \
                             WHERE account_id = $1 AND disabled_at_ms IS NULL")
                    .bind(id.as_str()).bind(now_ms).execute(c).await.map(|r| r.rows_affected()))?;
                on_tx!(tx, c => sqlx::query("UPDATE deliveries SET state = 'dead', last_error = 'the account was deleted', locked_until_ms = NULL \
                             WHERE account_id = $1 AND state IN ('pending', 'parked')")
                    .bind(id.as_str()).execute(c).await.map(|r| r.rows_affected()))?;
                on_tx!(tx, c => sqlx::query("UPDATE outgoing_emails SET sent_at_ms = $2, last_error = 'the account was deleted' \
                             WHERE account_id = $1 AND sent_at_ms IS NULL")
                    .bind(id.as_str()).bind(now_ms).execute(c).await.map(|r| r.rows_affected()))?;
                Ok(true)
            })
            .await?;
        self.clear_key_cache();
        Ok(deleted)
    }

    fn clear_key_cache(&self) {
        self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
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
             WHERE k.key_digest = $1 AND k.revoked_at IS NULL AND a.confirmed AND a.deleted_at IS NULL",
            ACCOUNT_COLUMNS.replace(", ", ", a.")
        );
        let row: Option<KeyedAccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&digest).fetch_optional(pool).await)?;
        let account = row.and_then(|row| key.matches_digest(&row.key_digest).then(|| Account::from(row.account)));
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
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 AND deleted_at IS NULL");
        let row: Option<AccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(pool).await)?;
        Ok(row.map(Account::from))
    }

    /// Case-insensitive look-up by e-mail address.
    pub async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email_lower = $1");
        let row: Option<AccountRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email.trim().to_lowercase()).fetch_optional(pool).await)?;
        Ok(row.map(Account::from))
    }

    /// Every account that is not deleted, oldest first (the operator's `account list`).
    pub async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE deleted_at IS NULL ORDER BY created_at, id");
        let rows: Vec<AccountRow> =
            with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(Account::from).collect())
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
        Ok(row.map(Account::from))
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
                self.master_key.open_string(&sealed).map(|k| ApiKey::presented(&k)).map_err(StoreError::from)
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
