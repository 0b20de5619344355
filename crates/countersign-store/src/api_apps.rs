//! API apps, reached through their owner (an app of another account is simply not found), except
//! where OAuth names an app to users of other accounts ([`Store::api_app_by_client_id`]).

use countersign_domain::api_app::{ApiApp, OAuthSettings, WhiteLabeling};
use countersign_domain::ids::{AccountId, ClientId};
use countersign_domain::time::unix_now;

use crate::db::{with_pool, with_writer};
use crate::{Store, StoreError, StoreResult};

/// Everything an app is created with (the store adds `client_id` and `created_at`). Also used to write
/// an app back after an update, with the app's own id and time.
pub struct NewApiApp {
    pub name: String,
    pub domains: Vec<String>,
    pub callback_url: Option<String>,
    pub oauth: Option<OAuthSettings>,
    pub can_insert_everywhere: bool,
    pub white_labeling: Option<WhiteLabeling>,
}

/// An app's values as they are written to its row: JSON text, and the OAuth secret sealed.
struct AppColumns {
    domains: String,
    scopes: Option<String>,
    secret: Option<Vec<u8>>,
    white: Option<String>,
}

pub struct ApiAppPage {
    pub apps: Vec<ApiApp>,
    pub total: i64,
}

#[derive(sqlx::FromRow)]
struct AppRow {
    client_id: String,
    account_id: String,
    /// The owner's e-mail address.
    email: String,
    name: String,
    /// JSON list.
    domains: String,
    callback_url: Option<String>,
    oauth_callback_url: Option<String>,
    /// JSON list.
    oauth_scopes: Option<String>,
    oauth_secret_sealed: Option<Vec<u8>>,
    oauth_charges_users: bool,
    can_insert_everywhere: bool,
    /// JSON object.
    white_labeling: Option<String>,
    created_at: i64,
}

const APP_SELECT: &str = "SELECT p.client_id, p.account_id, a.email, p.name, p.domains, p.callback_url, \
     p.oauth_callback_url, p.oauth_scopes, p.oauth_secret_sealed, p.oauth_charges_users, \
     p.can_insert_everywhere, p.white_labeling, p.created_at \
     FROM api_apps p JOIN accounts a ON a.id = p.account_id";

impl Store {
    fn app_from_row(&self, row: AppRow) -> StoreResult<ApiApp> {
        let AppRow {
            client_id,
            account_id,
            email,
            name,
            domains,
            callback_url,
            oauth_callback_url: oauth_cb,
            oauth_scopes,
            oauth_secret_sealed: oauth_secret,
            oauth_charges_users: charges,
            can_insert_everywhere: insert_everywhere,
            white_labeling,
            created_at,
        } = row;
        let oauth = match (oauth_cb, oauth_secret) {
            (Some(callback_url), Some(sealed)) => Some(OAuthSettings {
                callback_url,
                scopes: serde_json::from_str(oauth_scopes.as_deref().unwrap_or("[]"))
                    .map_err(|e| StoreError::corrupt("oauth_scopes", e))?,
                secret: self.master_key.open_string(&sealed).map_err(|e| StoreError::corrupt("oauth secret", e))?,
                charges_users: charges,
            }),
            _ => None,
        };
        Ok(ApiApp {
            client_id: ClientId::from_trusted(client_id),
            owner_account_id: AccountId::from_trusted(account_id),
            owner_email: email,
            name,
            domains: serde_json::from_str(&domains).map_err(|e| StoreError::corrupt("domains", e))?,
            callback_url,
            oauth,
            can_insert_everywhere: insert_everywhere,
            white_labeling: white_labeling
                .map(|w| serde_json::from_str(&w).map_err(|e| StoreError::corrupt("white_labeling", e)))
                .transpose()?,
            created_at,
        })
    }

