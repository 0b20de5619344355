//! OAuth grants, codes and tokens (the rules are `countersign_domain::oauth`'s; this module keeps the
//! rows). Codes and tokens are stored as SHA-256 digests only. Each exchange is one transaction whose
//! conditional `UPDATE … WHERE used_at IS NULL` decides, on either backend, which of two concurrent
//! presenters of the same code or refresh token wins; the loser is treated as a reuse.

use countersign_domain::account::Account;
use countersign_domain::api_app::ApiApp;
use countersign_domain::ids::{AccountId, ClientId, random_hex};
use countersign_domain::oauth::{
    CODE_LIFETIME_SECS, GrantRefusal, IssuedTokens, OAuthSecret, REFRESH_LIFETIME_SECS, StoredCode, StoredRefresh,
    check_code, check_refresh, known_scopes,
};
use countersign_domain::time::unix_now;

use crate::accounts::{ACCOUNT_COLUMNS, AccountRow};
use crate::db::{with_pool, with_writer};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

/// What an access token presented on `/v3` stands for.
#[derive(Debug, Clone)]
pub struct BearerAccess {
    /// The account the app acts for.
    pub account: Account,
    /// The app acting.
    pub client_id: ClientId,
    /// The scopes the token carries now: granted, and still asked for by the app.
    pub scopes: Vec<String>,
}

/// What looking an access token up found.
#[derive(Debug, Clone)]
pub enum BearerLookup {
    Found(BearerAccess),
    /// Known, but past its `expires_in`.
    Expired,
    /// Revoked (by the user, the operator, a refresh that replaced it, or a detected reuse), or its app
    /// no longer offers OAuth.
    Revoked,
    /// The account was made through the app and its owner has not confirmed it yet.
    Unconfirmed,
    Unknown,
}

/// One app an account has authorized, as its owner sees it.
#[derive(Debug, Clone)]
pub struct GrantInfo {
    pub client_id: ClientId,
    pub app_name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a new account is linked to the app that created it (`account/create` with client credentials).
pub struct AppLink<'a> {
    pub client_id: &'a ClientId,
    pub scopes: &'a [String],
    pub access_lifetime_secs: i64,
}

fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).expect("a list of strings serializes")
}

fn scopes_from(json: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str::<Vec<String>>(json).map(known_scopes).map_err(|e| StoreError::corrupt("oauth scopes", e))
}

/// The grant of (account, app), created or given the app's current scopes; its id.
pub(crate) async fn upsert_grant_in(
    tx: &mut Tx,
    account_id: &AccountId,
    client_id: &ClientId,
    scopes: &[String],
) -> StoreResult<String> {
    let now = unix_now();
    let scopes = scopes_json(scopes);
    let (id,): (String,) = on_tx!(tx, c => sqlx::query_as(
        "INSERT INTO oauth_grants (id, account_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at, revoked_at = NULL \
         RETURNING id")
        .bind(random_hex(16))
        .bind(account_id.as_str())
        .bind(client_id.as_str())
        .bind(&scopes)
        .bind(now)
        .fetch_one(c)
        .await)?;
    Ok(id)
}

