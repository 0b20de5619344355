//! Accounts: who owns API keys, API apps, signature requests and an account callback URL.

use crate::email::EmailAddress;
use crate::ids::AccountId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub email: EmailAddress,
    pub callback_url: Option<String>,
    pub locale: String,
    pub created_at: i64,
    /// False for an account made through `POST /v3/account/create` until its owner confirms it by
    /// e-mail or the operator claims its address: it has no API key and holds the address only loosely.
    pub confirmed: bool,
}

/// The locale a new account gets.
pub const DEFAULT_LOCALE: &str = "en-US";

/// A change to an account's settings (`PUT|POST /v3/account`). `None` leaves a setting as it is;
/// `Some(None)` for the callback URL removes it (an empty `callback_url` clears it, as on Dropbox Sign).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    pub callback_url: Option<Option<String>>,
    pub locale: Option<String>,
}