    fn app_columns(&self, app: &NewApiApp) -> StoreResult<AppColumns> {
        let domains = serde_json::to_string(&app.domains).map_err(|e| StoreError::corrupt("domains", e))?;
        let scopes = app
            .oauth
            .as_ref()
            .map(|o| serde_json::to_string(&o.scopes))
            .transpose()
            .map_err(|e| StoreError::corrupt("scopes", e))?;
        let secret = app.oauth.as_ref().map(|o| self.master_key.seal(o.secret.as_bytes()));
        let white = app
            .white_labeling
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::corrupt("white_labeling", e))?;
        Ok(AppColumns { domains, scopes, secret, white })
    }

    pub async fn create_api_app(&self, owner: &AccountId, app: NewApiApp) -> StoreResult<ApiApp> {
        let client_id = ClientId::generate();
        let AppColumns { domains, scopes, secret, white } = self.app_columns(&app)?;
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO api_apps (client_id, account_id, name, domains, callback_url, oauth_callback_url, oauth_scopes, \
             oauth_secret_sealed, oauth_charges_users, can_insert_everywhere, white_labeling, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(client_id.as_str())
            .bind(owner.as_str())
            .bind(&app.name)
            .bind(&domains)
            .bind(&app.callback_url)
            .bind(app.oauth.as_ref().map(|o| o.callback_url.clone()))
            .bind(&scopes)
            .bind(&secret)
            .bind(app.oauth.as_ref().is_some_and(|o| o.charges_users))
            .bind(app.can_insert_everywhere)
            .bind(&white)
            .bind(unix_now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        self.api_app(owner, &client_id)
            .await?
            .ok_or_else(|| StoreError::corrupt("api app", "missing right after insert"))
    }

    /// The app `client_id` whoever owns it: for OAuth, where the app is named by a user of another
    /// account (the authorization page) or proves itself with its secret (`/oauth/token`).
    pub async fn api_app_by_client_id(&self, client_id: &ClientId) -> StoreResult<Option<ApiApp>> {
        let sql = format!("{APP_SELECT} WHERE p.client_id = $1");
        let row: Option<AppRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(client_id.as_str()).fetch_optional(pool).await)?;
        row.map(|r| self.app_from_row(r)).transpose()
    }

    /// The app `client_id` if `owner` owns it.
    pub async fn api_app(&self, owner: &AccountId, client_id: &ClientId) -> StoreResult<Option<ApiApp>> {
        let sql = format!("{APP_SELECT} WHERE p.client_id = $1 AND p.account_id = $2");
        let row: Option<AppRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(client_id.as_str()).bind(owner.as_str()).fetch_optional(pool).await)?;
        row.map(|r| self.app_from_row(r)).transpose()
    }

    /// One page (1-based) of `owner`'s apps, newest first, and how many there are in all.
    pub async fn list_api_apps(&self, owner: &AccountId, page: u32, page_size: u32) -> StoreResult<ApiAppPage> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
        let sql =
            format!("{APP_SELECT} WHERE p.account_id = $1 ORDER BY p.created_at DESC, p.client_id LIMIT $2 OFFSET $3");
        let rows: Vec<AppRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner.as_str())
            .bind(i64::from(page_size))
            .bind(offset)
            .fetch_all(pool)
            .await)?;
        let (total,): (i64,) = with_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM api_apps WHERE account_id = $1")
            .bind(owner.as_str())
            .fetch_one(pool)
            .await)?;
        let apps = rows.into_iter().map(|r| self.app_from_row(r)).collect::<StoreResult<_>>()?;
        Ok(ApiAppPage { apps, total })
    }

    /// Writes `app` (already merged with the changes by the caller) over the stored app of `owner`.
    pub async fn save_api_app(
        &self,
        owner: &AccountId,
        client_id: &ClientId,
        app: NewApiApp,
    ) -> StoreResult<Option<ApiApp>> {
        let AppColumns { domains, scopes, secret, white } = self.app_columns(&app)?;
        let done = with_writer!(self, pool => sqlx::query(
            "UPDATE api_apps SET name = $3, domains = $4, callback_url = $5, oauth_callback_url = $6, oauth_scopes = $7, \
             oauth_secret_sealed = $8, oauth_charges_users = $9, can_insert_everywhere = $10, white_labeling = $11 \
             WHERE client_id = $1 AND account_id = $2")
            .bind(client_id.as_str())
            .bind(owner.as_str())
            .bind(&app.name)
            .bind(&domains)
            .bind(&app.callback_url)
            .bind(app.oauth.as_ref().map(|o| o.callback_url.clone()))
            .bind(&scopes)
            .bind(&secret)
            .bind(app.oauth.as_ref().is_some_and(|o| o.charges_users))
            .bind(app.can_insert_everywhere)
            .bind(&white)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Ok(None);
        }
        self.api_app(owner, client_id).await
    }

    /// Deletes `owner`'s app; false when there was none.
    pub async fn delete_api_app(&self, owner: &AccountId, client_id: &ClientId) -> StoreResult<bool> {
        let done = with_writer!(self, pool => sqlx::query("DELETE FROM api_apps WHERE client_id = $1 AND account_id = $2")
            .bind(client_id.as_str())
            .bind(owner.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}
