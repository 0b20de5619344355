//! OAuth for API apps (compat spec §8.3): what an account grants an app, the secrets issued under that
//! grant (authorization codes, access and refresh tokens), the rules a code or a refresh token is
//! exchanged by, and the scopes each API operation asks of a token.
//!
//! A grant is one account's consent to one app, with the scopes the app asked for when the account
//! agreed. Codes and tokens are random (256 bits) and stored only as SHA-256 digests, like API keys.
//! A code works once, for a few minutes, for the app it was issued to and with the `state` it was
//! issued with; a refresh token works once and gives the next pair. Using either a second time is taken
//! as theft and revokes every token that authorization started (its *family*).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api_app::OAUTH_SCOPES;
use crate::ids::random_hex;

/// How long an authorization code may wait to be exchanged (RFC 6749 §4.1.2 advises at most ten
/// minutes).
pub const CODE_LIFETIME_SECS: i64 = 600;

/// How long a refresh token works when it is not used (each use issues a new one).
pub const REFRESH_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// The default life of an access token: one hour, "typically one hour" in Dropbox Sign's words.
pub const DEFAULT_ACCESS_LIFETIME_SECS: i64 = 3600;

/// An authorization code, access token or refresh token: 64 lowercase hex characters. Shown once, kept
/// only as its digest.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthSecret(String);

impl std::fmt::Debug for OAuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthSecret(<redacted>)")
    }
}

impl OAuthSecret {
    pub fn generate() -> Self {
        Self(random_hex(32))
    }

    /// A code or token as a client presented it. No shape check: an unknown one matches nothing.
    pub fn presented(s: &str) -> Self {
        Self(s.trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest it is looked up by.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// A new access token and refresh token, as `POST /oauth/token` answers them.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: OAuthSecret,
    pub refresh_token: OAuthSecret,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// Why a code or refresh token was not exchanged. Each is `invalid_grant` in OAuth's terms; the message
/// tells the app developer which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("The authorization code is not valid.")]
    UnknownCode,
    #[error("The authorization code has expired: codes must be exchanged within {0} seconds.")]
    CodeExpired(i64),
    #[error(
        "The authorization code was already used. Every token issued from it has been revoked; send the user through the authorization page again."
    )]
    CodeReused,
    #[error("The authorization code was issued to another app.")]
    CodeForAnotherApp,
    #[error("The state does not match the state the authorization code was issued with.")]
    StateMismatch,
    #[error("The refresh token is not valid.")]
    UnknownRefreshToken,
    #[error("The refresh token has expired; send the user through the authorization page again.")]
    RefreshExpired,
    #[error(
        "The refresh token was already used. Every token of this authorization has been revoked; send the user through the authorization page again."
    )]
    RefreshReused,
    #[error("The refresh token was issued to another app.")]
    RefreshForAnotherApp,
    #[error("The user revoked this app's access; send the user through the authorization page again.")]
    Revoked,
}

/// The state of a stored code when it is presented, as the store read it.
#[derive(Debug, Clone, Copy)]
pub struct StoredCode<'a> {
    pub client_id: &'a str,
    pub state: &'a str,
    pub expires_at: i64,
    pub used: bool,
    pub grant_revoked: bool,
}

/// Whether a code may be exchanged by `client_id` with `state` at `now`. Reuse is judged first: a code
/// used before is refused (and its family revoked by the caller) whoever presents it.
pub fn check_code(code: &StoredCode<'_>, client_id: &str, state: &str, now: i64) -> Result<(), GrantRefusal> {
    if code.used {
        return Err(GrantRefusal::CodeReused);
    }
    if code.client_id != client_id {
        return Err(GrantRefusal::CodeForAnotherApp);
    }
    if code.grant_revoked {
        return Err(GrantRefusal::Revoked);
    }
    if now >= code.expires_at {
        return Err(GrantRefusal::CodeExpired(CODE_LIFETIME_SECS));
    }
    if !bool::from(code.state.as_bytes().ct_eq(state.as_bytes())) {
        return Err(GrantRefusal::StateMismatch);
    }
    Ok(())
}

/// The state of a stored refresh token when it is presented.
#[derive(Debug, Clone, Copy)]
pub struct StoredRefresh<'a> {
    pub client_id: &'a str,
    pub expires_at: i64,
    /// Exchanged for a newer pair already.
    pub used: bool,
    /// The pair or its grant was revoked (by the user, the operator, or a detected reuse).
    pub revoked: bool,
}