/// A new access and refresh token under `grant_id`, in `family_id`.
pub(crate) async fn issue_tokens_in(
    tx: &mut Tx,
    grant_id: &str,
    family_id: &str,
    access_lifetime_secs: i64,
) -> StoreResult<IssuedTokens> {
    let now = unix_now();
    let tokens = IssuedTokens {
        access_token: OAuthSecret::generate(),
        refresh_token: OAuthSecret::generate(),
        expires_in: access_lifetime_secs,
    };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO oauth_tokens (id, grant_id, family_id, access_digest, refresh_digest, created_at, access_expires_at, refresh_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(random_hex(16))
        .bind(grant_id)
        .bind(family_id)
        .bind(tokens.access_token.digest())
        .bind(tokens.refresh_token.digest())
        .bind(now)
        .bind(now + access_lifetime_secs)
        .bind(now + REFRESH_LIFETIME_SECS)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(tokens)
}

async fn revoke_family_in(tx: &mut Tx, family_id: &str) -> StoreResult<u64> {
    on_tx!(tx, c => sqlx::query("UPDATE oauth_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .bind(unix_now())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .map_err(StoreError::from)
}

/// The end of every exchange, once the rules and the claim decided `verdict`: the next pair under the
/// grant, or — for a code or refresh token presented again — every token of its family revoked (in the
/// same transaction, which commits either way), or a refusal that changes nothing.
async fn finish_exchange_in(
    tx: &mut Tx,
    verdict: Result<(), GrantRefusal>,
    client_id: &str,
    grant_id: &str,
    family_id: &str,
    access_lifetime_secs: i64,
) -> StoreResult<Result<IssuedTokens, GrantRefusal>> {
    match verdict {
        Ok(()) => Ok(Ok(issue_tokens_in(tx, grant_id, family_id, access_lifetime_secs).await?)),
        Err(reuse @ (GrantRefusal::CodeReused | GrantRefusal::RefreshReused)) => {
            let revoked = revoke_family_in(tx, family_id).await?;
            tracing::warn!(client_id, revoked_tokens = revoked, refusal = %reuse, "a code or refresh token was presented again: its family is revoked");
            Ok(Err(reuse))
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

impl Store {
    /// The account agrees to `app` (its scopes as they are now): the grant is stored and a code issued,
    /// bound to `state`, for the app to exchange within [`CODE_LIFETIME_SECS`].
    pub async fn authorize_app(&self, account_id: &AccountId, app: &ApiApp, state: &str) -> StoreResult<OAuthSecret> {
        let scopes = app.oauth.as_ref().map(|o| o.scopes.clone()).unwrap_or_default();
        let code = OAuthSecret::generate();
        let now = unix_now();
        self.write(async |tx| {
            let grant_id = upsert_grant_in(tx, account_id, &app.client_id, &scopes).await?;
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO oauth_codes (code_digest, grant_id, family_id, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(code.digest())
                .bind(&grant_id)
                .bind(random_hex(16))
                .bind(state)
                .bind(now)
                .bind(now + CODE_LIFETIME_SECS)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
            Ok::<_, StoreError>(())
        })
        .await?;
        Ok(code)
    }

    /// Exchanges an authorization code for tokens. A refusal that must change something (a reused
    /// code revokes the tokens issued from it) is committed before it is returned.
    pub async fn exchange_oauth_code(
        &self,
        client_id: &ClientId,
        code: &OAuthSecret,
        state: &str,
        access_lifetime_secs: i64,
    ) -> StoreResult<Result<IssuedTokens, GrantRefusal>> {
        #[derive(sqlx::FromRow)]
        struct CodeRow {
            grant_id: String,
            family_id: String,
            state: String,
            expires_at: i64,
            used_at: Option<i64>,
            client_id: String,
            revoked_at: Option<i64>,
        }
        let digest = code.digest();
        let now = unix_now();
        self.write(async |tx| {
            let row: Option<CodeRow> = on_tx!(tx, c => sqlx::query_as(
                "SELECT k.grant_id, k.family_id, k.state, k.expires_at, k.used_at, g.client_id, g.revoked_at \
                 FROM oauth_codes k JOIN oauth_grants g ON g.id = k.grant_id WHERE k.code_digest = $1")
                .bind(&digest)
                .fetch_optional(c)
                .await)?;
            let Some(row) = row else { return Ok(Err(GrantRefusal::UnknownCode)) };
            let stored = StoredCode {
                client_id: &row.client_id,
                state: &row.state,
                expires_at: row.expires_at,
                used: row.used_at.is_some(),
                grant_revoked: row.revoked_at.is_some(),
            };
            let mut verdict = check_code(&stored, client_id.as_str(), state, now);
            if verdict.is_ok() {
                let claimed = on_tx!(tx, c => sqlx::query("UPDATE oauth_codes SET used_at = $2 WHERE code_digest = $1 AND used_at IS NULL")
                    .bind(&digest)
                    .bind(now)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected()))?;
                if claimed == 0 {
                    verdict = Err(GrantRefusal::CodeReused);
                }
            }
            finish_exchange_in(tx, verdict, client_id.as_str(), &row.grant_id, &row.family_id, access_lifetime_secs).await
        })
        .await
    }

    /// Exchanges a refresh token for the next pair; the presented pair stops working. A refresh token
    /// presented again revokes every token of its family (committed before the refusal is returned).
    pub async fn refresh_oauth_token(
        &self,
        client_id: Option<&ClientId>,
        refresh: &OAuthSecret,
        access_lifetime_secs: i64,
    ) -> StoreResult<Result<(ClientId, IssuedTokens), GrantRefusal>> {
        #[derive(sqlx::FromRow)]
        struct RefreshRow {
            id: String,
            grant_id: String,
            family_id: String,
            refresh_expires_at: i64,
            refreshed_at: Option<i64>,
            revoked_at: Option<i64>,
            client_id: String,
            grant_revoked_at: Option<i64>,
        }
        let digest = refresh.digest();
        let now = unix_now();
        self.write(async |tx| {
            let row: Option<RefreshRow> = on_tx!(tx, c => sqlx::query_as(
                "SELECT t.id, t.grant_id, t.family_id, t.refresh_expires_at, t.refreshed_at, t.revoked_at, g.client_id, \
                 g.revoked_at AS grant_revoked_at FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.refresh_digest = $1")
                .bind(&digest)
                .fetch_optional(c)
                .await)?;
            let Some(row) = row else { return Ok(Err(GrantRefusal::UnknownRefreshToken)) };
            let stored = StoredRefresh {
                client_id: &row.client_id,
                expires_at: row.refresh_expires_at,
                used: row.refreshed_at.is_some(),
                revoked: row.revoked_at.is_some() || row.grant_revoked_at.is_some(),
            };
            let mut verdict = check_refresh(&stored, client_id.map(ClientId::as_str), now);
            if verdict.is_ok() {
                let claimed = on_tx!(tx, c => sqlx::query(
                    "UPDATE oauth_tokens SET refreshed_at = $2, revoked_at = $2 WHERE id = $1 AND refreshed_at IS NULL AND revoked_at IS NULL")
                    .bind(&row.id)
                    .bind(now)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected()))?;
                if claimed == 0 {
                    verdict = Err(GrantRefusal::RefreshReused);
                }
            }
            let tokens =
                finish_exchange_in(tx, verdict, &row.client_id, &row.grant_id, &row.family_id, access_lifetime_secs)
                    .await?;
            Ok(tokens.map(|tokens| (ClientId::from_trusted(row.client_id), tokens)))
        })
        .await
    }

    /// What an access token stands for. The look-up is by digest (a unique index); the grant, the
    /// account and the app are read in the same statement, so a revocation, a deleted account or an app
    /// that no longer offers OAuth takes effect on the next request.
    pub async fn bearer_access(&self, token: &OAuthSecret) -> StoreResult<BearerLookup> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            access_expires_at: i64,
            token_revoked_at: Option<i64>,
            grant_revoked_at: Option<i64>,
            client_id: String,
            scopes: String,
            app_scopes: Option<String>,
            app_secret: Option<Vec<u8>>,
        }
        let sql = format!(
            "SELECT a.{}, t.access_expires_at, t.revoked_at AS token_revoked_at, g.revoked_at AS grant_revoked_at, \
             g.client_id, g.scopes, p.oauth_scopes AS app_scopes, p.oauth_secret_sealed AS app_secret \
             FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id JOIN accounts a ON a.id = g.account_id \
             LEFT JOIN api_apps p ON p.client_id = g.client_id \
             WHERE t.access_digest = $1 AND a.deleted_at IS NULL",
            ACCOUNT_COLUMNS.replace(", ", ", a.")
        );
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token.digest()).fetch_optional(pool).await)?;
        let Some(row) = row else { return Ok(BearerLookup::Unknown) };
        if row.token_revoked_at.is_some() || row.grant_revoked_at.is_some() || row.app_secret.is_none() {
            return Ok(BearerLookup::Revoked);
        }
        if unix_now() >= row.access_expires_at {
            return Ok(BearerLookup::Expired);
        }
        let account = Account::from(row.account);
        if !account.confirmed {
            return Ok(BearerLookup::Unconfirmed);
        }
        let app_scopes = scopes_from(row.app_scopes.as_deref().unwrap_or("[]"))?;
        let scopes = countersign_domain::oauth::effective_scopes(&scopes_from(&row.scopes)?, &app_scopes);
        Ok(BearerLookup::Found(BearerAccess { account, client_id: ClientId::from_trusted(row.client_id), scopes }))
    }

    /// Revokes the token (access or refresh) `client_id` presents, with every token of its family
    /// (RFC 7009). False when the token is unknown or not that app's.
    pub async fn revoke_oauth_token(&self, client_id: &ClientId, token: &OAuthSecret) -> StoreResult<bool> {
        let digest = token.digest();
        self.write(async |tx| {
            let family: Option<(String,)> = on_tx!(tx, c => sqlx::query_as(
                "SELECT t.family_id FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
                 WHERE (t.access_digest = $1 OR t.refresh_digest = $1) AND g.client_id = $2")
                .bind(&digest)
                .bind(client_id.as_str())
                .fetch_optional(c)
                .await)?;
            let Some((family,)) = family else { return Ok::<_, StoreError>(false) };
            revoke_family_in(tx, &family).await?;
            Ok(true)
        })
        .await
    }

    /// Withdraws the account's consent to an app: the grant and every token under it stop working at
    /// once. False when the account had not authorized that app (or already withdrew).
    pub async fn revoke_oauth_grant(&self, account_id: &AccountId, client_id: &ClientId) -> StoreResult<bool> {
        let now = unix_now();
        self.write(async |tx| {
            let grant: Option<(String,)> = on_tx!(tx, c => sqlx::query_as(
                "UPDATE oauth_grants SET revoked_at = $3 WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING id")
                .bind(account_id.as_str())
                .bind(client_id.as_str())
                .bind(now)
                .fetch_optional(c)
                .await)?;
            let Some((grant_id,)) = grant else { return Ok::<_, StoreError>(false) };
            on_tx!(tx, c => sqlx::query("UPDATE oauth_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL")
                .bind(&grant_id)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
            Ok(true)
        })
        .await
    }

    /// The apps the account has authorized (and not withdrawn), newest first.
    pub async fn oauth_grants(&self, account_id: &AccountId) -> StoreResult<Vec<GrantInfo>> {
        let rows: Vec<(String, Option<String>, String, i64, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT g.client_id, p.name, g.scopes, g.created_at, g.updated_at FROM oauth_grants g \
             LEFT JOIN api_apps p ON p.client_id = g.client_id \
             WHERE g.account_id = $1 AND g.revoked_at IS NULL ORDER BY g.updated_at DESC, g.client_id")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(client_id, name, scopes, created_at, updated_at)| {
                Ok(GrantInfo {
                    client_id: ClientId::from_trusted(client_id),
                    app_name: name.unwrap_or_else(|| "(deleted app)".to_owned()),
                    scopes: scopes_from(&scopes)?,
                    created_at,
                    updated_at,
                })
            })
            .collect()
    }

    /// Sets (or, with `None`, removes) the password an account signs in with on this server's pages.
    /// False when there is no such account.
    pub async fn set_account_password(&self, id: &AccountId, phc: Option<&str>) -> StoreResult<bool> {
        let done = with_writer!(self, pool => sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.as_str())
            .bind(phc)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The account with this e-mail address and its password hash, if it has a password (and is
    /// confirmed): what a sign-in checks the typed password against.
    pub async fn account_password(&self, email: &str) -> StoreResult<Option<(Account, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            password_hash: Option<String>,
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE email_lower = $1 AND deleted_at IS NULL AND confirmed"
        );
        let row: Option<Row> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email.trim().to_lowercase()).fetch_optional(pool).await)?;
        Ok(row.and_then(|r| r.password_hash.map(|h| (Account::from(r.account), h))))
    }
}
