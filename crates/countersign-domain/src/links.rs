//! Signed links: the URLs this server hands out that work without an API key — an embedded sign URL,
//! an expiring file URL, an account-confirmation link. Each carries an expiry and a token: a MAC, under
//! a key derived from the master key, over the link's purpose, subject and expiry, so a token made for
//! one purpose or subject is useless for another, and any node sharing the master key can check it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What a link is for, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link<'a> {
    /// The signer page of one signature (`/editor/embeddedSign`).
    Sign { signature_id: &'a str, expires: i64 },
    /// The files of one signature request (`/files/{id}`).
    Files { signature_request_id: &'a str, expires: i64 },
    /// The confirmation page of an account made through the API (`/account/confirm`).
    ConfirmAccount { account_id: &'a str, expires: i64 },
    /// A signer page that is open: its page images and its sign, decline and reassign actions. Handed
    /// out by the page itself once the sign link (and the signer's PIN, if any) was checked.
    SignSession { signature_id: &'a str, expires: i64 },
    /// The template editor of one template (`/editor/embeddedTemplate`, an `edit_url`); `preview_only`
    /// opens it read-only.
    EditTemplate { template_id: &'a str, expires: i64, preview_only: bool },
    /// An open template editor: its page images and its save action.
    EditSession { template_id: &'a str, expires: i64 },
    /// The requester page of an unclaimed draft (`/editor/embeddedRequest`, a `claim_url`).
    ClaimDraft { draft_id: &'a str, expires: i64 },
}

/// What checking a link's token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkVerdict {
    Valid,
    /// The token is the link's, but its time has passed.
    Expired,
    /// Not a token this server made for this link.
    Invalid,
}

impl Link<'_> {
    /// The text the token covers, purpose first.
    fn message(&self) -> String {
        match self {
            Self::Sign { signature_id, expires } => format!("sign|{signature_id}|{expires}"),
            Self::Files { signature_request_id, expires } => format!("file|{signature_request_id}|{expires}"),
            Self::ConfirmAccount { account_id, expires } => format!("confirm-account|{account_id}|{expires}"),
            Self::SignSession { signature_id, expires } => format!("sign-session|{signature_id}|{expires}"),
            Self::EditTemplate { template_id, expires, preview_only } => {
                format!("edit-template|{template_id}|{expires}|{}", if *preview_only { "preview" } else { "edit" })
            }
            Self::EditSession { template_id, expires } => format!("edit-session|{template_id}|{expires}"),
            Self::ClaimDraft { draft_id, expires } => format!("claim-draft|{draft_id}|{expires}"),
        }
    }

    fn expires(&self) -> i64 {
        match self {
            Self::Sign { expires, .. }
            | Self::Files { expires, .. }
            | Self::ConfirmAccount { expires, .. }
            | Self::SignSession { expires, .. }
            | Self::EditTemplate { expires, .. }
            | Self::EditSession { expires, .. }
            | Self::ClaimDraft { expires, .. } => *expires,
        }
    }
}

/// Makes and checks link tokens (made by `secrets::MasterKey::link_signer`, keyed from the master key).
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(<redacted>)")
    }
}

impl LinkSigner {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The token of `link`: 20 bytes of HMAC-SHA256 as 40 lowercase hex.
    pub fn token(&self, link: &Link<'_>) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(link.message().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..20])
    }

    /// Whether `token` is `link`'s (constant time) and the link has not expired at `now`.
    pub fn check(&self, link: &Link<'_>, token: &str, now: i64) -> bool {
        self.verdict(link, token, now) == LinkVerdict::Valid
    }

    /// Whether `token` is `link`'s (constant time), and if so whether the link has expired at `now`.
    pub fn verdict(&self, link: &Link<'_>, token: &str, now: i64) -> LinkVerdict {
        if !bool::from(self.token(link).as_bytes().ct_eq(token.as_bytes())) {
            LinkVerdict::Invalid
        } else if link.expires() < now {
            LinkVerdict::Expired
        } else {
            LinkVerdict::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_purpose_subject_expiry_and_key() {
        let links = LinkSigner::new([1; 32]);
        let sign = Link::Sign { signature_id: "abc", expires: 2_000 };
        let token = links.token(&sign);
        assert_eq!(token.len(), 40);
        assert!(links.check(&sign, &token, 1_000));
        assert!(!links.check(&sign, &token, 2_001), "expired");
        assert!(!links.check(&Link::Files { signature_request_id: "abc", expires: 2_000 }, &token, 1_000));
        assert!(!links.check(&Link::Sign { signature_id: "abd", expires: 2_000 }, &token, 1_000));
        assert!(!links.check(&Link::Sign { signature_id: "abc", expires: 2_001 }, &token, 1_000));
        assert!(!LinkSigner::new([2; 32]).check(&sign, &token, 1_000), "another instance's key");
        assert_eq!(links.verdict(&sign, &token, 2_001), LinkVerdict::Expired);
        assert_eq!(links.verdict(&sign, "0".repeat(40).as_str(), 2_001), LinkVerdict::Invalid);
        let session = Link::SignSession { signature_id: "abc", expires: 2_000 };
        assert_eq!(links.verdict(&session, &token, 1_000), LinkVerdict::Invalid, "a sign link is no session");
    }
}