/// Whether a refresh token may be exchanged at `now`, by `client_id` when the app named itself
/// (the OpenAPI makes the client credentials optional on refresh).
pub fn check_refresh(token: &StoredRefresh<'_>, client_id: Option<&str>, now: i64) -> Result<(), GrantRefusal> {
    if token.used {
        return Err(GrantRefusal::RefreshReused);
    }
    if client_id.is_some_and(|c| c != token.client_id) {
        return Err(GrantRefusal::RefreshForAnotherApp);
    }
    if token.revoked {
        return Err(GrantRefusal::Revoked);
    }
    if now >= token.expires_at {
        return Err(GrantRefusal::RefreshExpired);
    }
    Ok(())
}

/// What an API operation accepts from an OAuth access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    /// Any one of these scopes suffices (the OpenAPI lists, per operation, the scopes that allow it).
    AnyOf(&'static [&'static str]),
    /// Only an API key: the operation is not offered to apps acting for a user.
    ApiKeyOnly,
}

/// The scopes a token keeps: those granted that the app still asks for (an app that drops a scope
/// loses it at once for every user; one that adds a scope needs each user's consent again).
pub fn effective_scopes(granted: &[String], app_scopes: &[String]) -> Vec<String> {
    granted.iter().filter(|s| app_scopes.contains(s)).cloned().collect()
}

/// Whether `scopes` satisfy `access`.
pub fn scopes_allow(scopes: &[String], access: TokenAccess) -> bool {
    match access {
        TokenAccess::AnyOf(needed) => needed.iter().any(|n| scopes.iter().any(|s| s == n)),
        TokenAccess::ApiKeyOnly => false,
    }
}

/// What a user is shown for each scope on the authorization page.
pub fn scope_description(scope: &str) -> &'static str {
    match scope {
        "basic_account_info" => "See your account's e-mail address and settings",
        "account_access" => "See and change your account settings, including its callback URL",
        "request_signature" => "Send signature requests in your name and see their status",
        "signature_request_access" => "Create, see, change and cancel your signature requests and download their files",
        "template_access" => "Create, see, change and delete your templates",
        "team_access" => "See and manage your team",
        "api_app_access" => "See and manage your API apps",
        _ => "An access this server does not know",
    }
}

/// Scopes parsed from their stored JSON list, keeping only names of the official list.
pub fn known_scopes(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names.into_iter().filter(|s| OAUTH_SCOPES.contains(&s.as_str())).collect()
}

/// Password hashing for signing in on this server's pages (argon2id, OWASP's 19 MiB / 2 passes / 1
/// lane), stored as a PHC string.
pub mod password {
    use argon2::{Algorithm, Argon2, Params, Version};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
    use subtle::ConstantTimeEq;

    const MEMORY_KIB: u32 = 19 * 1024;
    const PASSES: u32 = 2;
    const LANES: u32 = 1;
    const OUTPUT: usize = 32;
    /// Passwords shorter than this are refused when set.
    pub const MIN_CHARS: usize = 10;
    /// And longer than this (hashing cost is bounded anyway; this keeps requests small).
    pub const MAX_CHARS: usize = 256;

    fn derive(password: &str, salt: &[u8], m: u32, t: u32, p: u32, out: &mut [u8]) -> Option<()> {
        let params = Params::new(m, t, p, Some(out.len())).ok()?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into(password.as_bytes(), salt, out).ok()
    }

    /// Checks a new password's length (in characters).
    pub fn check_new(password: &str) -> Result<(), String> {
        let n = password.chars().count();
        if n < MIN_CHARS {
            return Err(format!("A password needs at least {MIN_CHARS} characters."));
        }
        if n > MAX_CHARS {
            return Err(format!("A password may have at most {MAX_CHARS} characters."));
        }
        Ok(())
    }

    /// The PHC string of `password` with a fresh salt.
    pub fn hash(password: &str) -> String {
        let mut salt = [0u8; 16];
        crate::ids::fill_random(&mut salt);
        let mut out = [0u8; OUTPUT];
        derive(password, &salt, MEMORY_KIB, PASSES, LANES, &mut out).expect("fixed argon2 parameters are valid");
        format!("$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}", B64.encode(salt), B64.encode(out))
    }

    /// Whether `password` is the one `phc` was made from (constant-time comparison). A string this
    /// function cannot read matches nothing.
    pub fn verify(password: &str, phc: &str) -> bool {
        let parts: Vec<&str> = phc.split('$').collect();
        let ["", "argon2id", "v=19", params, salt, expected] = parts.as_slice() else { return false };
        let mut m = None;
        let mut t = None;
        let mut p = None;
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("m", v)) => m = v.parse::<u32>().ok(),
                Some(("t", v)) => t = v.parse::<u32>().ok(),
                Some(("p", v)) => p = v.parse::<u32>().ok(),
                _ => return false,
            }
        }
        let (Some(m), Some(t), Some(p)) = (m, t, p) else { return false };
        // Parameters from the database, but bounded so a tampered row cannot make a sign-in hash for ever.
        if m > 1024 * 1024 || t > 16 || p > 16 {
            return false;
        }
        let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(expected)) else { return false };
        if expected.is_empty() || expected.len() > 64 {
            return false;
        }
        let mut out = vec![0u8; expected.len()];
        derive(password, &salt, m, t, p, &mut out).is_some() && bool::from(out.ct_eq(&expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(used: bool, expires_at: i64) -> StoredCode<'static> {
        StoredCode { client_id: "app1", state: "st8", expires_at, used, grant_revoked: false }
    }

    #[test]
    fn a_code_works_once_for_its_app_and_state_before_it_expires() {
        assert_eq!(check_code(&code(false, 100), "app1", "st8", 99), Ok(()));
        assert_eq!(check_code(&code(true, 100), "app1", "st8", 99), Err(GrantRefusal::CodeReused));
        assert_eq!(check_code(&code(true, 100), "app2", "x", 500), Err(GrantRefusal::CodeReused));
        assert_eq!(check_code(&code(false, 100), "app2", "st8", 99), Err(GrantRefusal::CodeForAnotherApp));
        assert_eq!(check_code(&code(false, 100), "app1", "st8", 100), Err(GrantRefusal::CodeExpired(600)));
        assert_eq!(check_code(&code(false, 100), "app1", "st9", 99), Err(GrantRefusal::StateMismatch));
        let revoked = StoredCode { grant_revoked: true, ..code(false, 100) };
        assert_eq!(check_code(&revoked, "app1", "st8", 99), Err(GrantRefusal::Revoked));
    }

    #[test]
    fn a_refresh_token_works_once_for_its_app() {
        let fresh = StoredRefresh { client_id: "app1", expires_at: 100, used: false, revoked: false };
        assert_eq!(check_refresh(&fresh, Some("app1"), 1), Ok(()));
        assert_eq!(check_refresh(&fresh, None, 1), Ok(()));
        assert_eq!(check_refresh(&fresh, Some("app2"), 1), Err(GrantRefusal::RefreshForAnotherApp));
        assert_eq!(check_refresh(&fresh, None, 100), Err(GrantRefusal::RefreshExpired));
        let used = StoredRefresh { used: true, ..fresh };
        assert_eq!(check_refresh(&used, Some("app1"), 1), Err(GrantRefusal::RefreshReused));
        let revoked = StoredRefresh { revoked: true, ..fresh };
        assert_eq!(check_refresh(&revoked, None, 1), Err(GrantRefusal::Revoked));
    }

    #[test]
    fn scopes_are_any_of_and_follow_the_app() {
        let granted = vec!["basic_account_info".to_owned(), "template_access".to_owned()];
        let app_now = vec!["template_access".to_owned(), "request_signature".to_owned()];
        let kept = effective_scopes(&granted, &app_now);
        assert_eq!(kept, vec!["template_access"]);
        assert!(scopes_allow(&kept, TokenAccess::AnyOf(&["template_access"])));
        assert!(!scopes_allow(&kept, TokenAccess::AnyOf(&["account_access", "basic_account_info"])));
        assert!(!scopes_allow(&kept, TokenAccess::ApiKeyOnly));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let phc = password::hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(password::verify("correct horse battery", &phc));
        assert!(!password::verify("correct horse batterY", &phc));
        assert!(!password::verify("correct horse battery", "not a hash"));
        assert!(!password::verify("x", &phc.replace("m=19456", "m=99999999")));
        assert_ne!(password::hash("same"), password::hash("same"), "salted");
        assert!(password::check_new("short").is_err());
        assert!(password::check_new("long enough now").is_ok());
    }

    #[test]
    fn secrets_are_random_and_redacted() {
        let a = OAuthSecret::generate();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a, OAuthSecret::generate());
        assert_eq!(format!("{a:?}"), "OAuthSecret(<redacted>)");
        assert_eq!(OAuthSecret::presented(&format!(" {} ", a.expose())).digest(), a.digest());
    }
}
